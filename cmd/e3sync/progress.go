package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// progressTick is how often the bar is redrawn: the engine's byte callback
// only adds to a counter, so the copy path pays one atomic add per read.
const progressTick = 200 * time.Millisecond

// progress draws, on a terminal, one bar of the bytes copied out of the
// bytes to copy, with the objects, the rate and the time left (from the
// throughput of the last few seconds, see progressbar's rolling rate). Log
// lines go above the bar, never into it (logWriter). The bytes to copy are
// known task by task, as each lists its sub-partition (transfer's Planned);
// until all have, the tasks not yet listed are assumed to be like those
// listed. A dry run has nothing to copy: its bar counts sub-partitions.
//
// Off (stderr not a terminal, --json, --quiet, NO_COLOR or TERM=dumb), it
// draws nothing and log lines pass unchanged.
type progress struct {
	w      io.Writer // the terminal; nil: off
	dryRun bool
	copied atomic.Int64

	mu           sync.Mutex
	bar          *progressbar.ProgressBar
	tasks        int
	tasksListed  int
	tasksDone    int
	objects      int // to copy, in the tasks listed
	objectsDone  int
	plannedBytes int64
	stop         chan struct{}
	stopped      chan struct{}
}

// newProgress returns the progress of a run whose log and bar go to w;
// off turns the bar off.
func newProgress(w io.Writer, off, dryRun bool) *progress {
	p := &progress{w: w, dryRun: dryRun}
	if f, ok := w.(*os.File); !ok || off || !term.IsTerminal(int(f.Fd())) {
		p.w = nil
	}
	return p
}

// barOff reports whether the environment asks for plain output: NO_COLOR
// (no-color.org) or a dumb terminal.
func barOff(getenv func(string) string) bool {
	return getenv("NO_COLOR") != "" || getenv("TERM") == "dumb"
}

// Planned implements job.Progress: the plan is made, the copies start.
func (p *progress) Planned(pl plan.Plan) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tasks, p.tasksListed, p.tasksDone, p.objects, p.objectsDone, p.plannedBytes = len(pl.Tasks), 0, 0, 0, 0, 0
	p.copied.Store(0)
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(0), // drawn on the tick only
		progressbar.OptionSetWidth(30),
	}
	if p.dryRun {
		p.bar = progressbar.NewOptions(max(p.tasks, 1), append(opts, progressbar.OptionSetDescription("sub-partitions listed"), progressbar.OptionShowCount())...)
	} else {
		p.bar = progressbar.NewOptions64(-1, append(opts, progressbar.OptionShowBytes(true), progressbar.OptionUseIECUnits(true),
			progressbar.OptionShowTotalBytes(true), progressbar.OptionShowCount(), progressbar.OptionSetDescription(p.describe()))...)
	}
	p.bar.RenderBlank()
	p.stop, p.stopped = make(chan struct{}), make(chan struct{})
	go p.tick()
}

// TaskDone implements job.Progress.
func (p *progress) TaskDone(_ export.Task, r transfer.Result, _ error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tasksDone++
	p.objectsDone += r.Copied
	if p.dryRun && p.bar != nil {
		p.bar.Add(1)
	}
}

// planned is the engine's Planned callback: one task listed.
func (p *progress) planned(objects int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tasksListed++
	p.objects += objects
	p.plannedBytes += bytes
}

// bytes is the engine's progress callback, on the copy path.
func (p *progress) bytes(n int64) { p.copied.Add(n) }

func (p *progress) tick() {
	defer close(p.stopped)
	t := time.NewTicker(progressTick)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.redraw()
		}
	}
}

// redraw sets the bar to the bytes copied of the bytes to copy.
func (p *progress) redraw() {
	if p.dryRun {
		return
	}
	p.mu.Lock()
	bar, total, desc := p.bar, p.total(), p.describe()
	p.mu.Unlock()
	if bar == nil {
		return
	}
	copied := p.copied.Load()
	bar.Describe(desc)
	if total > 0 {
		// Never at the maximum before the end: the bar would finish.
		bar.ChangeMax64(max(total, copied+1))
	}
	bar.Set64(copied)
}

// total estimates the bytes to copy: those of the tasks listed, and as
// much again per task not yet listed as the listed ones have on average;
// -1 before any task is listed. With p.mu held.
func (p *progress) total() int64 {
	if p.tasksListed == 0 {
		return -1
	}
	return p.plannedBytes + p.plannedBytes/int64(p.tasksListed)*int64(max(p.tasks-p.tasksListed, 0))
}

// describe is the text before the bar. With p.mu held.
func (p *progress) describe() string {
	if p.tasksListed < p.tasks {
		return fmt.Sprintf("%d/%d objects (%d/%d sub-partitions listed)", p.objectsDone, p.objects, p.tasksListed, p.tasks)
	}
	return fmt.Sprintf("%d/%d objects", p.objectsDone, p.objects)
}

// finish removes the bar; the summary or the interruption line follows.
func (p *progress) finish() {
	p.mu.Lock()
	bar := p.bar
	p.bar = nil
	p.mu.Unlock()
	if bar == nil {
		return
	}
	close(p.stop)
	<-p.stopped
	bar.Clear()
	bar.Exit()
}

// logWriter is where log lines go: above the bar while it is drawn.
func (p *progress) logWriter(w io.Writer) io.Writer {
	if p.w == nil {
		return w
	}
	return aboveBar{p: p, w: w}
}

type aboveBar struct {
	p *progress
	w io.Writer
}

// Write prints one log line (slog writes each record at once): the bar is
// cleared, the line written, the bar drawn again below it.
func (a aboveBar) Write(b []byte) (int, error) {
	a.p.mu.Lock()
	bar := a.p.bar
	a.p.mu.Unlock()
	if bar == nil {
		return a.w.Write(b)
	}
	n, err := progressbar.Bprintf(bar, "%s", b)
	bar.RenderBlank() // flushes the line above the bar and draws the bar
	return n, err
}
