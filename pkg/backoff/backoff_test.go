package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestExponentialDelay(t *testing.T) {
	const ms = time.Millisecond
	huge := time.Duration(1<<63 - 1)
	tests := []struct {
		e       Exponential
		attempt int
		want    time.Duration
	}{
		{Exponential{Base: 200 * ms}, 0, 0},
		{Exponential{Base: 200 * ms}, 1, 0},
		{Exponential{Base: 200 * ms}, 2, 200 * ms},
		{Exponential{Base: 200 * ms}, 3, 400 * ms},
		{Exponential{Base: 200 * ms}, 5, 1600 * ms},
		{Exponential{Base: 200 * ms, Max: time.Second}, 4, 800 * ms},
		{Exponential{Base: 200 * ms, Max: time.Second}, 5, time.Second},
		{Exponential{Base: 200 * ms, Max: time.Second}, 500, time.Second},
		{Exponential{Base: 200 * ms}, 500, huge},
		{Exponential{Base: time.Hour}, 40, huge},
		{Exponential{}, 3, 0},
		{Exponential{Base: time.Hour, Jitter: true}, 40, -1}, // any wait, no panic
	}
	for _, tt := range tests {
		if got := tt.e.Delay(tt.attempt); got != tt.want && !(tt.want < 0 && got >= 0) {
			t.Errorf("%+v.Delay(%d) = %v, want %v", tt.e, tt.attempt, got, tt.want)
		}
	}
}

func TestExponentialJitter(t *testing.T) {
	e := Exponential{Base: 100 * time.Millisecond, Max: time.Second, Jitter: true}
	for attempt := 2; attempt < 10; attempt++ {
		ceiling := Exponential{Base: e.Base, Max: e.Max}.Delay(attempt)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := e.Delay(attempt)
			if d < 0 || d > ceiling {
				t.Fatalf("Delay(%d) with jitter = %v, want within [0, %v]", attempt, d, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Delay(%d) with jitter gave the same wait 50 times: %v", attempt, seen)
		}
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep(1ms) = %v, want nil", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- Sleep(ctx, time.Hour) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep(cancelled ctx, 1h) = %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute): // a hang guard, not a timing assertion
		t.Fatal("Sleep(cancelled ctx, 1h) did not return")
	}
	if err := Sleep(ctx, 0); err != nil {
		t.Errorf("Sleep(cancelled ctx, 0) = %v, want nil (no wait)", err)
	}
}
