package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

var now = time.Date(2024, 3, 10, 6, 30, 0, 0, time.UTC)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{``, ""},
		{`{}`, ""},
		{`{"from":"2024-01-01","to":"2024-01-31","types":["decisions"],"sub_partitions":["experiment=123"],"force":false,"dry_run":true}`, ""},
		{`{"from":"2024-01-01","until":"x"}`, `unknown field "until"`},
		{`{"From":"2024-01-01"}`, `unknown field "From": field names are case-sensitive, did you mean "from"?`},
		{`{"from":"2024-01-01","DRY_RUN":true}`, `unknown field "DRY_RUN": field names are case-sensitive, did you mean "dry_run"?`},
		{`{"from":"2024-01-01","from":"2023-01-01"}`, `duplicate field "from"`},
		{`{"from":"2024-01-01","dry_run":false,"dry_run":true}`, `duplicate field "dry_run"`},
		{`{"from":"2024-01-01","types":["events"],"typ\u0065s":["decisions"]}`, `duplicate field "types"`},
		{`null`, ""},
		{`{"from":"2024-01-01"}{}`, "trailing data"},
		{`{"from":2024}`, "cannot unmarshal"},
		{`[1]`, "cannot unmarshal"},
		{`{"from":"` + strings.Repeat("x", MaxRequestBytes) + `"}`, "at most"},
	}
	for _, tt := range tests {
		_, err := DecodeRequest([]byte(tt.in))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("DecodeRequest(%.40q) = %v, want no error", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadRequest)):
			t.Errorf("DecodeRequest(%.40q) = %v, want ErrBadRequest containing %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestRequestOptions(t *testing.T) {
	tests := []struct {
		name     string
		req      Request
		wantFrom string
		wantTo   string
		wantErr  string
	}{
		{"scheduled", Request{}, "", "", ""},
		{"range", Request{From: "2024-01-01", To: "2024-01-31"}, "2024-01-01", "2024-01-31", ""},
		{"from until today", Request{From: "2024-03-01"}, "2024-03-01", "2024-03-10", ""},
		{"one day", Request{From: "2024-03-01", To: "2024-03-01"}, "2024-03-01", "2024-03-01", ""},
		{"to without from", Request{To: "2024-01-31"}, "", "", `"to" without "from"`},
		{"bad from", Request{From: "2024-1-1"}, "", "", "from: invalid date"},
		{"bad to", Request{From: "2024-01-01", To: "2024-02-30"}, "", "", "to: invalid date"},
		{"from after to", Request{From: "2024-02-01", To: "2024-01-01"}, "", "", "after"},
		{"too long", Request{From: "2023-01-01", To: "2024-03-01"}, "", "", "spans 426 days (at most 400"},
		{"invalid type", Request{Types: []string{"Clicks"}}, "", "", `invalid export type "Clicks"`},
		{"bad sub-partition", Request{SubPartitions: []string{"../x"}}, "", "", "not a sub-partition"},
		{"empty sub-partition", Request{SubPartitions: []string{""}}, "", "", "not a sub-partition"},
		{"every problem at once", Request{To: "x", Types: []string{"cl/icks"}}, "", "", `lowercase letters, digits, '-' and '_'); "to" without "from"`},
	}
	for _, tt := range tests {
		o, err := tt.req.options(export.AllTypes, 3, 400, now)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadRequest) {
				t.Errorf("%s: options(%+v) = %v, want error containing %q", tt.name, tt.req, err, tt.wantErr)
			}
			continue
		}
		if err != nil || o.From != tt.wantFrom || o.To != tt.wantTo {
			t.Errorf("%s: options(%+v) = %s..%s, %v; want %s..%s", tt.name, tt.req, o.From, o.To, err, tt.wantFrom, tt.wantTo)
		}
	}
}

// fakeQueue is an SQS stand-in that fails the entries failFor says, and
// records every body it accepted.
type fakeQueue struct {
	mu      sync.Mutex
	calls   int
	bodies  []string
	failFor func(call int, id string) bool
	callErr func(call int) error
}

