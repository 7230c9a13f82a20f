package pipeline

import (
	"context"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// record writes one run record (package runlog) for a task invocation, for
// `e3sync status`. A failure is logged, not the task's: the data is copied.
func (c *Copier) record(ctx context.Context, t export.Task, out Outcome, taskErr error) {
	if c.Runs == nil {
		return
	}
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
	err := runlog.Put(ctx, c.Runs, runlog.Record{RunID: t.RunID, Origin: runlog.OriginCopier, Task: t.String(), Counts: n})
	if err != nil {
		c.logger().WarnContext(ctx, "run record not written", "error", err.Error())
	}
}
