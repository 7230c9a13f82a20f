package plan

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
)

// A type= folder e3sync does not know is reported, not copied, unless it is
// asked for; a type asked for that the export does not have is an error.
func TestUnknownExportTypes(t *testing.T) {
	src := newStore(t,
		"type=decisions/date=2024-01-05/experiment=1/part-0.parquet",
		"type=events/date=2024-01-05/event=a/part-0.parquet",
		"type=decisions-rerun/date=2024-01-05/experiment=1/part-0.parquet",
		"type=decisions-rerun/date=2024-01-05/_SUCCESS",
		"type=clicks/date=2024-01-05/x/part-0.parquet",
		"README.txt",
	)
	dst := newStore(t)
	now := time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()

	p, err := Make(ctx, src, dst, Options{Types: export.AllTypes, Lookback: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"clicks", "decisions-rerun"}; !slices.Equal(p.UnknownTypes, want) {
		t.Errorf("UnknownTypes = %q, want %q", p.UnknownTypes, want)
	}
	for _, task := range p.Tasks {
		if !export.Known(task.Type) {
			t.Errorf("task %s planned for a type not asked for", task)
		}
	}

	p, err = Make(ctx, src, dst, Options{Types: []export.Type{"decisions-rerun"}, Lookback: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := []export.Task{{Type: "decisions-rerun", Date: "2024-01-05", Partition: "experiment=1", SourceComplete: true}}
	if !slices.Equal(p.Tasks, want) {
		t.Errorf("tasks for --types decisions-rerun = %+v, want %+v", p.Tasks, want)
	}
	if want := []string{"clicks"}; !slices.Equal(p.UnknownTypes, want) {
		t.Errorf("UnknownTypes = %q, want %q (decisions-rerun is synced)", p.UnknownTypes, want)
	}

	_, err = Make(ctx, src, dst, Options{Types: []export.Type{export.Events, "conversions"}, Lookback: 3, Now: now})
	if !errors.Is(err, ErrTypeNotInExport) || !strings.Contains(err.Error(), `"conversions"`) || !strings.Contains(err.Error(), "decisions-rerun") {
		t.Errorf("Make(conversions) error = %v, want it to name the type and what the export has", err)
	}
}
