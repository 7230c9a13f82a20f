// Package pipeline is the serverless pipeline's two stages, free of Lambda
// types: the Planner (behind fetchcreds) plans dates and sends one copy task
// per sub-partition to the queue; the Copier (behind copier) runs one task
// within a deadline, continues it through the queue if time runs out, and
// completes the date.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/strictjson"
)

// ErrBadRequest is wrapped by every request validation error.
var ErrBadRequest = errors.New("bad request")

// MaxRequestBytes bounds a request payload.
const MaxRequestBytes = 64 << 10

// Request is what fetchcreds is asked to do: empty for the scheduled run,
// or a backfill, e.g.
//
//	{"from":"2024-01-01","to":"2024-01-31","types":["decisions"],
//	 "sub_partitions":["experiment=123"],"force":false,"dry_run":true}
type Request struct {
	From          string   `json:"from,omitempty"`
	To            string   `json:"to,omitempty"`
	Types         []string `json:"types,omitempty"`
	SubPartitions []string `json:"sub_partitions,omitempty"`
	Force         bool     `json:"force,omitempty"`
	DryRun        bool     `json:"dry_run,omitempty"`
}

// DecodeRequest parses a request strictly: field names in another letter
// case, duplicate or unknown fields, trailing data and oversized payloads are
// errors.
func DecodeRequest(data []byte) (Request, error) {
	if len(data) > MaxRequestBytes {
		return Request{}, fmt.Errorf("%w: payload is %d bytes (at most %d)", ErrBadRequest, len(data), MaxRequestBytes)
	}
	var r Request
	if len(bytes.TrimSpace(data)) == 0 {
		return r, nil
	}
	if err := strictjson.Decode(data, &r); err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return r, nil
}

// options checks the request and turns it into plan options. A backfill
// needs "from"; "to" defaults to today. The range may span at most maxDays.
func (r Request) options(defaultTypes []export.Type, lookback, maxDays int, now time.Time) (plan.Options, error) {
	var problems []string
	o := plan.Options{Types: defaultTypes, Lookback: lookback, Partitions: r.SubPartitions, Now: now}
	if len(r.Types) > 0 {
		ts, err := export.ParseTypes(strings.Join(r.Types, ","))
		if err != nil {
			problems = append(problems, "types: "+err.Error())
		}
		o.Types = ts
	}
	for _, p := range r.SubPartitions {
		t := export.Task{Type: export.Events, Date: "2000-01-01", Partition: p}
		if p == "" || t.Validate() != nil {
			problems = append(problems, fmt.Sprintf("sub_partitions: %q is not a sub-partition folder name", p))
		}
	}
	switch {
	case r.From == "" && r.To != "":
		problems = append(problems, `"to" without "from"`)
	case r.From != "":
		to := r.To
		if to == "" {
			to = now.UTC().Format(export.DateLayout)
		}
		from, errF := export.ParseDate(r.From)
		until, errT := export.ParseDate(to)
		switch {
		case errF != nil:
			problems = append(problems, "from: "+errF.Error())
		case errT != nil:
			problems = append(problems, "to: "+errT.Error())
		case from.After(until):
			problems = append(problems, fmt.Sprintf("from %s is after to %s", r.From, to))
		case int(until.Sub(from).Hours()/24)+1 > maxDays:
			problems = append(problems, fmt.Sprintf("range %s..%s spans %d days (at most %d; split the backfill)", r.From, to, int(until.Sub(from).Hours()/24)+1, maxDays))
		}
		o.From, o.To = r.From, to
	}
	if len(problems) > 0 {
		return plan.Options{}, fmt.Errorf("%w: %s", ErrBadRequest, strings.Join(problems, "; "))
	}
	return o, nil
}

// Planner plans and fans out.
type Planner struct {
	Source, Dest    plan.Lister
	Queue           Queue
	QueueURL        string
	Types           []export.Type
	Lookback        int
	MaxBackfillDays int
	Metrics         *metrics.Recorder
	Logger          *slog.Logger
	Now             func() time.Time
}

// PlanSummary is fetchcreds' answer.
type PlanSummary struct {
	RunID         string        `json:"run_id"`
	Scheduled     bool          `json:"scheduled"`
	DryRun        bool          `json:"dry_run"`
	Dates         []plan.Date   `json:"dates"`
	TasksPlanned  int           `json:"tasks_planned"`
	TasksEnqueued int           `json:"tasks_enqueued"`
	Tasks         []export.Task `json:"tasks,omitempty"` // the dry-run listing
}

// Run plans the request and, unless it is a dry run, enqueues its tasks. A
// bad request is rejected before anything is listed or sent.
func (p *Planner) Run(ctx context.Context, runID string, req Request) (PlanSummary, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	o, err := req.options(p.Types, p.Lookback, p.MaxBackfillDays, now())
	if err != nil {
		return PlanSummary{}, err
	}
	o.RunID = runID
	if req.Force {
		o.ForceBefore = now().UTC()
	}
	log := logctx.OrDiscard(p.Logger).With("run_id", runID)
	pl, err := plan.Make(ctx, p.Source, p.Dest, o)
	if errors.Is(err, plan.ErrTypeNotInExport) {
		return PlanSummary{}, fmt.Errorf("%w: types: %v", ErrBadRequest, err)
	}
	if err != nil {
		return PlanSummary{}, fmt.Errorf("plan: %w", err)
	}
	p.reportUnknownTypes(ctx, log, pl.UnknownTypes)
	scheduled := req.From == ""
	sum := PlanSummary{RunID: runID, Scheduled: scheduled, DryRun: req.DryRun, Dates: pl.Dates, TasksPlanned: len(pl.Tasks)}
	if sum.Dates == nil {
		sum.Dates = []plan.Date{}
	}
	if scheduled {
		p.putFreshness(pl, now())
	}
	if req.DryRun {
		sum.Tasks = pl.Tasks
		log.InfoContext(ctx, "dry run", "dates", len(pl.Dates), "tasks", len(pl.Tasks))
		return sum, nil
	}
	sent, err := SendTasks(ctx, p.Queue, p.QueueURL, pl.Tasks)
	sum.TasksEnqueued = sent
	p.Metrics.Put(nil, metrics.Value{Name: metrics.TasksEnqueued, Unit: metrics.Count, Value: float64(sent)})
	if err != nil {
		return sum, err
	}
	log.InfoContext(ctx, "planned", "dates", len(pl.Dates), "tasks_enqueued", sent, "scheduled", scheduled)
	return sum, nil
}

// putFreshness emits, per type, the age in hours of the newest date
// complete in the destination, from the end of that day. No complete date
// emits nothing: the staleness alarm treats missing data as stale.
func (p *Planner) putFreshness(pl plan.Plan, now time.Time) {
	for t, d := range pl.NewestComplete {
		day, err := export.ParseDate(d)
		if err != nil {
			continue
		}
		age := now.Sub(day.AddDate(0, 0, 1)).Hours()
		p.Metrics.Put(map[string]string{metrics.DimType: string(t)},
			metrics.Value{Name: metrics.NewestSyncedDateAgeHours, Unit: metrics.None, Value: age})
	}
}
