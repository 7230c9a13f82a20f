package transfer

import (
	"context"
	"log/slog"
	"math"
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
		{"throttled: back off by a quarter, hold, settle, remember the share",
			adaptState{limit: 32, from: 16, fromRate: 100, sum: 120, judged: 1, failed: 2}, window{rate: 120, throttled: 15, full: true},
			adaptState{limit: 24, hold: holdAfterThrottle, throttled: true, base: 0.2, settling: true}},
		{"throttled again while holding after SlowDown: answers to earlier requests, keep",
			adaptState{limit: 24, hold: 2, throttled: true, base: 0.2}, window{rate: 120, throttled: 5, full: true},
			adaptState{limit: 24, hold: 1, throttled: true, base: 0.2}},
		{"after the hold, the share at this limit fell below 0.8×: the back-off helped, back off again",
			adaptState{limit: 24, throttled: true, base: 0.2, thr: 30, work: 180, seen: 3}, window{rate: 120, throttled: 6, full: true},
			adaptState{limit: 18, hold: holdAfterThrottle, throttled: true, base: 0.1304, settling: true}},
		{"after the hold, the share as before: S3 throttles whatever the rate, follow throughput",
			adaptState{limit: 24, throttled: true, base: 0.2, sum: 240, judged: 1, thr: 45, work: 180, seen: 3}, window{rate: 120, throttled: 15, full: true},
			adaptState{limit: 48, from: 24, fromRate: 180, base: 0.2, settling: true}},
		{"the share at this limit grew above 1.25×: back off again",
			adaptState{limit: 48, base: 0.2, thr: 90, work: 180, seen: 4}, window{rate: 120, throttled: 30, full: true},
			adaptState{limit: 36, hold: holdAfterThrottle, throttled: true, base: 0.3333, settling: true}},
		{"an interval without SlowDown forgets the share",
			adaptState{limit: 24, base: 0.2, hold: 2}, window{rate: 120, full: true},
			adaptState{limit: 24, hold: 1, sum: 120, judged: 1}},
		{"throttled while holding after a raise that bought nothing: back off",
			adaptState{limit: 16, hold: 5, failed: 1}, window{rate: 120, throttled: 1, full: true},
			adaptState{limit: 12, hold: holdAfterThrottle, throttled: true, base: 0.0164, settling: true}},
		{"throttled at a small limit: at least one less",
			adaptState{limit: 2}, window{rate: 10, throttled: 1, full: true},
			adaptState{limit: 1, hold: holdAfterThrottle, throttled: true, base: 0.1667, settling: true}},
		{"throttled at 1: stays, nothing to settle",
			adaptState{limit: 1}, window{rate: 10, throttled: 1, full: true},
			adaptState{limit: 1, hold: holdAfterThrottle, throttled: true, base: 0.1667}},
		{"settling: the new limit's first interval is not judged",
			adaptState{limit: 32, from: 16, fromRate: 100, settling: true}, window{rate: 20, full: true},
			adaptState{limit: 32, from: 16, fromRate: 100}},
		{"not full: the work bounds it, keep, not judged",
			adaptState{limit: 32, from: 16, fromRate: 100, hold: 2}, window{rate: 50},
			adaptState{limit: 32, from: 16, fromRate: 100, hold: 2}},
		{"holding: keep, count down, judged",
			adaptState{limit: 16, hold: 2, sum: 250, judged: 1}, window{rate: 300, full: true},
			adaptState{limit: 16, hold: 1, sum: 550, judged: 2}},
		{"raised, one judged interval: keep, not compared yet",
			adaptState{limit: 32, from: 16, fromRate: 100}, window{rate: 80, full: true},
			adaptState{limit: 32, from: 16, fromRate: 100, sum: 80, judged: 1}},
		{"raised and the mean did not grow by a third of the raise: back, hold",
			adaptState{limit: 32, from: 16, fromRate: 100, sum: 160, judged: 1}, window{rate: 104, full: true},
			adaptState{limit: 16, hold: holdAfterBackOff, failed: 1, settling: true}},
		{"raised and the mean fell: back, hold",
			adaptState{limit: 32, from: 16, fromRate: 100, sum: 80, judged: 1}, window{rate: 80, full: true},
			adaptState{limit: 16, hold: holdAfterBackOff, failed: 1, settling: true}},
		{"the same raise bought nothing a second time: hold twice as long",
			adaptState{limit: 32, from: 16, fromRate: 100, sum: 100, judged: 1, failed: 1}, window{rate: 100, full: true},
			adaptState{limit: 16, hold: 2 * holdAfterBackOff, failed: 2, settling: true}},
		{"and many times: the hold stops growing",
			adaptState{limit: 32, from: 16, fromRate: 100, sum: 100, judged: 1, failed: 9}, window{rate: 100, full: true},
			adaptState{limit: 16, hold: holdAfterBackOff << maxHoldShift, failed: 10, settling: true}},
		{"raised and the mean grew: raise again, a new level",
			adaptState{limit: 32, from: 16, fromRate: 100, sum: 140, judged: 1, failed: 2}, window{rate: 128, full: true},
			adaptState{limit: 64, from: 32, fromRate: 134, settling: true}},
		{"full, held long enough: double from the limit's mean",
			adaptState{limit: 16, sum: 500, judged: 4, failed: 1}, window{rate: 100, full: true},
			adaptState{limit: 32, from: 16, fromRate: 120, failed: 1, settling: true}},
		{"full at 1: at least one more",
			adaptState{limit: 1, sum: 10, judged: 1}, window{rate: 10, full: true},
			adaptState{limit: 2, from: 1, fromRate: 10, settling: true}},
		{"full near the bound: up to the bound only",
			adaptState{limit: 40, sum: 100, judged: 1}, window{rate: 100, full: true},
			adaptState{limit: hi, from: 40, fromRate: 100, settling: true}},
		{"at the bound: stays, nothing to judge",
			adaptState{limit: hi, sum: 100, judged: 1}, window{rate: 100, full: true},
			adaptState{limit: hi, sum: 200, judged: 2}},
	}
	for _, tt := range tests {
		got := nextLimit(tt.s, tt.w, hi)
		if math.Abs(got.base-tt.want.base) < 0.001 {
			got.base = tt.want.base // shares are compared to 3 places
		}
		if !got.settling { // SlowDown and work so far at the limit: the rows about shares set them
			got.thr, got.work, got.seen = 0, 0, 0
		}
		if got != tt.want {
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
			med := seen[20+len(seen[20:])/2]
			if knee < startConcurrency { // below the start only SlowDown lowers it: it must not climb
				if med > startConcurrency {
					t.Errorf("knee %d (falls %v): median limit %d after the climb, want at most the start %d", knee, falls, med, startConcurrency)
				}
				continue
			}
			if med < knee/2 || med > knee*2 {
				t.Errorf("knee %d (falls %v): median limit %d after the climb, want within a factor 2 of the knee", knee, falls, med)
			}
		}
	}
}

