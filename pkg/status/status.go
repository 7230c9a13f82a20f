// Package status tells, at a glance, how a destination stands: per export
// type the newest complete date, the dates that are not complete and why,
// stale objects, and what the last run did (from the run records of package
// runlog). It only reads. Without a source (no token) it says what the
// destination alone can tell.
package status

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// Lister lists a store; *store.S3 and *store.Dir satisfy it.
type Lister = plan.Lister

// Options say what to look at.
type Options struct {
	Types []export.Type // default: every type
	// Lookback: dates from Now minus Lookback days on are checked even when
	// the destination has their _SUCCESS (late data lands there).
	Lookback int
	Now      time.Time
	// Concurrency bounds the listings in flight (default 16).
	Concurrency int
}

// Report is a destination's status.
type Report struct {
	Destination   string    `json:"destination"`
	CheckedAt     time.Time `json:"checked_at"`
	SourceChecked bool      `json:"source_checked"`
	// WindowStart is the first date of the look-back window.
	WindowStart string       `json:"window_start"`
	Types       []TypeStatus `json:"types"`
	// LastRun is the newest run recorded in the destination; nil if none.
	LastRun *runlog.Run `json:"last_run"`
}

// TypeStatus is one export type's status.
type TypeStatus struct {
	Type export.Type `json:"type"`
	// NewestComplete is the newest date with _SUCCESS in the destination,
	// "" if none.
	NewestComplete string `json:"newest_complete"`
	// DatesComplete counts the destination's dates with _SUCCESS.
	DatesComplete int `json:"dates_complete"`
	// DatesChecked counts the dates whose objects were compared with the
	// source (the look-back window and every date not complete).
	DatesChecked int          `json:"dates_checked"`
	Incomplete   []DateStatus `json:"incomplete"`
	// StaleObjects counts, over the dates checked, objects the destination
	// has that the source no longer lists for a date it still has; nil
	// when the source was not checked.
	StaleObjects *int `json:"stale_objects"`
}

// DateStatus is a date that is not complete in the destination, and why.
type DateStatus struct {
	Date   string `json:"date"`
	Reason Reason `json:"reason"`
	// ObjectsMissing counts source objects the destination lacks or has
	// with another size; StaleObjects, destination objects the source no
	// longer lists (transfer.IsStale: none for a date the source no longer
	// has). Both nil when the source was not checked.
	ObjectsMissing *int `json:"objects_missing"`
	StaleObjects   *int `json:"stale_objects"`
}

// Reason says why a date is not complete: a stable code (the JSON form);
// Text says it in words.
type Reason string

// The reasons, see Classify.
const (
	SourceNotChecked   Reason = "source_not_checked"
	GoneFromSource     Reason = "gone_from_source"
	NoSourceSuccess    Reason = "no_source_success"
	FalseSuccess       Reason = "false_success"
	ObjectsMissing     Reason = "objects_missing"
	SuccessNotMirrored Reason = "success_not_mirrored"
)

// Text is the reason in words, for people.
func (r Reason) Text() string {
	switch r {
	case SourceNotChecked:
		return "no _SUCCESS in the destination; source not checked"
	case GoneFromSource:
		return "no longer in the source, never completed"
	case NoSourceSuccess:
		return "no source _SUCCESS yet"
	case FalseSuccess:
		return "destination has _SUCCESS, the source has not"
	case ObjectsMissing:
		return "objects missing"
	case SuccessNotMirrored:
		return "_SUCCESS not yet mirrored"
	}
	return string(r)
}

// Facts are what the listings say about one date.
type Facts struct {
	SourceChecked  bool
	InSource       bool // the source lists the date
	SourceComplete bool // the source has _SUCCESS
	Missing        int  // source objects absent from the destination or of another size
	DestComplete   bool // the destination has _SUCCESS
}

