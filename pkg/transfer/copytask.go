package transfer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// copyUntil copies one task in these steps:
//
//  1. list both sides of the task and read its manifest (listTask);
//  2. for each source object (the small ones in listing order, the large
//     ones largest first, from two loops at once: bySize): Decide; count a
//     skip at once, else start its copy once it has its memory and a slot
//     (start), or defer it once the stop time has passed;
//  3. each copy in flight finishes a Check by reading the destination's
//     metadata, copies, and counts itself (copy);
//  4. once all are done, write the manifest if anything changed
//     (saveManifest);
//  5. if nothing failed or was deferred, count (and prune) stale objects
//     and abort stale uploads (finish).
func (e *Engine) copyUntil(ctx context.Context, t export.Task, stopAt time.Time) (Result, error) {
	if err := t.Validate(); err != nil {
		return Result{}, err
	}
	tc, err := e.listTask(ctx, t, stopAt)
	if err != nil {
		return Result{}, fmt.Errorf("task %s: %w", t, err)
	}
	if e.opts.Planned != nil {
		e.opts.Planned(tc.toCopy())
	}
	e.adapt.begin()
	defer e.adapt.end()
	ctx = context.WithValue(ctx, adapterKey{}, e.adapt) // for Throttled
	// The large objects start from a loop of their own, largest first: the
	// task's largest object, started last, would end the task copying alone,
	// and a large object waits for its large slot (reserve) before it takes
	// an object slot, which the small ones go on using meanwhile.
	large, small := tc.bySize()
	var starting sync.WaitGroup
	starting.Go(func() {
		for _, o := range large {
			tc.start(ctx, o)
		}
	})
	for _, o := range small {
		tc.start(ctx, o)
	}
	starting.Wait()
	tc.wg.Wait()
	tc.saveManifest(ctx)
	return tc.finish(ctx)
}

// taskCopy is one run of copyUntil: the task's listings, its manifest as
// read (old) and as it will be written (next), and the counts, shared by
// the copies in flight.
type taskCopy struct {
	e      *Engine
	t      export.Task
	stopAt time.Time
	log    *slog.Logger
	srcL   store.Listing
	dstL   store.Listing
	have   map[string]store.Object // dstL by key
	old    manifest

	wg      sync.WaitGroup
	changed atomic.Bool // next differs from old in more than its length
	mu      sync.Mutex  // guards res, errs, next
	res     Result
	errs    []error
	next    manifest
}

// listTask lists both sides of t and reads its manifest.
func (e *Engine) listTask(ctx context.Context, t export.Task, stopAt time.Time) (*taskCopy, error) {
	delim := t.Partition == "" // a date-level task takes only the date folder's own files
	srcL, err := e.src.List(ctx, t.Prefix(), delim)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dstL, err := e.dst.List(ctx, t.Prefix(), delim)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	if err := e.checkNames(t.Prefix(), srcL, dstL); err != nil {
		return nil, err
	}
	m, err := readManifest(ctx, e.dst, t)
	if err != nil {
		return nil, err
	}
	have := make(map[string]store.Object, len(dstL.Objects))
	for _, o := range dstL.Objects {
		have[o.Key] = o
	}
	return &taskCopy{
		e: e, t: t, stopAt: stopAt, log: e.opts.Logger.With("task", t.String()),
		srcL: srcL, dstL: dstL, have: have, old: m,
		next: manifest{Version: manifestVersion, Objects: map[string]manifestEntry{}},
	}, nil
}

// bySize splits the source listing into the large objects (the engine's
// LargeObject and up), largest first, and the small ones, in listing order.
func (tc *taskCopy) bySize() (large, small []store.Object) {
	for _, o := range tc.srcL.Objects {
		if o.Size >= tc.e.opts.LargeObject {
			large = append(large, o)
		} else {
			small = append(small, o)
		}
	}
	slices.SortStableFunc(large, func(a, b store.Object) int { return cmp.Compare(b.Size, a.Size) })
	return large, small
}

// stopped reports whether the stop time has passed: no object starts after it.
func (tc *taskCopy) stopped() bool {
	return !tc.stopAt.IsZero() && !time.Now().Before(tc.stopAt)
}

