package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// Each task invocation leaves one run record: a continued one, the one that
// completes the date, and a failed one (token rejected before listing).
func TestCopierRecordsEachTaskInvocation(t *testing.T) {
	root, src, dst := newDirs(t)
	for _, k := range []string{"part-0.parquet", "part-1.parquet"} {
		writeFile(t, root, "type=events/date=2024-03-01/event=a/"+k, []byte("data"))
	}
	writeFile(t, root, "type=events/date=2024-03-01/_SUCCESS", nil)
	task := export.Task{RunID: "20240302T063000Z-abcdef12", Type: export.Events, Date: "2024-03-01", Partition: "event=a", SourceComplete: true}
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: &fakeQueue{}, QueueURL: "url",
		StopMargin: time.Hour, AbortMargin: time.Second, Runs: dst}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := c.Run(ctx, task); err != nil || !out.Continued {
		t.Fatalf("Run = %+v, %v; want a continuation", out, err)
	}
	c.StopMargin = time.Second
	if out, err := c.Run(context.Background(), task); err != nil || out.Completion != "completed" {
		t.Fatalf("Run = %+v, %v; want the date completed", out, err)
	}
	failing := &Copier{Engine: transfer.New(rejectingSource{}, dst, transfer.Options{}), Queue: &fakeQueue{}, QueueURL: "url", Runs: dst}
	other := task
	other.Partition = "event=b"
	if _, err := failing.Run(context.Background(), other); err == nil {
		t.Fatal("Run with a rejected token succeeded")
	}

	got, ok, err := runlog.Latest(context.Background(), dst, 4)
	if err != nil || !ok {
		t.Fatalf("Latest = %v, %v; want the run", ok, err)
	}
	want := runlog.Counts{Tasks: 3, TasksFailed: 1, TasksContinued: 1, ObjectsCopied: 2, BytesCopied: 8, DatesCompleted: 1}
	if got.RunID != task.RunID || got.Origin != runlog.OriginCopier || got.Records != 3 || got.Counts != want {
		t.Errorf("recorded %+v; want run %s from the copier, 3 records, %+v", got, task.RunID, want)
	}
}