// Classify decides whether a date is complete in the destination, and if
// not, why.
//
//	src checked | in source | src _SUCCESS | missing | dst _SUCCESS | complete | reason
//	no          |  *        |  *           |  *      | no           | no       | source not checked
//	no          |  *        |  *           |  *      | yes          | yes      |
//	yes         | no        |  *           |  *      | no           | no       | no longer in the source
//	yes         | no        |  *           |  *      | yes          | yes      |
//	yes         | yes       | no           |  *      | no           | no       | no source _SUCCESS yet
//	yes         | yes       | no           |  *      | yes          | no       | destination has _SUCCESS, the source has not
//	yes         | yes       | yes          | > 0     |  *           | no       | objects missing
//	yes         | yes       | yes          | 0       | no           | no       | _SUCCESS not yet mirrored
//	yes         | yes       | yes          | 0       | yes          | yes      |
func Classify(f Facts) (complete bool, why Reason) {
	switch {
	case !f.SourceChecked || !f.InSource:
		if f.DestComplete {
			return true, ""
		}
		if !f.SourceChecked {
			return false, SourceNotChecked
		}
		return false, GoneFromSource
	case !f.SourceComplete && f.DestComplete:
		return false, FalseSuccess
	case !f.SourceComplete:
		return false, NoSourceSuccess
	case f.Missing > 0:
		return false, ObjectsMissing
	case !f.DestComplete:
		return false, SuccessNotMirrored
	default:
		return true, ""
	}
}

