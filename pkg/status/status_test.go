package status

import (
	"context"
	"testing"
	"time"

	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/store"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		f        Facts
		complete bool
		why      Reason
	}{
		// src checked | in source | src _SUCCESS | missing | dst _SUCCESS
		{Facts{SourceChecked: false, DestComplete: false}, false, SourceNotChecked},
		{Facts{SourceChecked: false, DestComplete: true}, true, ""},
		{Facts{SourceChecked: true, InSource: false, DestComplete: false}, false, GoneFromSource},
		{Facts{SourceChecked: true, InSource: false, DestComplete: true}, true, ""},
		{Facts{SourceChecked: true, InSource: true, SourceComplete: false, Missing: 2, DestComplete: false}, false, NoSourceSuccess},
		{Facts{SourceChecked: true, InSource: true, SourceComplete: false, DestComplete: true}, false, FalseSuccess},
		{Facts{SourceChecked: true, InSource: true, SourceComplete: true, Missing: 1, DestComplete: true}, false, ObjectsMissing},
		{Facts{SourceChecked: true, InSource: true, SourceComplete: true, Missing: 0, DestComplete: false}, false, SuccessNotMirrored},
		{Facts{SourceChecked: true, InSource: true, SourceComplete: true, Missing: 0, DestComplete: true}, true, ""},
	} {
		complete, why := Classify(c.f)
		if complete != c.complete || why != c.why {
			t.Errorf("Classify(%+v) = %v, %q; want %v, %q", c.f, complete, why, c.complete, c.why)
		}
	}
}

func newDir(t *testing.T, files map[string]string) *store.Dir {
	d, _ := fixture.Dir(t, files)
	return d
}

// One date of each kind, for events; decisions complete and in sync.
var (
	now    = time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC) // window from 2024-01-07
	source = map[string]string{
		"type=decisions/date=2024-01-08/experiment=1/part-0.parquet": "d",
		"type=decisions/date=2024-01-08/_SUCCESS":                    "",
		// old and complete on both sides (not compared)
		"type=events/date=2024-01-01/event=a/part-0.parquet": "a",
		"type=events/date=2024-01-01/_SUCCESS":               "",
		// old, complete at the source, _SUCCESS not mirrored
		"type=events/date=2024-01-02/event=a/part-0.parquet": "a",
		"type=events/date=2024-01-02/_SUCCESS":               "",
		// in the window, complete on both sides, one object missing, one stale
		"type=events/date=2024-01-08/event=a/part-0.parquet": "a",
		"type=events/date=2024-01-08/event=a/part-1.parquet": "a1",
		"type=events/date=2024-01-08/_SUCCESS":               "",
		// in the window, complete and identical
		"type=events/date=2024-01-09/event=a/part-0.parquet": "a",
		"type=events/date=2024-01-09/_SUCCESS":               "",
		// today: no source _SUCCESS yet, not copied at all
		"type=events/date=2024-01-10/event=a/part-0.parquet": "a",
		"type=events/date=2024-01-10/event=b/part-0.parquet": "b",
	}
	dest = map[string]string{
		"type=decisions/date=2024-01-08/experiment=1/part-0.parquet": "d",
		"type=decisions/date=2024-01-08/_SUCCESS":                    "",
		"type=events/date=2024-01-01/event=a/part-0.parquet":         "a",
		"type=events/date=2024-01-01/event=a/stale-but-old.parquet":  "x", // not compared: old and complete
		"type=events/date=2024-01-01/_SUCCESS":                       "",
		"type=events/date=2024-01-02/event=a/part-0.parquet":         "a",
		"type=events/date=2024-01-08/event=a/part-0.parquet":         "a",
		"type=events/date=2024-01-08/event=a/part-old.parquet":       "rewritten away",
		"type=events/date=2024-01-08/_SUCCESS":                       "",
		"type=events/date=2024-01-09/event=a/part-0.parquet":         "a",
		"type=events/date=2024-01-09/_SUCCESS":                       "",
		// a date the source no longer has, never completed
		"type=events/date=2023-12-01/event=a/part-0.parquet": "a",
		// bookkeeping is not data
		"_e3sync/state/type=events/date=2024-01-09/event=a/_manifest.json": "{}",
	}
)

