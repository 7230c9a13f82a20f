package job

import (
	"context"
	"log/slog"
	"time"

	"github.com/e3sync/e3sync/pkg/runlog"
)

// recordTimeout bounds writing the run record: against a destination that
// stopped answering, the run has failed already and must not wait out
// another request's timeouts.
const recordTimeout = 30 * time.Second

// record writes the run's record (package runlog) into the destination, for
// `e3sync status`. A failure is logged, not the run's: the data is copied.
func (j *Job) record(ctx context.Context, s Summary, log *slog.Logger) {
	rctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	err := runlog.Put(rctx, j.Dest, runlog.Record{
		RunID: s.RunID, Origin: runlog.OriginCLI,
		Counts: runlog.Counts{
			Tasks: s.Tasks, TasksFailed: s.TasksFailed,
			ObjectsCopied: s.ObjectsCopied, ObjectsSkipped: s.ObjectsSkipped, ObjectsFailed: s.ObjectsFailed,
			BytesCopied: s.BytesCopied, DatesCompleted: s.DatesCompleted,
		},
	})
	if err != nil {
		log.WarnContext(ctx, "run record not written", "error", err.Error())
	}
}
