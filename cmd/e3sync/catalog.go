package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/glue"

	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/job"
	"github.com/e3sync/e3sync/pkg/settings"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// glueDatabaseProblems checks --glue-database: a valid name, and an S3
// destination (partition locations are s3:// folders).
func glueDatabaseProblems(db string, dest store.Target) []string {
	switch {
	case db == "":
		return nil
	case !settings.ValidGlueDatabase(db):
		return []string{fmt.Sprintf("--glue-database %q: want 1-255 lowercase letters, digits and '_'", db)}
	case dest.Dir != "":
		return []string{"--glue-database needs an s3:// destination: Glue partitions point at S3 folders"}
	}
	return nil
}

// glueCatalog returns the Glue catalog of database over the destination
// (nil for no database), with the default AWS identity, like the
// destination's.
func glueCatalog(ctx context.Context, database string, dst transfer.Destination, log *slog.Logger) (*catalog.Glue, error) {
	if database == "" {
		return nil, nil
	}
	cfg, err := awsConfig(ctx, log)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for Glue: %w", err)
	}
	return &catalog.Glue{Client: glue.NewFromConfig(cfg), Database: database, Location: dst.String()}, nil
}

func printCatalogSummary(w io.Writer, s job.CatalogSummary, unknownTypes []string) {
	if len(unknownTypes) > 0 {
		fmt.Fprintf(w, "not synced: the export also has type=%s (add to --types to sync)\n", strings.Join(unknownTypes, ", type="))
	}
	if s.Created+s.Updated+s.Deleted > 0 {
		fmt.Fprintf(w, "Glue partitions: %d created, %d locations corrected, %d deleted\n", s.Created, s.Updated, s.Deleted)
	}
	if s.SchemaChanges > 0 {
		fmt.Fprintf(w, "export schema changes: %d columns (logged as \"export schema changed\"; see README \"Schema changes\")\n", s.SchemaChanges)
	}
	if s.Failures > 0 {
		fmt.Fprintf(w, "catalog failures: %d (the data is copied; re-register with 'e3sync catalog')\n", s.Failures)
	}
}

// catalogSummary is the JSON output of the catalog command.
type catalogSummary struct {
	Database string `json:"database"`
	catalog.Changes
	Errors []string `json:"errors"`
}

// runCatalog registers the dates already in an S3 destination as Glue
// partitions: the backfill for dates mirrored before partitions were
// registered, and the repair after sub-partitions were removed. It reads
// only the destination: no token is needed.
func runCatalog(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("catalog")
	var dest, db, types, from, to string
	var asJSON bool
	fs.StringVar(&dest, "dest", "", "the mirrored export: s3://bucket/prefix/ (required)")
	fs.StringVar(&db, "glue-database", "", "Glue database holding the decisions and events tables (required)")
	fs.StringVar(&types, "types", settings.DefaultTypes, "export types, comma-separated")
	fs.StringVar(&from, "from", "", "first date, YYYY-MM-DD (default: the oldest in the destination)")
	fs.StringVar(&to, "to", "", "last date, YYYY-MM-DD, inclusive (default: the newest)")
	fs.BoolVar(&asJSON, "json", false, "print a machine-readable JSON summary on stdout")
	problems, err := parseFlags(fs, "catalog", args, stdout)
	if err != nil {
		return err
	}
	var target store.Target
	if dest == "" {
		problems = append(problems, "--dest is required: s3://bucket/prefix/")
	} else if p := destProblem(dest); p != "" {
		problems = append(problems, p)
	} else if t, err := store.ParseTarget(dest); err != nil {
		problems = append(problems, "--dest: "+err.Error())
	} else {
		target = t
	}
	if db == "" {
		problems = append(problems, "--glue-database is required")
	}
	problems = append(problems, glueDatabaseProblems(db, target)...)
	ts, err := export.ParseTypes(types)
	if err != nil {
		problems = append(problems, "--types: "+err.Error())
	}
	problems = append(problems, checkRange(from, to)...)
	if len(problems) > 0 {
		return usageErr("catalog", problems...)
	}

	dst, err := destination(ctx, config{dest: target, customDestEP: getenv(envDestS3) != "" || getenv(envEndpoint) != ""}, nil)
	if err != nil {
		return err
	}
	g, err := glueCatalog(ctx, db, dst, nil)
	if err != nil {
		return err
	}
	k := &catalog.Keeper{Dest: dst, Glue: g}
	sum := catalogSummary{Database: db, Errors: []string{}}
	for _, t := range ts {
		ch, err := k.RegisterDates(ctx, t, from, to)
		sum.Add(ch)
		if err != nil {
			sum.Errors = append(sum.Errors, err.Error())
		}
	}
	if asJSON {
		if err := printJSON(stdout, sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "Glue database %s: %d partitions created, %d locations corrected, %d deleted\n", db, sum.Created, sum.Updated, sum.Deleted)
	}
	if len(sum.Errors) > 0 {
		for _, e := range sum.Errors {
			fmt.Fprintln(stderr, "e3sync:", e)
		}
		return errRunFailed
	}
	return nil
}
