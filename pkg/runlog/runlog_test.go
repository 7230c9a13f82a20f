package runlog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/store"
)

func newDir(t *testing.T) (*store.Dir, string) {
	t.Helper()
	root := t.TempDir()
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return d, root
}

func TestLatestAddsUpTheNewestRun(t *testing.T) {
	ctx := context.Background()
	d, root := newDir(t)
	at := time.Date(2026, 11, 30, 6, 30, 0, 0, time.UTC)
	put := func(r Record) {
		t.Helper()
		if err := Put(ctx, d, r); err != nil {
			t.Fatal(err)
		}
	}
	// An older CLI run, then a Lambda run of three task invocations (one
	// failed, one continued), one record of which is damaged.
	put(Record{RunID: "20261129T063000Z-aaaaaaaa", Origin: OriginCLI, Finished: at.Add(-24 * time.Hour),
		Counts: Counts{Tasks: 9, ObjectsCopied: 90}})
	run := "20261130T063000Z-bbbbbbbb"
	put(Record{RunID: run, Origin: OriginCopier, Task: "events/2026-11-29/event=a", Finished: at.Add(time.Minute),
		Counts: Counts{Tasks: 1, ObjectsCopied: 3, ObjectsSkipped: 1, BytesCopied: 300, DatesCompleted: 1}})
	put(Record{RunID: run, Origin: OriginCopier, Task: "events/2026-11-29/event=b", Finished: at.Add(2 * time.Minute),
		Counts: Counts{Tasks: 1, TasksFailed: 1, ObjectsFailed: 2}})
	put(Record{RunID: run, Origin: OriginCopier, Task: "events/2026-11-29/event=b", Finished: at.Add(3 * time.Minute),
		Counts: Counts{Tasks: 1, TasksContinued: 1, ObjectsCopied: 1, BytesCopied: 50}})
	// A task invoked by hand without a run id is recorded, never "newest".
	put(Record{Origin: OriginCopier, Task: "events/2026-11-29/event=c", Finished: at.Add(time.Hour), Counts: Counts{Tasks: 1}})
	damaged := filepath.Join(root, filepath.FromSlash(Root+run), "damaged.json")
	if err := os.WriteFile(damaged, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}

	got, ok, err := Latest(ctx, d, 4)
	if err != nil || !ok {
		t.Fatalf("Latest = %v, %v; want the run", ok, err)
	}
	want := Run{
		RunID: run, Origin: OriginCopier, Records: 3, First: at.Add(time.Minute), Last: at.Add(3 * time.Minute),
		Counts: Counts{Tasks: 3, TasksFailed: 1, TasksContinued: 1, ObjectsCopied: 4, ObjectsSkipped: 1,
			ObjectsFailed: 2, BytesCopied: 350, DatesCompleted: 1},
		Unreadable: 1,
	}
	if got != want {
		t.Errorf("Latest = %+v\nwant     %+v", got, want)
	}
}

func TestLatestWithoutRecords(t *testing.T) {
	d, _ := newDir(t)
	if _, ok, err := Latest(context.Background(), d, 4); ok || err != nil {
		t.Errorf("Latest on an empty destination = %v, %v; want not ok, no error", ok, err)
	}
}

func TestRecordKeyStaysInItsFolder(t *testing.T) {
	at := time.Date(2026, 11, 30, 6, 30, 0, 0, time.UTC)
	for _, id := range []string{"", ".", "..", "../../type=events/date=2024-01-01", "a/b", "x\x00y", strings.Repeat("z", 200)} {
		k := key(Record{RunID: id, Origin: OriginCopier, Finished: at})
		rest, ok := strings.CutPrefix(k, Root)
		segs := strings.Split(rest, "/")
		if !ok || len(segs) != 2 || segs[0] == "." || segs[0] == ".." || segs[0] == "" || len(segs[0]) > 64 ||
			strings.ContainsRune(segs[0], 0) {
			t.Errorf("key(run id %q) = %q; want Root/<one safe segment>/<name>", id, k)
		}
	}
	a := key(Record{RunID: "r", Origin: OriginCopier, Task: "events/2024-01-01/event=a", Finished: at})
	b := key(Record{RunID: "r", Origin: OriginCopier, Task: "events/2024-01-01/event=b", Finished: at})
	if a == b {
		t.Errorf("two tasks finishing at the same time share the key %q", a)
	}
}
