package transfer

import (
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/store"
)

func TestDecide(t *testing.T) {
	src := store.Object{Key: "k", Size: 10, ETag: `"new"`}
	same := &store.Object{Key: "k", Size: 10, ETag: `"dest-etag"`}
	other := &store.Object{Key: "k", Size: 9, ETag: `"dest-etag"`}
	force := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	before, since := force.Add(-time.Hour), force.Add(time.Hour)
	// One row per line of the truth table in Decide's comment, then the
	// rows a force that does not apply falls through to.
	tests := []struct {
		name       string
		f          Facts
		want       Action
		wantReason string
	}{
		{"forced, no record", Facts{Dest: same, ForceBefore: force}, Copy, "forced"},
		{"forced, copied before", Facts{Dest: same, Recorded: true, RecordedETag: `"new"`, CopiedAt: before, ForceBefore: force}, Copy, "forced"},
		{"not in dest", Facts{}, Copy, "missing"},
		{"size differs", Facts{Dest: other, Recorded: true, RecordedETag: `"new"`}, Copy, "size differs"},
		{"recorded ETag equals source", Facts{Dest: same, Recorded: true, RecordedETag: `"new"`}, Skip, "up to date"},
		{"recorded ETag differs", Facts{Dest: same, Recorded: true, RecordedETag: `"old"`}, Copy, "changed at the source"},
		{"no record", Facts{Dest: same}, Check, "no record"},

		{"forced, not in dest", Facts{ForceBefore: force}, Copy, "forced"},
		{"forced, found there (no copy time)", Facts{Dest: same, Recorded: true, RecordedETag: `"new"`, ForceBefore: force}, Copy, "forced"},
		{"forced, copied since, up to date", Facts{Dest: same, Recorded: true, RecordedETag: `"new"`, CopiedAt: since, ForceBefore: force}, Skip, "up to date"},
		{"forced, copied since, changed", Facts{Dest: same, Recorded: true, RecordedETag: `"old"`, CopiedAt: since, ForceBefore: force}, Copy, "changed at the source"},
		{"forced, copied at the force time", Facts{Dest: same, Recorded: true, RecordedETag: `"new"`, CopiedAt: force, ForceBefore: force}, Skip, "up to date"},
		{"not forced, copied long ago", Facts{Dest: same, Recorded: true, RecordedETag: `"new"`, CopiedAt: before}, Skip, "up to date"},
	}
	for _, tt := range tests {
		got, reason := Decide(src, tt.f)
		if got != tt.want || reason != tt.wantReason {
			t.Errorf("Decide(%s) = %v, %q, want %v, %q", tt.name, got, reason, tt.want, tt.wantReason)
		}
	}
}

func TestDecideChecked(t *testing.T) {
	src := store.Object{Key: "k", Size: 10, ETag: `"abc-2"`}
	// One row per line of DecideChecked's truth table; "differs or absent"
	// gets a row for each.
	tests := []struct {
		name string
		meta map[string]string
		want Action
	}{
		{"equals", map[string]string{MetaSourceETag: `"abc-2"`}, Skip},
		{"differs", map[string]string{MetaSourceETag: `"abc-1"`}, Copy},
		{"absent", map[string]string{"other": `"abc-2"`}, Copy},
	}
	for _, tt := range tests {
		if got, _ := DecideChecked(src, tt.meta); got != tt.want {
			t.Errorf("DecideChecked(%s: %v) = %v, want %v", tt.name, tt.meta, got, tt.want)
		}
	}
}

func TestActionString(t *testing.T) {
	tests := []struct {
		a    Action
		want string
	}{
		{Skip, "skip"}, {Copy, "copy"}, {Check, "check"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("Action(%d).String() = %q, want %q", tt.a, got, tt.want)
		}
	}
}
