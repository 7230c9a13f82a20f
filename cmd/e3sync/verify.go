package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/verify"
)

// errDifferent means verify found differences, already printed (exit 1).
var errDifferent = fmt.Errorf("%w: the destination differs from the source", errRunFailed)

// runVerify compares the destination with the export for the selected
// dates and types, reading both sides in full (SHA-256 of every object).
// It takes the same flags and environment as sync; it never writes.
func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	c, err := parseConfig("verify", args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	secrets := redact.New()
	defer func() { err = secrets.Error(explainRejection(c, err)) }()
	log := newLogger(stderr, c.quiet, c.verbose, secrets)
	src, dst, err := connect(ctx, c, getenv, log, secrets)
	if err != nil {
		return err
	}
	rep, err := verify.Compare(ctx, src, dst, verify.Options{
		Types: c.types, From: c.from, To: c.to, Concurrency: c.concurrency,
	})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	repair := ""
	if r, ok := rep.Repair(); ok {
		repair = repairCommand(c, r)
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		out := struct {
			verify.Report
			// RepairCommand is the one command that repairs every difference.
			RepairCommand string `json:"repair_command,omitempty"`
		}{rep, repair}
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, d := range rep.Differences {
			fmt.Fprintln(stdout, d)
		}
		if !c.quiet || !rep.Identical() {
			verdict := "identical"
			if !rep.Identical() {
				verdict = plural(len(rep.Differences), "difference", "differences")
			}
			fmt.Fprintf(stdout, "%s: %s, %s, %s compared (%s)\n", verdict, plural(len(rep.Dates), "date", "dates"),
				plural(rep.ObjectsCompared, "object", "objects"), humanBytes(rep.BytesCompared), dst)
		}
		if n := len(rep.RetainedDates); n > 0 && !c.quiet {
			fmt.Fprintf(stdout, "%s kept that the source no longer lists (retained on purpose, not compared)\n", plural(n, "date", "dates"))
		}
		if repair != "" {
			fmt.Fprintf(stdout, "repair with: %s\n", repair)
		}
	}
	if !rep.Identical() {
		return errDifferent
	}
	return nil
}
