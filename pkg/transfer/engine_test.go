package transfer

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// source is a directory standing in for the export bucket. A Dir reports no
// ETags, so List sets each object's ETag to the MD5 of its bytes, as S3
// does for a single-part upload. Open returns only the first half of the
// bytes of any key in truncate.
type source struct {
	*store.Dir
	root string

	mu       sync.Mutex
	truncate map[string]bool
	opened   []string
	// onOpen, if set, runs first in Open; an error from it is Open's.
	onOpen func(ctx context.Context, key string) error
}

func newSource(t *testing.T, files map[string]string) *source {
	t.Helper()
	root := t.TempDir()
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	s := &source{Dir: d, root: root, truncate: map[string]bool{}}
	for k, v := range files {
		s.put(t, k, v)
	}
	return s
}

// put writes (or overwrites) one source file.
func (s *source) put(t *testing.T, key, content string) {
	t.Helper()
	p := filepath.Join(s.root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *source) List(ctx context.Context, prefix string, delim bool) (store.Listing, error) {
	l, err := s.Dir.List(ctx, prefix, delim)
	if err != nil {
		return l, err
	}
	for i, o := range l.Objects {
		data, err := os.ReadFile(filepath.Join(s.root, filepath.FromSlash(o.Key)))
		if err != nil {
			return store.Listing{}, err
		}
		l.Objects[i].ETag = fmt.Sprintf(`"%x"`, md5.Sum(data))
	}
	return l, nil
}

func (s *source) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.mu.Lock()
	s.opened = append(s.opened, key)
	cut := s.truncate[key]
	hook := s.onOpen
	s.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, key); err != nil {
			return nil, err
		}
	}
	rc, err := s.Dir.Open(ctx, key)
	if err != nil || !cut {
		return rc, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(data[:len(data)/2])), nil
}

// openedKeys returns the keys opened since the last call, sorted.
func (s *source) openedKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(slices.Values(s.opened))
	s.opened = nil
	return keys
}

// dest is a directory destination that counts Head calls, to tell the Check
// path from a decision made on the manifest alone.
type dest struct {
	*store.Dir
	root  string
	heads atomic.Int32
}

func newDest(t *testing.T) *dest {
	t.Helper()
	root := t.TempDir()
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return &dest{Dir: d, root: root}
}

func (d *dest) Head(ctx context.Context, key string) (store.Info, error) {
	d.heads.Add(1)
	return d.Dir.Head(ctx, key)
}

