package transfer

import (
	"context"
	"errors"
	"fmt"

	"github.com/e3sync/e3sync/pkg/store"
)

// recovered is deferred at the task and object boundaries (with a named
// error result): a panic there, or one a store turned into a
// *store.PanicError (in a part upload's goroutine), becomes that task's or
// object's error, logged once with its stack, and never crashes the process.
func (e *Engine) recovered(ctx context.Context, what string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: %w", what, store.NewPanicError(r))
	}
	var pe *store.PanicError
	if errors.As(*err, &pe) && !pe.Logged {
		pe.Logged = true
		e.opts.Logger.ErrorContext(ctx, "recovered from a panic", "in", what, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	}
}
