package transfer

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestNextLimit has one row per line of nextLimit's truth table, and the
// bounds.
func TestNextLimit(t *testing.T) {
	const hi = 64
	tests := []struct {
		name string
		s    adaptState
		w    window
		want adaptState
	}{
		{"throttled: back off by a quarter, hold, settle",
			adaptState{limit: 32, from: 16, fromRate: 100}, window{rate: 120, throttled: 3, full: true},
			adaptState{limit: 24, hold: holdAfterThrottle, settling: true}},
		{"throttled at a small limit: at least one less",
			adaptState{limit: 2}, window{rate: 10, throttled: 1, full: true},
			adaptState{limit: 1, hold: holdAfterThrottle, settling: true}},
		{"throttled at 1: stays 1, nothing to settle",
			adaptState{limit: 1}, window{rate: 10, throttled: 1, full: true},
			adaptState{limit: 1, hold: holdAfterThrottle}},
		{"settling: the new limit's first interval is not judged",
			adaptState{limit: 16, from: 8, fromRate: 100, settling: true}, window{rate: 20, full: true},
			adaptState{limit: 16, from: 8, fromRate: 100}},
		{"not full: the work bounds it, keep",
			adaptState{limit: 16, from: 8, fromRate: 100, hold: 2}, window{rate: 50},
			adaptState{limit: 16, from: 8, fromRate: 100, hold: 2}},
		{"holding: keep, count down",
			adaptState{limit: 16, hold: 2}, window{rate: 300, full: true},
			adaptState{limit: 16, hold: 1}},
		{"raised and the rate did not grow by a third of the raise: back, hold",
			adaptState{limit: 16, from: 8, fromRate: 100}, window{rate: 132, full: true},
			adaptState{limit: 8, hold: holdAfterBackOff, settling: true}},
		{"raised and the rate fell: back, hold",
			adaptState{limit: 16, from: 8, fromRate: 100}, window{rate: 80, full: true},
			adaptState{limit: 8, hold: holdAfterBackOff, settling: true}},
		{"raised and the rate grew: raise again",
			adaptState{limit: 16, from: 8, fromRate: 100}, window{rate: 134, full: true},
			adaptState{limit: 32, from: 16, fromRate: 134, settling: true}},
		{"full, nothing to judge: double",
			adaptState{limit: 8}, window{rate: 100, full: true},
			adaptState{limit: 16, from: 8, fromRate: 100, settling: true}},
		{"full at 1: at least one more",
			adaptState{limit: 1}, window{rate: 10, full: true},
			adaptState{limit: 2, from: 1, fromRate: 10, settling: true}},
		{"full near the bound: up to the bound only",
			adaptState{limit: 40}, window{rate: 100, full: true},
			adaptState{limit: hi, from: 40, fromRate: 100, settling: true}},
		{"at the bound: stays, nothing to judge",
			adaptState{limit: hi}, window{rate: 100, full: true},
			adaptState{limit: hi}},
	}
	for _, tt := range tests {
		if got := nextLimit(tt.s, tt.w, hi); got != tt.want {
			t.Errorf("%s: nextLimit(%+v, %+v, %d) = %+v, want %+v", tt.name, tt.s, tt.w, hi, got, tt.want)
		}
	}
}

// TestNextLimitFindsTheKnee drives the controller with modelled servers:
// throughput grows with the limit up to a knee (latency-bound), then stays
// flat or falls (server-bound), with ±25 % noise per interval. After a
// climb, the limit must stay within a factor 2 of the knee, neither stuck
// at the start nor run to the bound.
func TestNextLimitFindsTheKnee(t *testing.T) {
	const hi = 256
	rng := rand.New(rand.NewPCG(1, 2))
	for _, knee := range []int{4, 8, 40, 100} {
		for _, falls := range []bool{false, true} {
			rate := func(limit int) float64 {
				r := 10 * float64(min(limit, knee))
				if falls && limit > knee { // past the knee, more in flight is slower
					r *= float64(knee) / float64(limit)
				}
				return r * (0.75 + rng.Float64()/2)
			}
			s := adaptState{limit: startConcurrency}
			var seen []int
			for range 200 {
				s = nextLimit(s, window{rate: rate(s.limit), full: true}, hi)
				seen = append(seen, s.limit)
			}
			slices.Sort(seen[20:])
			if med := seen[20+len(seen[20:])/2]; med < knee/2 || med > knee*2 {
				t.Errorf("knee %d (falls %v): median limit %d after the climb, want within a factor 2 of the knee", knee, falls, med)
			}
		}
	}
}

// TestAdapterParks checks the slot accounting: the limit is what can be
// taken, and a raise or a lower limit takes effect.
func TestAdapterParks(t *testing.T) {
	a := newAdapter(16, slog.New(slog.DiscardHandler))
	take := func() int {
		n := 0
		for {
			select {
			case a.slots <- struct{}{}:
				n++
			default:
				return n
			}
		}
	}
	if n := take(); n != startConcurrency {
		t.Fatalf("free slots at start = %d, want %d", n, startConcurrency)
	}
	a.mu.Lock()
	a.state.limit = 12
	a.park()
	a.mu.Unlock()
	if n := take(); n != 4 {
		t.Fatalf("free slots after a raise to 12 = %d, want 4", n)
	}
	// Lower to 6 while 12 are in flight: nothing can be parked until
	// objects finish; then their places are parked, not freed.
	a.mu.Lock()
	a.state.limit = 6
	a.park()
	a.mu.Unlock()
	for range 8 {
		<-a.slots // 8 objects finish
	}
	a.mu.Lock()
	a.park()
	a.mu.Unlock()
	if n := take(); n != 2 {
		t.Fatalf("free slots with 4 in flight at limit 6 = %d, want 2", n)
	}
}

// TestThrottledCounts checks that Throttled reaches the adapter in ctx and
// does nothing elsewhere.
func TestThrottledCounts(t *testing.T) {
	a := newAdapter(8, slog.New(slog.DiscardHandler))
	Throttled(context.Background())
	ctx := context.WithValue(context.Background(), adapterKey{}, a)
	Throttled(ctx)
	Throttled(ctx)
	if got := a.throttled.Load(); got != 2 {
		t.Errorf("throttled = %d, want 2", got)
	}
}

// TestAdapterRaisesWhileFull runs the controller goroutine: with objects
// waiting for a slot and work finishing faster at each raise, the limit
// rises above the start within a few intervals.
func TestAdapterRaisesWhileFull(t *testing.T) {
	a := newAdapter(64, slog.New(slog.DiscardHandler))
	a.begin()
	defer a.end()
	deadline := time.Now().Add(30 * time.Second) // a guard against a hang, not a speed target
	for a.limit() <= startConcurrency {
		if time.Now().After(deadline) {
			t.Fatal("limit did not rise while full")
		}
		a.full.Store(true)
		a.done.Add(int64(a.limit()) * 10)
		time.Sleep(adaptInterval / 5)
	}
}
