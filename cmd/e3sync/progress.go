package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// progress shows a bar of tasks done (with bytes copied) on a terminal, and
// nothing otherwise: logs and CI get the summary and log lines instead.
type progress struct {
	mu     sync.Mutex
	bar    *progressbar.ProgressBar
	w      io.Writer
	copied int64
}

func newProgress(w io.Writer, off bool) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); !ok || off || !term.IsTerminal(int(f.Fd())) {
		p.w = nil
	}
	return p
}

// Planned implements job.Progress.
func (p *progress) Planned(pl plan.Plan) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar = progressbar.NewOptions(len(pl.Tasks),
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription("sub-partitions"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100_000_000),
	)
}

// TaskDone implements job.Progress.
func (p *progress) TaskDone(export.Task, transfer.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Add(1)
	}
}

// bytes is the engine's progress callback.
func (p *progress) bytes(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.copied += n
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("sub-partitions, %s copied", humanBytes(p.copied)))
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
	}
}
