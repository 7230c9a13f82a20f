package verify

import (
	"reflect"
	"testing"

	"github.com/e3sync/e3sync/pkg/export"
)

func TestRepairs(t *testing.T) {
	tests := []struct {
		kind         Kind
		force, prune bool
	}{
		// One row per line of Repairs' truth table.
		{Missing, false, false},
		{SizeMismatch, false, false},
		{ContentMismatch, true, false},
		{Extra, false, true},
		{FalseSuccess, false, true},
		{IncompleteSuccess, false, false},
	}
	for _, tt := range tests {
		if force, prune := Repairs(tt.kind); force != tt.force || prune != tt.prune {
			t.Errorf("Repairs(%s) = %v, %v, want %v, %v", tt.kind, force, prune, tt.force, tt.prune)
		}
	}
}

func TestReportRepair(t *testing.T) {
	if _, ok := (Report{}).Repair(); ok {
		t.Errorf("Repair() of an identical report = ok, want none")
	}
	rep := Report{Differences: []Difference{
		{Kind: Missing, Key: "type=events/date=2024-01-05/event=a/p"},
		{Kind: Extra, Key: "type=events/date=2024-01-03/event=a/q"},
		{Kind: SizeMismatch, Key: "type=events/date=2024-01-04/event=a/r"},
	}}
	want := Repair{Types: []export.Type{export.Events}, From: "2024-01-03", To: "2024-01-05", Prune: true}
	if got, ok := rep.Repair(); !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("Repair() = %+v, %v, want %+v", got, ok, want)
	}
	rep.Differences = append(rep.Differences, Difference{Kind: ContentMismatch, Key: "type=decisions/date=2024-01-02/experiment=1/p"})
	want = Repair{Types: []export.Type{export.Decisions, export.Events}, From: "2024-01-02", To: "2024-01-05", Force: true, Prune: true}
	if got, ok := rep.Repair(); !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("Repair() = %+v, %v, want %+v", got, ok, want)
	}
}
