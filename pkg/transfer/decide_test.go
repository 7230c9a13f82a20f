package transfer

import (
	"testing"

	"github.com/e3sync/e3sync/pkg/store"
)

func TestDecide(t *testing.T) {
	src := store.Object{Key: "k", Size: 10, ETag: `"new"`}
	same := &store.Object{Key: "k", Size: 10, ETag: `"dest-etag"`}
	// One row per line of the truth table in Decide's comment.
	tests := []struct {
		name       string
		dst        *store.Object
		recorded   string
		isRecorded bool
		want       Action
		wantReason string
	}{
		{"not in dest", nil, `"new"`, true, Copy, "missing"},
		{"size differs", &store.Object{Key: "k", Size: 9, ETag: `"dest-etag"`}, `"new"`, true, Copy, "size differs"},
		{"recorded ETag equals source", same, `"new"`, true, Skip, "up to date"},
		{"recorded ETag differs", same, `"old"`, true, Copy, "changed at the source"},
		{"no record", same, "", false, Check, "no record"},
	}
	for _, tt := range tests {
		got, reason := Decide(src, tt.dst, tt.recorded, tt.isRecorded)
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
