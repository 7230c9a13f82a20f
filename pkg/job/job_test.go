package job

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// exportFiles is a small export: two complete event days, one event day
// still being written, and an empty decisions day.
var exportFiles = map[string]string{
	"type=events/date=2024-01-01/event=purchase/part-00000.parquet":    "p0",
	"type=events/date=2024-01-01/event=purchase/part-00001.parquet":    "p01",
	"type=events/date=2024-01-01/event=add to cart/part-00000.parquet": "cart",
	"type=events/date=2024-01-01/_SUCCESS":                             "",
	"type=events/date=2024-01-02/event=purchase/part-00000.parquet":    "p2-0",
	"type=events/date=2024-01-02/loose.parquet":                        "loose",
	"type=events/date=2024-01-02/_SUCCESS":                             "",
	"type=events/date=2024-01-03/event=purchase/part-00000.parquet":    "today",
	"type=decisions/date=2024-01-01/_SUCCESS":                          "",
}

const failKey = "type=events/date=2024-01-01/event=purchase/part-00001.parquet"

// failingSource is a directory whose Open fails for the keys in fail.
type failingSource struct {
	*store.Dir
	mu   sync.Mutex
	fail map[string]bool
}

var errRead = errors.New("connection reset by peer")

func (s *failingSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.mu.Lock()
	fail := s.fail[key]
	s.mu.Unlock()
	if fail {
		return nil, errRead
	}
	return s.Dir.Open(ctx, key)
}

func (s *failingSource) heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = nil
}

// progress records the events a job reports.
type progress struct {
	mu      sync.Mutex
	planned int
	done    []string
}

func (p *progress) Planned(pl plan.Plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.planned = len(pl.Tasks)
}

func (p *progress) TaskDone(t export.Task, r transfer.Result, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, t.String())
}

func options() plan.Options {
	return plan.Options{
		Types:    export.AllTypes,
		Lookback: 3, // every date is re-checked on every run
		Now:      time.Date(2024, 1, 3, 12, 0, 0, 0, time.UTC),
		RunID:    "run-1",
	}
}

func newJob(src transfer.Source, dst transfer.Destination, dryRun bool) *Job {
	return &Job{
		Source: src, Dest: dst,
		Engine:          transfer.New(src, dst, transfer.Options{Attempts: 1, DryRun: dryRun}),
		TaskConcurrency: 3,
		DryRun:          dryRun,
	}
}

func dataBytes() (objects int, bytes int64) {
	for k, v := range exportFiles {
		if !strings.HasSuffix(k, export.SuccessMarker) {
			objects++
			bytes += int64(len(v))
		}
	}
	return objects, bytes
}

// files lists the destination's files outside the state folder.
func files(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, transfer.StateRoot) {
			return nil
		}
		data, err := os.ReadFile(p)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRun(t *testing.T) {
	src, _ := fixture.Dir(t, exportFiles)
	dst, dstRoot := fixture.Dir(t, nil)
	prog := &progress{}
	j := newJob(src, dst, false)
	j.Progress = prog

	s, err := j.Run(context.Background(), options())
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	objects, bytes := dataBytes()
	wantDates := []string{"decisions/2024-01-01", "events/2024-01-01", "events/2024-01-02"}
	// Tasks: events 01-01 (2 partitions), 01-02 (1 partition + date level),
	// 01-03 (1 partition), decisions 01-01 (date level).
	const wantTasks = 6
	if s.ObjectsCopied != objects || s.ObjectsSkipped != 0 || s.ObjectsFailed != 0 || s.BytesCopied != bytes ||
		s.DatesCompleted != 3 || !slices.Equal(s.CompletedDates, wantDates) || len(s.Errors) != 0 || s.Tasks != wantTasks {
		t.Errorf("first Run() = %+v, want %d copied, %d bytes, 3 dates completed %q, %d tasks, no errors",
			s, objects, bytes, wantDates, wantTasks)
	}
	if s.Failed() || s.RunID != "run-1" || s.DryRun {
		t.Errorf("first Run(): Failed() = %v, RunID = %q, DryRun = %v, want false, run-1, false", s.Failed(), s.RunID, s.DryRun)
	}
	if got := files(t, dstRoot); !maps.Equal(got, withoutSuccess(exportFiles, "type=events/date=2024-01-03/_SUCCESS")) {
		t.Errorf("first Run() destination = %q, want the export (no _SUCCESS for the open day)", got)
	}
	if prog.planned != wantTasks || len(prog.done) != wantTasks {
		t.Errorf("Progress saw %d planned and %d done tasks, want %d", prog.planned, len(prog.done), wantTasks)
	}

	s, err = j.Run(context.Background(), options())
	if err != nil {
		t.Fatalf("second Run() error = %v", err)
	}
	if s.ObjectsCopied != 0 || s.ObjectsSkipped != objects || s.BytesCopied != 0 || s.DatesCompleted != 0 ||
		len(s.CompletedDates) != 0 || len(s.Errors) != 0 {
		t.Errorf("second Run() = %+v, want 0 copied, %d skipped, no dates completed, no errors", s, objects)
	}
}

