package job

import (
	"context"
	"log/slog"
	"sync"

	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/logctx"
)

// CatalogSummary is what the run did in the Glue catalog and found in the
// export's schema. Its failures are not the run's: the data was copied.
type CatalogSummary struct {
	catalog.Changes
	// SchemaChanges counts columns added, removed or retyped, over the
	// dates completed (each logged as a warning, by column).
	SchemaChanges int `json:"schema_changes"`
	// Failures counts failed catalog calls or schema checks (logged).
	Failures int      `json:"failures"`
	Errors   []string `json:"errors,omitempty"`
}

// registerPartition registers a copied sub-partition (Catalog set).
func (j *Job) registerPartition(ctx context.Context, mu *sync.Mutex, s *CatalogSummary, t export.Task) {
	if j.Catalog == nil {
		return
	}
	ch, err := j.Catalog.PartitionCopied(ctx, t)
	mu.Lock()
	defer mu.Unlock()
	s.Add(ch)
	if err != nil {
		s.Failures++
		s.Errors = append(s.Errors, err.Error())
		logctx.OrDiscard(j.Logger).ErrorContext(ctx, "partition not registered in the Glue catalog; the data is copied", "task", t.String(), "error", err.Error())
	}
}

// catalogDate brings a completed date's partitions in line and checks its
// schema (Catalog set).
func (j *Job) catalogDate(ctx context.Context, mu *sync.Mutex, s *CatalogSummary, typ export.Type, date string) {
	if j.Catalog == nil {
		return
	}
	r, err := j.Catalog.DateCompleted(ctx, typ, date)
	mu.Lock()
	defer mu.Unlock()
	s.Add(r.Partitions)
	log := logctx.OrDiscard(j.Logger)
	if n := r.Drift.Changes(); n > 0 {
		s.SchemaChanges += n
		log.WarnContext(ctx, "export schema changed", "type", typ, "date", date, "file", r.File,
			"compared_with", r.ComparedWith, "changes", r.Drift.String())
	}
	if len(r.ColumnsAdded) > 0 {
		log.InfoContext(ctx, "columns added to the Glue table", "type", typ, "date", date, "columns", catalog.Drift{Added: r.ColumnsAdded}.String())
	}
	if err != nil {
		s.Failures++
		s.Errors = append(s.Errors, err.Error())
		log.ErrorContext(ctx, "catalog or schema check failed; the date is complete", "type", typ, "date", date, "error", err.Error())
	}
}

// reportUnknownTypes warns about type= folders of the export that are not
// synced, and returns them (never nil, for the JSON summary).
func reportUnknownTypes(ctx context.Context, log *slog.Logger, unknown []string) []string {
	if len(unknown) == 0 {
		return []string{}
	}
	log.WarnContext(ctx, "the export has type= folders e3sync does not sync; add one to --types to sync it "+
		"if it has the usual date= layout", "unknown_types", unknown)
	return unknown
}