// decide is Decide for source object o, with the destination object of the
// same key (nil if absent).
func (tc *taskCopy) decide(o store.Object) (Action, string, *store.Object) {
	var dst *store.Object
	if d, ok := tc.have[o.Key]; ok {
		dst = &d
	}
	entry, ok := tc.old.entry(o, dst)
	action, reason := Decide(o, Facts{
		Dest: dst, Recorded: ok, RecordedETag: entry.SourceETag, CopiedAt: entry.CopiedAt, ForceBefore: tc.t.ForceBefore,
	})
	return action, reason, dst
}

// start decides source object o and, unless it is skipped, starts its copy
// once it has its share of the engine's memory (reserve: a large slot, or
// its bytes of the small objects' budget; a Check takes it in its slot, once
// its HEAD says it copies, and a dry run never) and then one of the engine's
// slots, or defers it when the stop time has passed.
func (tc *taskCopy) start(ctx context.Context, o store.Object) {
	if o.Key == export.SuccessKey(tc.t.Type, tc.t.Date) || strings.HasSuffix(o.Key, "/") {
		return // _SUCCESS is written by Finalize; folder markers carry no data
	}
	if err := store.CheckSize(o.Size); err != nil {
		tc.fail(fmt.Errorf("%s: listed size: %w", o.Key, err))
		return
	}
	action, reason, dst := tc.decide(o)
	if action == Skip {
		tc.skip(o, dst.ETag, false)
		return
	}
	if tc.deferred(o) {
		return
	}
	if err := tc.e.down.check(); err != nil { // an endpoint stopped answering: fail without waiting
		tc.fail(fmt.Errorf("copy %s: %w", o.Key, err))
		return
	}
	release := func() {}
	if action == Copy && !tc.e.opts.DryRun {
		// A Check reserves in its slot, once its HEAD says it copies (copy).
		var ok bool
		if release, ok = tc.reserve(ctx, o); !ok {
			return
		}
	}
	if !tc.takeSlot(ctx, o) {
		release()
		return
	}
	if tc.deferred(o) {
		<-tc.e.slots
		release()
		return
	}
	tc.wg.Add(1)
	tc.e.workers.run(func() {
		defer tc.wg.Done()
		defer func() {
			<-tc.e.slots
			release()
			tc.e.adapt.finished(o.Size, tc.e.opts.LargeObject)
		}()
		tc.copy(ctx, o, action, reason)
	})
}

// takeSlot waits for a free slot of the engine (their number adapts: see
// adapt.go). When ctx ends first it counts o as deferred (cancelled at the
// abort margin, after the stop time) or as failed, and reports false.
func (tc *taskCopy) takeSlot(ctx context.Context, o store.Object) bool {
	select {
	case tc.e.slots <- struct{}{}:
		return true
	default:
		tc.e.adapt.full.Store(true) // the limit bounds what is in flight
	}
	select {
	case tc.e.slots <- struct{}{}:
		return true
	case <-ctx.Done():
	}
	tc.cut(o, ctx.Err())
	return false
}

// reserve takes o's share of the engine's memory (Engine.reserve) and
// returns its release; when ctx ends first it counts o (cut) and reports
// false.
func (tc *taskCopy) reserve(ctx context.Context, o store.Object) (func(), bool) {
	release, err := tc.e.reserve(ctx, o.Size)
	if err != nil {
		tc.cut(o, err)
		return nil, false
	}
	return release, true
}

// cut counts o, which ctx ended before it started (err), as deferred
// (cancelled at the abort margin, after the stop time) or as failed.
func (tc *taskCopy) cut(o store.Object, err error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.stopped() {
		tc.deferLocked(o)
	} else {
		tc.errs = append(tc.errs, fmt.Errorf("%s: %w", o.Key, err))
		tc.res.Failed++
	}
}