func (q *fakeQueue) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if len(in.Entries) > 10 {
		return nil, fmt.Errorf("%d entries in one batch", len(in.Entries))
	}
	if q.callErr != nil {
		if err := q.callErr(q.calls); err != nil {
			return nil, err
		}
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if q.failFor != nil && q.failFor(q.calls, aws.ToString(e.Id)) {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
			continue
		}
		q.bodies = append(q.bodies, aws.ToString(e.MessageBody))
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func tasks(n int) []export.Task {
	var ts []export.Task
	for i := 0; i < n; i++ {
		ts = append(ts, export.Task{Type: export.Events, Date: "2024-03-01", Partition: fmt.Sprintf("event=e%d", i)})
	}
	return ts
}

func TestSendTasks(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		q         *fakeQueue
		wantSent  int
		wantCalls int
		wantErr   bool
	}{
		{"none", 0, &fakeQueue{}, 0, 0, false},
		{"one batch", 7, &fakeQueue{}, 7, 1, false},
		{"three batches", 23, &fakeQueue{}, 23, 3, false},
		{"failed entries retried", 12, &fakeQueue{failFor: func(call int, id string) bool { return call == 1 && id == "3" }}, 12, 3, false},
		{"call error retried", 5, &fakeQueue{callErr: func(call int) error {
			if call == 1 {
				return errors.New("throttled")
			}
			return nil
		}}, 5, 2, false},
		{"entry never accepted", 3, &fakeQueue{failFor: func(call int, id string) bool { return id == "1" }}, 2, sendAttempts, true},
	}
	for _, tt := range tests {
		sent, err := SendTasks(context.Background(), tt.q, "url", tasks(tt.n))
		if sent != tt.wantSent || tt.q.calls != tt.wantCalls || (err != nil) != tt.wantErr {
			t.Errorf("%s: SendTasks = %d sent in %d calls, err %v; want %d in %d, error %v", tt.name, sent, tt.q.calls, err, tt.wantSent, tt.wantCalls, tt.wantErr)
		}
		seen := map[string]bool{}
		for _, b := range tt.q.bodies {
			task, err := export.DecodeTask([]byte(b))
			if err != nil {
				t.Errorf("%s: body %s: %v", tt.name, b, err)
			}
			if seen[task.Partition] {
				t.Errorf("%s: %s sent twice", tt.name, task.Partition)
			}
			seen[task.Partition] = true
		}
	}
}

func writeFile(t *testing.T, root, key string, data []byte) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newDirs(t *testing.T) (string, *store.Dir, *store.Dir) {
	srcRoot := t.TempDir()
	src, err := store.NewDir(srcRoot)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return srcRoot, src, dst
}

func TestCopierCompletesDateAndEmitsMetrics(t *testing.T) {
	root, src, dst := newDirs(t)
	writeFile(t, root, "type=events/date=2024-03-01/event=a/part-0.parquet", []byte("aaaa"))
	writeFile(t, root, "type=events/date=2024-03-01/_SUCCESS", nil)
	var emf bytes.Buffer
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: &fakeQueue{}, QueueURL: "url", Metrics: metrics.New(&emf, "e3sync", "stack")}
	out, err := c.Run(context.Background(), export.Task{Type: export.Events, Date: "2024-03-01", Partition: "event=a", SourceComplete: true})
	if err != nil || out.Result.Copied != 1 || out.Completion != "completed" || out.Continued {
		t.Fatalf("Run = %+v, %v; want 1 copied, date completed", out, err)
	}
	if _, err := dst.Head(context.Background(), "type=events/date=2024-03-01/_SUCCESS"); err != nil {
		t.Errorf("no destination _SUCCESS: %v", err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(emf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		if m["StackName"] != "stack" {
			t.Errorf("EMF line without StackName dimension: %s", line)
		}
		for k := range m {
			if k != "_aws" && k != "StackName" {
				names = append(names, k)
			}
		}
	}
	got := strings.Join(names, ",")
	for _, want := range []string{metrics.ObjectsCopied, metrics.ObjectsFailed, metrics.BytesCopied, metrics.DatesCompleted} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics emitted = %s, want %s among them", got, want)
		}
	}
}

// A task whose invocations keep running out of time before one object is
// copied fails after MaxStalls of them instead of continuing forever; one
// that makes progress resets the count.
func TestCopierStallsFail(t *testing.T) {
	root, src, dst := newDirs(t)
	writeFile(t, root, "type=events/date=2024-03-01/event=a/part-0.parquet", []byte("data"))
	q := &fakeQueue{}
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: q, QueueURL: "url", StopMargin: time.Hour, AbortMargin: time.Second}
	task := export.Task{RunID: "r1", Type: export.Events, Date: "2024-03-01", Partition: "event=a", Stalls: MaxStalls - 1}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := c.Run(ctx, task)
	if err == nil || !strings.Contains(err.Error(), "ran out of time") || out.Continued || len(q.bodies) != 0 {
		t.Errorf("Run(stalled task) = %+v, %v, %d messages; want an error naming the stall, no continuation", out, err, len(q.bodies))
	}
}

