package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// Keeper keeps the Glue catalog and the recorded schemas up to date as the
// copy completes sub-partitions and dates: the copier (pkg/pipeline) and the
// CLI's job (pkg/job) call it. Its errors are for logging and counting
// (metric CatalogFailures), never a reason to fail a copy: the data is there.
// Safe for concurrent use.
type Keeper struct {
	Dest Store
	// Glue, when set, is the catalog to register partitions in and to add
	// new columns to (nil: schemas are still checked and recorded).
	Glue *Glue
}

// PartitionCopied registers the sub-partition of a task whose objects are
// all in the destination. Nothing to do without Glue, for a date-level task,
// or for an export type e3sync has no table for (decisions-rerun).
func (k *Keeper) PartitionCopied(ctx context.Context, t export.Task) (Changes, error) {
	if k.Glue == nil || t.Partition == "" {
		return Changes{}, nil
	}
	ch, err := k.Glue.Register(ctx, t.Type, t.Date, t.Partition)
	if errors.Is(err, ErrNoTable) && !export.Known(t.Type) {
		return Changes{}, nil
	}
	return ch, err
}

// DateReport is what DateCompleted did and found.
type DateReport struct {
	Partitions Changes `json:"partitions"`
	// File is the Parquet file whose schema was read ("" if none).
	File string `json:"file,omitempty"`
	// ComparedWith is what Drift compares the schema with: the schema
	// recorded for the previous date ("date <YYYY-MM-DD>"), or, for the first
	// date checked, the Glue table ("table <db>.<table>"); "" for nothing.
	// So each change is reported once, on the first date that has it.
	ComparedWith string `json:"compared_with,omitempty"`
	Drift        Drift  `json:"drift"`
	// ColumnsAdded are the file's columns the Glue table lacked, now
	// added to it (queryable without a redeploy).
	ColumnsAdded []Column `json:"columns_added,omitempty"`
}

// DateCompleted runs once a date is complete in the destination: it makes
// the catalog's partitions of the date exactly the date's sub-partition
// folders in the destination, reads the schema of one of the date's Parquet
// files from its footer (ranged reads), compares it with the schema recorded
// for the previous date (for the first date checked: with the Glue table's
// columns), adds columns the table lacks to it, and records the date's
// schema.
func (k *Keeper) DateCompleted(ctx context.Context, t export.Type, date string) (DateReport, error) {
	var r DateReport
	folders, file, err := k.dateContents(ctx, t, date)
	if err != nil {
		return r, err
	}
	r.File = file.Key
	var errs []error
	useGlue := k.Glue != nil
	if useGlue {
		k.Glue.forget(t) // read the table afresh: a stack update may have changed it
		r.Partitions, err = k.Glue.SyncDate(ctx, t, date, folders)
		if errors.Is(err, ErrNoTable) && !export.Known(t) {
			useGlue, err = false, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if r.File == "" {
		return r, errors.Join(errs...)
	}
	if err := k.checkSchema(ctx, t, date, file.Size, useGlue, &r); err != nil {
		errs = append(errs, fmt.Errorf("schema of %s/%s: %w", t, date, err))
	}
	return r, errors.Join(errs...)
}

func (k *Keeper) checkSchema(ctx context.Context, t export.Type, date string, size int64, useGlue bool, r *DateReport) error {
	cols, err := ObjectColumns(ctx, k.Dest, r.File, size)
	if err != nil {
		return err
	}
	var errs []error
	prev, hasPrev, err := previousSchema(ctx, k.Dest, t, date)
	if err != nil {
		errs = append(errs, err)
	}
	if hasPrev {
		r.ComparedWith = "date " + prev.Date
		r.Drift = Diff(prev.Columns, cols)
	}
	if useGlue {
		if err := k.matchTable(ctx, t, cols, !hasPrev, r); err != nil {
			errs = append(errs, err)
		}
	}
	if err := writeSchema(ctx, k.Dest, schemaRecord{Version: 1, Type: string(t), Date: date, Key: r.File, Columns: cols}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// matchTable adds the file's columns the table lacks to it; with report
// set (no schema recorded for an earlier date), the drift is the file
// against the table.
func (k *Keeper) matchTable(ctx context.Context, t export.Type, cols []Column, report bool, r *DateReport) error {
	table, err := k.Glue.TableColumns(ctx, t)
	if err != nil {
		return err
	}
	d := Diff(table, cols)
	if report {
		r.ComparedWith = "table " + k.Glue.Database + "." + string(t)
		r.Drift = d
	}
	if len(d.Added) == 0 {
		return nil
	}
	if err := k.Glue.AddColumns(ctx, t, d.Added); err != nil {
		return err
	}
	r.ColumnsAdded = d.Added
	return nil
}

// dateContents lists a date in the destination: its sub-partition folders
// (those holding at least one object) and one of its Parquet files.
func (k *Keeper) dateContents(ctx context.Context, t export.Type, date string) (folders []string, file store.Object, err error) {
	prefix := export.DatePrefix(t, date)
	l, err := k.Dest.List(ctx, prefix, false)
	if err != nil {
		return nil, file, fmt.Errorf("catalog %s/%s: %w", t, date, err)
	}
	for _, o := range l.Objects {
		if f, _, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/"); ok && !slices.Contains(folders, f) {
			folders = append(folders, f)
		}
		if file.Key == "" && strings.HasSuffix(o.Key, ".parquet") && o.Size > 0 {
			file = o
		}
	}
	return folders, file, nil
}

// RegisterDates makes the catalog's partitions of every date of type t in
// the destination between from and to (inclusive; "" for no bound) exactly
// that date's sub-partition folders: the backfill for dates mirrored before
// partitions were registered, or a repair after folders were removed.
func (k *Keeper) RegisterDates(ctx context.Context, t export.Type, from, to string) (Changes, error) {
	var ch Changes
	if k.Glue == nil {
		return ch, errors.New("catalog: no Glue database to register partitions in")
	}
	l, err := k.Dest.List(ctx, export.TypePrefix(t), true)
	if err != nil {
		return ch, fmt.Errorf("catalog %s: %w", t, err)
	}
	var errs []error
	for _, p := range l.Prefixes {
		date, ok := export.DateFromPrefix(strings.TrimPrefix(p, export.TypePrefix(t)))
		if !ok || (from != "" && date < from) || (to != "" && date > to) {
			continue
		}
		folders, _, err := k.dateContents(ctx, t, date)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c, err := k.Glue.SyncDate(ctx, t, date, folders)
		ch.Add(c)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return ch, errors.Join(errs...)
}
