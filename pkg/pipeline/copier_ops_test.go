package pipeline

// The copier's operational outputs: completion events, credential and token
// metrics, and log lines that all carry run_id and task.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/notify"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

type fakePublisher struct {
	err    error
	events []notify.DateSynced
}

func (f *fakePublisher) PublishDateSynced(_ context.Context, d notify.DateSynced) error {
	f.events = append(f.events, d)
	return f.err
}

type fakeRefreshes struct{ n int64 }

func (f *fakeRefreshes) Refreshes() int64 { return f.n }

// emfValues sums each metric over the EMF lines in buf.
func emfValues(t *testing.T, buf *bytes.Buffer) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		for k, v := range m {
			if f, ok := v.(float64); ok {
				out[k] += f
			}
		}
	}
	return out
}

func TestCopierPublishesCompletedDate(t *testing.T) {
	root, src, dst := newDirs(t)
	date := "2024-03-01"
	writeFile(t, root, "type=events/date="+date+"/event=a/part-0.parquet", []byte("aaaa"))
	writeFile(t, root, "type=events/date="+date+"/event=b/part-0.parquet", []byte("bbbbbb"))
	writeFile(t, root, "type=events/date="+date+"/_SUCCESS", nil)
	pub := &fakePublisher{}
	var emf bytes.Buffer
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: &fakeQueue{}, QueueURL: "url",
		Metrics: metrics.New(&emf, "e3sync", "stack"), Dest: dst, Events: pub, AccountID: "12345"}

	task := func(p string) export.Task {
		return export.Task{RunID: "run-1", Type: export.Events, Date: date, Partition: p, SourceComplete: true}
	}
	// The first sub-partition leaves the date incomplete: no event.
	if out, err := c.Run(context.Background(), task("event=a")); err != nil || out.Completion != "incomplete" || out.Published {
		t.Fatalf("Run(event=a) = %+v, %v; want the date incomplete, nothing published", out, err)
	}
	if len(pub.events) != 0 {
		t.Fatalf("events after an incomplete date = %+v, want none", pub.events)
	}
	// The second completes it: one event counting the whole date.
	out, err := c.Run(context.Background(), task("event=b"))
	if err != nil || out.Completion != "completed" || !out.Published {
		t.Fatalf("Run(event=b) = %+v, %v; want the date completed and published", out, err)
	}
	want := notify.DateSynced{AccountID: "12345", Type: "events", Date: date, Objects: 2, Bytes: 10,
		Destination: strings.TrimSuffix(dst.String(), "/") + "/type=events/date=" + date + "/", RunID: "run-1"}
	if len(pub.events) != 1 || pub.events[0] != want {
		t.Errorf("events = %+v, want [%+v]", pub.events, want)
	}
	// Again: the date is already complete, nothing more is announced.
	if out, err := c.Run(context.Background(), task("event=b")); err != nil || out.Completion != "already complete" || len(pub.events) != 1 {
		t.Errorf("Run again = %+v, %v with %d events; want already complete and no new event", out, err, len(pub.events))
	}
	if n := emfValues(t, &emf)[metrics.EventPublishFailures]; n != 0 {
		t.Errorf("EventPublishFailures = %v, want 0", n)
	}
}

func TestCopierPublishFailureDoesNotFailTheTask(t *testing.T) {
	root, src, dst := newDirs(t)
	writeFile(t, root, "type=decisions/date=2024-03-01/experiment=1/part-0.parquet", []byte("x"))
	writeFile(t, root, "type=decisions/date=2024-03-01/_SUCCESS", nil)
	var emf, logs bytes.Buffer
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: &fakeQueue{}, QueueURL: "url",
		Metrics: metrics.New(&emf, "e3sync", "stack"), Dest: dst, Events: &fakePublisher{err: errors.New("bus down")},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	out, err := c.Run(context.Background(), export.Task{RunID: "r", Type: export.Decisions, Date: "2024-03-01", Partition: "experiment=1", SourceComplete: true})
	if err != nil || out.Completion != "completed" || out.Published {
		t.Fatalf("Run = %+v, %v; want the date completed, the event not published, no error", out, err)
	}
	if n := emfValues(t, &emf)[metrics.EventPublishFailures]; n != 1 {
		t.Errorf("EventPublishFailures = %v, want 1", n)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "bus down") {
		t.Errorf("logs = %s, want an error line naming the cause", logs.String())
	}
}