func TestCopierContinuesWhenTimeRunsShort(t *testing.T) {
	root, src, dst := newDirs(t)
	for i := 0; i < 5; i++ {
		writeFile(t, root, fmt.Sprintf("type=events/date=2024-03-01/event=a/part-%d.parquet", i), []byte("data"))
	}
	writeFile(t, root, "type=events/date=2024-03-01/_SUCCESS", nil)
	q := &fakeQueue{}
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: q, QueueURL: "url", StopMargin: time.Hour, AbortMargin: time.Second}
	task := export.Task{RunID: "r1", Type: export.Events, Date: "2024-03-01", Partition: "event=a", SourceComplete: true}
	// The deadline is already inside the stop margin: nothing may start.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := c.Run(ctx, task)
	if err != nil || !out.Continued || out.Result.Deferred != 5 || out.Result.Copied != 0 {
		t.Fatalf("Run = %+v, %v; want 5 deferred and a continuation", out, err)
	}
	if len(q.bodies) != 1 {
		t.Fatalf("continuations sent = %d, want 1", len(q.bodies))
	}
	cont, err := export.DecodeTask([]byte(q.bodies[0]))
	want := task
	want.Stalls = 1 // nothing copied in this invocation
	if err != nil || cont != want {
		t.Errorf("continuation = %+v, %v; want %+v", cont, err, want)
	}
	if _, err := dst.Head(context.Background(), "type=events/date=2024-03-01/_SUCCESS"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("destination _SUCCESS written for a deferred task (err %v)", err)
	}
	// The continuation, with time to spare, finishes the task and the date.
	c.StopMargin = time.Second
	out, err = c.Run(context.Background(), cont)
	if err != nil || out.Result.Copied != 5 || out.Completion != "completed" {
		t.Errorf("continuation Run = %+v, %v; want 5 copied and the date completed", out, err)
	}
}

func TestCopierContinuationNotSentIsAnError(t *testing.T) {
	root, src, dst := newDirs(t)
	writeFile(t, root, "type=events/date=2024-03-01/event=a/part-0.parquet", []byte("data"))
	q := &fakeQueue{callErr: func(int) error { return errors.New("queue down") }}
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: q, QueueURL: "url", StopMargin: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.Run(ctx, export.Task{Type: export.Events, Date: "2024-03-01", Partition: "event=a"})
	if err == nil || !strings.Contains(err.Error(), "not sent") {
		t.Errorf("Run = %v, want an error saying the continuation was not sent", err)
	}
}

func TestPlannerDryRunEnqueuesNothing(t *testing.T) {
	root, src, dst := newDirs(t)
	writeFile(t, root, "type=decisions/date=2024-03-01/experiment=1/part-0.parquet", []byte("x"))
	writeFile(t, root, "type=decisions/date=2024-03-02/experiment=1/part-0.parquet", []byte("x"))
	q := &fakeQueue{}
	p := &Planner{Source: src, Dest: dst, Queue: q, QueueURL: "url", Types: export.AllTypes, Lookback: 3, MaxBackfillDays: 400, Now: func() time.Time { return now }}
	sum, err := p.Run(context.Background(), "run", Request{From: "2024-03-01", To: "2024-03-01", DryRun: true, Force: true})
	if err != nil || q.calls != 0 || sum.TasksEnqueued != 0 || len(sum.Tasks) != 1 || sum.Tasks[0].ForceBefore.IsZero() {
		t.Errorf("dry run = %+v, %v, %d queue calls; want 1 forced task listed, nothing sent", sum, err, q.calls)
	}
	sum, err = p.Run(context.Background(), "run", Request{})
	if err != nil || sum.TasksEnqueued != 2 || len(q.bodies) != 2 || sum.Tasks != nil {
		t.Errorf("scheduled run = %+v, %v; want 2 tasks enqueued", sum, err)
	}
	_, err = p.Run(context.Background(), "run", Request{From: "2024-03-02", To: "2024-03-01"})
	if !errors.Is(err, ErrBadRequest) || len(q.bodies) != 2 {
		t.Errorf("bad request = %v with %d messages, want ErrBadRequest and nothing more sent", err, len(q.bodies))
	}
}

// A task whose force_before lies in the future would copy its objects again
// in every invocation until that time (each copy is older than it): it is
// rejected as invalid, copies nothing and sends no continuation.
func TestCopierRejectsForceBeforeInTheFuture(t *testing.T) {
	root, src, dst := newDirs(t)
	writeFile(t, root, "type=events/date=2024-03-01/event=a/part-0.parquet", []byte("data"))
	q := &fakeQueue{}
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: q, QueueURL: "url", StopMargin: time.Hour, AbortMargin: time.Second}
	task := export.Task{RunID: "r1", Type: export.Events, Date: "2024-03-01", Partition: "event=a", ForceBefore: time.Now().Add(24 * time.Hour)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := c.Run(ctx, task)
	if !errors.Is(err, export.ErrInvalidTask) || !strings.Contains(err.Error(), "force_before") || out.Continued || len(q.bodies) != 0 || out.Result.Copied != 0 {
		t.Errorf("Run(force_before tomorrow) = %+v, %v, %d messages; want ErrInvalidTask naming force_before, nothing copied, no continuation", out, err, len(q.bodies))
	}
}
