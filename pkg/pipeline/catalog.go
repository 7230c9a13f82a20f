package pipeline

import (
	"context"
	"log/slog"

	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/metrics"
)

// registerPartition registers the sub-partition of a task that copied
// everything in the Glue catalog. A failure is logged and counted
// (CatalogFailures), never the task's: the data is there.
func (c *Copier) registerPartition(ctx context.Context, t export.Task) {
	if c.Catalog == nil {
		return
	}
	ch, err := c.Catalog.PartitionCopied(ctx, t)
	if err != nil {
		c.putCatalogFailure()
		c.logger().ErrorContext(ctx, "partition not registered in the Glue catalog; the data is copied", "error", err.Error())
		return
	}
	if ch.Created+ch.Updated > 0 {
		c.logger().InfoContext(ctx, "partition registered", "created", ch.Created, "location_corrected", ch.Updated)
	}
}

// catalogDate brings the catalog's partitions of a date just completed in
// line with the destination and checks the date's schema: changes are
// logged by column and counted (SchemaChanges), failures logged and counted
// (CatalogFailures), never the task's.
func (c *Copier) catalogDate(ctx context.Context, t export.Task) {
	if c.Catalog == nil {
		return
	}
	r, err := c.Catalog.DateCompleted(ctx, t.Type, t.Date)
	log := c.logger()
	if n := r.Drift.Changes(); n > 0 {
		c.Metrics.Put(nil, metrics.Value{Name: metrics.SchemaChanges, Unit: metrics.Count, Value: float64(n)})
		log.WarnContext(ctx, "export schema changed", "date", t.Date, "file", r.File, "compared_with", r.ComparedWith,
			"changes", r.Drift.String())
	}
	if len(r.ColumnsAdded) > 0 {
		log.InfoContext(ctx, "columns added to the Glue table", "date", t.Date, "columns", catalog.Drift{Added: r.ColumnsAdded}.String())
	}
	if p := r.Partitions; p.Created+p.Updated+p.Deleted > 0 {
		log.InfoContext(ctx, "date's partitions registered", "date", t.Date,
			"created", p.Created, "location_corrected", p.Updated, "deleted", p.Deleted)
	}
	if err != nil {
		c.putCatalogFailure()
		log.ErrorContext(ctx, "catalog or schema check failed; the date is complete", "date", t.Date, "error", err.Error())
	}
}

// putCatalogFailure counts one failed catalog call or schema check.
func (c *Copier) putCatalogFailure() {
	c.Metrics.Put(nil, metrics.Value{Name: metrics.CatalogFailures, Unit: metrics.Count, Value: 1})
}

// reportUnknownTypes warns about type= folders of the export that are not
// synced, and counts them (UnknownExportTypes, alarmed).
func (p *Planner) reportUnknownTypes(ctx context.Context, log *slog.Logger, unknown []string) {
	p.Metrics.Put(nil, metrics.Value{Name: metrics.UnknownExportTypes, Unit: metrics.Count, Value: float64(len(unknown))})
	if len(unknown) > 0 {
		log.WarnContext(ctx, "the export has type= folders e3sync does not sync; sync one explicitly with a backfill "+
			`naming it in "types" if it has the usual date= layout`, "unknown_types", unknown)
	}
}
