// Package transfer is the copy engine: for one task (one sub-partition of one
// date) it lists the source and the destination, copies what is missing or
// changed by streaming bytes from GET to upload with bounded memory, verifies
// every object, and, once a whole date is present, writes its _SUCCESS last.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/e3sync/e3sync/pkg/backoff"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/store"
)

// MetaSourceETag is the user metadata key (x-amz-meta-e3sync-source-etag)
// recording the ETag the source object had when it was copied.
const MetaSourceETag = "e3sync-source-etag"

// Source is where objects are read: the export, under the account root.
type Source interface {
	List(ctx context.Context, prefix string, delim bool) (store.Listing, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// Destination is where objects are written; see package store for the error
// contract (Write is atomic).
type Destination interface {
	Source
	Head(ctx context.Context, key string) (store.Info, error)
	// Write returns the ETag the store gave the written object: the one
	// List and Head report for it until it is written again.
	Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error)
	String() string
}

// The stores of package store are Destinations (and so Sources); what more
// each can do is declared in package store (capabilities.go).
var (
	_ Destination = (*store.S3)(nil)
	_ Destination = (*store.Dir)(nil)
)

// Defaults for Options.
const (
	DefaultConcurrency      = 64
	DefaultLargeConcurrency = 4
	DefaultLargeObject      = store.DefaultPartSize
	DefaultSmallMemory      = 32 << 20
	DefaultAttempts         = 3
	// DefaultStaleUploadAge is far longer than one upload takes (a copier
	// invocation lasts at most 15 minutes), so the live upload of a run
	// going on at the same time is never taken for a stale one.
	DefaultStaleUploadAge = time.Hour
)

// Options tune an Engine.
type Options struct {
	// Concurrency is the most objects in flight across all tasks of the
	// engine: an upper bound. Below it the engine adapts the number to what
	// it observes (see adapt.go), starting at 32 (or Concurrency if lower).
	Concurrency int
	// LargeConcurrency bounds objects of at least LargeObject bytes in
	// flight. Their part buffers are bounded by the destination
	// (store.S3Options.PartsInFlight, shared by all of them), so this
	// bounds requests, not memory: far from S3 an object of a few parts
	// spends most of its time in CreateMultipartUpload and
	// CompleteMultipartUpload round trips, and 4 at once keep the parts
	// busy (a Parquet-like mix at 30 ms: 0.93× the ceiling vs 0.86× with 2).
	LargeConcurrency int
	// LargeObject is the size from which an object is copied as parallel
	// parts; default: the destination's part size (store.PartWriter), else
	// DefaultLargeObject.
	LargeObject int64
	// SmallMemory bounds the bytes of smaller objects in flight: each is
	// read whole into memory for its single PutObject, so many small objects
	// can be in flight at once while a few near LargeObject cannot exceed it.
	SmallMemory int64
	// Attempts is how many times one object is tried before its task fails;
	// each attempt re-reads the source from the start.
	Attempts int
	// DryRun decides but copies nothing.
	DryRun bool
	// Prune moves the task's stale objects (see IsStale) to QuarantineRoot
	// once the task has copied everything; the destination must be a
	// store.Deleter. Off: they are only counted.
	Prune bool
	// StaleUploadAge: once a task has copied everything, multipart uploads
	// under its prefix initiated longer ago than this are aborted (left by
	// a killed run; see store.UploadAborter). Default
	// DefaultStaleUploadAge.
	StaleUploadAge time.Duration
	// Progress, if set, is called with byte counts as they are copied.
	Progress func(n int64)
	// Planned, if set, is called once per task, when its listings are read
	// and before any of its copies starts, with the objects and bytes the
	// task is about to copy (or check). A progress bar's total.
	Planned func(objects int, bytes int64)
	Logger  *slog.Logger
}

// Engine copies tasks from a Source to a Destination. It is safe for
// concurrent use; its limits hold across concurrent Copy calls.
type Engine struct {
	src  Source
	dst  Destination
	opts Options
	// ranged and parts are src and dst with those capabilities (see package
	// store), nil without: large objects are copied as parallel ranged
	// parts only with both, and ranged reads only the listed version.
	ranged store.RangeReader
	parts  store.PartWriter
	// prober and names are dst's, nil without (probe.go, names.go).
	prober  store.WriteProber
	names   store.NameChecker
	adapt   *adapter
	slots   chan struct{} // adapt.slots
	workers *workers      // run the copies in the slots
	large   chan struct{}
	small   *semaphore.Weighted // bytes of small objects in flight
	// noCleanup is set once the destination denied listing or aborting
	// uploads: asking again for every task would only repeat the warning.
	noCleanup atomic.Bool
	// down is tripped by the first error showing that an endpoint stopped
	// answering, or that the destination refuses (probe.go): no object or
	// task starts after it.
	down breaker
}

// New returns an engine.
func New(src Source, dst Destination, opts Options) *Engine {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.LargeConcurrency <= 0 {
		opts.LargeConcurrency = DefaultLargeConcurrency
	}
	ranged, _ := src.(store.RangeReader)
	parts, _ := dst.(store.PartWriter)
	prober, _ := dst.(store.WriteProber)
	names, _ := dst.(store.NameChecker)
	if opts.LargeObject <= 0 {
		opts.LargeObject = DefaultLargeObject
		if parts != nil && parts.PartSize() > 0 {
			opts.LargeObject = parts.PartSize()
		}
	}
	if opts.SmallMemory <= 0 {
		opts.SmallMemory = DefaultSmallMemory
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.StaleUploadAge <= 0 {
		opts.StaleUploadAge = DefaultStaleUploadAge
	}
	opts.Logger = logctx.OrDiscard(opts.Logger)
	a := newAdapter(opts.Concurrency, opts.Logger)
	return &Engine{
		src: src, dst: dst, opts: opts, ranged: ranged, parts: parts, prober: prober, names: names,
		adapt: a, slots: a.slots, workers: newWorkers(),
		large: make(chan struct{}, opts.LargeConcurrency),
		small: semaphore.NewWeighted(opts.SmallMemory),
	}
}

// Result counts what one Copy did (or, in a dry run, would do).
type Result struct {
	Copied  int   `json:"objects_copied"`
	Skipped int   `json:"objects_skipped"`
	Failed  int   `json:"objects_failed"`
	Bytes   int64 `json:"bytes_copied"`
	// Deferred counts objects not started because the stop time passed;
	// the task must run again to copy them.
	Deferred int `json:"objects_deferred"`
	// UploadsAborted counts stale multipart uploads (left by a killed run)
	// aborted under the task's prefix.
	UploadsAborted int `json:"uploads_aborted"`
	// Stale counts destination objects the source no longer lists for a
	// date it still has (IsStale); Pruned those moved to quarantine (in a
	// dry run: that would be). Counted once a task has copied everything.
	Stale  int `json:"objects_stale"`
	Pruned int `json:"objects_pruned"`
}

// Add adds r2's counts to r.
func (r *Result) Add(r2 Result) {
	r.Copied += r2.Copied
	r.Skipped += r2.Skipped
	r.Failed += r2.Failed
	r.Bytes += r2.Bytes
	r.Deferred += r2.Deferred
	r.UploadsAborted += r2.UploadsAborted
	r.Stale += r2.Stale
	r.Pruned += r2.Pruned
}

// Copy brings the destination up to date with the source for one task. It
// returns an error if any object could not be copied (joined, one per
// object); the other objects are still copied.
func (e *Engine) Copy(ctx context.Context, t export.Task) (Result, error) {
	return e.CopyUntil(ctx, t, time.Time{})
}

// CopyUntil is Copy that starts no object after stopAt (zero: no limit).
// Objects in flight at stopAt run on, bounded by ctx; objects not started
// are counted in Result.Deferred. A deferred task is not an error: running
// it again continues where it stopped.
//
// A task that copied everything (nothing failed or deferred) then aborts
// the stale multipart uploads under its prefix, when the destination can
// (Result.UploadsAborted; see Options.StaleUploadAge).
func (e *Engine) CopyUntil(ctx context.Context, t export.Task, stopAt time.Time) (res Result, err error) {
	defer e.boundary(ctx, "task "+t.String(), &err)
	if err := e.down.check(); err != nil {
		return Result{}, fmt.Errorf("task %s: %w", t, err)
	}
	return e.copyUntil(ctx, t, stopAt)
}

// abortStaleUploads aborts the uploads under t's prefix initiated more than
// StaleUploadAge ago, once t has copied everything: a process killed in the
// middle of an upload (SIGKILL, out of memory, a Lambda timeout) could not
// abort it, and an open upload is stored, and billed, until it is aborted.
// It returns how many it aborted. A failure is logged, never the task's: the
// data is complete.
func (e *Engine) abortStaleUploads(ctx context.Context, t export.Task, log *slog.Logger) int {
	c, ok := e.dst.(store.UploadAborter)
	if !ok || e.noCleanup.Load() || ctx.Err() != nil {
		return 0
	}
	aborted, err := c.AbortStaleUploads(ctx, t.Prefix(), t.Partition == "", time.Now().Add(-e.opts.StaleUploadAge))
	for _, u := range aborted {
		if u.ID == "" { // a directory's partial file (store.Dir)
			log.WarnContext(ctx, "removed a stale partial file left by an interrupted run",
				"key", u.Key, "written", u.Initiated.UTC().Format(time.RFC3339))
			continue
		}
		log.WarnContext(ctx, "aborted a stale multipart upload left by an interrupted run",
			"key", u.Key, "upload_id", u.ID, "initiated", u.Initiated.UTC().Format(time.RFC3339))
	}
	switch {
	case errors.Is(err, store.ErrAccessDenied):
		if e.noCleanup.CompareAndSwap(false, true) {
			log.WarnContext(ctx, "stale multipart uploads cannot be cleaned up: the destination identity may not list or abort them "+
				"(s3:ListBucketMultipartUploads, s3:AbortMultipartUpload); not trying again in this run", "error", err.Error())
		}
	case err != nil:
		log.WarnContext(ctx, "cleaning up stale multipart uploads failed; the task's data is complete", "error", err.Error())
	}
	return len(aborted)
}

// manifestTimeout bounds writing a task's manifest after its context is done.
const manifestTimeout = 20 * time.Second

// objectBackoff paces the attempts of one object.
var objectBackoff = backoff.Exponential{Base: 500 * time.Millisecond}

// copyObject streams one object, retrying the whole object on failure, and
// returns the destination ETag of the copy. Each attempt is atomic at the
// destination (store contract), so a failed attempt leaves nothing behind.
// The caller holds the object's share of the memory budget (reserve).
func (e *Engine) copyObject(ctx context.Context, o store.Object) (etag string, err error) {
	defer e.boundary(ctx, "copy "+o.Key, &err)
	if err := e.down.check(); err != nil {
		return "", fmt.Errorf("copy %s: %w", o.Key, err)
	}
	for attempt := 1; attempt <= e.opts.Attempts; attempt++ {
		if attempt > 1 {
			e.opts.Logger.WarnContext(ctx, "retrying object", "key", o.Key, "attempt", attempt, "error", err.Error())
			if err := backoff.Sleep(ctx, objectBackoff.Delay(attempt)); err != nil {
				return "", fmt.Errorf("copy %s: %w", o.Key, err)
			}
		}
		if etag, err = e.copyOnce(ctx, o); err == nil || ctx.Err() != nil || store.Unanswered(err) || store.Permanent(err) {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", o.Key, err)
	}
	return etag, nil
}

func (e *Engine) copyOnce(ctx context.Context, o store.Object) (string, error) {
	meta := map[string]string{MetaSourceETag: o.ETag}
	if o.Size >= e.opts.LargeObject && e.ranged != nil && e.parts != nil {
		// Parallel ranged GETs, each feeding the UploadPart of the same part:
		// one GET stream would bound the object's throughput.
		return e.parts.WriteParts(ctx, o.Key, o.Size, func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
			rc, err := e.ranged.OpenRange(ctx, o.Key, o.ETag, off, n, o.Size)
			if err != nil || e.opts.Progress == nil {
				return rc, err
			}
			return struct {
				io.Reader
				io.Closer
			}{&progressReader{r: rc, fn: e.opts.Progress}, rc}, nil
		}, meta)
	}
	var rc io.ReadCloser
	var err error
	if e.ranged != nil && o.Size > 0 {
		// The whole object, but only the version listed (If-Match): its
		// ETag is what the manifest and the metadata record.
		rc, err = e.ranged.OpenRange(ctx, o.Key, o.ETag, 0, o.Size, o.Size)
	} else {
		rc, err = e.src.Open(ctx, o.Key)
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var body io.Reader = rc
	if e.opts.Progress != nil {
		body = &progressReader{r: rc, fn: e.opts.Progress}
	}
	return e.dst.Write(ctx, o.Key, o.Size, body, meta)
}

type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.fn(int64(n))
	}
	return n, err
}

// Completion is what Finalize found.
type Completion int

// The outcomes of Finalize.
const (
	Incomplete      Completion = iota // the source has no _SUCCESS, or objects are missing
	AlreadyComplete                   // the destination already had _SUCCESS
	Completed                         // Finalize wrote the destination _SUCCESS
)

func (c Completion) String() string {
	return [...]string{"incomplete", "already complete", "completed"}[c]
}

// Finalize writes the destination _SUCCESS for a date when the source has
// one and every source object of the date is present in the destination with
// the same size, as the version the source lists (copiedVersions). The marker
// is always the last object written for a date.
func (e *Engine) Finalize(ctx context.Context, t export.Type, date string) (c Completion, err error) {
	defer e.boundary(ctx, "finalize "+string(t)+"/"+date, &err)
	return e.finalize(ctx, t, date)
}

func (e *Engine) finalize(ctx context.Context, t export.Type, date string) (Completion, error) {
	prefix := export.DatePrefix(t, date)
	success := export.SuccessKey(t, date)
	srcL, err := e.src.List(ctx, prefix, false)
	if err != nil {
		return Incomplete, fmt.Errorf("finalize %s/%s: source: %w", t, date, err)
	}
	if !hasKey(srcL, success) {
		return Incomplete, nil
	}
	dstL, err := e.dst.List(ctx, prefix, false)
	if err != nil {
		return Incomplete, fmt.Errorf("finalize %s/%s: destination: %w", t, date, err)
	}
	if hasKey(dstL, success) {
		return AlreadyComplete, nil
	}
	have := make(map[string]int64, len(dstL.Objects))
	for _, o := range dstL.Objects {
		have[o.Key] = o.Size
	}
	for _, o := range srcL.Objects {
		if o.Key == success || strings.HasSuffix(o.Key, "/") {
			continue
		}
		if size, ok := have[o.Key]; !ok || size != o.Size {
			e.opts.Logger.DebugContext(ctx, "date not complete yet", "type", t, "date", date, "missing", o.Key)
			return Incomplete, nil
		}
	}
	if ok, err := e.copiedVersions(ctx, t, date, srcL, dstL); !ok || err != nil {
		if err != nil {
			err = fmt.Errorf("finalize %s/%s: %w", t, date, err)
		}
		return Incomplete, err
	}
	if e.opts.DryRun {
		return Completed, nil
	}
	if _, err := e.dst.Write(ctx, success, 0, strings.NewReader(""), nil); err != nil {
		return Incomplete, fmt.Errorf("finalize %s/%s: %w", t, date, err)
	}
	return Completed, nil
}

func hasKey(l store.Listing, key string) bool {
	for _, o := range l.Objects {
		if o.Key == key {
			return true
		}
	}
	return false
}

// toCopy counts the objects of the task's source listing that decide does
// not skip, and their bytes (Options.Planned).
func (tc *taskCopy) toCopy() (n int, bytes int64) {
	for _, o := range tc.srcL.Objects {
		if o.Key == export.SuccessKey(tc.t.Type, tc.t.Date) || strings.HasSuffix(o.Key, "/") || store.CheckSize(o.Size) != nil {
			continue
		}
		if a, _, _ := tc.decide(o); a != Skip {
			n++
			bytes += o.Size
		}
	}
	return n, bytes
}
