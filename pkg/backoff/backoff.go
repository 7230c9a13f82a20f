// Package backoff paces retries, the same way for every retry loop of
// e3sync: an exponential wait between attempts (optionally with full
// jitter), and a wait that ends early when the context is done.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Exponential waits Base before the second attempt and twice as long before
// each next one, at most Max (zero: no limit). With Jitter the wait is
// uniformly random between 0 and that ("full jitter"), so that many clients
// failing at once do not retry in step.
type Exponential struct {
	Base   time.Duration
	Max    time.Duration
	Jitter bool
}

// Delay is the wait before attempt number attempt (counted from 1: no wait
// before the first).
func (e Exponential) Delay(attempt int) time.Duration {
	if attempt < 2 || e.Base <= 0 {
		return 0
	}
	d := e.Max
	if d <= 0 {
		d = math.MaxInt64 // a doubling past the largest Duration stops there
	}
	if n := attempt - 2; n < 63 {
		if b := e.Base << n; b>>n == e.Base && b < d {
			d = b
		}
	}
	if e.Jitter {
		return rand.N(min(d, math.MaxInt64-1) + 1)
	}
	return d
}

// Sleep waits d, or until ctx is done: then it returns ctx.Err(). A wait of
// zero or less returns nil at once (the first attempt is always made).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
