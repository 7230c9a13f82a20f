package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

func TestNeedsWork(t *testing.T) {
	// One row per line of the truth table in NeedsWork's comment; a "*"
	// column is set to the value that would otherwise change the answer.
	tests := []struct {
		f          Facts
		wantWork   bool
		wantReason string
	}{
		{Facts{Explicit: true, NewerThanDest: false, InLookback: false, SourceComplete: true, DestComplete: true}, true, "requested range"},
		{Facts{Explicit: false, NewerThanDest: true, InLookback: false, SourceComplete: true, DestComplete: true}, true, "new date"},
		{Facts{Explicit: false, NewerThanDest: false, InLookback: true, SourceComplete: true, DestComplete: true}, true, "look-back window"},
		{Facts{Explicit: false, NewerThanDest: false, InLookback: false, SourceComplete: true, DestComplete: false}, true, "_SUCCESS not yet mirrored"},
		{Facts{Explicit: false, NewerThanDest: false, InLookback: false, SourceComplete: true, DestComplete: true}, false, "complete"},
		{Facts{Explicit: false, NewerThanDest: false, InLookback: false, SourceComplete: false, DestComplete: true}, false, "old and still incomplete at the source"},
	}
	for _, tt := range tests {
		work, reason := NeedsWork(tt.f)
		if work != tt.wantWork || reason != tt.wantReason {
			t.Errorf("NeedsWork(%+v) = %v, %q, want %v, %q", tt.f, work, reason, tt.wantWork, tt.wantReason)
		}
	}
}