// TestNextLimitUnderSlowDown drives the controller with two modelled S3s
// answering SlowDown: one throttles what exceeds its capacity (the share
// grows with the limit), the other a fixed 10 % of the requests whatever the
// rate. The first must bring the limit to its capacity, the second must not
// bring it down by more than one back-off in a row.
func TestNextLimitUnderSlowDown(t *testing.T) {
	const hi, capacity = 64, 20 // objects in flight the first S3 serves without SlowDown
	var seen []int
	s := adaptState{limit: 64}
	for range 200 {
		w := window{rate: 10 * float64(min(s.limit, capacity)), full: true}
		if s.limit > capacity {
			w.throttled = 2 * (s.limit - capacity)
		}
		s = nextLimit(s, w, hi)
		seen = append(seen, s.limit)
	}
	slices.Sort(seen[50:])
	if med := seen[50+len(seen[50:])/2]; med > capacity*3/2 || med < capacity/2 {
		t.Errorf("rate-bound SlowDown: median limit %d, want near the capacity %d", med, capacity)
	}
	s = adaptState{limit: 32}
	lowest := s.limit
	for range 200 {
		w := window{rate: 200, throttled: 10, full: true} // 10 % of 2 requests per object, every interval
		s = nextLimit(s, w, hi)
		lowest = min(lowest, s.limit)
	}
	if lowest < 24 {
		t.Errorf("fixed-share SlowDown: the limit fell to %d, want at most one back-off (24)", lowest)
	}
}

// TestAdapterParks checks the slot accounting: the limit is what can be
// taken, and a raise or a lower limit takes effect.
func TestAdapterParks(t *testing.T) {
	a := newAdapter(48, slog.New(slog.DiscardHandler))
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
	a.state.limit = startConcurrency + 4
	a.park()
	a.mu.Unlock()
	if n := take(); n != 4 {
		t.Fatalf("free slots after a raise to %d = %d, want 4", startConcurrency+4, n)
	}
	// Lower to 6 while startConcurrency+4 are in flight: nothing can be
	// parked until objects finish; then their places are parked, not freed.
	a.mu.Lock()
	a.state.limit = 6
	a.park()
	a.mu.Unlock()
	for range startConcurrency {
		<-a.slots // all but 4 objects finish
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
