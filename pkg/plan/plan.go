// Package plan decides which date partitions of the export need work and
// turns them into copy tasks, one per sub-partition.
package plan

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// Lister lists a store; *store.S3 and *store.Dir satisfy it.
type Lister interface {
	List(ctx context.Context, prefix string, delim bool) (store.Listing, error)
}

// DefaultLookback is how many days back from today are always re-checked:
// late data lands in recent dates until their _SUCCESS appears.
const DefaultLookback = 3

// DefaultConcurrency is how many date listings run at once.
const DefaultConcurrency = 16

// Options say what to plan.
type Options struct {
	Types []export.Type
	// From and To, when set (YYYY-MM-DD, inclusive), plan exactly those dates
	// (a backfill); the look-back and completeness rules are not applied.
	From, To string
	// Lookback days before Now are re-checked even when complete.
	Lookback int
	// Partitions, when set, limits tasks to these sub-partitions
	// (e.g. "experiment=123").
	Partitions []string
	Now        time.Time
	// Concurrency bounds the date listings in flight.
	Concurrency int
	RunID       string
	// ForceBefore, when set, is given to every task (export.Task.ForceBefore):
	// a forced copy of every object not copied since then.
	ForceBefore time.Time
}

// Date is one date partition and what the planner decided about it.
type Date struct {
	Type           export.Type `json:"type"`
	Date           string      `json:"date"`
	Reason         string      `json:"reason"`
	SourceComplete bool        `json:"source_complete"`
	DestComplete   bool        `json:"dest_complete"`
	Partitions     int         `json:"partitions"`
}

// Plan is the planner's output.
type Plan struct {
	Dates []Date        `json:"dates"`
	Tasks []export.Task `json:"tasks"`
	// NewestComplete is, per type, the newest date complete in the
	// destination before this run ("" if none), among the dates listed.
	NewestComplete map[export.Type]string `json:"newest_complete"`
	// UnknownTypes are type= folders of the export that are neither known
	// (decisions, events) nor synced in this run: reported, not copied.
	UnknownTypes []string `json:"unknown_types,omitempty"`
}

