package transfer

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// On a file system that takes names differing only in case for one (the
// rules of macOS and Windows, set on a Linux directory), keys that would
// merge are reported by name before anything of their task is written:
// sub-partitions of two tasks, and objects of one task.
func TestCopyNamesThatWouldMerge(t *testing.T) {
	src := newSource(t, map[string]string{
		day + "_SUCCESS": "",
		day + "event=Purchase/part-00000.parquet": "upper",
		day + "event=purchase/part-00000.parquet": "lower",
		day + "event=cart/part-A.parquet":         "A",
		day + "event=cart/part-a.parquet":         "a",
		day + "event=ok./part-0.parquet":          "dot",
	})
	dst := newDest(t)
	dst.SetNameRules(store.NameRules{FoldsCase: true})
	e := New(src, dst, Options{})
	task := func(p string) export.Task {
		return export.Task{Type: export.Events, Date: "2024-01-02", Partition: p, SourceComplete: true}
	}

	if res, err := e.Copy(context.Background(), task("event=Purchase")); err != nil || res.Copied != 1 {
		t.Fatalf("Copy(event=Purchase) = %+v, %v; want 1 copied", res, err)
	}
	res, err := e.Copy(context.Background(), task("event=purchase"))
	var ne *store.NameError
	if !errors.As(err, &ne) || !slices.Equal(ne.Keys, []string{day + "event=Purchase/", day + "event=purchase/"}) || res.Copied != 0 {
		t.Errorf("Copy(event=purchase) = %+v, %v; want a NameError naming both folders, nothing copied", res, err)
	}
	res, err = e.Copy(context.Background(), task("event=cart"))
	if !errors.As(err, &ne) || !slices.Equal(ne.Keys, []string{day + "event=cart/part-A.parquet", day + "event=cart/part-a.parquet"}) || res.Copied != 0 {
		t.Errorf("Copy(event=cart) = %+v, %v; want a NameError naming both keys, nothing copied", res, err)
	}
	if !strings.Contains(err.Error(), "differ only in letter case") || !strings.Contains(err.Error(), "sync them to an S3 bucket") {
		t.Errorf("error %q does not say what is wrong and what to do", err)
	}
	want := map[string]string{day + "event=Purchase/part-00000.parquet": "upper"}
	if got := dst.dataFiles(t); !maps.Equal(got, want) {
		t.Errorf("destination = %v, want only %v", got, want)
	}
	if c, err := e.Finalize(context.Background(), export.Events, "2024-01-02"); c == Completed || err != nil {
		t.Errorf("Finalize() = %v, %v; want the date not complete", c, err)
	}

	// Windows' rules: a trailing dot.
	dst.SetNameRules(store.NameRules{FoldsCase: true, Windows: true})
	if _, err := e.Copy(context.Background(), task("event=ok.")); !errors.As(err, &ne) || !strings.Contains(err.Error(), "ends in a dot") {
		t.Errorf("Copy(event=ok.) = %v; want a NameError", err)
	}
}
