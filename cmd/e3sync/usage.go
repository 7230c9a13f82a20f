package main

import (
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

Run 'e3sync help CMD' (or 'e3sync CMD -h') for a command's flags. Exit codes: 0 success, 1 some objects or
tasks failed, 2 bad flags or settings, 3 Optimizely rejected the token, 4 the destination refused (no permission, no
such bucket, read-only: nothing more copied), 5 the export's S3 rejected the static source keys, 130 (143)
interrupted by Ctrl-C (SIGTERM): run the same command to continue.
`)
}
