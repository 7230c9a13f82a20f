package pipeline

import (
	"context"
	"log/slog"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// record writes the run record of one task invocation (RecordTask).
func (c *Copier) record(ctx context.Context, t export.Task, out Outcome, taskErr error) {
	if c.Runs != nil {
		RecordTask(ctx, c.Runs, c.logger(), t, out, taskErr)
	}
}

// RecordTask writes one run record (package runlog) for a task invocation,
// for `e3sync status`: the copier's after each task, and the copier
// function's for a task that failed before a Copier existed (the credential
// exchange). A failure is logged, not the task's: the data is copied.
func RecordTask(ctx context.Context, w runlog.Writer, log *slog.Logger, t export.Task, out Outcome, taskErr error) {
	n := runlog.Counts{
		Tasks: 1, ObjectsCopied: out.Result.Copied, ObjectsSkipped: out.Result.Skipped,
		ObjectsFailed: out.Result.Failed, BytesCopied: out.Result.Bytes,
	}
	switch {
	case taskErr != nil:
		n.TasksFailed = 1
	case out.Continued:
		n.TasksContinued = 1
	}
	if out.Completion == transfer.Completed.String() {
		n.DatesCompleted = 1
	}
	err := runlog.Put(ctx, w, runlog.Record{RunID: t.RunID, Origin: runlog.OriginCopier, Task: t.String(), Counts: n})
	if err != nil {
		log.WarnContext(ctx, "run record not written", "error", err.Error())
	}
}
