// Package job runs the whole sync on one machine: plan the dates, copy every
// task with a worker pool, write each date's _SUCCESS once all its tasks are
// done, and summarise. The e3sync CLI uses it; the Lambdas split the same
// steps between fetchcreds (plan) and copier (copy, finalize).
package job

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// DefaultTaskConcurrency is how many tasks run at once; the engine bounds
// the objects in flight across them.
const DefaultTaskConcurrency = 8

// Progress receives events as the job runs; every method may be called from
// several goroutines at once.
type Progress interface {
	Planned(p plan.Plan)
	TaskDone(t export.Task, r transfer.Result, err error)
}

// Job is one sync (or dry run) between a source and a destination.
type Job struct {
	Source          transfer.Source
	Dest            transfer.Destination
	Engine          *transfer.Engine
	TaskConcurrency int
	DryRun          bool
	Logger          *slog.Logger
	Progress        Progress // optional
	// Catalog, when set, registers copied sub-partitions in the Glue catalog
	// and checks each completed date's schema (see catalog.go).
	Catalog *catalog.Keeper
}

// Summary is what a run did; its JSON form is the CLI's --json output.
type Summary struct {
	RunID  string      `json:"run_id"`
	DryRun bool        `json:"dry_run"`
	Dates  []plan.Date `json:"dates"`
	Tasks  int         `json:"tasks"`
	// TasksFailed counts the tasks that reported an error. A task that
	// failed before it could list its source (credentials refused, a
	// listing that kept failing) counts none of its objects below.
	TasksFailed    int      `json:"tasks_failed"`
	ObjectsCopied  int      `json:"objects_copied"`
	ObjectsSkipped int      `json:"objects_skipped"`
	ObjectsFailed  int      `json:"objects_failed"`
	BytesCopied    int64    `json:"bytes_copied"`
	UploadsAborted int      `json:"uploads_aborted"` // stale multipart uploads a killed run left
	DatesCompleted int      `json:"dates_completed"`
	CompletedDates []string `json:"completed_dates"`
	Errors         []string `json:"errors"`
	Seconds        float64  `json:"seconds"`

	// Catalog: partitions registered, schema changes (see catalog.go).
	Catalog CatalogSummary `json:"catalog"`
	// UnknownTypes are type= folders of the export not synced: neither
	// decisions nor events, nor asked for with --types.
	UnknownTypes []string `json:"unknown_types"`
	// ObjectsStale counts destination objects the source no longer lists
	// for a date it still has (transfer.IsStale); ObjectsPruned those moved
	// to quarantine (in a dry run: that would be).
	ObjectsStale  int `json:"objects_stale"`
	ObjectsPruned int `json:"objects_pruned"`
	// WithdrawnDates ("type/date") lost a false _SUCCESS: the source lists
	// them without one (only with pruning; in a dry run: would).
	WithdrawnDates []string `json:"withdrawn_dates"`
	// Interrupted: the run's context was canceled (Ctrl-C). No task started
	// after it; the tasks it cut short are neither failed nor in Errors, and
	// their dates are not finalized. A re-run continues.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Failed reports whether anything went wrong.
func (s Summary) Failed() bool { return len(s.Errors) > 0 }

// Run plans and copies. Errors of single tasks are collected in the summary;
// the returned error is for failures that stop the whole run (planning, a
// destination that refuses: a *store.RefusedError, checked before planning
// with a write probe).
func (j *Job) Run(ctx context.Context, o plan.Options) (Summary, error) {
	start := time.Now()
	log := logctx.OrDiscard(j.Logger)
	s := Summary{RunID: o.RunID, DryRun: j.DryRun, Errors: []string{}, CompletedDates: []string{}, Dates: []plan.Date{}, WithdrawnDates: []string{}}
	if err := j.Engine.Probe(ctx); err != nil {
		return s, err
	}
	p, err := plan.Make(ctx, j.Source, j.Dest, o)
	if err != nil {
		return s, fmt.Errorf("plan: %w", err)
	}
	s.Dates = append(s.Dates, p.Dates...)
	s.Tasks = len(p.Tasks)
	s.UnknownTypes = reportUnknownTypes(ctx, log, p.UnknownTypes)
	log.InfoContext(ctx, "planned", "run_id", o.RunID, "dates", len(p.Dates), "tasks", len(p.Tasks))
	if j.Progress != nil {
		j.Progress.Planned(p)
	}

	r := &run{j: j, log: log, s: s, remaining: map[dateKey]int{}, failed: map[dateKey]bool{}}
	for _, t := range p.Tasks {
		r.remaining[dateKey{t.Type, t.Date}]++
	}
	r.copyAll(ctx, p.Tasks)
	if err := refused(j.Engine); err != nil {
		return r.s, err
	}
	s = r.s
	s.Interrupted = ctx.Err() != nil
	sort.Strings(s.CompletedDates)
	sort.Strings(s.WithdrawnDates)
	sort.Strings(s.Errors)
	s.Seconds = time.Since(start).Seconds()
	if !j.DryRun && !s.Interrupted {
		j.record(ctx, s, log)
	}
	return s, nil
}

// dateKey names one date of one export type.
type dateKey struct {
	t    export.Type
	date string
}

// run is one Run's copying: the summary, and per date the tasks not done yet
// and whether one failed, shared by the tasks in flight.
type run struct {
	j         *Job
	log       *slog.Logger
	mu        sync.Mutex // guards s, remaining, failed
	s         Summary
	remaining map[dateKey]int
	failed    map[dateKey]bool
}

// copyAll copies the tasks, TaskConcurrency at a time, and starts none once
// ctx is done; the last task of a date finalizes it (or withdraws a false
// _SUCCESS) when none failed.
func (r *run) copyAll(ctx context.Context, tasks []export.Task) {
	conc := r.j.TaskConcurrency
	if conc <= 0 {
		conc = DefaultTaskConcurrency
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for _, t := range tasks {
		if !acquire(ctx, sem) {
			break
		}
		if refused(r.j.Engine) != nil {
			<-sem
			break // Run returns the refusal; no task would get further
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.copyTask(ctx, t)
		}()
	}
	wg.Wait()
}

// acquire takes a slot of sem, or reports false once ctx is done: no task
// starts after the run was interrupted.
func acquire(ctx context.Context, sem chan struct{}) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// copyTask copies one task, counts it, and once it is the last task of its
// date and none of them failed, finalizes the date (source complete) or
// withdraws a false _SUCCESS (source not complete).
func (r *run) copyTask(ctx context.Context, t export.Task) {
	res, err := r.j.Engine.Copy(ctx, t)
	if err == nil && !r.j.DryRun {
		r.j.registerPartition(ctx, &r.mu, &r.s.Catalog, t)
	}
	if r.j.Progress != nil {
		r.j.Progress.TaskDone(t, res, err)
	}
	k := dateKey{t.Type, t.Date}
	done := r.count(ctx, t, k, res, err)
	switch {
	case done && t.SourceComplete && !r.j.DryRun:
		r.finalize(ctx, k)
	case done && !t.SourceComplete:
		r.withdraw(ctx, k)
	}
}

// count adds one task's result to the summary and reports whether it was
// the last task of date k with none of them failed. A task the run's
// interruption cut short is not a failure: it is neither logged nor in
// Errors (one line says the run was interrupted), and its date is not done.
func (r *run) count(ctx context.Context, t export.Task, k dateKey, res transfer.Result, err error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.s
	s.ObjectsCopied += res.Copied
	s.ObjectsSkipped += res.Skipped
	if ctx.Err() == nil {
		s.ObjectsFailed += res.Failed
	}
	s.BytesCopied += res.Bytes
	s.UploadsAborted += res.UploadsAborted
	s.ObjectsStale += res.Stale
	s.ObjectsPruned += res.Pruned
	switch {
	case err != nil && ctx.Err() != nil:
		r.failed[k] = true
	case err != nil:
		s.TasksFailed++
		s.Errors = append(s.Errors, err.Error())
		r.failed[k] = true
		if store.Refused(err) == nil { // a refusal is Run's error, said once
			r.log.ErrorContext(ctx, "task failed", "task", t.String(), "error", err.Error())
		}
	}
	r.remaining[k]--
	return r.remaining[k] == 0 && !r.failed[k] && ctx.Err() == nil
}

// finalize writes date k's _SUCCESS when the whole date is copied, and
// brings its catalog in line.
func (r *run) finalize(ctx context.Context, k dateKey) {
	c, err := r.j.Engine.Finalize(ctx, k.t, k.date)
	if err == nil && c == transfer.Completed {
		r.j.catalogDate(ctx, &r.mu, &r.s.Catalog, k.t, k.date)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.s.Errors = append(r.s.Errors, err.Error())
		r.log.ErrorContext(ctx, "finalize failed", "type", k.t, "date", k.date, "error", err.Error())
	case c == transfer.Completed:
		r.s.DatesCompleted++
		r.s.CompletedDates = append(r.s.CompletedDates, string(k.t)+"/"+k.date)
		r.log.InfoContext(ctx, "date complete", "type", k.t, "date", k.date, "dry_run", r.j.DryRun)
	}
}

// withdraw removes date k's false _SUCCESS (with pruning).
func (r *run) withdraw(ctx context.Context, k dateKey) {
	ok, err := r.j.Engine.Withdraw(ctx, k.t, k.date)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.s.Errors = append(r.s.Errors, err.Error())
		r.log.ErrorContext(ctx, "withdrawing a false _SUCCESS failed", "type", k.t, "date", k.date, "error", err.Error())
	case ok:
		r.s.WithdrawnDates = append(r.s.WithdrawnDates, string(k.t)+"/"+k.date)
	}
}

// refused returns the *store.RefusedError that stopped eng, or nil: the
// destination refused (see transfer.Probe), and the run stops with that one
// error.
func refused(eng *transfer.Engine) error {
	if re := store.Refused(eng.Halted()); re != nil {
		return re
	}
	return nil
}
