package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/e3sync/e3sync/pkg/store"
)

// lyingSource reports other sizes for some keys than the objects have, and
// panics when opening the keys in panics.
type lyingSource struct {
	*source
	sizes  map[string]int64
	panics map[string]bool
}

func (s lyingSource) List(ctx context.Context, prefix string, delim bool) (store.Listing, error) {
	l, err := s.source.List(ctx, prefix, delim)
	for i, o := range l.Objects {
		if size, ok := s.sizes[o.Key]; ok {
			l.Objects[i].Size = size
		}
	}
	return l, err
}

func (s lyingSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if s.panics[key] {
		var m map[string]int
		m[key]++ // a nil map write: a real runtime panic
	}
	return s.source.Open(ctx, key)
}

// writeSpy fails the test if any key in never is written.
type writeSpy struct {
	*dest
	t     *testing.T
	never map[string]bool
}

func (d writeSpy) Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error) {
	if d.never[key] {
		d.t.Errorf("Write(%q, %d) was called", key, size)
	}
	return d.dest.Write(ctx, key, size, r, meta)
}

// A listed size below 0 or above S3's 5 TiB is that object's error, named
// in the task's error; nothing is written for it and the other objects of
// the task are still copied.
func TestCopyRejectsImpossibleListedSizes(t *testing.T) {
	neg, huge := day+"event=purchase/part-00000.c000.snappy.parquet", day+"event=purchase/part-00001.c000.snappy.parquet"
	src := lyingSource{source: newSource(t, exportDay()), sizes: map[string]int64{neg: -1, huge: 6 << 40}}
	dst := newDest(t)
	e := New(src, writeSpy{dest: dst, t: t, never: map[string]bool{neg: true, huge: true}}, Options{Attempts: 1})
	res, err := e.Copy(context.Background(), purchase)
	if want := (Result{Copied: 1, Failed: 2, Bytes: int64(len("purchase rows 2!!"))}); res != want {
		t.Errorf("Copy() = %+v, want %+v", res, want)
	}
	if !errors.Is(err, store.ErrBadSize) || !strings.Contains(err.Error(), neg) || !strings.Contains(err.Error(), huge) {
		t.Errorf("Copy() error = %v, want ErrBadSize naming %s and %s", err, neg, huge)
	}
	for k := range dst.files(t) {
		if k == neg || k == huge {
			t.Errorf("%s was written", k)
		}
	}
	m, err := readManifest(context.Background(), dst, purchase)
	if err != nil || len(m.Objects) != 1 {
		t.Errorf("manifest = %+v, %v; want only the object copied", m.Objects, err)
	}
}

// A panic while copying one object fails that object (and so its task),
// logged with its stack; the other objects are copied and the process
// goes on.
func TestCopyPanicIsTheObjectsFailure(t *testing.T) {
	bad := day + "event=purchase/part-00001.c000.snappy.parquet"
	src := lyingSource{source: newSource(t, exportDay()), panics: map[string]bool{bad: true}}
	dst := newDest(t)
	var logs bytes.Buffer
	e := New(src, dst, Options{Attempts: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	res, err := e.Copy(context.Background(), purchase)
	if res.Copied != 2 || res.Failed != 1 {
		t.Errorf("Copy() = %+v, want 2 copied and 1 failed", res)
	}
	var pe *store.PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Copy() error = %v, want a PanicError naming %s", err, bad)
	}
	if n := strings.Count(logs.String(), "recovered from a panic"); n != 1 || !strings.Contains(logs.String(), "untrusted_test.go") {
		t.Errorf("log = %s\nwant the panic logged once, with a stack through the panicking function", logs.String())
	}
	if _, ok := dst.files(t)[bad]; ok {
		t.Errorf("%s was written", bad)
	}
}

// panicDest panics in List: a panic in the task's own goroutine.
type panicDest struct{ *dest }

func (panicDest) List(ctx context.Context, prefix string, delim bool) (store.Listing, error) {
	panic("destination listing exploded")
}

func TestCopyPanicInTaskIsTheTasksFailure(t *testing.T) {
	e := New(newSource(t, exportDay()), panicDest{newDest(t)}, Options{})
	_, err := e.Copy(context.Background(), purchase)
	var pe *store.PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), purchase.String()) {
		t.Errorf("Copy() error = %v, want a PanicError naming the task", err)
	}
}

// hungSource times out on every Open, as a store does once an endpoint
// stopped answering and the SDK's attempts are spent.
type hungSource struct {
	*source
	opens *atomic.Int32
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "127.0.0.1:9: timeout awaiting response headers" }
func (timeoutErr) Timeout() bool { return true }

func (s hungSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.opens.Add(1)
	return nil, fmt.Errorf("get %s: %w", key, timeoutErr{})
}

// Once an endpoint stopped answering, the object is not retried, and no
// other object or task starts: each would only wait out its own timeouts.
func TestCopyStopsWhenAnEndpointStopsAnswering(t *testing.T) {
	var opens atomic.Int32
	var logs bytes.Buffer
	e := New(hungSource{source: newSource(t, exportDay()), opens: &opens}, newDest(t),
		Options{Concurrency: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	res, err := e.Copy(context.Background(), purchase)
	if res.Failed != 3 || !errors.Is(err, ErrUnanswered) || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Errorf("Copy() = %+v, %v; want 3 failed, the first with the timeout, the others not started", res, err)
	}
	if n := opens.Load(); n != 1 {
		t.Errorf("%d GETs, want 1 (no retry, nothing started after it)", n)
	}
	if _, err := e.Copy(context.Background(), cart); !errors.Is(err, ErrUnanswered) || opens.Load() != 1 {
		t.Errorf("next task: Copy() = %v after %d GETs; want ErrUnanswered before any request", err, opens.Load())
	}
	if n := strings.Count(logs.String(), "stopped answering"); n != 1 {
		t.Errorf("log says %d times that an endpoint stopped answering, want once:\n%s", n, logs.String())
	}
}

func TestFinalizePanicIsAnError(t *testing.T) {
	e := New(newSource(t, exportDay()), panicDest{newDest(t)}, Options{})
	_, err := e.Finalize(context.Background(), purchase.Type, purchase.Date)
	var pe *store.PanicError
	if !errors.As(err, &pe) {
		t.Errorf("Finalize() error = %v, want a PanicError", err)
	}
}
