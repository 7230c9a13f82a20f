package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestHandlerAddsContextAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil)))
	ctx := With(context.Background(), "run_id", "r1", "task", "events/2024-01-01/event=a")
	ctx = With(ctx, "run_id", "r2") // replaces r1

	log.InfoContext(ctx, "one", "key", "k")
	log.With("task", "engine's own").InfoContext(ctx, "two")
	log.InfoContext(ctx, "three", "run_id", "explicit")
	log.Info("four") // no context: nothing added

	got := lines(t, &buf)
	if len(got) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(got), buf.String())
	}
	tests := []struct {
		line          int
		runID, task   any
		duplicateKeys bool
	}{
		{0, "r2", "events/2024-01-01/event=a", false},
		{1, "r2", "engine's own", false},
		{2, "explicit", "events/2024-01-01/event=a", false},
		{3, nil, nil, false},
	}
	for _, tt := range tests {
		m := got[tt.line]
		if m["run_id"] != tt.runID || m["task"] != tt.task {
			t.Errorf("line %d = %v, want run_id %v and task %v", tt.line, m, tt.runID, tt.task)
		}
	}
	// No key twice on one line (the JSON decoder keeps the last; count in the raw text).
	for i, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if n := strings.Count(l, `"task":`); n > 1 {
			t.Errorf("line %d has task %d times: %s", i, n, l)
		}
		if n := strings.Count(l, `"run_id":`); n > 1 {
			t.Errorf("line %d has run_id %d times: %s", i, n, l)
		}
	}
}

func TestHandlerWrapsOnce(t *testing.T) {
	h := Handler(slog.NewJSONHandler(&bytes.Buffer{}, nil))
	if Handler(h) != h {
		t.Error("Handler(Handler(h)) wraps twice")
	}
}

func TestOrDiscard(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	if got := OrDiscard(l); got != l {
		t.Errorf("OrDiscard(l) = %p, want l (%p)", got, l)
	}
	d := OrDiscard(nil)
	if d == nil || d.Enabled(context.Background(), slog.LevelError) {
		t.Errorf("OrDiscard(nil) = %v, want a logger with nothing enabled", d)
	}
	d.Error("dropped")
}
