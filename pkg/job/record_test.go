package job

import (
	"context"
	"testing"

	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/pkg/runlog"
)

// A sync records its summary in the destination; a dry run records nothing.
func TestRunRecordsItsSummary(t *testing.T) {
	ctx := context.Background()
	src, _ := fixture.Dir(t, exportFiles)
	dst, _ := fixture.Dir(t, nil)
	if _, err := newJob(src, dst, true).Run(ctx, options()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := runlog.Latest(ctx, dst, 4); ok || err != nil {
		t.Fatalf("after a dry run: run recorded %v (error %v); want none", ok, err)
	}
	o := options()
	o.RunID = "20240103T120000Z-0000abcd" // run ids start with their time
	s, err := newJob(src, dst, false).Run(ctx, o)
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
	if got.RunID != o.RunID || got.Origin != runlog.OriginCLI || got.Records != 1 || got.Counts != want || s.ObjectsCopied == 0 {
		t.Errorf("recorded %+v; want the run from the CLI, 1 record, counts %+v", got, want)
	}
}
