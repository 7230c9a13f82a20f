package transfer

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/e3sync/e3sync/pkg/store"
)

// boundary is deferred at the task and object boundaries (with a named
// error result). A panic there, or one a store turned into a
// *store.PanicError (in a part upload's goroutine), becomes that task's or
// object's error, logged once with its stack, and never crashes the process.
// An error showing that an endpoint stopped answering trips the engine's
// breaker.
func (e *Engine) boundary(ctx context.Context, what string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: %w", what, store.NewPanicError(r))
	}
	var pe *store.PanicError
	if errors.As(*err, &pe) && !pe.Logged {
		pe.Logged = true
		e.opts.Logger.ErrorContext(ctx, "recovered from a panic", "in", what, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	}
	if ctx.Err() == nil && store.Unanswered(*err) && e.down.trip() {
		e.opts.Logger.ErrorContext(ctx, "an endpoint stopped answering: no more objects or tasks start in this run", "error", (*err).Error())
	}
}

// ErrUnanswered is the error of the objects and tasks not started because
// an endpoint stopped answering earlier (store.Unanswered): each would only
// wait for its own timeouts. The first such error is logged.
var ErrUnanswered = errors.New("not started: an S3 endpoint stopped answering earlier in this run")

// breaker remembers that an endpoint stopped answering.
type breaker struct{ tripped atomic.Bool }

// trip trips the breaker and reports whether this call did.
func (b *breaker) trip() bool { return b.tripped.CompareAndSwap(false, true) }

func (b *breaker) check() error {
	if b.tripped.Load() {
		return ErrUnanswered
	}
	return nil
}
