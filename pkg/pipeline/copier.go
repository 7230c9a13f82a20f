package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/optimizely"
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

// Copier runs copy tasks.
type Copier struct {
	Engine      *transfer.Engine
	Queue       Queue // for continuations
	QueueURL    string
	StopMargin  time.Duration
	AbortMargin time.Duration
	Metrics     *metrics.Recorder
	Logger      *slog.Logger
}

// Outcome is what one task run did.
type Outcome struct {
	Task       export.Task     `json:"task"`
	Result     transfer.Result `json:"result"`
	Completion string          `json:"date"` // "incomplete", "already complete", "completed"
	Continued  bool            `json:"continued"`
}

// Run copies one task within ctx's deadline. If time runs short it stops
// starting objects and sends the same task again (the copy is idempotent,
// so the next run continues where this one stopped). When the task is done
// and the source date is complete, it completes the date.
//
// An error means the task must be retried (the SQS message is reported as
// failed and redelivered, and ends in the dead-letter queue if it keeps
// failing).
func (c *Copier) Run(ctx context.Context, t export.Task) (Outcome, error) {
	out := Outcome{Task: t, Completion: transfer.Incomplete.String()}
	log := c.logger().With("run_id", t.RunID, "task", t.String())
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
	c.putResult(res, err)
	if err != nil {
		return out, err
	}
	if res.Deferred > 0 {
		if _, err := SendTasks(ctx, c.Queue, c.QueueURL, []export.Task{t}); err != nil {
			return out, fmt.Errorf("continue task %s: %w", t, err)
		}
		out.Continued = true
		c.Metrics.Put(nil, metrics.Value{Name: metrics.Continuations, Unit: metrics.Count, Value: 1})
		log.InfoContext(ctx, "continued", "copied", res.Copied, "deferred", res.Deferred)
		return out, nil
	}
	if t.SourceComplete {
		comp, err := c.Engine.Finalize(ctx, t.Type, t.Date)
		out.Completion = comp.String()
		if err != nil {
			return out, err
		}
		if comp == transfer.Completed {
			c.Metrics.Put(nil, metrics.Value{Name: metrics.DatesCompleted, Unit: metrics.Count, Value: 1})
		}
	}
	log.InfoContext(ctx, "task done", "copied", res.Copied, "skipped", res.Skipped, "bytes", res.Bytes, "date", out.Completion)
	return out, nil
}

func (c *Copier) putResult(r transfer.Result, err error) {
	vals := []metrics.Value{
		{Name: metrics.ObjectsCopied, Unit: metrics.Count, Value: float64(r.Copied)},
		{Name: metrics.ObjectsSkipped, Unit: metrics.Count, Value: float64(r.Skipped)},
		{Name: metrics.ObjectsFailed, Unit: metrics.Count, Value: float64(r.Failed)},
		{Name: metrics.BytesCopied, Unit: metrics.Bytes, Value: float64(r.Bytes)},
	}
	if errors.Is(err, optimizely.ErrTokenRejected) {
		vals = append(vals, metrics.Value{Name: metrics.TokenRejected, Unit: metrics.Count, Value: 1})
	}
	c.Metrics.Put(nil, vals...)
}

func (c *Copier) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
