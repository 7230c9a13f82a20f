package transfer

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
)

func TestIsStale(t *testing.T) {
	tests := []struct {
		f          StaleFacts
		want       bool
		wantReason string
	}{
		// One row per line of IsStale's truth table.
		{StaleFacts{Bookkeeping: true, DateListed: true, ListingsComplete: true}, false, "bookkeeping object"},
		{StaleFacts{DateListed: false, ListingsComplete: true}, false, "date gone from the source: kept"},
		{StaleFacts{DateListed: true, ListingsComplete: false}, false, "listing incomplete"},
		{StaleFacts{DateListed: true, ListingsComplete: true, InSource: true}, false, "listed by the source"},
		{StaleFacts{DateListed: true, ListingsComplete: true, InSource: false}, true, "no longer listed by the source"},
	}
	for _, tt := range tests {
		got, reason := IsStale(tt.f)
		if got != tt.want || reason != tt.wantReason {
			t.Errorf("IsStale(%+v) = %v, %q, want %v, %q", tt.f, got, reason, tt.want, tt.wantReason)
		}
	}
}

func TestDecidePrune(t *testing.T) {
	tests := []struct {
		f    PruneFacts
		want PruneAction
	}{
		// One row per line of DecidePrune's truth table.
		{PruneFacts{Prune: false, DryRun: true}, Keep},
		{PruneFacts{Prune: true, DryRun: true}, WouldPrune},
		{PruneFacts{Prune: true, DryRun: false}, Quarantine},
	}
	for _, tt := range tests {
		if got, _ := DecidePrune(tt.f); got != tt.want {
			t.Errorf("DecidePrune(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
}

func TestBookkeepingAndQuarantineKey(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want bool
	}{
		{day + "_SUCCESS", true},
		{day + "event=purchase/", true},
		{"_e3sync/state/" + day + "event=purchase/_manifest.json", true},
		{"type=events/date=2024-01-03/event=purchase/part-0.parquet", true}, // another date: not this task's
		{day + "event=purchase/part-0.parquet", false},
		{day + "event=purchase/_committed_123", false}, // Spark's other files are data like any other
	} {
		if got := bookkeeping(purchase, tt.key); got != tt.want {
			t.Errorf("bookkeeping(%s, %q) = %v, want %v", purchase, tt.key, got, tt.want)
		}
	}
	for _, tt := range []struct{ runID, want string }{
		{"20240102T063000Z-1a2b3c4d", "_e3sync/quarantine/20240102T063000Z-1a2b3c4d/k"},
		{"", "_e3sync/quarantine/no-run-id/k"},
		{"..", "_e3sync/quarantine/no-run-id/k"},
		{"a/../../type=events", "_e3sync/quarantine/no-run-id/k"},
	} {
		if got := quarantineKey(tt.runID, "k"); got != tt.want {
			t.Errorf("quarantineKey(%q, k) = %q, want %q", tt.runID, got, tt.want)
		}
	}
}

// rewrite replaces the purchase sub-partition's parts with new names and
// changes the loose date-level file in place, as when Optimizely rewrites a
// date.
func rewrite(t *testing.T, src *source) (gone []string) {
	t.Helper()
	for _, n := range []string{"part-00000", "part-00001", "part-00002"} {
		k := day + "event=purchase/" + n + ".c000.snappy.parquet"
		if err := os.Remove(filepath.Join(src.root, filepath.FromSlash(k))); err != nil {
			t.Fatal(err)
		}
		gone = append(gone, k)
	}
	src.put(t, day+"event=purchase/part-00000-new.c000.snappy.parquet", "purchase rows, rewritten")
	src.put(t, day+"loose.parquet", "loose, corrected")
	return gone
}

func TestStaleCountedNotPrunedByDefault(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	e := New(src, dst, Options{Attempts: 1})
	if _, err := copyAll(t, e, purchase, cart, dayLevel); err != nil {
		t.Fatal(err)
	}
	gone := rewrite(t, src)
	got, err := copyAll(t, e, purchase, cart, dayLevel)
	if want := (Result{Copied: 2, Skipped: 1, Bytes: int64(len("purchase rows, rewritten") + len("loose, corrected")), Stale: 3}); err != nil || got != want {
		t.Errorf("Copy after a rewrite = %+v, %v, want %+v", got, err, want)
	}
	files := dst.files(t)
	for _, k := range gone {
		if _, ok := files[k]; !ok {
			t.Errorf("stale %s was removed without pruning", k)
		}
	}
	for k := range files {
		if strings.HasPrefix(k, QuarantineRoot) {
			t.Errorf("quarantine %s written without pruning", k)
		}
	}
	// A dry run with pruning says what it would prune and changes nothing.
	dry := New(src, dst, Options{Attempts: 1, DryRun: true, Prune: true})
	if got, err := copyAll(t, dry, purchase, cart, dayLevel); err != nil || got.Stale != 3 || got.Pruned != 3 {
		t.Errorf("dry run with Prune = %+v, %v, want 3 stale, 3 would be pruned", got, err)
	}
	if after := dst.files(t); !maps.Equal(after, files) {
		t.Errorf("the dry run changed the destination")
	}
}

func TestStalePruned(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	if _, err := copyAll(t, New(src, dst, Options{Attempts: 1}), purchase, cart, dayLevel); err != nil {
		t.Fatal(err)
	}
	before := dst.files(t)
	gone := rewrite(t, src)
	// A sub-partition the source no longer has at all, while the date stays.
	const dropped = day + "event=dropped/part-00000.c000.snappy.parquet"
	if _, err := dst.Write(context.Background(), dropped, 4, strings.NewReader("drop"), nil); err != nil {
		t.Fatal(err)
	}
	gone = append(gone, dropped)
	droppedTask := export.Task{Type: export.Events, Date: "2024-01-02", Partition: "event=dropped", RunID: "run-2"}

	e := New(src, dst, Options{Attempts: 1, Prune: true})
	tasks := []export.Task{purchase, cart, dayLevel, droppedTask}
	for i := range tasks {
		tasks[i].RunID = "run-2"
	}
	got, err := copyAll(t, e, tasks...)
	if err != nil || got.Stale != 4 || got.Pruned != 4 || got.Copied != 2 {
		t.Fatalf("Copy with Prune = %+v, %v, want 2 copied, 4 stale, 4 pruned", got, err)
	}
	files := dst.files(t)
	for _, k := range gone {
		if _, ok := files[k]; ok {
			t.Errorf("stale %s still in place", k)
		}
		want, ok := before[k]
		if k == dropped {
			want, ok = "drop", true
		}
		if q := "_e3sync/quarantine/run-2/" + k; !ok || files[q] != want {
			t.Errorf("quarantine %s = %q, want the removed object's bytes %q", q, files[q], want)
		}
	}
	want := map[string]string{}
	for k, v := range exportDay() {
		want[k] = v
	}
	delete(want, day+"_SUCCESS")
	for _, k := range gone[:3] {
		delete(want, k)
	}
	want[day+"event=purchase/part-00000-new.c000.snappy.parquet"] = "purchase rows, rewritten"
	want[day+"loose.parquet"] = "loose, corrected"
	data := dst.dataFiles(t)
	for k := range data {
		if strings.HasPrefix(k, QuarantineRoot) {
			delete(data, k)
		}
	}
	if !maps.Equal(data, want) {
		t.Errorf("after pruning the destination holds %q, want exactly the source %q", data, want)
	}
	// The manifest no longer records a pruned key, and a re-run finds nothing.
	if m, _ := readManifest(context.Background(), dst, purchase); len(m.Objects) != 1 {
		t.Errorf("purchase manifest = %+v, want only the new part", m.Objects)
	}
	if got, err := copyAll(t, e, tasks...); err != nil || got.Stale != 0 || got.Pruned != 0 || got.Copied != 0 {
		t.Errorf("re-run = %+v, %v, want nothing stale or copied", got, err)
	}
}

// A date the source no longer lists at all (Optimizely's retention) is
// never pruned, and neither is _SUCCESS.
func TestStaleNeverForAVanishedDate(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	if _, err := copyAll(t, New(src, dst, Options{Attempts: 1}), purchase, cart, dayLevel); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Write(context.Background(), day+"_SUCCESS", 0, strings.NewReader(""), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src.root, "type=events")); err != nil {
		t.Fatal(err)
	}
	before := dst.files(t)
	got, err := copyAll(t, New(src, dst, Options{Attempts: 1, Prune: true}), purchase, cart, dayLevel)
	if err != nil || got.Stale != 0 || got.Pruned != 0 {
		t.Errorf("Copy of a vanished date = %+v, %v, want nothing stale", got, err)
	}
	after := dst.files(t)
	for k, v := range before {
		if strings.HasPrefix(k, StateRoot) {
			continue // manifests follow the source listing
		}
		if after[k] != v {
			t.Errorf("%s changed or removed for a date the source no longer has", k)
		}
	}
}

// failingDeleter is a destination whose deletes fail.
type failingDeleter struct{ *dest }

func (failingDeleter) Delete(ctx context.Context, key string) error {
	return errors.New("AccessDenied")
}

func TestStalePruneFailureKeepsTheObject(t *testing.T) {
	src := newSource(t, exportDay())
	d := newDest(t)
	if _, err := copyAll(t, New(src, d, Options{Attempts: 1}), purchase); err != nil {
		t.Fatal(err)
	}
	gone := rewrite(t, src)
	got, err := New(src, failingDeleter{d}, Options{Attempts: 1, Prune: true}).Copy(context.Background(), purchase)
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") || got.Stale != 3 || got.Pruned != 0 {
		t.Errorf("Copy with failing deletes = %+v, %v; want 3 stale, 0 pruned and an error naming the cause", got, err)
	}
	files := d.files(t)
	for _, k := range gone {
		if _, ok := files[k]; !ok {
			t.Errorf("%s removed although its delete failed", k)
		}
	}
}

