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
	if ctx.Err() == nil && store.Unanswered(*err) && e.down.trip(ErrUnanswered) {
		e.opts.Logger.ErrorContext(ctx, "an endpoint stopped answering: no more objects or tasks start in this run", "error", (*err).Error())
	}
	e.tripRefused(ctx, *err)
}

// ErrUnanswered is the error of the objects and tasks not started because
// an endpoint stopped answering earlier (store.Unanswered): each would only
// wait for its own timeouts. The first such error is logged.
var ErrUnanswered = errors.New("not started: an S3 endpoint stopped answering earlier in this run")

// breaker remembers the first error that stops the run: an endpoint that
// stopped answering (ErrUnanswered), or the destination refusing (a
// *store.RefusedError; see probe.go).
type breaker struct{ cause atomic.Pointer[error] }

// trip trips the breaker with cause and reports whether this call did.
func (b *breaker) trip(cause error) bool { return b.cause.CompareAndSwap(nil, &cause) }

// check returns nil, or the error of what may no longer start.
func (b *breaker) check() error {
	p := b.cause.Load()
	switch {
	case p == nil:
		return nil
	case *p == ErrUnanswered:
		return ErrUnanswered
	default:
		return fmt.Errorf("not started: %w", *p)
	}
}