// Validate checks the options; From/To errors name the bad value.
func (o Options) Validate() error {
	var problems []string
	if len(o.Types) == 0 {
		problems = append(problems, "no export types")
	}
	for _, t := range o.Types {
		if _, err := export.ParseType(string(t)); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if o.Lookback < 0 {
		problems = append(problems, fmt.Sprintf("look-back %d is negative", o.Lookback))
	}
	from, to, err := o.dateRange()
	if err != nil {
		problems = append(problems, err.Error())
	} else if from != "" && to != "" && from > to {
		problems = append(problems, fmt.Sprintf("from %s is after to %s", from, to))
	}
	if len(problems) > 0 {
		return fmt.Errorf("plan options: %s", strings.Join(problems, "; "))
	}
	return nil
}

// dateRange returns the validated From/To, each possibly "".
func (o Options) dateRange() (from, to string, err error) {
	for _, d := range []string{o.From, o.To} {
		if d == "" {
			continue
		}
		if _, err := export.ParseDate(d); err != nil {
			return "", "", err
		}
	}
	return o.From, o.To, nil
}

// Make lists the source and destination and returns the plan. It makes one
// delimiter listing per type on each side, then one per candidate date on
// each side: LIST calls grow with dates, not objects.
func Make(ctx context.Context, src, dst Lister, o Options) (Plan, error) {
	if err := o.Validate(); err != nil {
		return Plan{}, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	p := Plan{NewestComplete: map[export.Type]string{}}
	unknown, err := checkTypes(ctx, src, o.Types)
	if err != nil {
		return Plan{}, err
	}
	p.UnknownTypes = unknown
	for _, t := range o.Types {
		dates, tasks, newest, err := planType(ctx, src, dst, t, o)
		if err != nil {
			return Plan{}, err
		}
		p.Dates = append(p.Dates, dates...)
		p.Tasks = append(p.Tasks, tasks...)
		p.NewestComplete[t] = newest
	}
	return p, nil
}

// dateState is what the lists say about one date.
type dateState struct {
	date                     string
	partitions               []string
	dateFiles                bool // objects directly in the date folder besides _SUCCESS
	srcComplete, dstComplete bool
	listedSource, listedDest bool

	// dstPartitions and dstDateFiles are the same in the destination: a
	// sub-partition only the destination has gets a task too, whose objects
	// are all stale (see transfer.IsStale).
	dstPartitions []string
	dstDateFiles  bool
}

func planType(ctx context.Context, src, dst Lister, t export.Type, o Options) (dates []Date, tasks []export.Task, newestComplete string, err error) {
	states, err := listStates(ctx, src, dst, t, o)
	if err != nil {
		return nil, nil, "", err
	}
	for _, s := range states {
		if s.dstComplete && s.date > newestComplete {
			newestComplete = s.date
		}
	}
	lookbackStart := o.Now.UTC().AddDate(0, 0, -o.Lookback).Format(export.DateLayout)
	explicit := o.From != "" || o.To != ""
	for _, s := range states {
		work, reason := NeedsWork(Facts{
			Explicit:       explicit,
			NewerThanDest:  s.date > newestComplete,
			InLookback:     s.date >= lookbackStart,
			SourceComplete: s.srcComplete,
			DestComplete:   s.dstComplete,
		})
		if !work {
			continue
		}
		d, dateTasks := s.plan(t, reason, o)
		dates = append(dates, d)
		tasks = append(tasks, dateTasks...)
	}
	return dates, tasks, newestComplete, nil
}

// listStates lists the dates of type t on both sides (only those in
// o.From..o.To when given) and the state of each source date.
func listStates(ctx context.Context, src, dst Lister, t export.Type, o Options) ([]dateState, error) {
	srcDates, err := listDates(ctx, src, t)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dstDates, err := listDates(ctx, dst, t)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	inDst := map[string]bool{}
	for _, d := range dstDates {
		inDst[d] = true
	}
	if o.From != "" || o.To != "" {
		srcDates = inRange(srcDates, o.From, o.To)
	}
	states := make([]dateState, len(srcDates))
	for i, d := range srcDates {
		states[i].date = d
	}
	// The destination's completeness is needed for every source date (it
	// decides "newest complete"); the source listing only for dates that
	// turn out to need work, but listing it up front costs one call per
	// date and keeps this simple.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for i := range states {
		g.Go(func() error { return listState(gctx, src, dst, t, &states[i], inDst[states[i].date]) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return states, nil
}

// plan is the date of s, planned for reason, and its tasks: one per
// sub-partition (on either side, as o.Partitions filters them), and a
// date-level one for files directly in the date folder, or a date with
// nothing but _SUCCESS, so that nothing is left behind and the marker is
// still mirrored.
func (s dateState) plan(t export.Type, reason string, o Options) (Date, []export.Task) {
	parts := filterPartitions(union(s.partitions, s.dstPartitions), o.Partitions)
	d := Date{Type: t, Date: s.date, Reason: reason, SourceComplete: s.srcComplete, DestComplete: s.dstComplete, Partitions: len(parts)}
	task := export.Task{RunID: o.RunID, Type: t, Date: s.date, SourceComplete: s.srcComplete, ForceBefore: o.ForceBefore}
	var tasks []export.Task
	for _, part := range parts {
		pt := task
		pt.Partition = part
		tasks = append(tasks, pt)
	}
	if len(o.Partitions) == 0 && (s.dateFiles || s.dstDateFiles || len(s.partitions) == 0) {
		tasks = append(tasks, task)
	}
	return d, tasks
}

// Facts are what the planner knows about one date.
type Facts struct {
	Explicit       bool // an explicit --from/--to range was given and the date is in it
	NewerThanDest  bool // newer than the newest date complete in the destination
	InLookback     bool // within the look-back window
	SourceComplete bool // the source has _SUCCESS
	DestComplete   bool // the destination has _SUCCESS
}

// NeedsWork decides whether a date must be (re)copied, and why.
//
//	explicit | newer | lookback | src _SUCCESS | dst _SUCCESS | work | reason
//	yes      |  *    |  *       |  *           |  *           | yes  | requested range
//	no       | yes   |  *       |  *           |  *           | yes  | new date
//	no       | no    | yes      |  *           |  *           | yes  | look-back window
//	no       | no    | no       | yes          | no           | yes  | _SUCCESS not yet mirrored
//	no       | no    | no       | yes          | yes          | no   | complete
//	no       | no    | no       | no           |  *           | no   | old and still incomplete at the source
func NeedsWork(f Facts) (bool, string) {
	switch {
	case f.Explicit:
		return true, "requested range"
	case f.NewerThanDest:
		return true, "new date"
	case f.InLookback:
		return true, "look-back window"
	case f.SourceComplete && !f.DestComplete:
		return true, "_SUCCESS not yet mirrored"
	case f.SourceComplete:
		return false, "complete"
	default:
		return false, "old and still incomplete at the source"
	}
}

// listDates returns the dates under type t, ascending; folders that are not
// "date=YYYY-MM-DD/" are ignored.
func listDates(ctx context.Context, l Lister, t export.Type) ([]string, error) {
	listing, err := l.List(ctx, export.TypePrefix(t), true)
	if err != nil {
		return nil, err
	}
	var dates []string
	for _, p := range listing.Prefixes {
		if d, ok := export.DateFromPrefix(strings.TrimPrefix(p, export.TypePrefix(t))); ok {
			dates = append(dates, d)
		}
	}
	sort.Strings(dates)
	return dates, nil
}

// listState fills in what the two sides say about one date.
func listState(ctx context.Context, src, dst Lister, t export.Type, s *dateState, inDst bool) error {
	l, err := src.List(ctx, export.DatePrefix(t, s.date), true)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	s.partitions, s.dateFiles, s.srcComplete = readDate(l, t, s.date)
	if !inDst {
		return nil
	}
	l, err = dst.List(ctx, export.DatePrefix(t, s.date), true)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	s.dstPartitions, s.dstDateFiles, s.dstComplete = readDate(l, t, s.date)
	return nil
}

// union is a followed by the elements of b that a does not have.
func union(a, b []string) []string {
	seen := make(map[string]bool, len(a))
	for _, x := range a {
		seen[x] = true
	}
	out := append([]string(nil), a...)
	for _, x := range b {
		if !seen[x] {
			out = append(out, x)
		}
	}
	return out
}

// readDate reads a delimiter listing of one date folder.
func readDate(l store.Listing, t export.Type, date string) (partitions []string, dateFiles, complete bool) {
	prefix := export.DatePrefix(t, date)
	for _, p := range l.Prefixes {
		part := strings.TrimSuffix(strings.TrimPrefix(p, prefix), "/")
		if part != "" {
			partitions = append(partitions, part)
		}
	}
	for _, o := range l.Objects {
		if o.Key == prefix+export.SuccessMarker {
			complete = true
		} else if o.Key != prefix {
			dateFiles = true
		}
	}
	return partitions, dateFiles, complete
}

func inRange(dates []string, from, to string) []string {
	var out []string
	for _, d := range dates {
		if (from == "" || d >= from) && (to == "" || d <= to) {
			out = append(out, d)
		}
	}
	return out
}

func filterPartitions(parts, want []string) []string {
	if len(want) == 0 {
		return parts
	}
	keep := map[string]bool{}
	for _, w := range want {
		keep[w] = true
	}
	var out []string
	for _, p := range parts {
		if keep[p] {
			out = append(out, p)
		}
	}
	return out
}
