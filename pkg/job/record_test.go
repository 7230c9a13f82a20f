package job

import (
	"context"
	"testing"

	"github.com/e3sync/e3sync/pkg/runlog"
)

// A sync records its summary in the destination; a dry run records nothing.
func TestRunRecordsItsSummary(t *testing.T) {
	ctx := context.Background()
	src, _ := newDir(t, exportFiles)
	dst, _ := newDir(t, nil)
	if _, err := newJob(src, dst, true).Run(ctx, options()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := runlog.Latest(ctx, dst, 4); ok || err != nil {
		t.Fatalf("after a dry run: run recorded %v (error %v); want none", ok, err)
	}
	s, err := newJob(src, dst, false).Run(ctx, options())
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := runlog.Latest(ctx, dst, 4)
	if err != nil || !ok {
		t.Fatalf("Latest = %v, %v; want the run", ok, err)
	}
	want := runlog.Counts{
		Tasks: s.Tasks, TasksFailed: s.TasksFailed, ObjectsCopied: s.ObjectsCopied, ObjectsSkipped: s.ObjectsSkipped,
		ObjectsFailed: s.ObjectsFailed, BytesCopied: s.BytesCopied, DatesCompleted: s.DatesCompleted,
	}
	if got.RunID != "run-1" || got.Origin != runlog.OriginCLI || got.Records != 1 || got.Counts != want || s.ObjectsCopied == 0 {
		t.Errorf("recorded %+v; want run-1 from the CLI, 1 record, counts %+v", got, want)
	}
}
