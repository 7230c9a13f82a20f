package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/status"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// runStatus shows how a destination stands (package status). With a token
// ($OPTIMIZELY_TOKEN or --token-secret) it also reads the export, to say why
// dates are incomplete and to count stale objects. It never writes.
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	c, err := parseStatusConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if c.dest.Dir != "" {
		if fi, err := os.Stat(c.dest.Dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("destination directory %s does not exist", c.dest.Dir)
		}
	}
	secrets := redact.New()
	defer func() { err = secrets.Error(err) }()
	log := newLogger(stderr, true, false, secrets)
	var (
		src status.Lister
		dst transfer.Destination
	)
	if token, keys := sourceModes(c, getenv); token || keys {
		s, d, err := connect(ctx, c, getenv, log, secrets)
		if err != nil {
			return err
		}
		src, dst = s, d
	} else if dst, err = destination(ctx, c); err != nil {
		return err
	}
	rep, err := status.Check(ctx, src, dst, dst.String(), status.Options{Types: c.types, Lookback: c.lookback})
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printStatus(stdout, rep)
	return nil
}

// parseStatusConfig parses status's flags into the config connect and
// destination take. Every problem is reported at once.
func parseStatusConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("e3sync status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c           config
		dest, types string
	)
	fs.StringVar(&dest, "dest", "", "destination: s3://bucket/prefix or a local directory (required)")
	fs.StringVar(&types, "types", "decisions,events", "export types, comma-separated")
	fs.IntVar(&c.lookback, "lookback", plan.DefaultLookback, "days before today whose objects are compared with the source even when complete")
	fs.StringVar(&c.tokenSecret, "token-secret", "", "Secrets Manager secret id or ARN holding the token (instead of $"+envToken+")")
	addSourceKeysFlag(fs, &c.keysSecret)
	fs.BoolVar(&c.json, "json", false, "print the status as JSON on stdout")
	fs.Usage = func() { statusUsage(fs, stderr) }
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return config{}, err // usage printed; exit 0
	} else if err != nil {
		return config{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	problems := c.parseDestAndTypes(fs, dest, types)
	problems = append(problems, sourceModeProblems(c, getenv, false)...)
	if c.lookback < 0 {
		problems = append(problems, fmt.Sprintf("--lookback %d is negative", c.lookback))
	}
	if c.apiBaseURL = getenv(envAPI); c.apiBaseURL != "" {
		if err := optimizely.CheckBaseURL(c.apiBaseURL); err != nil {
			problems = append(problems, "$"+envAPI+": "+err.Error())
		}
	}
	if len(problems) > 0 {
		return config{}, fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	c.duration = time.Hour
	c.token = getenv(envToken)
	c.sourceEndpoint = getenv(envSourceS3)
	c.customDestEP = getenv(envDestS3) != "" || getenv(envEndpoint) != ""
	return c, nil
}

func statusUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `Usage: e3sync status --dest DEST [flags]

Shows how the destination stands, per export type: the newest complete date
(with _SUCCESS), the dates that are not complete and why, stale objects
(objects the export no longer lists for a date it still has), and what the
last run did (from the run records e3sync keeps under <dest>/_e3sync/).

With a token ($OPTIMIZELY_TOKEN or --token-secret) it also lists the export:
the dates of the look-back window and every date not complete are compared
object by object (keys and sizes), which tells why a date is incomplete
(no source _SUCCESS yet, objects missing, _SUCCESS not yet mirrored).
Without a token it reads the destination only and says "source not checked".
It never writes.

With --json, each incomplete date's "reason" is a code: no_source_success,
objects_missing, success_not_mirrored, false_success (the destination has
_SUCCESS, the source has not: run 'e3sync verify'), gone_from_source (a date
the source no longer has, never completed), source_not_checked.

Flags:
`)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Environment: as for 'e3sync sync -h' (OPTIMIZELY_TOKEN, E3SYNC_OPTIMIZELY_API,
E3SYNC_SOURCE_ENDPOINT, AWS_ENDPOINT_URL_S3, AWS_PROFILE, AWS_REGION, ...).
`)
}

// printStatus writes the report as aligned tables.
func printStatus(w io.Writer, r status.Report) {
	source := "source checked"
	if !r.SourceChecked {
		source = "source not checked (no token)"
	}
	fmt.Fprintf(w, "destination %s\nchecked %s, %s, look-back window from %s\n\n",
		r.Destination, r.CheckedAt.Format("2006-01-02 15:04 UTC"), source, r.WindowStart)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tNEWEST COMPLETE\tAGE\tCOMPLETE DATES\tINCOMPLETE\tSTALE OBJECTS")
	for _, t := range r.Types {
		newest, age := "none", "-"
		if t.NewestComplete != "" {
			newest, age = t.NewestComplete, dateAge(t.NewestComplete, r.CheckedAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", t.Type, newest, age, t.DatesComplete, len(t.Incomplete), count(t.StaleObjects))
	}
	tw.Flush()

	fmt.Fprintln(w)
	var rows []string
	for _, t := range r.Types {
		for _, d := range t.Incomplete {
			rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s", t.Type, d.Date, count(d.ObjectsMissing), count(d.StaleObjects), d.Reason.Text()))
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "incomplete dates: none")
	} else {
		fmt.Fprintln(w, "incomplete dates:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TYPE\tDATE\tMISSING\tSTALE\tWHY")
		for _, row := range rows {
			fmt.Fprintln(tw, "  "+row)
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	run := r.LastRun
	if run == nil {
		fmt.Fprintln(w, "last run: none recorded")
		return
	}
	by := "e3sync CLI"
	if run.Origin == runlog.OriginCopier {
		by = fmt.Sprintf("copier Lambda, %d task invocations recorded", run.Records)
	}
	fmt.Fprintf(w, "last run: %s (%s), finished %s\n", run.RunID, by, run.Last.Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(w, "  tasks %d (failed %d, continued %d), objects copied %d (%s), skipped %d, failed %d, dates completed %d\n",
		run.Tasks, run.TasksFailed, run.TasksContinued, run.ObjectsCopied, humanBytes(run.BytesCopied),
		run.ObjectsSkipped, run.ObjectsFailed, run.DatesCompleted)
	if run.Unreadable > 0 {
		fmt.Fprintf(w, "  %d records could not be read\n", run.Unreadable)
	}
}

// dateAge is how many days before now a date is: "today", "1 day", "3 days".
func dateAge(date string, now time.Time) string {
	d, err := export.ParseDate(date)
	if err != nil {
		return "-"
	}
	today, _ := export.ParseDate(now.UTC().Format(export.DateLayout))
	switch n := int(today.Sub(d).Hours() / 24); n {
	case 0:
		return "today"
	case 1:
		return "1 day"
	default:
		return fmt.Sprintf("%d days", n)
	}
}

// count prints a count that may be unknown (the source was not checked).
func count(n *int) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}
