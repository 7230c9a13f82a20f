package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/status"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// runStatus shows how a destination stands (package status). With a token
// ($OPTIMIZELY_TOKEN or --token-secret) it also reads the export, to say why
// dates are incomplete and to count stale objects. It never writes.
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	c, err := parseConfig("status", args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	secrets := redact.New()
	defer func() { err = secrets.Error(explainRejection(c, err)) }()
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
	} else if dst, err = destination(ctx, c, log); err != nil {
		return err
	}
	rep, err := status.Check(ctx, src, dst, dst.String(), status.Options{Types: c.types, Lookback: c.lookback})
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if c.json {
		return printJSON(stdout, rep)
	}
	printStatus(stdout, rep)
	return nil
}

// statusAbout is status's part of its usage.
const statusAbout = `Shows how the destination stands, per export type: the newest complete date
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
the source no longer has, never completed), source_not_checked.`

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