// Check reads dst (and src, when not nil) and reports. Per type it makes
// one delimiter listing of each side, one of every destination date (for
// its _SUCCESS), and with a source one full listing of each side for every
// date in the look-back window or not complete.
func Check(ctx context.Context, src Lister, dst runlog.Store, dstName string, o Options) (Report, error) {
	if len(o.Types) == 0 {
		o.Types = export.AllTypes
	}
	if o.Concurrency <= 0 {
		o.Concurrency = plan.DefaultConcurrency
	}
	if o.Lookback < 0 {
		return Report{}, fmt.Errorf("look-back %d is negative", o.Lookback)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	r := Report{
		Destination: dstName, CheckedAt: o.Now.UTC(), SourceChecked: src != nil,
		WindowStart: o.Now.UTC().AddDate(0, 0, -o.Lookback).Format(export.DateLayout),
		Types:       []TypeStatus{},
	}
	for _, t := range o.Types {
		ts, err := checkType(ctx, src, dst, t, r.WindowStart, o.Concurrency)
		if err != nil {
			return Report{}, err
		}
		r.Types = append(r.Types, ts)
	}
	run, ok, err := runlog.Latest(ctx, dst, o.Concurrency)
	if err != nil {
		return Report{}, err
	}
	if ok {
		r.LastRun = &run
	}
	return r, nil
}

// date is what the listings say about one date of one type.
type date struct {
	date                 string
	inSource, inDest     bool
	srcComplete, dstDone bool
	compared             bool // listed in full on both sides
	missing, stale       int
}

func checkType(ctx context.Context, src Lister, dst Lister, t export.Type, windowStart string, conc int) (TypeStatus, error) {
	ts := TypeStatus{Type: t, Incomplete: []DateStatus{}}
	dates, err := listTypeDates(ctx, src, dst, t)
	if err != nil {
		return ts, err
	}
	// The destination's _SUCCESS of every date it has.
	if err := each(ctx, conc, dates, func(ctx context.Context, d *date) error {
		if !d.inDest {
			return nil
		}
		l, err := dst.List(ctx, export.DatePrefix(t, d.date), true)
		if err != nil {
			return fmt.Errorf("destination: %w", err)
		}
		d.dstDone = hasSuccess(l, t, d.date)
		return nil
	}); err != nil {
		return ts, err
	}
	// With a source: compare the dates in the window and those not complete.
	if src != nil {
		if err := each(ctx, conc, dates, func(ctx context.Context, d *date) error {
			if d.dstDone && d.date < windowStart {
				return nil
			}
			return compareDate(ctx, src, dst, t, d)
		}); err != nil {
			return ts, err
		}
	}
	stale := 0
	for _, d := range sorted(dates) {
		stale += ts.add(d)
	}
	if src != nil {
		ts.StaleObjects = ptr(stale)
	}
	return ts, nil
}

// listTypeDates lists the dates of type t in the destination and, with a
// source, in the source.
func listTypeDates(ctx context.Context, src, dst Lister, t export.Type) (map[string]*date, error) {
	dates := map[string]*date{}
	get := func(d string) *date {
		if dates[d] == nil {
			dates[d] = &date{date: d}
		}
		return dates[d]
	}
	dstDates, err := plan.ListDates(ctx, dst, t)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	for _, d := range dstDates {
		get(d).inDest = true
	}
	if src == nil {
		return dates, nil
	}
	srcDates, err := plan.ListDates(ctx, src, t)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	for _, d := range srcDates {
		get(d).inSource = true
	}
	return dates, nil
}

// add counts date d in ts (complete, checked, or incomplete and why) and
// returns its stale objects when it was compared.
func (ts *TypeStatus) add(d *date) (stale int) {
	if d.dstDone {
		ts.DatesComplete++
		ts.NewestComplete = max(ts.NewestComplete, d.date)
	}
	if d.compared {
		ts.DatesChecked++
		stale = d.stale
	}
	// A date not compared is one the source was not read for (no
	// source, or old and complete in the destination).
	complete, why := Classify(Facts{
		SourceChecked: d.compared, InSource: d.inSource, SourceComplete: d.srcComplete,
		Missing: d.missing, DestComplete: d.dstDone,
	})
	if complete {
		return stale
	}
	ds := DateStatus{Date: d.date, Reason: why}
	if d.compared {
		ds.ObjectsMissing, ds.StaleObjects = ptr(d.missing), ptr(d.stale)
	}
	ts.Incomplete = append(ts.Incomplete, ds)
	return stale
}

// compareDate lists one date in full on both sides: the source's _SUCCESS,
// objects missing (or of another size) in the destination, and stale objects
// (transfer.IsStale: the destination has them, the source no longer lists
// them, for a date it still has).
func compareDate(ctx context.Context, src, dst Lister, t export.Type, d *date) error {
	prefix := export.DatePrefix(t, d.date)
	sl, err := src.List(ctx, prefix, false)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	dl, err := dst.List(ctx, prefix, false)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	success := export.SuccessKey(t, d.date)
	sm, dm := dataObjects(sl, success), dataObjects(dl, success)
	_, d.srcComplete = objectKeys(sl)[success]
	for k, o := range sm {
		if got, ok := dm[k]; !ok || got.Size != o.Size {
			d.missing++
		}
	}
	for k := range dm {
		_, inSource := sm[k]
		if stale, _ := transfer.IsStale(transfer.StaleFacts{DateListed: d.inSource, ListingsComplete: true, InSource: inSource}); stale {
			d.stale++
		}
	}
	d.compared = true
	return nil
}

// dataObjects are a listing's objects other than _SUCCESS and folder markers.
func dataObjects(l store.Listing, success string) map[string]store.Object {
	m := make(map[string]store.Object, len(l.Objects))
	for _, o := range l.Objects {
		if o.Key != success && !strings.HasSuffix(o.Key, "/") {
			m[o.Key] = o
		}
	}
	return m
}

func objectKeys(l store.Listing) map[string]bool {
	m := make(map[string]bool, len(l.Objects))
	for _, o := range l.Objects {
		m[o.Key] = true
	}
	return m
}

func hasSuccess(l store.Listing, t export.Type, d string) bool {
	return objectKeys(l)[export.SuccessKey(t, d)]
}

// each runs f for every date, at most conc at once; f may change its date.
func each(ctx context.Context, conc int, dates map[string]*date, f func(context.Context, *date) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, d := range dates {
		g.Go(func() error { return f(gctx, d) })
	}
	return g.Wait()
}

func sorted(dates map[string]*date) []*date {
	out := make([]*date, 0, len(dates))
	for _, d := range dates {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].date < out[j].date })
	return out
}

func ptr(n int) *int { return &n }
