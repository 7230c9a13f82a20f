package main

import (
	"fmt"
	"io"

	"github.com/e3sync/e3sync/pkg/job"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// printStale prints the summary's lines about stale objects (destination
// objects the source no longer lists for a date it still has) and withdrawn
// _SUCCESS markers.
func printStale(w io.Writer, s job.Summary) {
	for _, d := range s.WithdrawnDates {
		verb := "withdrawn"
		if s.DryRun {
			verb = "to withdraw"
		}
		fmt.Fprintf(w, "false _SUCCESS %s: %s (the source lists the date without one)\n", verb, d)
	}
	switch {
	case s.ObjectsStale == 0:
		fmt.Fprintln(w, "objects stale: 0")
	case s.DryRun && s.ObjectsPruned > 0:
		fmt.Fprintf(w, "objects stale: %d (no longer at the source); to prune: %d\n", s.ObjectsStale, s.ObjectsPruned)
	case s.ObjectsPruned > 0:
		fmt.Fprintf(w, "objects stale: %d (no longer at the source); pruned: %d, copies kept under %s%s/\n",
			s.ObjectsStale, s.ObjectsPruned, transfer.QuarantineRoot, s.RunID)
	default:
		fmt.Fprintf(w, "objects stale: %d (no longer at the source; queries over their dates count them too): "+
			"run sync --prune to move them to %s\n", s.ObjectsStale, transfer.QuarantineRoot)
	}
}
