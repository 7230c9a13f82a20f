package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// Stale objects: an object in the destination that the source no longer
// lists, for a date the source still has, is left over from an earlier
// version of that date (Optimizely rewrote it under new part names): every
// query over the date would count its rows twice. The engine counts them
// (Result.Stale) and, with Options.Prune, moves them out of the table
// locations: each is first copied under QuarantineRoot, then deleted.

// QuarantineRoot is the folder, under the destination root, that keeps a
// copy of every object pruning removed, under the id of the run that removed
// it: QuarantineRoot + run id + "/" + the object's key. Like StateRoot it
// sits beside the type= folders, outside every table location.
const QuarantineRoot = "_e3sync/quarantine/"

// StaleFacts are what a task's listings say about one destination object.
type StaleFacts struct {
	// Bookkeeping: the date's _SUCCESS, a folder marker, anything under
	// _e3sync/, or a key outside the task's prefix; never data to prune.
	Bookkeeping bool
	// DateListed: the source still lists the object's date.
	DateListed bool
	// ListingsComplete: both sides' listings of the sub-partition ended
	// without an error (every page read).
	ListingsComplete bool
	// InSource: the source's listing of the sub-partition has the key.
	InSource bool
}

// IsStale decides whether a destination object is stale, and why.
//
//	bookkeeping | date listed | listings complete | in source | stale | reason
//	yes         |  *          |  *                |  *        | no    | bookkeeping object
//	no          | no          |  *                |  *        | no    | date gone from the source: kept
//	no          | yes         | no                |  *        | no    | listing incomplete
//	no          | yes         | yes               | yes       | no    | listed by the source
//	no          | yes         | yes               | no        | yes   | no longer listed by the source
//
// A date the source no longer lists at all is never pruned: Optimizely's
// retention must not empty the mirror.
func IsStale(f StaleFacts) (bool, string) {
	switch {
	case f.Bookkeeping:
		return false, "bookkeeping object"
	case !f.DateListed:
		return false, "date gone from the source: kept"
	case !f.ListingsComplete:
		return false, "listing incomplete"
	case f.InSource:
		return false, "listed by the source"
	default:
		return true, "no longer listed by the source"
	}
}

// PruneFacts are what decides whether a stale object is removed now.
type PruneFacts struct {
	Prune  bool // Options.Prune: pruning is enabled
	DryRun bool // Options.DryRun
}

// PruneAction is what happens to one stale object.
type PruneAction int

// The actions DecidePrune returns.
const (
	Keep       PruneAction = iota // leave it, counted as stale
	WouldPrune                    // a dry run: counted as pruned, nothing written
	Quarantine                    // copy it under QuarantineRoot, then delete it
)

// DecidePrune decides what to do with a stale object, and why.
//
//	prune | dry run | action      | reason
//	no    |  *      | keep        | pruning is off
//	yes   | yes     | would prune | dry run
//	yes   | no      | quarantine  | stale
//
// The engine only looks for stale objects once a task has copied every
// source object (nothing failed or deferred), so an object is only removed
// once the new version of its sub-partition is complete in the destination:
// a query never sees the date emptier than the source.
func DecidePrune(f PruneFacts) (PruneAction, string) {
	switch {
	case !f.Prune:
		return Keep, "pruning is off"
	case f.DryRun:
		return WouldPrune, "dry run"
	default:
		return Quarantine, "stale"
	}
}

// bookkeeping reports whether key is not data of task t: the date's
// _SUCCESS, a folder marker, e3sync's own folder, or outside the task.
func bookkeeping(t export.Task, key string) bool {
	return key == export.SuccessKey(t.Type, t.Date) || strings.HasSuffix(key, "/") ||
		strings.HasPrefix(key, "_e3sync/") || !strings.HasPrefix(key, t.Prefix())
}

// quarantineKey is where pruning keeps key's copy for run runID. A run id
// that is not one plain folder name (tasks come from a queue: untrusted) is
// replaced.
func quarantineKey(runID, key string) string {
	if runID == "" || runID == "." || runID == ".." || strings.ContainsAny(runID, "/\x00") {
		runID = "no-run-id"
	}
	return QuarantineRoot + runID + "/" + key
}

