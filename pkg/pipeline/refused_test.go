package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// The copier classifies errors as the CLI does: a destination that refuses
// (here a read-only directory) fails the task at once, no object retried,
// with one "task failed" line that says what to fix. Runs as nobody: root
// ignores permissions.
func TestCopierRefusedDestinationFailsAtOnce(t *testing.T) {
	if !testenv.AsNobody(t) {
		return
	}
	root, src, _ := newDirs(t)
	for i := range 5 {
		writeFile(t, root, fmt.Sprintf("type=events/date=2024-03-01/event=a/part-%d.parquet", i), []byte("aaaa"))
	}
	dstRoot := t.TempDir()
	if err := os.Chmod(dstRoot, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dstRoot, 0o755) })
	dst, err := store.NewDir(dstRoot)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{Logger: log, Attempts: 3}), Queue: &fakeQueue{}, QueueURL: "url", Logger: log}
	out, err := c.Run(context.Background(), export.Task{Type: export.Events, Date: "2024-03-01", Partition: "event=a", SourceComplete: true})
	if store.Refused(err) == nil || !strings.Contains(err.Error(), "give the user running e3sync read and write access to "+dstRoot) {
		t.Errorf("Run() = %v; want the refusal, saying what to fix", err)
	}
	if out.Result.Copied != 0 || out.Continued {
		t.Errorf("outcome = %+v; want nothing copied, not continued", out)
	}
	if n := strings.Count(logs.String(), "retrying object"); n != 0 {
		t.Errorf("%d objects retried; want none:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 || !strings.Contains(logs.String(), `msg="task failed"`) {
		t.Errorf("%d error lines; want one, task failed:\n%s", n, logs.String())
	}
}