func TestCopierCredentialRefreshesAreDeltas(t *testing.T) {
	root, src, dst := newDirs(t)
	writeFile(t, root, "type=events/date=2024-03-01/event=a/part-0.parquet", []byte("x"))
	refreshes := &fakeRefreshes{n: 1} // the exchange that made the source
	var emf bytes.Buffer
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: &fakeQueue{}, QueueURL: "url",
		Metrics: metrics.New(&emf, "e3sync", "stack"), Credentials: refreshes}
	task := export.Task{Type: export.Events, Date: "2024-03-01", Partition: "event=a"}
	for i, tt := range []struct {
		total int64
		want  float64
	}{
		{1, 1}, // first task: the initial exchange
		{1, 0}, // no refresh since
		{3, 2}, // two refreshes during the task
	} {
		emf.Reset()
		refreshes.n = tt.total
		if _, err := c.Run(context.Background(), task); err != nil {
			t.Fatal(err)
		}
		if got := emfValues(t, &emf)[metrics.CredentialRefreshes]; got != tt.want {
			t.Errorf("task %d: CredentialRefreshes = %v with %d refreshes in total, want %v", i, got, tt.total, tt.want)
		}
	}
}

// rejectingSource fails every listing the way the source does when
// Optimizely rejects the token during a credential refresh.
type rejectingSource struct{ transfer.Source }

func (rejectingSource) List(context.Context, string, bool) (store.Listing, error) {
	return store.Listing{}, fmt.Errorf("list: get credentials: %w", optimizely.ErrTokenRejected)
}
func (rejectingSource) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, optimizely.ErrTokenRejected
}

func TestCopierCountsTokenRejection(t *testing.T) {
	_, _, dst := newDirs(t)
	var emf bytes.Buffer
	c := &Copier{Engine: transfer.New(rejectingSource{}, dst, transfer.Options{}), Queue: &fakeQueue{}, QueueURL: "url",
		Metrics: metrics.New(&emf, "e3sync", "stack")}
	_, err := c.Run(context.Background(), export.Task{Type: export.Events, Date: "2024-03-01", Partition: "event=a"})
	if !errors.Is(err, optimizely.ErrTokenRejected) {
		t.Fatalf("Run = %v, want ErrTokenRejected", err)
	}
	if n := emfValues(t, &emf)[metrics.TokenRejected]; n != 1 {
		t.Errorf("TokenRejected = %v, want 1", n)
	}
}

func TestCopierLogLinesCarryRunAndTask(t *testing.T) {
	root, src, dst := newDirs(t)
	writeFile(t, root, "type=events/date=2024-03-01/event=a/part-0.parquet", []byte("x"))
	writeFile(t, root, "type=events/date=2024-03-01/_SUCCESS", nil)
	var logs bytes.Buffer
	// As the Lambda wires it: one logger, wrapped by logctx, for the copier and the engine.
	log := slog.New(logctx.Handler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{Logger: log}), Queue: &fakeQueue{}, QueueURL: "url",
		Logger: log, Dest: dst, Events: &fakePublisher{}}
	task := export.Task{RunID: "run-7", Type: export.Events, Date: "2024-03-01", Partition: "event=a", SourceComplete: true}
	if _, err := c.Run(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	var summaries int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["run_id"] != "run-7" || m["task"] != task.String() {
			t.Errorf("log line without run_id run-7 and task %s: %s", task, line)
		}
		if m["msg"] == "task done" {
			summaries++
		}
	}
	if summaries != 1 {
		t.Errorf("%d summary lines, want 1:\n%s", summaries, logs.String())
	}
}