func TestFalseSuccess(t *testing.T) {
	tests := []struct{ listed, src, dst, want bool }{
		// One row per line of FalseSuccess's truth table.
		{false, false, true, false},
		{true, true, true, false},
		{true, false, false, false},
		{true, false, true, true},
	}
	for _, tt := range tests {
		if got := FalseSuccess(tt.listed, tt.src, tt.dst); got != tt.want {
			t.Errorf("FalseSuccess(listed %v, source %v, destination %v) = %v, want %v", tt.listed, tt.src, tt.dst, got, tt.want)
		}
	}
}

func TestWithdraw(t *testing.T) {
	ctx := context.Background()
	files := exportDay()
	delete(files, day+"_SUCCESS") // the source date is not complete (again)
	src := newSource(t, files)
	dst := newDest(t)
	if _, err := dst.Write(ctx, day+"_SUCCESS", 0, strings.NewReader(""), nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := New(src, dst, Options{}).Withdraw(ctx, export.Events, "2024-01-02"); ok || err != nil {
		t.Errorf("Withdraw without Prune = %v, %v, want false, nil", ok, err)
	}
	if ok, err := New(src, dst, Options{Prune: true, DryRun: true}).Withdraw(ctx, export.Events, "2024-01-02"); !ok || err != nil {
		t.Errorf("Withdraw in a dry run = %v, %v, want true, nil", ok, err)
	}
	if _, ok := dst.files(t)[day+"_SUCCESS"]; !ok {
		t.Fatalf("_SUCCESS removed without pruning or in a dry run")
	}
	if ok, err := New(src, dst, Options{Prune: true}).Withdraw(ctx, export.Events, "2024-01-02"); !ok || err != nil {
		t.Errorf("Withdraw = %v, %v, want true, nil", ok, err)
	}
	if _, ok := dst.files(t)[day+"_SUCCESS"]; ok {
		t.Errorf("false _SUCCESS still in place")
	}
	// A date the source no longer lists keeps its marker.
	if _, err := dst.Write(ctx, day+"_SUCCESS", 0, strings.NewReader(""), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src.root, "type=events")); err != nil {
		t.Fatal(err)
	}
	if ok, err := New(src, dst, Options{Prune: true}).Withdraw(ctx, export.Events, "2024-01-02"); ok || err != nil {
		t.Errorf("Withdraw for a vanished date = %v, %v, want false, nil", ok, err)
	}
}