func TestCheckWithSource(t *testing.T) {
	ctx := context.Background()
	src, dst := newDir(t, source), newDir(t, dest)
	r, err := Check(ctx, src, dst, "dst", Options{Lookback: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !r.SourceChecked || r.WindowStart != "2024-01-07" || len(r.Types) != 2 || r.LastRun != nil {
		t.Fatalf("report = %+v; want source checked, window from 2024-01-07, two types, no run", r)
	}
	dec, ev := r.Types[0], r.Types[1]
	if dec.Type != export.Decisions || dec.NewestComplete != "2024-01-08" || len(dec.Incomplete) != 0 || *dec.StaleObjects != 0 || dec.DatesChecked != 1 {
		t.Errorf("decisions = %+v; want newest 2024-01-08, none incomplete, 0 stale, 1 checked", dec)
	}
	if ev.NewestComplete != "2024-01-09" || ev.DatesComplete != 3 || *ev.StaleObjects != 1 {
		t.Errorf("events: newest %s, %d complete, %d stale; want 2024-01-09, 3, 1", ev.NewestComplete, ev.DatesComplete, *ev.StaleObjects)
	}
	// 2023-12-01, 2024-01-02 (not complete); 2024-01-08, -09, -10 (window)
	if ev.DatesChecked != 5 {
		t.Errorf("events: %d dates compared, want 5", ev.DatesChecked)
	}
	want := []struct {
		date           string
		why            Reason
		missing, stale int
	}{
		{"2023-12-01", GoneFromSource, 0, 0}, // kept, never stale
		{"2024-01-02", SuccessNotMirrored, 0, 0},
		{"2024-01-08", ObjectsMissing, 1, 1},
		{"2024-01-10", NoSourceSuccess, 2, 0},
	}
	if len(ev.Incomplete) != len(want) {
		t.Fatalf("events incomplete = %+v; want %d dates", ev.Incomplete, len(want))
	}
	for i, w := range want {
		g := ev.Incomplete[i]
		if g.Date != w.date || g.Reason != w.why || *g.ObjectsMissing != w.missing || *g.StaleObjects != w.stale {
			t.Errorf("incomplete[%d] = %s %q missing %d stale %d; want %s %q missing %d stale %d",
				i, g.Date, g.Reason, *g.ObjectsMissing, *g.StaleObjects, w.date, w.why, w.missing, w.stale)
		}
	}
}

func TestCheckDestinationOnly(t *testing.T) {
	ctx := context.Background()
	dst := newDir(t, dest)
	if err := runlog.Put(ctx, dst, runlog.Record{RunID: "20240110T063000Z-aaaa", Origin: runlog.OriginCLI,
		Finished: now, Counts: runlog.Counts{Tasks: 4, ObjectsCopied: 7}}); err != nil {
		t.Fatal(err)
	}
	r, err := Check(ctx, nil, dst, "dst", Options{Types: []export.Type{export.Events}, Lookback: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if r.SourceChecked || len(r.Types) != 1 {
		t.Fatalf("report = %+v; want the source not checked, one type", r)
	}
	ev := r.Types[0]
	if ev.NewestComplete != "2024-01-09" || ev.StaleObjects != nil || ev.DatesChecked != 0 {
		t.Errorf("events = %+v; want newest 2024-01-09, stale unknown, nothing compared", ev)
	}
	var dates []string
	for _, d := range ev.Incomplete {
		if d.Reason != SourceNotChecked || d.ObjectsMissing != nil {
			t.Errorf("%s: %q, missing %v; want %q, unknown", d.Date, d.Reason, d.ObjectsMissing, SourceNotChecked)
		}
		dates = append(dates, d.Date)
	}
	if len(dates) != 2 || dates[0] != "2023-12-01" || dates[1] != "2024-01-02" {
		t.Errorf("incomplete dates %v; want the destination's dates without _SUCCESS: 2023-12-01, 2024-01-02", dates)
	}
	if r.LastRun == nil || r.LastRun.RunID != "20240110T063000Z-aaaa" || r.LastRun.ObjectsCopied != 7 {
		t.Errorf("last run = %+v; want the recorded run", r.LastRun)
	}
}
