package main

import (
	"flag"
	"fmt"
	"io"
)

func usage(w io.Writer) {
	fmt.Fprint(w, `e3sync keeps your own S3 bucket (or a directory) in sync with your
Optimizely Experimentation Events Export.

Usage:
  e3sync plan --dest DEST [flags]   show what a sync would copy (dry run)
  e3sync sync --dest DEST [flags]   copy what is new or changed, then print a summary
  e3sync verify --dest DEST [flags] compare the destination with the export (SHA-256
                                    of every object); exit 1 on any difference
  e3sync catalog --dest s3://BUCKET/PREFIX/ --glue-database DB [--from D] [--to D]
                                    register the dates already in the destination as
                                    partitions of DB's Glue tables (no token needed)
  e3sync status --dest DEST [flags] newest complete date per type, incomplete dates
                                    and why, stale objects, the last run ('status -h')
  e3sync demo [--dest DIR]          run a sync against an embedded emulated Optimizely
  e3sync version
  e3sync help

Examples:
  OPTIMIZELY_TOKEN=... e3sync sync --dest s3://my-bucket/optimizely/
  e3sync sync --token-secret prod/optimizely-pat --dest s3://my-bucket/e3/ --json
  e3sync plan --dest ./export --from 2024-01-01 --to 2024-01-31 --types decisions
  e3sync verify --dest s3://my-bucket/e3/ --from 2024-01-01 --to 2024-01-31 --json

Run 'e3sync plan -h' for every flag. Exit codes: 0 success, 1 some objects or
tasks failed, 2 bad flags or settings, 3 Optimizely rejected the token, 4 the
destination refused (no permission, no such bucket, read-only): nothing more copied.
`)
}

func usageFor(name string, fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: e3sync %s --dest DEST [flags]\n\nFlags:\n", name)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Environment:
  OPTIMIZELY_TOKEN          Personal Access Token (unless --token-secret)
  E3SYNC_OPTIMIZELY_API     Optimizely API base URL (default https://api.optimizely.com)
  E3SYNC_SOURCE_ENDPOINT    S3 endpoint of the export bucket (emulators only)
  AWS_ENDPOINT_URL_S3       S3 endpoint of the destination (S3-compatible servers; path style)
  AWS_PROFILE, AWS_REGION,  the destination identity and region, as for the AWS CLI
  AWS_ACCESS_KEY_ID, ...
`)
}
