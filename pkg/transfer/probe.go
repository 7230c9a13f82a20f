package transfer

import (
	"context"

	"github.com/e3sync/e3sync/pkg/store"
)

// Probe checks that the destination takes writes before a run copies
// anything: a destination that refuses (no permission, no such bucket, a
// read-only file system) fails with its *store.RefusedError, which says what
// to fix, and stops the engine (Halted). It writes nothing, and does nothing
// in a dry run. Other errors are not the probe's to judge: it returns nil
// and the copy meets them.
func (e *Engine) Probe(ctx context.Context) error {
	if e.prober == nil || e.opts.DryRun {
		return nil
	}
	re := store.Refused(e.prober.ProbeWrite(ctx))
	if re == nil {
		return nil
	}
	e.down.trip(re)
	return re
}

// Halted returns nil, or the *store.RefusedError (or ErrUnanswered) that
// stopped this engine: no object or task starts after it.
func (e *Engine) Halted() error {
	if p := e.down.cause.Load(); p != nil {
		return *p
	}
	return nil
}

// tripRefused stops the engine at the first error showing that the
// destination refuses (store.Refused): every other object would be refused
// the same way. The error is the caller's to report (a task's error).
func (e *Engine) tripRefused(ctx context.Context, err error) {
	if re := store.Refused(err); re != nil && ctx.Err() == nil {
		e.down.trip(re)
	}
}
