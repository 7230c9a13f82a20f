// Package runlog keeps a small record of what each run did, in the
// destination itself (the destination is the state): one JSON object per CLI
// run, and one per copier task invocation, under
// <dest>/_e3sync/state/runs/<run id>/. `e3sync status` reads the newest run's
// records back and adds them up.
package runlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// Root is the folder, under the destination root, that holds the run
// records: beside the manifests, outside every type= folder.
const Root = transfer.StateRoot + "runs/"

// maxRecordBytes bounds a record read back; a record is a few hundred bytes.
const maxRecordBytes = 64 << 10

// Origins of a record.
const (
	OriginCLI    = "cli"    // a whole CLI sync (or demo) run
	OriginCopier = "copier" // one copier Lambda task invocation
)

// Record is what one CLI run, or one copier task invocation, did.
type Record struct {
	Version  int       `json:"version"`
	RunID    string    `json:"run_id"`
	Origin   string    `json:"origin"`         // OriginCLI or OriginCopier
	Task     string    `json:"task,omitempty"` // the copier's task, e.g. "events/2024-01-01/event=a"
	Finished time.Time `json:"finished"`
	Counts
}

// Counts are what a record counts; Run adds them up.
type Counts struct {
	Tasks          int   `json:"tasks"`
	TasksFailed    int   `json:"tasks_failed"`
	TasksContinued int   `json:"tasks_continued"` // sent back to the queue near the Lambda deadline
	ObjectsCopied  int   `json:"objects_copied"`
	ObjectsSkipped int   `json:"objects_skipped"`
	ObjectsFailed  int   `json:"objects_failed"`
	BytesCopied    int64 `json:"bytes_copied"`
	DatesCompleted int   `json:"dates_completed"`
}

func (c *Counts) add(o Counts) {
	c.Tasks += o.Tasks
	c.TasksFailed += o.TasksFailed
	c.TasksContinued += o.TasksContinued
	c.ObjectsCopied += o.ObjectsCopied
	c.ObjectsSkipped += o.ObjectsSkipped
	c.ObjectsFailed += o.ObjectsFailed
	c.BytesCopied += o.BytesCopied
	c.DatesCompleted += o.DatesCompleted
}

// Writer is where records are written (the destination; see package store
// for the contract: Write is atomic).
type Writer interface {
	Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error)
}

// Put writes r under Root/<run id>/, with a name of its own: records of the
// same run never overwrite each other.
func Put(ctx context.Context, w Writer, r Record) error {
	r.Version = 1
	if r.Finished.IsZero() {
		r.Finished = time.Now()
	}
	r.Finished = r.Finished.UTC()
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := w.Write(ctx, key(r), int64(len(data)), bytes.NewReader(data), nil); err != nil {
		return fmt.Errorf("write run record: %w", err)
	}
	return nil
}

// key is Root/<run id>/<finished>-<hash of origin and task>.json. The run id
// comes from a queue message: it is reduced to a safe folder name.
func key(r Record) string {
	h := sha256.Sum256([]byte(r.Origin + "\x00" + r.Task))
	return Root + folder(r.RunID) + "/" + r.Finished.Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(h[:6]) + ".json"
}

// folder maps a run id to one path segment of at most 64 safe bytes.
func folder(runID string) string {
	b := []byte(runID)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	switch s := string(b); s {
	case "", ".", "..":
		return "_" + s
	default:
		return s
	}
}

// Store is what Latest reads; *store.S3 and *store.Dir satisfy it.
type Store interface {
	List(ctx context.Context, prefix string, delim bool) (store.Listing, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// Run is one run, its records added up.
type Run struct {
	RunID string `json:"run_id"`
	// Origin is OriginCLI or OriginCopier (the Lambdas).
	Origin string `json:"origin"`
	// Records is how many records were read: 1 for a CLI run, one per task
	// invocation for the Lambdas (a run still going on has fewer).
	Records int `json:"records"`
	// First and Last are the earliest and latest record's finish times.
	First time.Time `json:"first_finished"`
	Last  time.Time `json:"last_finished"`
	Counts
	// Unreadable counts records that could not be parsed (left out).
	Unreadable int `json:"unreadable,omitempty"`
}

// Latest reads the newest run's records and adds them up. Run ids start
// with their UTC start time (20060102T150405Z-…), so the newest is the
// greatest; records of other run ids (a task invoked by hand without one)
// are left out. ok is false when no run is recorded.
func Latest(ctx context.Context, s Store, concurrency int) (run Run, ok bool, err error) {
	l, err := s.List(ctx, Root, true)
	if err != nil {
		return Run{}, false, fmt.Errorf("list run records: %w", err)
	}
	var prefix string
	for _, p := range l.Prefixes {
		if startsWithTime(strings.TrimPrefix(p, Root)) && p > prefix {
			prefix = p
		}
	}
	if prefix == "" {
		return Run{}, false, nil
	}
	recs, err := s.List(ctx, prefix, false)
	if err != nil {
		return Run{}, false, fmt.Errorf("list run records: %w", err)
	}
	run = Run{RunID: strings.TrimSuffix(strings.TrimPrefix(prefix, Root), "/")}
	read := make([]*Record, len(recs.Objects))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for i, o := range recs.Objects {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		g.Go(func() error {
			r, err := readRecord(gctx, s, o.Key)
			if err != nil && !errors.Is(err, errUnreadable) {
				return err
			}
			read[i] = r // nil if unreadable
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Run{}, false, err
	}
	for i, r := range read {
		if r == nil {
			if strings.HasSuffix(recs.Objects[i].Key, ".json") {
				run.Unreadable++
			}
			continue
		}
		run.Records++
		run.Origin = r.Origin
		run.Counts.add(r.Counts)
		if run.First.IsZero() || r.Finished.Before(run.First) {
			run.First = r.Finished
		}
		if r.Finished.After(run.Last) {
			run.Last = r.Finished
		}
	}
	return run, true, nil
}

// runIDTime is the layout run ids start with (the CLI's and the planner's).
const runIDTime = "20060102T150405Z"

func startsWithTime(runID string) bool {
	if len(runID) < len(runIDTime) {
		return false
	}
	_, err := time.Parse(runIDTime, runID[:len(runIDTime)])
	return err == nil
}

var errUnreadable = errors.New("unreadable run record")

func readRecord(ctx context.Context, s Store, key string) (*Record, error) {
	rc, err := s.Open(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnreadable
	}
	if err != nil {
		return nil, fmt.Errorf("read run record %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxRecordBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read run record %s: %w", key, err)
	}
	var r Record
	if len(data) > maxRecordBytes || json.Unmarshal(data, &r) != nil || r.Version != 1 {
		return nil, errUnreadable
	}
	return &r, nil
}