// copy runs in a slot: it finishes a Check (read the destination object's
// metadata, then skip or copy), then copies o and counts the outcome.
func (tc *taskCopy) copy(ctx context.Context, o store.Object, action Action, reason string) {
	checked := action == Check
	if checked {
		info, err := tc.e.dst.Head(ctx, o.Key)
		if err != nil {
			action, reason = Copy, "metadata unreadable"
		} else if action, reason = DecideChecked(o, info.Metadata); action == Skip {
			tc.skip(o, info.ETag, true) // the ETag of the object whose metadata was read
			return
		}
	}
	tc.log.DebugContext(ctx, "copy", "key", o.Key, "size", o.Size, "reason", reason, "dry_run", tc.e.opts.DryRun)
	if tc.e.opts.DryRun {
		tc.mu.Lock()
		tc.res.Copied++
		tc.res.Bytes += o.Size
		tc.mu.Unlock()
		return
	}
	if checked { // start reserved only for a Copy
		release, ok := tc.reserve(ctx, o)
		if !ok {
			return
		}
		defer release()
	}
	dstETag, err := tc.e.copyObject(ctx, o)
	tc.mu.Lock()
	defer tc.mu.Unlock()
	switch {
	case err != nil && ctx.Err() != nil && tc.stopped():
		// Cancelled at the abort margin, after the stop time: the upload
		// was aborted; the next run of the task copies it.
		tc.deferLocked(o)
	case err != nil:
		tc.res.Failed++
		tc.errs = append(tc.errs, err)
	default:
		tc.res.Copied++
		tc.res.Bytes += o.Size
		tc.recordLocked(o, dstETag, time.Now())
		tc.changed.Store(true)
	}
}

// skip counts o as skipped, present in the destination as the object with
// ETag dstETag; checked: its metadata was read to decide (the manifest
// gains what it learnt).
func (tc *taskCopy) skip(o store.Object, dstETag string, checked bool) {
	tc.mu.Lock()
	tc.res.Skipped++
	tc.recordLocked(o, dstETag, time.Time{})
	tc.mu.Unlock()
	if checked {
		tc.changed.Store(true)
	}
}

// fail counts an object that could not be copied.
func (tc *taskCopy) fail(err error) {
	tc.mu.Lock()
	tc.res.Failed++
	tc.errs = append(tc.errs, err)
	tc.mu.Unlock()
}

// recordLocked notes o as present in the destination as the object with
// destination ETag dstETag, copied at copiedAt (zero: found there, keeping
// the time of an earlier copy of that same object). With mu held.
func (tc *taskCopy) recordLocked(o store.Object, dstETag string, copiedAt time.Time) {
	if copiedAt.IsZero() {
		if old, ok := tc.old.Objects[o.Key]; ok && old.SourceETag == o.ETag && sameETag(old.DestETag, dstETag) {
			copiedAt = old.CopiedAt
		}
	}
	tc.next.Objects[o.Key] = manifestEntry{Size: o.Size, SourceETag: o.ETag, DestETag: dstETag, CopiedAt: copiedAt}
}

// deferred reports whether the stop time has passed, and if so counts o as
// deferred.
func (tc *taskCopy) deferred(o store.Object) bool {
	if !tc.stopped() {
		return false
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.deferLocked(o)
	return true
}

// deferLocked counts o as deferred, keeping its old manifest entry. With mu
// held.
func (tc *taskCopy) deferLocked(o store.Object) {
	tc.res.Deferred++
	if old, ok := tc.old.Objects[o.Key]; ok {
		tc.next.Objects[o.Key] = old
	}
}

// saveManifest writes the manifest when it changed, even when ctx is done
// (the abort margin, an interrupt): it records the objects that were copied
// before. A failure is one of the task's errors.
func (tc *taskCopy) saveManifest(ctx context.Context) {
	if tc.e.opts.DryRun || !tc.changed.Load() && len(tc.next.Objects) == len(tc.old.Objects) {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), manifestTimeout)
	defer cancel()
	if err := writeManifest(wctx, tc.e.dst, tc.t, tc.next); err != nil {
		tc.errs = append(tc.errs, err)
	}
}

// finish returns the task's result: its errors if any object failed; else,
// once nothing is deferred, after counting (and pruning) its stale objects
// and aborting the stale uploads under its prefix.
func (tc *taskCopy) finish(ctx context.Context) (Result, error) {
	t, res := tc.t, tc.res
	if len(tc.errs) > 0 {
		return res, fmt.Errorf("task %s: %d of %d objects failed: %w", t, res.Failed, len(tc.srcL.Objects), errors.Join(tc.errs...))
	}
	if res.Deferred > 0 {
		return res, nil
	}
	if err := tc.e.stale(ctx, t, tc.srcL, tc.dstL, tc.stopped, &res, tc.log); err != nil {
		return res, fmt.Errorf("task %s: %w", t, err)
	}
	if res.Deferred == 0 && !tc.e.opts.DryRun {
		res.UploadsAborted = tc.e.abortStaleUploads(ctx, t, tc.log)
	}
	return res, nil
}