// withoutSuccess is files minus the keys given.
func withoutSuccess(files map[string]string, drop ...string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		if !slices.Contains(drop, k) {
			out[k] = v
		}
	}
	return out
}

func TestRunFailingTask(t *testing.T) {
	dir, _ := fixture.Dir(t, exportFiles)
	src := &failingSource{Dir: dir, fail: map[string]bool{failKey: true}}
	dst, dstRoot := fixture.Dir(t, nil)
	j := newJob(src, dst, false)

	s, err := j.Run(context.Background(), options())
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	objects, _ := dataBytes()
	wantDates := []string{"decisions/2024-01-01", "events/2024-01-02"}
	if s.ObjectsCopied != objects-1 || s.ObjectsFailed != 1 || s.TasksFailed != 1 || s.DatesCompleted != 2 || !slices.Equal(s.CompletedDates, wantDates) {
		t.Errorf("Run() = %+v, want %d copied, 1 failed in 1 failed task, dates completed %q", s, objects-1, wantDates)
	}
	if len(s.Errors) != 1 || !strings.Contains(s.Errors[0], failKey) || !strings.Contains(s.Errors[0], errRead.Error()) {
		t.Errorf("Run().Errors = %q, want one error naming %s and %q", s.Errors, failKey, errRead)
	}
	if !s.Failed() {
		t.Errorf("Run().Failed() = false, want true")
	}
	got := files(t, dstRoot)
	if _, ok := got["type=events/date=2024-01-01/_SUCCESS"]; ok {
		t.Errorf("Run() finalized events/2024-01-01 although one of its tasks failed")
	}
	if _, ok := got[failKey]; ok {
		t.Errorf("Run() left %s in the destination", failKey)
	}
	for _, d := range []string{"type=events/date=2024-01-02/_SUCCESS", "type=decisions/date=2024-01-01/_SUCCESS"} {
		if _, ok := got[d]; !ok {
			t.Errorf("Run() did not write %s", d)
		}
	}

	// The next run copies the failed object and completes the date.
	src.heal()
	s, err = j.Run(context.Background(), options())
	if err != nil {
		t.Fatalf("Run() after recovery error = %v", err)
	}
	if s.ObjectsCopied != 1 || s.ObjectsFailed != 0 || !slices.Equal(s.CompletedDates, []string{"events/2024-01-01"}) || len(s.Errors) != 0 {
		t.Errorf("Run() after recovery = %+v, want 1 copied, events/2024-01-01 completed, no errors", s)
	}
}

