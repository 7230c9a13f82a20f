package verify

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

const (
	a1 = "type=events/date=2024-01-01/event=a/part-0.parquet"
	a2 = "type=events/date=2024-01-01/event=b c/part-0.parquet"
	s1 = "type=events/date=2024-01-01/_SUCCESS"
	b1 = "type=events/date=2024-01-02/event=a/part-0.parquet"
	d1 = "type=decisions/date=2024-01-01/experiment=1/part-0.parquet"
)

func dir(t *testing.T, files map[string]string) *store.Dir {
	t.Helper()
	root := t.TempDir()
	for k, v := range files {
		p := filepath.Join(root, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// with returns a copy of m with the changes applied; "" deletes.
func with(m map[string]string, changes ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == "\x00delete" {
			delete(out, changes[i])
		} else {
			out[changes[i]] = changes[i+1]
		}
	}
	return out
}

const del = "\x00delete"

func TestCompare(t *testing.T) {
	source := map[string]string{a1: "aaaa", a2: "bbbbbb", s1: "", b1: "cc", d1: "dddd"}
	type diff struct {
		kind Kind
		key  string
	}
	tests := []struct {
		name string
		src  map[string]string
		dst  map[string]string
		opts Options
		want []diff
	}{
		{"identical", source, source, Options{}, nil},
		{"identical, with e3sync state beside", source, with(source, "_e3sync/state/type=events/date=2024-01-01/event=a/_manifest.json", "{}"), Options{}, nil},
		{"missing object, and the _SUCCESS is premature", source, with(source, a2, del), Options{},
			[]diff{{IncompleteSuccess, s1}, {Missing, a2}}},
		{"missing object of an incomplete date", source, with(source, b1, del), Options{}, []diff{{Missing, b1}}},
		{"missing _SUCCESS", source, with(source, s1, del), Options{}, []diff{{Missing, s1}}},
		{"extra object", source, with(source, "type=events/date=2024-01-02/event=z/part-9.parquet", "zz"), Options{},
			[]diff{{Extra, "type=events/date=2024-01-02/event=z/part-9.parquet"}}},
		// A date the source no longer has is kept on purpose (retention):
		// retained, not a difference (TestCompareRetainedDates).
		{"date only in the destination", source, with(source, "type=events/date=2023-12-31/event=z/p", "zz"), Options{}, nil},
		{"size mismatch", source, with(source, b1, "ccc"), Options{}, []diff{{SizeMismatch, b1}}},
		{"content mismatch, same size, under _SUCCESS", source, with(source, a1, "aaab"), Options{},
			[]diff{{IncompleteSuccess, s1}, {ContentMismatch, a1}}},
		{"content not compared when skipped", source, with(source, a1, "aaab"), Options{SkipContent: true}, nil},
		{"false _SUCCESS", source, with(source, "type=events/date=2024-01-02/_SUCCESS", ""), Options{},
			[]diff{{FalseSuccess, "type=events/date=2024-01-02/_SUCCESS"}}},
		{"outside the date range", source, with(source, b1, del), Options{From: "2024-01-01", To: "2024-01-01"}, nil},
		{"inside the date range", source, with(source, b1, del), Options{From: "2024-01-02"}, []diff{{Missing, b1}}},
		{"other type filtered out", source, with(source, d1, del), Options{Types: []export.Type{export.Events}}, nil},
		{"other type", source, with(source, d1, "xxxx"), Options{Types: []export.Type{export.Decisions}}, []diff{{ContentMismatch, d1}}},
		{"empty destination", source, map[string]string{}, Options{Types: []export.Type{export.Events}, SkipContent: true},
			[]diff{{Missing, s1}, {Missing, a1}, {Missing, a2}, {Missing, b1}}},
		{"zero-byte objects", with(source, a1, ""), with(source, a1, ""), Options{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Compare(context.Background(), dir(t, tt.src), dir(t, tt.dst), tt.opts)
			if err != nil {
				t.Fatalf("Compare() error = %v", err)
			}
			var got []diff
			for _, d := range rep.Differences {
				got = append(got, diff{d.Kind, d.Key})
			}
			sortDiffs := func(ds []diff) {
				for i := range ds {
					for j := i + 1; j < len(ds); j++ {
						if ds[j].key+string(ds[j].kind) < ds[i].key+string(ds[i].kind) {
							ds[i], ds[j] = ds[j], ds[i]
						}
					}
				}
			}
			sortDiffs(got)
			sortDiffs(tt.want)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Compare() differences = %v, want %v", got, tt.want)
			}
			if rep.Identical() != (len(tt.want) == 0) {
				t.Errorf("Identical() = %v with %d differences", rep.Identical(), len(tt.want))
			}
		})
	}
}

func TestCompareCountsAndHashes(t *testing.T) {
	src := dir(t, map[string]string{a1: "aaaa", a2: "bbbbbb", s1: ""})
	dst := dir(t, map[string]string{a1: "aaaa", a2: "bbbbbX", s1: ""})
	rep, err := Compare(context.Background(), src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ObjectsCompared != 2 || rep.BytesCompared != 10 || !reflect.DeepEqual(rep.Dates, []string{"events/2024-01-01"}) {
		t.Errorf("report = %+v, want 2 objects, 10 bytes, one date", rep)
	}
	var cm *Difference
	for i := range rep.Differences {
		if rep.Differences[i].Kind == ContentMismatch {
			cm = &rep.Differences[i]
		}
	}
	if cm == nil || cm.SourceSHA256 == cm.DestSHA256 || len(cm.SourceSHA256) != 64 || cm.SourceSize != 6 {
		t.Errorf("content mismatch = %+v, want two different SHA-256 digests of 6 bytes", cm)
	}
}

func TestCompareRejectsBadRange(t *testing.T) {
	src := dir(t, nil)
	for _, o := range []Options{{From: "2024-02-01", To: "2024-01-01"}, {From: "2024-1-1"}, {To: "../x"}} {
		if _, err := Compare(context.Background(), src, src, o); err == nil {
			t.Errorf("Compare(%+v) = nil error, want one", o)
		}
	}
}

// Dates the source no longer lists are reported as retained, never compared.
func TestCompareRetainedDates(t *testing.T) {
	src := dir(t, map[string]string{a1: "aaaa"})
	dst := dir(t, map[string]string{a1: "aaaa", "type=events/date=2023-12-31/event=z/p": "zz", "type=events/date=2023-12-31/_SUCCESS": "",
		"type=decisions/date=2023-12-30/experiment=1/p": "d"})
	rep, err := Compare(context.Background(), src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"decisions/2023-12-30", "events/2023-12-31"}
	if !rep.Identical() || !reflect.DeepEqual(rep.RetainedDates, want) || !reflect.DeepEqual(rep.Dates, []string{"events/2024-01-01"}) {
		t.Errorf("Compare() = %+v, want identical, dates [events/2024-01-01], retained %v", rep, want)
	}
}
