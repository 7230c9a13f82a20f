package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/e3sync/e3sync/pkg/store"
)

// refusingDest fails every data write with err (manifests and _SUCCESS too)
// and counts the writes, and its probe with probeErr.
type refusingDest struct {
	*dest
	err      func(key string) error
	probeErr error
	writes   atomic.Int32
}

func (d *refusingDest) Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error) {
	d.writes.Add(1)
	if err := d.err(key); err != nil {
		return "", fmt.Errorf("write %s: %w", key, err)
	}
	return d.dest.Write(ctx, key, size, r, meta)
}

func (d *refusingDest) ProbeWrite(ctx context.Context) error { return d.probeErr }

func readOnly(root string) error {
	return &store.RefusedError{Store: root, Op: "write", Reason: "read-only file system", Fix: "remount it read-write",
		Err: &os.PathError{Op: "open", Path: root, Err: syscall.EROFS}}
}

// A destination that refuses a write stops the engine: the object is not
// tried again, and no other object or task starts (each would be refused
// the same way).
func TestCopyStopsAtRefusal(t *testing.T) {
	src := newSource(t, exportDay())
	dst := &refusingDest{dest: newDest(t), err: func(string) error { return readOnly("/ro/") }}
	e := New(src, dst, Options{Concurrency: 1, Attempts: 3})
	res, err := e.Copy(context.Background(), purchase)
	if store.Refused(err) == nil || !strings.Contains(err.Error(), "remount it read-write") {
		t.Fatalf("Copy(purchase) = %v; want the refusal, saying what to fix", err)
	}
	if n := dst.writes.Load(); n != 1 {
		t.Errorf("writes = %d; want 1 (no retry, no other object after a refusal)", n)
	}
	if res.Copied != 0 || res.Failed == 0 {
		t.Errorf("result = %+v; want nothing copied, the refused object failed", res)
	}
	if _, err := e.Copy(context.Background(), cart); store.Refused(err) == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("next task: Copy() = %v; want not started, with the refusal", err)
	}
	if n := dst.writes.Load(); n != 1 {
		t.Errorf("writes after the next task = %d; want still 1", n)
	}
	if store.Refused(e.Halted()) == nil {
		t.Errorf("Halted() = %v; want the refusal", e.Halted())
	}
}

// An error about one key that cannot succeed (an invalid name) is not
// retried, and does not stop the other objects.
func TestCopyInvalidKeyNotRetried(t *testing.T) {
	src := newSource(t, exportDay())
	bad := day + "event=purchase/part-00001.c000.snappy.parquet"
	var badWrites atomic.Int32
	dst := &refusingDest{dest: newDest(t), err: func(key string) error {
		if key == bad {
			badWrites.Add(1)
			return &os.PathError{Op: "open", Path: key, Err: syscall.ENAMETOOLONG}
		}
		return nil
	}}
	e := New(src, dst, Options{Attempts: 3})
	res, err := e.Copy(context.Background(), purchase)
	if err == nil || store.Refused(err) != nil || !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("Copy() = %v; want the one key's error, not a refusal", err)
	}
	if n := badWrites.Load(); n != 1 {
		t.Errorf("writes of the invalid key = %d; want 1 (not retried)", n)
	}
	if res.Copied != 2 || res.Failed != 1 {
		t.Errorf("result = %+v; want the other 2 objects copied, 1 failed", res)
	}
	if e.Halted() != nil {
		t.Errorf("Halted() = %v; want nil: one key does not stop the run", e.Halted())
	}
}

// Probe returns the destination's refusal before anything is copied and
// stops the engine; a destination that takes writes, a dry run and a probe
// error that is not a refusal let the run go on.
func TestProbe(t *testing.T) {
	for _, c := range []struct {
		name     string
		probeErr error
		dryRun   bool
		refused  bool
	}{
		{"writable", nil, false, false},
		{"refused", fmt.Errorf("probe: %w", readOnly("/ro/")), false, true},
		{"refused, dry run", readOnly("/ro/"), true, false},
		{"other error", errors.New("connection reset"), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := &refusingDest{dest: newDest(t), err: func(string) error { return nil }, probeErr: c.probeErr}
			e := New(newSource(t, exportDay()), dst, Options{DryRun: c.dryRun})
			err := e.Probe(context.Background())
			if got := store.Refused(err) != nil; got != c.refused || (err != nil) != c.refused {
				t.Errorf("Probe() = %v; want refused %v", err, c.refused)
			}
			if got := e.Halted() != nil; got != c.refused {
				t.Errorf("Halted() = %v; want stopped %v", e.Halted(), c.refused)
			}
			if dst.writes.Load() != 0 {
				t.Errorf("Probe wrote %d objects", dst.writes.Load())
			}
		})
	}
}