func TestRunDryRun(t *testing.T) {
	src, _ := fixture.Dir(t, exportFiles)
	dst, dstRoot := fixture.Dir(t, nil)
	s, err := newJob(src, dst, true).Run(context.Background(), options())
	if err != nil {
		t.Fatalf("Run(dry run) error = %v", err)
	}
	objects, bytes := dataBytes()
	if !s.DryRun || s.ObjectsCopied != objects || s.BytesCopied != bytes || s.DatesCompleted != 0 || len(s.Errors) != 0 {
		t.Errorf("Run(dry run) = %+v, want %d objects and %d bytes counted, no date completed", s, objects, bytes)
	}
	if entries, _ := os.ReadDir(dstRoot); len(entries) != 0 {
		t.Errorf("Run(dry run) wrote %d entries to the destination, want none", len(entries))
	}
}

func TestRunPlanError(t *testing.T) {
	src, _ := fixture.Dir(t, exportFiles)
	dst, _ := fixture.Dir(t, nil)
	o := options()
	o.Lookback = -1
	if _, err := newJob(src, dst, false).Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "look-back") {
		t.Errorf("Run(lookback -1) error = %v, want the plan options error", err)
	}
}

// TestRunFailedTaskBlocksFinalize checks that the job, not only Finalize's
// own size check, holds back a date with a failed task: here the failed
// object is already in the destination with the right size, so Finalize
// alone would complete the date.
func TestRunFailedTaskBlocksFinalize(t *testing.T) {
	dir, _ := fixture.Dir(t, exportFiles)
	src := &failingSource{Dir: dir}
	dst, dstRoot := fixture.Dir(t, nil)
	j := newJob(src, dst, false)
	if s, err := j.Run(context.Background(), options()); err != nil || s.Failed() {
		t.Fatalf("first Run() = %+v, %v", s, err)
	}
	// Forget that the date is complete and what was copied for the failing
	// partition: the next run must re-read the object, and that read fails.
	task := export.Task{Type: export.Events, Date: "2024-01-01", Partition: "event=purchase"}
	for _, k := range []string{export.SuccessKey(export.Events, "2024-01-01"), transfer.StateRoot + task.Prefix() + "_manifest.json"} {
		if err := os.Remove(filepath.Join(dstRoot, filepath.FromSlash(k))); err != nil {
			t.Fatal(err)
		}
	}
	src.mu.Lock()
	src.fail = map[string]bool{failKey: true}
	src.mu.Unlock()

	s, err := j.Run(context.Background(), options())
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if s.ObjectsFailed != 1 || len(s.Errors) != 1 {
		t.Errorf("Run() = %+v, want 1 failed object and 1 error", s)
	}
	if slices.Contains(s.CompletedDates, "events/2024-01-01") {
		t.Errorf("Run().CompletedDates = %q, want events/2024-01-01 held back by its failed task", s.CompletedDates)
	}
	if _, ok := files(t, dstRoot)["type=events/date=2024-01-01/_SUCCESS"]; ok {
		t.Errorf("Run() wrote _SUCCESS for events/2024-01-01 although one of its tasks failed")
	}
}

// cleaningDir is a directory destination that reports one stale upload
// aborted under every prefix it is asked about.
type cleaningDir struct{ *store.Dir }

func (d cleaningDir) AbortStaleUploads(ctx context.Context, prefix string, delim bool, before time.Time) ([]store.Upload, error) {
	return []store.Upload{{Key: prefix + "part-killed.parquet", ID: "u", Initiated: before.Add(-time.Minute)}}, nil
}

// The summary adds up the stale uploads every task aborted.
func TestRunCountsAbortedUploads(t *testing.T) {
	src, _ := fixture.Dir(t, exportFiles)
	dir, _ := fixture.Dir(t, nil)
	dst := cleaningDir{dir}
	s, err := newJob(src, dst, false).Run(context.Background(), options())
	if err != nil || s.Failed() || s.UploadsAborted != s.Tasks || s.Tasks != 6 {
		t.Errorf("Run() = %+v, %v; want %d uploads aborted, one per task", s, err, s.Tasks)
	}
	s, err = newJob(src, dst, true).Run(context.Background(), options())
	if err != nil || s.UploadsAborted != 0 {
		t.Errorf("dry Run() = %+v, %v; want no upload aborted", s, err)
	}
}
