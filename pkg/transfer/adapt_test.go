package transfer

import (
	"context"
	"log/slog"
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
		{"throttled: back off by a quarter, hold",
			adaptState{limit: 32, prevLimit: 32, prevRate: 100}, window{rate: 120, throttled: 3, full: true},
			adaptState{limit: 24, prevLimit: 32, prevRate: 120, hold: holdAfterThrottle}},
		{"throttled at a small limit: at least one less",
			adaptState{limit: 2, prevLimit: 2}, window{rate: 10, throttled: 1, full: true},
			adaptState{limit: 1, prevLimit: 2, prevRate: 10, hold: holdAfterThrottle}},
		{"throttled at 1: stays 1",
			adaptState{limit: 1, prevLimit: 1}, window{rate: 10, throttled: 1, full: true},
			adaptState{limit: 1, prevLimit: 1, prevRate: 10, hold: holdAfterThrottle}},
		{"not full: the work bounds it, keep",
			adaptState{limit: 12, prevLimit: 8, prevRate: 100, hold: 2}, window{rate: 50},
			adaptState{limit: 12, prevLimit: 12, prevRate: 50, hold: 2}},
		{"holding: keep, count down",
			adaptState{limit: 12, prevLimit: 12, prevRate: 100, hold: 2}, window{rate: 300, full: true},
			adaptState{limit: 12, prevLimit: 12, prevRate: 300, hold: 1}},
		{"raised and the rate did not grow enough: back, hold",
			adaptState{limit: 12, prevLimit: 8, prevRate: 100}, window{rate: 115, full: true},
			adaptState{limit: 8, prevLimit: 12, prevRate: 115, hold: holdAfterBackOff}},
		{"raised and the rate fell: back, hold",
			adaptState{limit: 12, prevLimit: 8, prevRate: 100}, window{rate: 80, full: true},
			adaptState{limit: 8, prevLimit: 12, prevRate: 80, hold: holdAfterBackOff}},
		{"raised and the rate grew: raise again",
			adaptState{limit: 12, prevLimit: 8, prevRate: 100}, window{rate: 118, full: true},
			adaptState{limit: 18, prevLimit: 12, prevRate: 118}},
		{"full, not raised last: raise by half",
			adaptState{limit: 8}, window{rate: 100, full: true},
			adaptState{limit: 12, prevLimit: 8, prevRate: 100}},
		{"full after a back-off: raise (a lower limit is not a raise)",
			adaptState{limit: 8, prevLimit: 12, prevRate: 300}, window{rate: 100, full: true},
			adaptState{limit: 12, prevLimit: 8, prevRate: 100}},
		{"full at 1: at least one more",
			adaptState{limit: 1, prevLimit: 1}, window{rate: 10, full: true},
			adaptState{limit: 2, prevLimit: 1, prevRate: 10}},
		{"full near the bound: up to the bound only",
			adaptState{limit: 50, prevLimit: 50, prevRate: 100}, window{rate: 100, full: true},
			adaptState{limit: hi, prevLimit: 50, prevRate: 100}},
		{"at the bound: stays",
			adaptState{limit: hi, prevLimit: hi, prevRate: 100}, window{rate: 100, full: true},
			adaptState{limit: hi, prevLimit: hi, prevRate: 100}},
	}
	for _, tt := range tests {
		if got := nextLimit(tt.s, tt.w, hi); got != tt.want {
			t.Errorf("%s: nextLimit(%+v, %+v, %d) = %+v, want %+v", tt.name, tt.s, tt.w, hi, got, tt.want)
		}
	}
}

// TestNextLimitFindsTheKnee drives the controller with a modelled server:
// throughput grows with the limit up to a knee (latency-bound), then stays
// flat (server-bound). The limit must climb from 8 to the knee and stay
// near it, not run to the bound.
func TestNextLimitFindsTheKnee(t *testing.T) {
	const hi, knee = 256, 40
	rate := func(limit int) float64 { return 10 * float64(min(limit, knee)) }
	s := adaptState{limit: startConcurrency}
	var seen []int
	for range 60 {
		s = nextLimit(s, window{rate: rate(s.limit), full: true}, hi)
		seen = append(seen, s.limit)
	}
	for i, l := range seen[10:] {
		if l < knee*2/3 || l > knee*3/2+1 {
			t.Fatalf("interval %d: limit %d, want near the knee %d (limits %v)", i+10, l, knee, seen)
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
