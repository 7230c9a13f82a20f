package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/notify"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// Defaults for the copier's margins before the invocation deadline.
const (
	// DefaultStopMargin: no new object starts later than this before the
	// deadline; the rest of the task continues in a new message. (At most a
	// fifth of the invocation's time.)
	DefaultStopMargin = 2 * time.Minute
	// DefaultAbortMargin: objects still in flight this long before the
	// deadline are cancelled and their uploads aborted, so nothing is left
	// half-written when the function is stopped. (At most a twentieth of
	// the invocation's time.)
	DefaultAbortMargin = 30 * time.Second
)

// MaxStalls is how many invocations in a row may run out of time without
// copying an object before the task fails (and goes, after the queue's
// retries, to the dead-letter queue) instead of continuing.
const MaxStalls = 3

// Destination is the destination as the copier sees it beyond the engine:
// listed once when a date completes, to count it for the completion event.
type Destination interface {
	plan.Lister
	String() string // the store's URL, e.g. s3://bucket/prefix/
}

// Publisher announces completed dates (notify.EventBridge).
type Publisher interface {
	PublishDateSynced(ctx context.Context, d notify.DateSynced) error
}

// RefreshCounter counts credential refreshes (optimizely.Provider).
type RefreshCounter interface {
	Refreshes() int64
}

// Copier runs copy tasks.
type Copier struct {
	Engine      *transfer.Engine
	Queue       Queue // for continuations
	QueueURL    string
	StopMargin  time.Duration
	AbortMargin time.Duration
	Metrics     *metrics.Recorder
	Logger      *slog.Logger
	// Dest and Events, when both set, publish a notify.DateSynced event for
	// every date a task completes. A publish that fails after its retries
	// is logged and counted (EventPublishFailures), not a task failure: the
	// data is complete.
	Dest   Destination
	Events Publisher
	// AccountID is the Optimizely account of the source, carried by the
	// completion events.
	AccountID string
	// Credentials, when set, is the source's credential provider: each task
	// emits the refreshes since the previous one (CredentialRefreshes).
	Credentials RefreshCounter
	// Catalog, when set, registers each copied sub-partition in the Glue
	// catalog and checks a completed date's schema (see catalog.go).
	Catalog *catalog.Keeper
	// Runs, when set, receives one run record per task invocation (package
	// runlog; the destination), read back by `e3sync status`.
	Runs runlog.Writer

	mu        sync.Mutex
	refreshes int64 // Credentials.Refreshes() already emitted
}

// Outcome is what one task run did.
type Outcome struct {
	Task       export.Task     `json:"task"`
	Result     transfer.Result `json:"result"`
	Completion string          `json:"date"` // "incomplete", "already complete", "completed"
	Continued  bool            `json:"continued"`
	Published  bool            `json:"event_published,omitempty"`
}

// Run copies one task within ctx's deadline. If time runs short it stops
// starting objects and sends the same task again (the copy is idempotent,
// so the next run continues where this one stopped). When the task is done
// and the source date is complete, it completes the date and announces it.
//
// Every line logged for the task (here, in the engine and in the credential
// provider, through a logctx.Handler) carries run_id and task; Run logs one
// summary line per task, including when it fails.
//
// An error means the task must be retried (the SQS message is reported as
// failed and redelivered, and ends in the dead-letter queue if it keeps
// failing).
func (c *Copier) Run(ctx context.Context, t export.Task) (Outcome, error) {
	ctx = logctx.With(ctx, "run_id", t.RunID, "task", t.String())
	start := time.Now()
	out, err := c.run(ctx, t)
	c.putCredentialMetrics(err)
	c.record(ctx, t, out, err)
	attrs := []any{
		"copied", out.Result.Copied, "skipped", out.Result.Skipped, "failed", out.Result.Failed,
		"bytes", out.Result.Bytes, "deferred", out.Result.Deferred, "uploads_aborted", out.Result.UploadsAborted,
		"objects_stale", out.Result.Stale, "objects_pruned", out.Result.Pruned,
		"date_state", out.Completion,
		"continued", out.Continued, "seconds", time.Since(start).Seconds(),
	}
	switch {
	case err != nil:
		c.logger().ErrorContext(ctx, "task failed", append(attrs, "error", err.Error())...)
	case out.Continued:
		c.logger().InfoContext(ctx, "task continued", attrs...)
	default:
		c.logger().InfoContext(ctx, "task done", attrs...)
	}
	return out, err
}