// stale finds the stale objects of task t from its two complete listings,
// once the task has copied everything, and prunes them as DecidePrune says,
// counting them in res: Stale, Pruned (in a dry run: would be), and, once
// stopped() (the invocation's stop time passed), Deferred for each stale
// object it did not get to (neither stale nor pruned yet: the task runs
// again). An error means an object could not be pruned (it is then still
// in place, or in place and quarantined).
func (e *Engine) stale(ctx context.Context, t export.Task, srcL, dstL store.Listing, stopped func() bool, res *Result, log *slog.Logger) error {
	inSrc := make(map[string]bool, len(srcL.Objects))
	for _, o := range srcL.Objects {
		inSrc[o.Key] = true
	}
	var candidates []store.Object
	for _, o := range dstL.Objects {
		if !bookkeeping(t, o.Key) && !inSrc[o.Key] {
			candidates = append(candidates, o)
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	dateListed := len(srcL.Objects) > 0
	if !dateListed {
		// The whole sub-partition is gone from the source: is the date?
		l, err := e.src.List(ctx, export.DatePrefix(t.Type, t.Date), true)
		if err != nil {
			return fmt.Errorf("stale objects: source date: %w", err)
		}
		dateListed = len(l.Objects) > 0 || len(l.Prefixes) > 0
	}
	var errs []error
	for _, o := range candidates {
		isStale, _ := IsStale(StaleFacts{
			Bookkeeping: bookkeeping(t, o.Key), DateListed: dateListed, ListingsComplete: true, InSource: inSrc[o.Key],
		})
		if !isStale {
			continue
		}
		action, reason := DecidePrune(PruneFacts{Prune: e.opts.Prune, DryRun: e.opts.DryRun})
		if action == Quarantine && stopped() {
			res.Deferred++
			continue
		}
		res.Stale++
		switch action {
		case Keep:
			log.WarnContext(ctx, "stale object: the source no longer lists it for this date", "key", o.Key, "size", o.Size, "pruned", false, "why", reason)
		case WouldPrune:
			res.Pruned++
		case Quarantine:
			q := quarantineKey(t.RunID, o.Key)
			if err := e.prune(ctx, o, q); err != nil {
				errs = append(errs, err)
				continue
			}
			res.Pruned++
			log.InfoContext(ctx, "stale object pruned: moved to quarantine", "key", o.Key, "size", o.Size, "quarantine", q)
		}
	}
	return errors.Join(errs...)
}

// prune copies the destination object o to quarantine key q, then deletes
// it. Nothing is deleted unless the whole copy is in place.
func (e *Engine) prune(ctx context.Context, o store.Object, q string) error {
	d, ok := e.dst.(store.Deleter)
	if !ok {
		return fmt.Errorf("prune %s: the destination %s cannot delete objects", o.Key, e.dst)
	}
	err := e.quarantine(ctx, o, q)
	if errors.Is(err, store.ErrNotFound) {
		return nil // removed meanwhile
	}
	if err != nil {
		return fmt.Errorf("prune %s: quarantine: %w", o.Key, err)
	}
	if err := d.Delete(ctx, o.Key); err != nil {
		return fmt.Errorf("prune %s (its copy is in %s): %w", o.Key, q, err)
	}
	return nil
}

// quarantine copies o to q: server-side where the destination can, else by
// streaming it through the engine's memory budget.
func (e *Engine) quarantine(ctx context.Context, o store.Object, q string) error {
	if c, ok := e.dst.(store.WithinCopier); ok {
		if err := c.CopyWithin(ctx, o.Key, q, o.Size); !errors.Is(err, store.ErrTooLargeToCopy) {
			return err
		}
	}
	release, err := e.reserve(ctx, o.Size)
	if err != nil {
		return err
	}
	defer release()
	rc, err := e.dst.Open(ctx, o.Key)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = e.dst.Write(ctx, q, o.Size, rc, nil)
	return err
}

// reserve takes the engine's memory budget for copying an object of size
// bytes (a large-object slot, or size bytes of the small objects' budget)
// and returns its release.
func (e *Engine) reserve(ctx context.Context, size int64) (func(), error) {
	if size >= e.opts.LargeObject {
		select {
		case e.large <- struct{}{}:
			return func() { <-e.large }, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	w := min(max(size, 1), e.opts.SmallMemory)
	if err := e.small.Acquire(ctx, w); err != nil {
		return nil, err
	}
	return func() { e.small.Release(w) }, nil
}

// FalseSuccess decides whether the destination's _SUCCESS of a date is false
// and must be withdrawn (a deletion: only with pruning).
//
//	source lists date | source _SUCCESS | dest _SUCCESS | false
//	no                |  *              |  *            | no: date gone from the source, kept
//	yes               | yes             |  *            | no
//	yes               | no              | no            | no: nothing to withdraw
//	yes               | no              | yes           | yes: the source date is not complete
func FalseSuccess(dateListed, srcSuccess, dstSuccess bool) bool {
	return dateListed && !srcSuccess && dstSuccess
}

// Withdraw deletes the destination's _SUCCESS of a date that the source
// still lists without one (FalseSuccess), when pruning is on: the marker
// then follows the usual rule again, and Finalize writes it once the source
// date is complete and mirrored. It reports whether it withdrew the marker
// (in a dry run: would). Without pruning it does nothing.
func (e *Engine) Withdraw(ctx context.Context, t export.Type, date string) (bool, error) {
	if !e.opts.Prune {
		return false, nil
	}
	prefix, success := export.DatePrefix(t, date), export.SuccessKey(t, date)
	dstL, err := e.dst.List(ctx, prefix, true)
	if err != nil {
		return false, fmt.Errorf("withdraw %s/%s: destination: %w", t, date, err)
	}
	if !hasKey(dstL, success) {
		return false, nil
	}
	srcL, err := e.src.List(ctx, prefix, true)
	if err != nil {
		return false, fmt.Errorf("withdraw %s/%s: source: %w", t, date, err)
	}
	listed := len(srcL.Objects) > 0 || len(srcL.Prefixes) > 0
	if !FalseSuccess(listed, hasKey(srcL, success), true) {
		return false, nil
	}
	if e.opts.DryRun {
		return true, nil
	}
	d, ok := e.dst.(store.Deleter)
	if !ok {
		return false, fmt.Errorf("withdraw %s/%s: the destination %s cannot delete objects", t, date, e.dst)
	}
	if err := d.Delete(ctx, success); err != nil {
		return false, fmt.Errorf("withdraw %s/%s: %w", t, date, err)
	}
	e.opts.Logger.WarnContext(ctx, "false _SUCCESS withdrawn: the source lists the date without one", "type", t, "date", date, "key", success)
	return true, nil
}