// newStore returns a directory store holding files, each a key relative to
// the root; _SUCCESS markers are empty, other files hold one byte.
func newStore(t *testing.T, files ...string) *store.Dir {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte("x")
		if filepath.Base(p) == export.SuccessMarker {
			data = nil
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// complete returns the files of a complete date: one file per partition
// and _SUCCESS.
func complete(typ, date string, parts ...string) []string {
	files := partial(typ, date, parts...)
	return append(files, "type="+typ+"/date="+date+"/_SUCCESS")
}

// partial returns the files of a date without _SUCCESS.
func partial(typ, date string, parts ...string) []string {
	var files []string
	for _, p := range parts {
		files = append(files, "type="+typ+"/date="+date+"/"+p+"/part-00000.parquet")
	}
	return files
}

func concat(lists ...[]string) []string { return slices.Concat(lists...) }

// taskNames renders tasks as "type/date/partition|complete" for comparison.
func taskNames(tasks []export.Task) []string {
	var out []string
	for _, t := range tasks {
		s := t.String()
		if t.SourceComplete {
			s += "|complete"
		}
		out = append(out, s)
	}
	return out
}

// dateNames renders planned dates as "type/date: reason".
func dateNames(dates []Date) []string {
	var out []string
	for _, d := range dates {
		out = append(out, string(d.Type)+"/"+d.Date+": "+d.Reason)
	}
	return out
}

var now = time.Date(2024, 1, 10, 15, 0, 0, 0, time.UTC)

func TestMakeFirstSync(t *testing.T) {
	src := newStore(t, concat(
		complete("events", "2024-01-01", "event=add to cart", "event=purchase"),
		partial("events", "2024-01-02", "event=purchase"),
		complete("decisions", "2024-01-01", "experiment=123"),
	)...)
	dst := newStore(t)
	p, err := Make(context.Background(), src, dst, Options{Types: export.AllTypes, Lookback: 3, Now: now, RunID: "run-1"})
	if err != nil {
		t.Fatalf("Make() error = %v", err)
	}
	wantDates := []string{
		"decisions/2024-01-01: new date",
		"events/2024-01-01: new date",
		"events/2024-01-02: new date",
	}
	if got := dateNames(p.Dates); !slices.Equal(got, wantDates) {
		t.Errorf("Make() dates = %q, want %q", got, wantDates)
	}
	wantTasks := []string{
		"decisions/2024-01-01/experiment=123|complete",
		"events/2024-01-01/event=add to cart|complete",
		"events/2024-01-01/event=purchase|complete",
		"events/2024-01-02/event=purchase",
	}
	if got := taskNames(p.Tasks); !slices.Equal(got, wantTasks) {
		t.Errorf("Make() tasks = %q, want %q", got, wantTasks)
	}
	for _, task := range p.Tasks {
		if task.RunID != "run-1" {
			t.Errorf("task %s RunID = %q, want %q", task, task.RunID, "run-1")
		}
		if err := task.Validate(); err != nil {
			t.Errorf("task %s: Validate() = %v", task, err)
		}
	}
}

func TestMakeIncremental(t *testing.T) {
	// Now is 2024-01-10 and the look-back is 3 days: 2024-01-07 onwards.
	src := newStore(t, concat(
		complete("events", "2024-01-01", "event=a"), // mirrored: complete
		complete("events", "2024-01-02", "event=a"), // _SUCCESS not mirrored yet
		partial("events", "2024-01-03", "event=a"),  // old, still incomplete at the source
		complete("events", "2024-01-08", "event=a"), // mirrored, in the look-back window
		complete("events", "2024-01-09", "event=a"), // newer than the newest mirrored date
		partial("events", "2024-01-10", "event=a"),  // today, no _SUCCESS yet
	)...)
	dst := newStore(t, concat(
		complete("events", "2024-01-01", "event=a"),
		partial("events", "2024-01-02", "event=a"),
		complete("events", "2024-01-08", "event=a"),
	)...)
	p, err := Make(context.Background(), src, dst, Options{Types: []export.Type{export.Events}, Lookback: 3, Now: now})
	if err != nil {
		t.Fatalf("Make() error = %v", err)
	}
	wantDates := []string{
		"events/2024-01-02: _SUCCESS not yet mirrored",
		"events/2024-01-08: look-back window",
		"events/2024-01-09: new date",
		"events/2024-01-10: new date",
	}
	if got := dateNames(p.Dates); !slices.Equal(got, wantDates) {
		t.Errorf("Make() dates = %q, want %q", got, wantDates)
	}
	wantTasks := []string{
		"events/2024-01-02/event=a|complete",
		"events/2024-01-08/event=a|complete",
		"events/2024-01-09/event=a|complete",
		"events/2024-01-10/event=a",
	}
	if got := taskNames(p.Tasks); !slices.Equal(got, wantTasks) {
		t.Errorf("Make() tasks = %q, want %q", got, wantTasks)
	}
	for _, d := range p.Dates {
		wantDest := d.Date == "2024-01-08"
		if d.DestComplete != wantDest {
			t.Errorf("date %s DestComplete = %v, want %v", d.Date, d.DestComplete, wantDest)
		}
	}
	if got := p.NewestComplete[export.Events]; got != "2024-01-08" {
		t.Errorf("Make().NewestComplete[events] = %q, want %q", got, "2024-01-08")
	}

	// Lookback 0 covers today only: 2024-01-08 is then complete and skipped.
	p, err = Make(context.Background(), src, dst, Options{Types: []export.Type{export.Events}, Lookback: 0, Now: now})
	if err != nil {
		t.Fatalf("Make(lookback 0) error = %v", err)
	}
	wantDates = []string{
		"events/2024-01-02: _SUCCESS not yet mirrored",
		"events/2024-01-09: new date",
		"events/2024-01-10: new date",
	}
	if got := dateNames(p.Dates); !slices.Equal(got, wantDates) {
		t.Errorf("Make(lookback 0) dates = %q, want %q", got, wantDates)
	}
}

func TestMakeExplicitRange(t *testing.T) {
	var files []string
	for _, d := range []string{"2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"} {
		files = append(files, complete("events", d, "event=a")...)
	}
	src := newStore(t, files...)
	dst := newStore(t, files...) // everything already mirrored
	tests := []struct {
		from, to string
		want     []string
	}{
		{"2024-01-02", "2024-01-03", []string{"events/2024-01-02/event=a|complete", "events/2024-01-03/event=a|complete"}},
		{"2024-01-03", "2024-01-03", []string{"events/2024-01-03/event=a|complete"}},
		{"2024-01-03", "", []string{"events/2024-01-03/event=a|complete", "events/2024-01-04/event=a|complete"}},
		{"", "2024-01-01", []string{"events/2024-01-01/event=a|complete"}},
		{"2023-12-01", "2023-12-31", nil},
	}
	for _, tt := range tests {
		p, err := Make(context.Background(), src, dst, Options{Types: []export.Type{export.Events}, From: tt.from, To: tt.to, Lookback: 3, Now: now})
		if err != nil {
			t.Errorf("Make(from %q, to %q) error = %v", tt.from, tt.to, err)
			continue
		}
		if got := taskNames(p.Tasks); !slices.Equal(got, tt.want) {
			t.Errorf("Make(from %q, to %q) tasks = %q, want %q", tt.from, tt.to, got, tt.want)
		}
		for _, d := range p.Dates {
			if d.Reason != "requested range" {
				t.Errorf("Make(from %q, to %q) date %s reason = %q, want %q", tt.from, tt.to, d.Date, d.Reason, "requested range")
			}
		}
	}
}

func TestMakePartitionsFilter(t *testing.T) {
	src := newStore(t, concat(
		complete("events", "2024-01-01", "event=a", "event=b", "event=add to cart"),
		[]string{"type=events/date=2024-01-01/loose.parquet"},
		complete("events", "2024-01-02", "event=b"),
	)...)
	p, err := Make(context.Background(), src, newStore(t), Options{
		Types: []export.Type{export.Events}, Partitions: []string{"event=a", "event=add to cart"}, Now: now,
	})
	if err != nil {
		t.Fatalf("Make() error = %v", err)
	}
	want := []string{"events/2024-01-01/event=a|complete", "events/2024-01-01/event=add to cart|complete"}
	if got := taskNames(p.Tasks); !slices.Equal(got, want) {
		t.Errorf("Make(partitions) tasks = %q, want %q", got, want)
	}
	for _, d := range p.Dates {
		wantParts := map[string]int{"2024-01-01": 2, "2024-01-02": 0}[d.Date]
		if d.Partitions != wantParts {
			t.Errorf("Make(partitions) date %s Partitions = %d, want %d", d.Date, d.Partitions, wantParts)
		}
	}
}

func TestMakeDateLevelTasks(t *testing.T) {
	src := newStore(t, concat(
		[]string{"type=events/date=2024-01-01/_SUCCESS"}, // an empty day
		[]string{"type=events/date=2024-01-02/part-00000.parquet", "type=events/date=2024-01-02/_SUCCESS"},
		complete("events", "2024-01-03", "event=a"),
		[]string{"type=events/date=2024-01-03/part-00000.parquet"},
		complete("events", "2024-01-04", "event=a"),
	)...)
	p, err := Make(context.Background(), src, newStore(t), Options{Types: []export.Type{export.Events}, Now: now})
	if err != nil {
		t.Fatalf("Make() error = %v", err)
	}
	want := []string{
		"events/2024-01-01|complete",
		"events/2024-01-02|complete",
		"events/2024-01-03/event=a|complete",
		"events/2024-01-03|complete",
		"events/2024-01-04/event=a|complete",
	}
	if got := taskNames(p.Tasks); !slices.Equal(got, want) {
		t.Errorf("Make() tasks = %q, want %q", got, want)
	}
	for _, task := range p.Tasks {
		if task.Date != "2024-01-03" && task.Date != "2024-01-04" && task.Partition != "" {
			t.Errorf("task %s Partition = %q, want a date-level task", task, task.Partition)
		}
	}
}

func TestMakeIgnoresOtherFolders(t *testing.T) {
	src := newStore(t, concat(
		complete("events", "2024-01-01", "event=a"),
		[]string{
			"type=events/_temporary/0/part-00000.parquet",
			"type=events/date=latest/event=a/part-00000.parquet",
			"type=events/date=2024-13-01/event=a/part-00000.parquet",
			"type=events/dt=2024-01-02/event=a/part-00000.parquet",
			"type=events/README.txt",
			"type=conversions/date=2024-01-01/part-00000.parquet",
			"other/date=2024-01-01/part-00000.parquet",
		},
	)...)
	dst := newStore(t, "_e3sync/state/type=events/date=2024-01-05/event=a/_manifest.json")
	p, err := Make(context.Background(), src, dst, Options{Types: export.AllTypes, Now: now})
	if err != nil {
		t.Fatalf("Make() error = %v", err)
	}
	want := []string{"events/2024-01-01/event=a|complete"}
	if got := taskNames(p.Tasks); !slices.Equal(got, want) {
		t.Errorf("Make() tasks = %q, want %q", got, want)
	}
	if got := dateNames(p.Dates); !slices.Equal(got, []string{"events/2024-01-01: new date"}) {
		t.Errorf("Make() dates = %q, want one new events date", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := Options{Types: []export.Type{export.Events}, Lookback: 3}
	tests := []struct {
		name string
		o    Options
		want []string // substrings of the error; nil for no error
	}{
		{"valid", ok, nil},
		{"valid range", Options{Types: export.AllTypes, From: "2024-01-01", To: "2024-01-01"}, nil},
		{"no types", Options{}, []string{"no export types"}},
		{"invalid type", Options{Types: []export.Type{"con/versions"}}, []string{`"con/versions"`}},
		{"negative lookback", Options{Types: export.AllTypes, Lookback: -1}, []string{"look-back -1"}},
		{"bad from", Options{Types: export.AllTypes, From: "2024-1-1"}, []string{`"2024-1-1"`}},
		{"bad to", Options{Types: export.AllTypes, To: "tomorrow"}, []string{`"tomorrow"`}},
		{"from after to", Options{Types: export.AllTypes, From: "2024-02-01", To: "2024-01-31"}, []string{"from 2024-02-01 is after to 2024-01-31"}},
		{"all at once", Options{Types: []export.Type{export.Events, "Bogus"}, Lookback: -2, From: "2024-02-30"},
			[]string{`"Bogus"`, "look-back -2", `"2024-02-30"`}},
		{"all at once, range reversed", Options{Types: []export.Type{"Bogus"}, Lookback: -2, From: "2024-02-02", To: "2024-02-01"},
			[]string{`"Bogus"`, "look-back -2", "from 2024-02-02 is after to 2024-02-01"}},
	}
	for _, tt := range tests {
		err := tt.o.Validate()
		if tt.want == nil {
			if err != nil {
				t.Errorf("Validate(%s) = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Validate(%s) = nil, want error naming %q", tt.name, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%s) = %q, want it to contain %q", tt.name, err, w)
			}
		}
		// Make refuses the same options before listing anything.
		if _, merr := Make(context.Background(), failingLister{}, failingLister{}, tt.o); merr == nil || errors.Is(merr, errList) {
			t.Errorf("Make(%s) = %v, want the options error", tt.name, merr)
		}
	}
}

var errList = errors.New("list failed")

// failingLister fails every List call.
type failingLister struct{}

func (failingLister) List(context.Context, string, bool) (store.Listing, error) {
	return store.Listing{}, errList
}

func TestMakeListErrors(t *testing.T) {
	good := newStore(t, complete("events", "2024-01-01", "event=a")...)
	tests := []struct {
		name     string
		src, dst Lister
	}{
		{"source", failingLister{}, good},
		{"destination", good, failingLister{}},
	}
	for _, tt := range tests {
		_, err := Make(context.Background(), tt.src, tt.dst, Options{Types: []export.Type{export.Events}, Now: now})
		if !errors.Is(err, errList) || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("Make(failing %s) = %v, want an error naming the %s and wrapping %v", tt.name, err, tt.name, errList)
		}
	}
}