// files returns every file under the destination root with its content,
// the state folder included.
func (d *dest) files(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(d.root, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.root, p)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dataFiles is files without the state folder.
func (d *dest) dataFiles(t *testing.T) map[string]string {
	out := d.files(t)
	for k := range out {
		if strings.HasPrefix(k, StateRoot) {
			delete(out, k)
		}
	}
	return out
}

const day = "type=events/date=2024-01-02/"

var (
	purchase = export.Task{Type: export.Events, Date: "2024-01-02", Partition: "event=purchase", SourceComplete: true}
	cart     = export.Task{Type: export.Events, Date: "2024-01-02", Partition: "event=add to cart", SourceComplete: true}
	dayLevel = export.Task{Type: export.Events, Date: "2024-01-02", SourceComplete: true}
)

// exportDay is one complete day of the export: two partitions, a loose file
// and _SUCCESS.
func exportDay() map[string]string {
	return map[string]string{
		day + "_SUCCESS": "",
		day + "event=purchase/part-00000.c000.snappy.parquet":    "purchase rows 0",
		day + "event=purchase/part-00001.c000.snappy.parquet":    "purchase rows 1!",
		day + "event=purchase/part-00002.c000.snappy.parquet":    "purchase rows 2!!",
		day + "event=add to cart/part-00000.c000.snappy.parquet": "cart rows",
		day + "loose.parquet": "loose",
	}
}

// copyAll runs tasks one after the other and adds up their results.
func copyAll(t *testing.T, e *Engine, tasks ...export.Task) (Result, error) {
	t.Helper()
	var total Result
	var errs []error
	for _, task := range tasks {
		r, err := e.Copy(context.Background(), task)
		total.Add(r)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func TestCopyThenSkip(t *testing.T) {
	files := exportDay()
	src := newSource(t, files)
	dst := newDest(t)
	var progress atomic.Int64
	e := New(src, dst, Options{Attempts: 1, Progress: func(n int64) { progress.Add(n) }})

	var wantBytes int64
	for k, v := range files {
		if !strings.HasSuffix(k, export.SuccessMarker) {
			wantBytes += int64(len(v))
		}
	}
	got, err := copyAll(t, e, purchase, cart, dayLevel)
	if want := (Result{Copied: 5, Bytes: wantBytes}); err != nil || got != want {
		t.Errorf("first Copy() = %+v, %v, want %+v, nil", got, err, want)
	}
	if progress.Load() != wantBytes {
		t.Errorf("Progress saw %d bytes, want %d", progress.Load(), wantBytes)
	}
	want := exportDay()
	delete(want, day+export.SuccessMarker) // Copy never copies _SUCCESS
	if got := dst.dataFiles(t); !maps.Equal(got, want) {
		t.Errorf("after Copy the destination holds %q, want %q", got, want)
	}

	src.openedKeys()
	got, err = copyAll(t, e, purchase, cart, dayLevel)
	if want := (Result{Skipped: 5}); err != nil || got != want {
		t.Errorf("second Copy() = %+v, %v, want %+v, nil", got, err, want)
	}
	if opened := src.openedKeys(); len(opened) != 0 {
		t.Errorf("second Copy() opened %q, want nothing", opened)
	}
	if n := dst.heads.Load(); n != 0 {
		t.Errorf("Copy() with manifests made %d HEAD calls, want 0", n)
	}
}

func TestCopyChangedSource(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	e := New(src, dst, Options{Attempts: 1})
	if _, err := copyAll(t, e, purchase); err != nil {
		t.Fatal(err)
	}
	src.openedKeys()

	tests := []struct {
		name, key, content string
		skipped            int
	}{
		{"same size, different bytes", day + "event=purchase/part-00000.c000.snappy.parquet", "PURCHASE ROWS 0", 2},
		{"different size", day + "event=purchase/part-00001.c000.snappy.parquet", "purchase rows 1, rewritten", 2},
		{"new object", day + "event=purchase/part-00003.c000.snappy.parquet", "late rows", 3},
	}
	for _, tt := range tests {
		src.put(t, tt.key, tt.content)
		got, err := e.Copy(context.Background(), purchase)
		if want := (Result{Copied: 1, Skipped: tt.skipped, Bytes: int64(len(tt.content))}); err != nil || got != want {
			t.Errorf("Copy() after %s = %+v, %v, want %+v, nil", tt.name, got, err, want)
		}
		if opened := src.openedKeys(); !slices.Equal(opened, []string{tt.key}) {
			t.Errorf("Copy() after %s opened %q, want [%s]", tt.name, opened, tt.key)
		}
		if got := dst.files(t)[tt.key]; got != tt.content {
			t.Errorf("after %s destination %s = %q, want %q", tt.name, tt.key, got, tt.content)
		}
		// The change is recorded: the next run skips everything.
		if got, err := e.Copy(context.Background(), purchase); err != nil || got.Copied != 0 {
			t.Errorf("Copy() again after %s = %+v, %v, want nothing copied", tt.name, got, err)
		}
	}
}

func TestCopyWithoutManifest(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	e := New(src, dst, Options{Attempts: 1})
	if _, err := copyAll(t, e, purchase); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		manifest *string // nil: remove it
	}{
		{"missing", nil},
		{"not JSON", ptr("{not json")},
		{"other version", ptr(`{"version":3,"objects":{}}`)},
	}
	for _, tt := range tests {
		p := filepath.Join(dst.root, filepath.FromSlash(manifestKey(purchase)))
		if tt.manifest == nil {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte(*tt.manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		dst.heads.Store(0)
		// A Dir keeps no metadata, so every Check ends in a copy.
		got, err := e.Copy(context.Background(), purchase)
		if err != nil || got.Copied != 3 || got.Skipped != 0 {
			t.Errorf("Copy() with manifest %s = %+v, %v, want 3 copied", tt.name, got, err)
		}
		if n := dst.heads.Load(); n != 3 {
			t.Errorf("Copy() with manifest %s made %d HEAD calls, want 3 (the check path)", tt.name, n)
		}
		// The manifest is rebuilt.
		dst.heads.Store(0)
		if got, err := e.Copy(context.Background(), purchase); err != nil || got.Skipped != 3 || dst.heads.Load() != 0 {
			t.Errorf("Copy() after manifest %s was rebuilt = %+v, %v, %d HEADs, want 3 skipped, no HEAD", tt.name, got, err, dst.heads.Load())
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestCopyTruncatedBody(t *testing.T) {
	src := newSource(t, exportDay())
	bad := day + "event=purchase/part-00001.c000.snappy.parquet"
	src.truncate[bad] = true
	dst := newDest(t)
	e := New(src, dst, Options{Attempts: 1})

	got, err := e.Copy(context.Background(), purchase)
	if want := (Result{Copied: 2, Failed: 1, Bytes: int64(len(exportDay()[day+"event=purchase/part-00000.c000.snappy.parquet"]) + len(exportDay()[day+"event=purchase/part-00002.c000.snappy.parquet"]))}); got != want {
		t.Errorf("Copy() = %+v, want %+v", got, want)
	}
	if !errors.Is(err, store.ErrSizeMismatch) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Copy() error = %v, want ErrSizeMismatch naming %s", err, bad)
	}
	files := dst.dataFiles(t)
	if _, ok := files[bad]; ok {
		t.Errorf("destination holds the truncated object %s", bad)
	}
	if len(files) != 2 {
		t.Errorf("destination holds %q, want the 2 good objects", files)
	}
	if names, _ := os.ReadDir(filepath.Join(dst.root, filepath.FromSlash(purchase.Prefix()))); len(names) != 2 {
		t.Errorf("partition folder holds %d entries, want 2 (no temporary file left)", len(names))
	}
	c, err := e.Finalize(context.Background(), export.Events, "2024-01-02")
	if err != nil || c != Incomplete {
		t.Errorf("Finalize() after a failed object = %v, %v, want %v", c, err, Incomplete)
	}

	// Once the source reads whole again, only the failed object is copied.
	delete(src.truncate, bad)
	src.openedKeys()
	got, err = e.Copy(context.Background(), purchase)
	if want := (Result{Copied: 1, Skipped: 2, Bytes: int64(len(exportDay()[bad]))}); err != nil || got != want {
		t.Errorf("Copy() after the source recovered = %+v, %v, want %+v, nil", got, err, want)
	}
	if opened := src.openedKeys(); !slices.Equal(opened, []string{bad}) {
		t.Errorf("Copy() after the source recovered opened %q, want [%s]", opened, bad)
	}
}

func TestCopyDryRun(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	e := New(src, dst, Options{DryRun: true})
	got, err := copyAll(t, e, purchase, cart, dayLevel)
	if err != nil || got.Copied != 5 || got.Skipped != 0 || got.Bytes == 0 {
		t.Errorf("dry-run Copy() = %+v, %v, want 5 copied with bytes counted", got, err)
	}
	if files := dst.files(t); len(files) != 0 {
		t.Errorf("dry run wrote %q, want nothing", files)
	}
	if opened := src.openedKeys(); len(opened) != 0 {
		t.Errorf("dry run opened %q, want nothing", opened)
	}
	c, err := e.Finalize(context.Background(), export.Events, "2024-01-02")
	if err != nil || c != Incomplete {
		t.Errorf("dry-run Finalize() with nothing copied = %v, %v, want %v", c, err, Incomplete)
	}
}

func TestCopyForce(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	e := New(src, dst, Options{Attempts: 1})
	if _, err := copyAll(t, e, purchase); err != nil {
		t.Fatal(err)
	}
	forced := purchase
	forced.ForceBefore = time.Now()
	if got, err := e.Copy(context.Background(), forced); err != nil || got.Copied != 3 || got.Skipped != 0 {
		t.Errorf("Copy(forced) = %+v, %v, want 3 copied", got, err)
	}
	// The same forced task again (a redelivery, a continuation): what it
	// copied after ForceBefore is not copied again.
	if got, err := e.Copy(context.Background(), forced); err != nil || got.Copied != 0 || got.Skipped != 3 {
		t.Errorf("Copy(forced) again = %+v, %v, want 3 skipped", got, err)
	}
}

// A forced task that runs out of time continues in a later invocation; the
// continuation copies only what the first one did not, so a forced task
// bigger than one invocation still ends.
func TestCopyForcedContinues(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	e := New(src, dst, Options{Attempts: 1, Concurrency: 1})
	if _, err := copyAll(t, e, purchase); err != nil {
		t.Fatal(err)
	}
	forced := purchase
	forced.ForceBefore = time.Now()
	stopAt := time.Now().Add(50 * time.Millisecond)
	src.onOpen = func(context.Context, string) error {
		time.Sleep(time.Until(stopAt) + 10*time.Millisecond) // the first object outlives the stop time
		return nil
	}
	got, err := e.CopyUntil(context.Background(), forced, stopAt)
	if err != nil || got.Copied != 1 || got.Deferred != 2 {
		t.Fatalf("CopyUntil(forced) = %+v, %v, want 1 copied, 2 deferred", got, err)
	}
	src.onOpen = nil
	got, err = e.Copy(context.Background(), forced)
	if err != nil || got.Copied != 2 || got.Skipped != 1 {
		t.Errorf("continuation = %+v, %v, want 2 copied, 1 skipped", got, err)
	}
}

// Objects cancelled in flight at the abort margin (after the stop time) are
// deferred, not failed, and the manifest still records what was copied;
// cancelled before the stop time (an interrupt), they are failures.
func TestCopyCancelledInFlight(t *testing.T) {
	for _, afterStop := range []bool{true, false} {
		t.Run(fmt.Sprintf("afterStop=%v", afterStop), func(t *testing.T) {
			src := newSource(t, exportDay())
			dst := newDest(t)
			e := New(src, dst, Options{Attempts: 1, Concurrency: 1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stopAt := time.Now().Add(time.Hour)
			if afterStop {
				stopAt = time.Now().Add(200 * time.Millisecond)
			}
			var opens atomic.Int32
			src.onOpen = func(ctx context.Context, key string) error {
				if opens.Add(1) == 2 {
					if afterStop {
						time.Sleep(time.Until(stopAt) + 10*time.Millisecond)
					}
					cancel()
					return ctx.Err()
				}
				return nil
			}
			got, err := e.CopyUntil(ctx, purchase, stopAt)
			if afterStop {
				if err != nil || got.Copied != 1 || got.Deferred != 2 || got.Failed != 0 {
					t.Fatalf("CopyUntil = %+v, %v, want 1 copied, 2 deferred, no error", got, err)
				}
			} else if err == nil || got.Copied != 1 || got.Failed != 2 {
				t.Fatalf("CopyUntil = %+v, %v, want 1 copied, 2 failed, an error", got, err)
			}
			src.onOpen = nil
			dst.heads.Store(0)
			got, err = e.Copy(context.Background(), purchase)
			if err != nil || got.Copied != 2 || got.Skipped != 1 || dst.heads.Load() != 0 {
				t.Errorf("next run = %+v, %v, %d HEADs; want 2 copied, 1 skipped on the manifest alone", got, err, dst.heads.Load())
			}
		})
	}
}

func TestCopyInvalidTask(t *testing.T) {
	e := New(newSource(t, nil), newDest(t), Options{})
	bad := export.Task{Type: export.Events, Date: "2024-01-02", Partition: ".."}
	if _, err := e.Copy(context.Background(), bad); !errors.Is(err, export.ErrInvalidTask) {
		t.Errorf("Copy(%+v) = %v, want ErrInvalidTask", bad, err)
	}
}

func TestFinalize(t *testing.T) {
	ctx := context.Background()
	partKey := day + "event=purchase/part-00002.c000.snappy.parquet"

	// No _SUCCESS at the source: never complete.
	noMarker := exportDay()
	delete(noMarker, day+export.SuccessMarker)
	src := newSource(t, noMarker)
	dst := newDest(t)
	e := New(src, dst, Options{Attempts: 1})
	if _, err := copyAll(t, e, purchase, cart, dayLevel); err != nil {
		t.Fatal(err)
	}
	if c, err := e.Finalize(ctx, export.Events, "2024-01-02"); err != nil || c != Incomplete {
		t.Errorf("Finalize() without source _SUCCESS = %v, %v, want %v", c, err, Incomplete)
	}
	if _, ok := dst.files(t)[day+export.SuccessMarker]; ok {
		t.Errorf("Finalize() without source _SUCCESS wrote _SUCCESS")
	}

	src = newSource(t, exportDay())
	dst = newDest(t)
	e = New(src, dst, Options{Attempts: 1})
	// Nothing copied, one partition copied, then a copied object of the
	// wrong size: all incomplete.
	if c, err := e.Finalize(ctx, export.Events, "2024-01-02"); err != nil || c != Incomplete {
		t.Errorf("Finalize() with nothing copied = %v, %v, want %v", c, err, Incomplete)
	}
	if _, err := copyAll(t, e, purchase, dayLevel); err != nil {
		t.Fatal(err)
	}
	if c, err := e.Finalize(ctx, export.Events, "2024-01-02"); err != nil || c != Incomplete {
		t.Errorf("Finalize() with a partition missing = %v, %v, want %v", c, err, Incomplete)
	}
	if _, err := copyAll(t, e, cart); err != nil {
		t.Fatal(err)
	}
	good := dst.files(t)[partKey]
	if err := os.WriteFile(filepath.Join(dst.root, filepath.FromSlash(partKey)), []byte(good+"x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := e.Finalize(ctx, export.Events, "2024-01-02"); err != nil || c != Incomplete {
		t.Errorf("Finalize() with an object of another size = %v, %v, want %v", c, err, Incomplete)
	}
	if err := os.WriteFile(filepath.Join(dst.root, filepath.FromSlash(partKey)), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	// The right bytes again, but written outside the engine: nothing says
	// which version they are (no manifest entry for this object, and a Dir
	// keeps no metadata), so the date is not complete until a copy.
	if c, err := e.Finalize(ctx, export.Events, "2024-01-02"); err != nil || c != Incomplete {
		t.Errorf("Finalize() with an object of unknown version = %v, %v, want %v", c, err, Incomplete)
	}
	if got, err := copyAll(t, e, purchase); err != nil || got.Copied != 1 {
		t.Errorf("Copy() with an object of unknown version = %+v, %v, want it copied", got, err)
	}

	// Dry run: says Completed, writes nothing.
	dry := New(src, dst, Options{DryRun: true})
	if c, err := dry.Finalize(ctx, export.Events, "2024-01-02"); err != nil || c != Completed {
		t.Errorf("dry-run Finalize() = %v, %v, want %v", c, err, Completed)
	}
	if _, ok := dst.files(t)[day+export.SuccessMarker]; ok {
		t.Errorf("dry-run Finalize() wrote _SUCCESS")
	}

	if c, err := e.Finalize(ctx, export.Events, "2024-01-02"); err != nil || c != Completed {
		t.Errorf("Finalize() with every object = %v, %v, want %v", c, err, Completed)
	}
	if got, ok := dst.files(t)[day+export.SuccessMarker]; !ok || got != "" {
		t.Errorf("after Finalize() destination _SUCCESS = %q, present %v, want an empty file", got, ok)
	}
	if c, err := e.Finalize(ctx, export.Events, "2024-01-02"); err != nil || c != AlreadyComplete {
		t.Errorf("second Finalize() = %v, %v, want %v", c, err, AlreadyComplete)
	}
	// A later Copy still never touches _SUCCESS and leaves the date complete.
	if got, err := copyAll(t, e, purchase, cart, dayLevel); err != nil || got.Copied != 0 {
		t.Errorf("Copy() after Finalize = %+v, %v, want nothing copied", got, err)
	}
	if c, err := e.Finalize(ctx, export.Events, "2024-01-02"); err != nil || c != AlreadyComplete {
		t.Errorf("Finalize() after a re-copy = %v, %v, want %v", c, err, AlreadyComplete)
	}
}

// TestFinalizeEmptyDay covers a day with only _SUCCESS: its date-level task
// copies nothing and Finalize mirrors the marker.
func TestFinalizeEmptyDay(t *testing.T) {
	src := newSource(t, map[string]string{day + export.SuccessMarker: ""})
	dst := newDest(t)
	e := New(src, dst, Options{Attempts: 1})
	if got, err := e.Copy(context.Background(), dayLevel); err != nil || got != (Result{}) {
		t.Errorf("Copy(empty day) = %+v, %v, want nothing done", got, err)
	}
	if files := dst.dataFiles(t); len(files) != 0 {
		t.Errorf("Copy(empty day) wrote %q, want nothing (_SUCCESS is Finalize's)", files)
	}
	if c, err := e.Finalize(context.Background(), export.Events, "2024-01-02"); err != nil || c != Completed {
		t.Errorf("Finalize(empty day) = %v, %v, want %v", c, err, Completed)
	}
}

func TestCompletionString(t *testing.T) {
	tests := []struct {
		c    Completion
		want string
	}{
		{Incomplete, "incomplete"}, {AlreadyComplete, "already complete"}, {Completed, "completed"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Completion(%d).String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

// cleaningDest is a directory destination that can abort stale uploads: it
// records each call and answers with aborted and err.
type cleaningDest struct {
	*dest
	mu      sync.Mutex
	calls   []cleanCall
	aborted []store.Upload
	err     error
}

type cleanCall struct {
	prefix string
	delim  bool
	before time.Time
}

func (d *cleaningDest) AbortStaleUploads(ctx context.Context, prefix string, delim bool, before time.Time) ([]store.Upload, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, cleanCall{prefix, delim, before})
	return d.aborted, d.err
}

// A task that copied everything aborts the stale uploads under its own
// prefix (a date-level task only the date folder's own), counts and logs
// them; a task that failed, was deferred or was a dry run does not; a failed
// clean-up is logged, never the task's failure, and one the destination
// denies is not tried again.
func TestCopyAbortsStaleUploads(t *testing.T) {
	stale := []store.Upload{
		{Key: day + "event=purchase/part-00009.c000.snappy.parquet", ID: "u1", Initiated: time.Now().Add(-3 * time.Hour)},
		{Key: day + "event=purchase/part-00010.c000.snappy.parquet", ID: "u2", Initiated: time.Now().Add(-2 * time.Hour)},
	}
	const age = 90 * time.Minute
	tests := []struct {
		name      string
		task      export.Task
		opts      Options
		truncate  bool // one source object reads short: the task fails
		deferIt   bool // the stop time has passed: every object is deferred
		aborted   []store.Upload
		err       error
		wantCalls []cleanCall
		wantRes   int
		wantErr   bool
		wantWarns []string // said in the logs
		warnLines int      // lines logged at WARN
	}{
		{name: "partition task", task: purchase, aborted: stale,
			wantCalls: []cleanCall{{prefix: purchase.Prefix()}}, wantRes: 2,
			wantWarns: []string{`key="` + stale[0].Key + `"`, `key="` + stale[1].Key + `"`}, warnLines: 2},
		{name: "date-level task", task: dayLevel,
			wantCalls: []cleanCall{{prefix: dayLevel.Prefix(), delim: true}}},
		{name: "nothing stale", task: purchase, wantCalls: []cleanCall{{prefix: purchase.Prefix()}}},
		{name: "an object failed", task: purchase, truncate: true, aborted: stale, wantErr: true},
		{name: "deferred", task: purchase, deferIt: true, aborted: stale},
		{name: "dry run", task: purchase, opts: Options{DryRun: true}, aborted: stale},
		{name: "clean-up fails part way", task: purchase, aborted: stale[:1], err: errors.New("abort upload u2: InternalError"),
			wantCalls: []cleanCall{{prefix: purchase.Prefix()}}, wantRes: 1,
			wantWarns: []string{`key="` + stale[0].Key + `"`, "cleaning up stale multipart uploads failed", "error=\"abort upload u2: InternalError\""}, warnLines: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newSource(t, exportDay())
			if tt.truncate {
				src.truncate[day+"event=purchase/part-00001.c000.snappy.parquet"] = true
			}
			dst := &cleaningDest{dest: newDest(t), aborted: tt.aborted, err: tt.err}
			var logs bytes.Buffer
			opts := tt.opts
			opts.Attempts, opts.StaleUploadAge = 1, age
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			e := New(src, dst, opts)
			stopAt := time.Time{}
			if tt.deferIt {
				stopAt = time.Now().Add(-time.Second)
			}
			before := time.Now()
			got, err := e.CopyUntil(context.Background(), tt.task, stopAt)
			after := time.Now()
			if (err != nil) != tt.wantErr || got.UploadsAborted != tt.wantRes {
				t.Errorf("CopyUntil() = %+v, %v; want %d uploads aborted, error %v", got, err, tt.wantRes, tt.wantErr)
			}
			if len(dst.calls) != len(tt.wantCalls) {
				t.Fatalf("AbortStaleUploads calls = %+v, want %+v", dst.calls, tt.wantCalls)
			}
			for i, c := range dst.calls {
				w := tt.wantCalls[i]
				if c.prefix != w.prefix || c.delim != w.delim || c.before.Before(before.Add(-age)) || c.before.After(after.Add(-age)) {
					t.Errorf("AbortStaleUploads(%q, %v, %v), want (%q, %v, %v ago)", c.prefix, c.delim, c.before, w.prefix, w.delim, age)
				}
			}
			warns := 0
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "level=WARN") {
					warns++
				}
			}
			for _, w := range tt.wantWarns {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("logs do not say %q:\n%s", w, logs.String())
				}
			}
			if warns != tt.warnLines {
				t.Errorf("%d warnings logged, want %d:\n%s", warns, tt.warnLines, logs.String())
			}
		})
	}
}

func TestCopyCleanupDeniedIsNotRetried(t *testing.T) {
	src := newSource(t, exportDay())
	dst := &cleaningDest{dest: newDest(t), err: fmt.Errorf("list uploads s3://b/p/: %w: AccessDenied", store.ErrAccessDenied)}
	var logs bytes.Buffer
	e := New(src, dst, Options{Attempts: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	got, err := copyAll(t, e, purchase, cart, dayLevel)
	if err != nil || got.Copied != 5 || got.UploadsAborted != 0 {
		t.Errorf("Copy() with the clean-up denied = %+v, %v, want 5 copied, no error", got, err)
	}
	if len(dst.calls) != 1 {
		t.Errorf("AbortStaleUploads called %d times, want once: a denial is not asked again", len(dst.calls))
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "s3:ListBucketMultipartUploads") {
		t.Errorf("logs = %s; want one warning naming the missing permission", logs.String())
	}
}

// peakDest records the most Writes in flight at once.
type peakDest struct {
	*dest
	mu        sync.Mutex
	now, peak int
}

func (d *peakDest) Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error) {
	d.mu.Lock()
	d.now++
	d.peak = max(d.peak, d.now)
	d.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // long enough for the others to start, if allowed
	defer func() {
		d.mu.Lock()
		d.now--
		d.mu.Unlock()
	}()
	return d.dest.Write(ctx, key, size, r, meta)
}

// SmallMemory bounds the bytes of small objects in flight, whatever the
// object concurrency: three ~16-byte objects under a 20-byte budget go one
// at a time; under the default budget all three go at once.
func TestCopySmallMemoryBound(t *testing.T) {
	for _, tt := range []struct {
		budget int64
		want   int
	}{{20, 1}, {0, 3}} {
		src := newSource(t, exportDay())
		dst := &peakDest{dest: newDest(t)}
		e := New(src, dst, Options{Attempts: 1, Concurrency: 8, SmallMemory: tt.budget})
		if r, err := e.Copy(context.Background(), purchase); err != nil || r.Copied != 3 {
			t.Fatalf("Copy = %+v, %v, want 3 copied", r, err)
		}
		if dst.peak != tt.want {
			t.Errorf("SmallMemory %d: %d objects in flight at most, want %d", tt.budget, dst.peak, tt.want)
		}
	}
}

// gateDest holds every Write of a large data object until open is closed, and
// records the order in which large objects started and how many small ones
// were written.
type gateDest struct {
	*dest
	large int64
	open  chan struct{}
	mu    sync.Mutex
	order []int64 // sizes of the large objects, as their Writes started
	small atomic.Int32
}

func (d *gateDest) Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error) {
	if size >= d.large && strings.HasSuffix(key, ".parquet") {
		d.mu.Lock()
		d.order = append(d.order, size)
		d.mu.Unlock()
		<-d.open
	} else if strings.HasSuffix(key, ".parquet") {
		defer d.small.Add(1)
	}
	return d.dest.Write(ctx, key, size, r, meta)
}

// Large objects start largest first, and those waiting for a large slot do
// not hold the object slots: with one large slot and three object slots,
// the six small objects are copied while the first large object (the
// largest, though listed last) is held, and the other two follow by size.
func TestCopyLargestFirstBesideSmall(t *testing.T) {
	files := map[string]string{}
	for i, n := range []int{300, 500, 400} { // listed in this order
		files[fmt.Sprintf("%sevent=purchase/part-0000%d.c000.snappy.parquet", day, i)] = strings.Repeat("L", n)
	}
	for i := range 6 {
		files[fmt.Sprintf("%sevent=purchase/small-%d.parquet", day, i)] = "small"
	}
	src := newSource(t, files)
	dst := &gateDest{dest: newDest(t), large: 100, open: make(chan struct{})}
	e := New(src, dst, Options{Attempts: 1, Concurrency: 3, LargeConcurrency: 1, LargeObject: 100})
	done := make(chan error, 1)
	go func() {
		r, err := e.Copy(context.Background(), purchase)
		if err == nil && r.Copied != 9 {
			err = fmt.Errorf("copied %d, want 9", r.Copied)
		}
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second) // a "did not hang" guard only
	for dst.small.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := dst.small.Load(); n < 6 {
		t.Errorf("%d of 6 small objects copied while a large object was held, want all 6", n)
	}
	close(dst.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := []int64{500, 400, 300}; !slices.Equal(dst.order, want) {
		t.Errorf("large objects started in the order %v (sizes), want %v", dst.order, want)
	}
}