// A directory destination: the partial files a killed run left under a
// task's prefix are removed once the task has copied everything, when older
// than StaleUploadAge; a recent one (a live write) is kept.
func TestCopyRemovesStalePartialFiles(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	stale := filepath.Join(dst.root, "type=events/date=2024-01-02/event=purchase/.part-00000.c000.snappy.parquet.1.e3sync-partial")
	live := filepath.Join(dst.root, "type=events/date=2024-01-02/event=purchase/.part-00001.c000.snappy.parquet.2.e3sync-partial")
	for _, p := range []string{stale, live} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	e := New(src, dst, Options{Attempts: 1, StaleUploadAge: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	got, err := e.Copy(context.Background(), purchase)
	if err != nil || got.UploadsAborted != 1 || got.Copied != 3 {
		t.Fatalf("Copy() = %+v, %v, want 3 copied and 1 partial file removed", got, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale partial file still there (%v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("recent partial file removed: %v", err)
	}
	if !strings.Contains(logs.String(), "removed a stale partial file left by an interrupted run") {
		t.Errorf("no log line for the removed partial file:\n%s", logs.String())
	}
}

// Past the invocation's stop time no stale object is pruned: each is
// deferred, and the task's next run prunes it.
func TestStalePruneDeferredAfterStopTime(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	if _, err := copyAll(t, New(src, dst, Options{Attempts: 1}), purchase); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"part-00001", "part-00002"} {
		if err := os.Remove(filepath.Join(src.root, day, "event=purchase", n+".c000.snappy.parquet")); err != nil {
			t.Fatal(err)
		}
	}
	e := New(src, dst, Options{Attempts: 1, Prune: true})
	got, err := e.CopyUntil(context.Background(), purchase, time.Now().Add(-time.Second))
	if want := (Result{Skipped: 1, Deferred: 2}); err != nil || got != want {
		t.Errorf("CopyUntil(past stop time) = %+v, %v, want %+v", got, err, want)
	}
	if n := len(dst.dataFiles(t)); n != 3 {
		t.Errorf("destination holds %d files after a deferred prune, want all 3", n)
	}
	got, err = e.Copy(context.Background(), purchase)
	if want := (Result{Skipped: 1, Stale: 2, Pruned: 2}); err != nil || got != want {
		t.Errorf("Copy() after = %+v, %v, want %+v", got, err, want)
	}
}