func (c *Copier) run(ctx context.Context, t export.Task) (Outcome, error) {
	out := Outcome{Task: t, Completion: transfer.Incomplete.String()}
	copyCtx, stopAt := ctx, time.Time{}
	if deadline, ok := ctx.Deadline(); ok {
		// Unset margins default to the constants, but never more than a
		// fifth (stop) or a twentieth (abort) of the time this invocation
		// has, so a short timeout still gets work done.
		total := time.Until(deadline)
		stop, abort := c.StopMargin, c.AbortMargin
		if stop <= 0 {
			stop = min(DefaultStopMargin, total/5)
		}
		if abort <= 0 {
			abort = min(DefaultAbortMargin, total/20)
		}
		stopAt = deadline.Add(-stop)
		var cancel context.CancelFunc
		copyCtx, cancel = context.WithDeadline(ctx, deadline.Add(-abort))
		defer cancel()
	}
	res, err := c.Engine.CopyUntil(copyCtx, t, stopAt)
	out.Result = res
	c.putResult(res)
	if err != nil {
		return out, err
	}
	if res.Deferred > 0 {
		next := t
		next.Stalls = 0
		if res.Copied == 0 {
			next.Stalls = t.Stalls + 1
		}
		if next.Stalls >= MaxStalls {
			return out, fmt.Errorf("task %s: %d invocations in a row ran out of time before one object was copied "+
				"(an object too large for the function's timeout, or a source that is too slow): raise the copier's "+
				"Timeout or copy this date with the e3sync CLI", t, next.Stalls)
		}
		if _, err := SendTasks(ctx, c.Queue, c.QueueURL, []export.Task{next}); err != nil {
			return out, fmt.Errorf("continue task %s: %w", t, err)
		}
		out.Continued = true
		c.Metrics.Put(nil, metrics.Value{Name: metrics.Continuations, Unit: metrics.Count, Value: 1})
		return out, nil
	}
	c.registerPartition(ctx, t)
	if t.SourceComplete {
		comp, err := c.Engine.Finalize(ctx, t.Type, t.Date)
		out.Completion = comp.String()
		if err != nil {
			return out, err
		}
		if comp == transfer.Completed {
			c.Metrics.Put(nil, metrics.Value{Name: metrics.DatesCompleted, Unit: metrics.Count, Value: 1})
			out.Published = c.publish(ctx, t)
			c.catalogDate(ctx, t)
		}
	}
	if !t.SourceComplete {
		// With pruning, a _SUCCESS the source date no longer has goes.
		if _, err := c.Engine.Withdraw(ctx, t.Type, t.Date); err != nil {
			return out, err
		}
	}
	return out, nil
}

// publish announces a completed date. It counts the date's objects with one
// listing of the destination date prefix (the engine's Finalize does not
// return its counts). Failures are logged and counted, never returned.
func (c *Copier) publish(ctx context.Context, t export.Task) bool {
	if c.Events == nil || c.Dest == nil {
		return false
	}
	prefix := export.DatePrefix(t.Type, t.Date)
	d := notify.DateSynced{
		AccountID: c.AccountID, Type: string(t.Type), Date: t.Date, RunID: t.RunID,
		Destination: strings.TrimSuffix(c.Dest.String(), "/") + "/" + prefix,
	}
	err := func() error {
		l, err := c.Dest.List(ctx, prefix, false)
		if err != nil {
			return fmt.Errorf("count date %s/%s: %w", t.Type, t.Date, err)
		}
		for _, o := range l.Objects {
			if o.Key == export.SuccessKey(t.Type, t.Date) || strings.HasSuffix(o.Key, "/") {
				continue
			}
			d.Objects++
			d.Bytes += o.Size
		}
		return c.Events.PublishDateSynced(ctx, d)
	}()
	if err != nil {
		c.Metrics.Put(nil, metrics.Value{Name: metrics.EventPublishFailures, Unit: metrics.Count, Value: 1})
		c.logger().ErrorContext(ctx, "completion event not published; the date is complete", "date", t.Date, "error", err.Error())
		return false
	}
	c.logger().InfoContext(ctx, "completion event published", "date", t.Date, "objects", d.Objects, "bytes", d.Bytes, "destination", d.Destination)
	return true
}

func (c *Copier) putResult(r transfer.Result) {
	c.Metrics.Put(nil,
		metrics.Value{Name: metrics.ObjectsCopied, Unit: metrics.Count, Value: float64(r.Copied)},
		metrics.Value{Name: metrics.ObjectsSkipped, Unit: metrics.Count, Value: float64(r.Skipped)},
		metrics.Value{Name: metrics.ObjectsFailed, Unit: metrics.Count, Value: float64(r.Failed)},
		metrics.Value{Name: metrics.BytesCopied, Unit: metrics.Bytes, Value: float64(r.Bytes)},
		metrics.Value{Name: metrics.ObjectsStale, Unit: metrics.Count, Value: float64(r.Stale)},
		metrics.Value{Name: metrics.ObjectsPruned, Unit: metrics.Count, Value: float64(r.Pruned)},
	)
	if r.UploadsAborted > 0 {
		c.Metrics.Put(nil, metrics.Value{Name: metrics.StaleUploadsAborted, Unit: metrics.Count, Value: float64(r.UploadsAborted)})
	}
}

// putCredentialMetrics emits the credential refreshes since the last task
// and, when the task failed because the source's credentials were rejected
// (at any step: listing, copying, finalizing), the rejection (PutCredentialMetrics).
func (c *Copier) putCredentialMetrics(err error) {
	var delta int64
	if c.Credentials != nil {
		c.mu.Lock()
		n := c.Credentials.Refreshes()
		delta = n - c.refreshes
		c.refreshes = n
		c.mu.Unlock()
	}
	PutCredentialMetrics(c.Metrics, delta, err)
}

// logger is the Copier's Logger, adding the context's attributes (run_id,
// task) to every line.
func (c *Copier) logger() *slog.Logger {
	return slog.New(logctx.Handler(logctx.OrDiscard(c.Logger).Handler()))
}
