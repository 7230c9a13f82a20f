package job

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/pkg/store"
)

// interruptingSource cancels the run at the first object read, as Ctrl-C
// would in the middle of a copy.
type interruptingSource struct {
	*store.Dir
	once   sync.Once
	cancel context.CancelFunc
}

func (s *interruptingSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.once.Do(s.cancel)
	return nil, ctx.Err()
}

// An interrupted run starts no task after the interruption, counts the
// tasks it cut short as neither failed nor errors, finalizes no date and
// writes no run record.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srcDir, _ := fixture.Dir(t, exportFiles)
	src := &interruptingSource{Dir: srcDir, cancel: cancel}
	dst, root := fixture.Dir(t, nil)
	j := newJob(src, dst, false)
	j.TaskConcurrency = 1
	p := &progress{}
	j.Progress = p
	s, err := j.Run(ctx, options())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Interrupted || len(s.Errors) > 0 || s.TasksFailed > 0 || s.ObjectsFailed > 0 {
		t.Errorf("summary %+v; want interrupted, no errors, no failures", s)
	}
	if len(p.done) >= p.planned {
		t.Errorf("%d of %d tasks ran after the interruption; want the rest not started", len(p.done), p.planned)
	}
	for k := range files(t, root) {
		if strings.HasPrefix(k, "type=events/") && strings.HasSuffix(k, "_SUCCESS") { // dates with objects, none copied
			t.Errorf("%s written by an interrupted run", k)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "_e3sync", "state", "runs")); !os.IsNotExist(err) {
		t.Errorf("an interrupted run wrote a run record (%v)", err)
	}
}
