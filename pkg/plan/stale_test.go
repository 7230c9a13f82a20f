package plan

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
)

// A sub-partition or date-level file only the destination has, in a date
// the source still lists, gets a task (its objects are stale); a date only
// the destination has gets none (it is kept). ForceBefore reaches every task.
func TestMakeDestinationOnlySubPartitions(t *testing.T) {
	src := newStore(t, concat(
		complete("events", "2024-01-08", "event=new"),
	)...)
	dst := newStore(t, concat(
		complete("events", "2024-01-08", "event=new", "event=old"),
		[]string{"type=events/date=2024-01-08/loose.parquet"},
		complete("events", "2024-01-01", "event=vanished"), // gone from the source
	)...)
	force := time.Date(2024, 1, 10, 15, 0, 0, 0, time.UTC)
	p, err := Make(context.Background(), src, dst, Options{Types: []export.Type{export.Events}, Now: now, Lookback: 3, ForceBefore: force})
	if err != nil {
		t.Fatalf("Make() error = %v", err)
	}
	want := []string{
		"events/2024-01-08/event=new|complete",
		"events/2024-01-08/event=old|complete",
		"events/2024-01-08|complete",
	}
	if got := taskNames(p.Tasks); !slices.Equal(got, want) {
		t.Errorf("Make() tasks = %q, want %q", got, want)
	}
	for _, task := range p.Tasks {
		if !task.ForceBefore.Equal(force) {
			t.Errorf("task %s ForceBefore = %v, want %v", task, task.ForceBefore, force)
		}
	}
}
