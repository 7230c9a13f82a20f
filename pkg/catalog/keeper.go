package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/e3sync/e3sync/pkg/export"
)

// Keeper keeps the Glue catalog and the recorded schemas up to date as the
// copy completes sub-partitions and dates: the copier (pkg/pipeline) and the
// CLI's job (pkg/job) call it. Its errors are for logging and counting
// (metric CatalogFailures), never a reason to fail a copy: the data is there.
// Safe for concurrent use.
type Keeper struct {
	Dest Store
	// Glue, when set, is the catalog to register partitions in and to
	// compare schemas with; without it, a date's schema is compared with
	// the one recorded for the previous date.
	Glue *Glue
}

// PartitionCopied registers the sub-partition of a task whose objects are
// all in the destination. Nothing to do without Glue, for a date-level task,
// or for an export type e3sync has no table for (decisions-rerun).
func (k *Keeper) PartitionCopied(ctx context.Context, t export.Task) (Changes, error) {
	if k == nil || k.Glue == nil || t.Partition == "" {
		return Changes{}, nil
	}
	ch, err := k.Glue.Register(ctx, t.Type, t.Date, t.Partition)
	if errors.Is(err, ErrNoTable) && !known(t.Type) {
		return Changes{}, nil
	}
	return ch, err
}

// DateReport is what DateCompleted did and found.
type DateReport struct {
	Partitions Changes `json:"partitions"`
	// File is the Parquet file whose schema was read ("" if none).
	File string `json:"file,omitempty"`
	// ComparedWith is what the schema was compared with: "table
	// <db>.<table>", "date <YYYY-MM-DD>", or "" (nothing to compare with).
	ComparedWith string `json:"compared_with,omitempty"`
	Drift        Drift  `json:"drift"`
	// ColumnsAdded reports that Drift.Added was added to the Glue table.
	ColumnsAdded bool `json:"columns_added,omitempty"`
}

// DateCompleted runs once a date is complete in the destination: it makes
// the catalog's partitions of the date exactly the date's sub-partition
// folders in the destination, reads the schema of one of the date's Parquet
// files from its footer (ranged reads), compares it with the Glue table's
// columns (or, without Glue, with the schema recorded for the previous
// date), adds new columns to the table, and records the date's schema.
func (k *Keeper) DateCompleted(ctx context.Context, t export.Type, date string) (DateReport, error) {
	var r DateReport
	if k == nil {
		return r, nil
	}
	l, err := k.Dest.List(ctx, export.DatePrefix(t, date), false)
	if err != nil {
		return r, fmt.Errorf("catalog %s/%s: %w", t, date, err)
	}
	var (
		folders []string
		size    int64
		errs    []error
	)
	for _, o := range l.Objects {
		rest := strings.TrimPrefix(o.Key, export.DatePrefix(t, date))
		if f, _, ok := strings.Cut(rest, "/"); ok && !slices.Contains(folders, f) {
			folders = append(folders, f)
		}
		if r.File == "" && strings.HasSuffix(o.Key, ".parquet") && o.Size > 0 {
			r.File, size = o.Key, o.Size
		}
	}
	useGlue := k.Glue != nil
	if useGlue {
		r.Partitions, err = k.Glue.SyncDate(ctx, t, date, folders)
		if errors.Is(err, ErrNoTable) && !known(t) {
			useGlue, err = false, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if r.File == "" {
		return r, errors.Join(errs...)
	}
	if err := k.checkSchema(ctx, t, date, size, useGlue, &r); err != nil {
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
	if useGlue {
		table, err := k.Glue.TableColumns(ctx, t)
		if err == nil {
			r.ComparedWith = "table " + k.Glue.Database + "." + string(t)
			r.Drift = Diff(table, cols)
			if len(r.Drift.Added) > 0 {
				if err := k.Glue.AddColumns(ctx, t, r.Drift.Added); err != nil {
					errs = append(errs, err)
				} else {
					r.ColumnsAdded = true
				}
			}
		} else {
			errs = append(errs, err)
			useGlue = false // compare with the previous date instead
		}
	}
	if !useGlue {
		prev, ok, err := previousSchema(ctx, k.Dest, t, date)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok:
			r.ComparedWith = "date " + prev.Date
			r.Drift = Diff(prev.Columns, cols)
		}
	}
	if err := writeSchema(ctx, k.Dest, schemaRecord{Version: 1, Type: string(t), Date: date, Key: r.File, Columns: cols}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// known reports whether e3sync creates a table for t.
func known(t export.Type) bool { return slices.Contains(export.AllTypes, t) }
