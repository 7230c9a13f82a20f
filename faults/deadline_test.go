package faults

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/pipeline"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/transfer"
)

const deadlineName = "Lambda deadline mid-task, then the continuations"

// Copier invocations as the Lambda runs them (pipeline.Copier, every task
// of the plan at once, each with an engine of its own and 2 s to live)
// while every second UploadPart and every third GET of a source events
// object hang until their client gives up: at the stop margin no object starts,
// at the abort margin those in flight are cancelled (a multipart upload
// aborted) and deferred, and the invocation sends its task again. The
// continuations, without hangs, complete every date. Every invocation cut
// short by its deadline counts as a fault; each soak round repeats until it
// has its share of soakFaults.
func TestDeadline(t *testing.T) {
	w := newWorld(t, 2) // multipart objects in a task with others
	t.Run(deadlineName, func(t *testing.T) { record(w.runDeadlines(t, deadlineName, 1)) })
	rounds := soakRounds()
	for i := 1; i <= rounds; i++ {
		name := fmt.Sprintf("soak %d: %s", i, deadlineName)
		t.Run(name, func(t *testing.T) { record(w.runDeadlines(t, name, soakShare(rounds))) })
	}
}

// runDeadlines runs deadline passes until atLeast invocations were cut short.
func (w *world) runDeadlines(t *testing.T, name string, atLeast int) row {
	return repeat(t, name, atLeast, func() row { return w.deadlinePass(t) })
}

// deadlinePass copies the plan into an empty destination: first every task
// at once with 2 s each and hanging requests, then the continuations they
// sent until none is left.
func (w *world) deadlinePass(t *testing.T) row {
	ctx := context.Background()
	prefix := w.newPrefix("deadline")
	src, err := w.source(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dst := w.dest(prefix)
	p, err := plan.Make(ctx, src.Store, dst, plan.Options{Types: export.AllTypes, From: fromDate, To: toDate, RunID: "deadline"})
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{}
	d := newDamage()
	var mu sync.Mutex
	stopObs := w.observe(prefix, d, &mu)
	res := row{}
	copied, deferred := 0, 0
	aborts := w.proxy.Requests()[testenv.OpAbortUpload]

	// invoke runs tasks at once, each with its own time to live, and
	// returns how many were cut short.
	invoke := func(tasks []export.Task, ttl time.Duration) (cut int) {
		outs := make([]pipeline.Outcome, len(tasks))
		errs := make([]error, len(tasks))
		var wg sync.WaitGroup
		for i, task := range tasks {
			wg.Go(func() {
				c := &pipeline.Copier{
					Engine: transfer.New(src.Store, dst, transfer.Options{Concurrency: 4}), Queue: q, QueueURL: "continuations",
					StopMargin: time.Second, AbortMargin: 500 * time.Millisecond,
				}
				ictx, cancel := context.WithTimeout(ctx, ttl)
				defer cancel()
				outs[i], errs[i] = c.Run(ictx, task)
			})
		}
		wg.Wait()
		for i, out := range outs {
			res.runs++
			if errs[i] != nil || out.Result.Failed > 0 {
				res.failedRuns++
				t.Errorf("invocation of %s = %+v, %v; want no error and no failed object (deferred, at worst)", tasks[i], out.Result, errs[i])
			}
			copied += out.Result.Copied
			deferred += out.Result.Deferred
			if out.Continued {
				cut++
			}
			if out.Continued != (out.Result.Deferred > 0) {
				t.Errorf("invocation of %s: %d objects deferred, continued = %v", tasks[i], out.Result.Deferred, out.Continued)
			}
		}
		return cut
	}

	w.proxy.SetRules(
		testenv.FaultRule{Op: testenv.OpGetObject, KeyContains: acct + "type=events/", Kind: testenv.FaultLatency, Latency: time.Hour, Every: 3},
		testenv.FaultRule{Op: testenv.OpUploadPart, Kind: testenv.FaultLatency, Latency: time.Hour, Every: 2},
	)
	res.injected = invoke(p.Tasks, 2*time.Second)
	w.proxy.SetRules()
	firstDeferred := deferred
	if w.proxy.Requests()[testenv.OpAbortUpload] == aborts {
		t.Errorf("no multipart upload was aborted at the deadline: the scenario did not cut one in the middle")
	}
	if sent := len(q.tasks); sent != res.injected {
		t.Errorf("%d invocations cut short, %d continuations sent", res.injected, sent)
	}
	for i := 0; len(q.tasks) > 0; i++ {
		if i == 3 {
			t.Fatalf("continuations still sent after 3 rounds without hangs: %v", q.tasks)
		}
		tasks := q.take()
		if cut := invoke(tasks, time.Minute); cut > 0 {
			t.Errorf("%d continuations cut short with a minute each and nothing hanging", cut)
		}
	}

	res.seen = stopObs()
	w.final(t, prefix, d, &mu, &res)
	for _, df := range w.differences(t, prefix) {
		t.Errorf("after the continuations the destination differs: %v", df)
	}
	// An object whose write landed just as its invocation was cancelled is
	// deferred, then skipped by the continuation.
	if copied > len(w.src) || copied < len(w.src)-firstDeferred {
		t.Errorf("objects copied over all invocations = %d, want %d (less at most the %d deferred)", copied, len(w.src), firstDeferred)
	}
	if res.injected == 0 {
		t.Errorf("no invocation was cut short by its deadline: the scenario tests nothing")
	}
	if !t.Failed() {
		w.remove(prefix)
	}
	return res
}

// queue is an in-memory SQS queue for the copier's continuations: it keeps
// the tasks it is sent, decoded as the copier Lambda decodes them.
type queue struct {
	mu    sync.Mutex
	tasks []export.Task
}

func (q *queue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		task, err := export.DecodeTask([]byte(aws.ToString(e.MessageBody)))
		if err != nil {
			return nil, fmt.Errorf("continuation message %q: %w", aws.ToString(e.MessageBody), err)
		}
		q.tasks = append(q.tasks, task)
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(fmt.Sprint(len(q.tasks)))})
	}
	return out, nil
}

// take returns the tasks sent so far and empties the queue.
func (q *queue) take() []export.Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	tasks := q.tasks
	q.tasks = nil
	return tasks
}
