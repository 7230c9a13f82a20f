package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/e3sync/e3sync/pkg/export"
)

// GlueAPI is the part of the Glue client the catalog uses; *glue.Client
// satisfies it.
type GlueAPI interface {
	GetTable(ctx context.Context, in *glue.GetTableInput, optFns ...func(*glue.Options)) (*glue.GetTableOutput, error)
	UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error)
	GetPartition(ctx context.Context, in *glue.GetPartitionInput, optFns ...func(*glue.Options)) (*glue.GetPartitionOutput, error)
	GetPartitions(ctx context.Context, in *glue.GetPartitionsInput, optFns ...func(*glue.Options)) (*glue.GetPartitionsOutput, error)
	BatchCreatePartition(ctx context.Context, in *glue.BatchCreatePartitionInput, optFns ...func(*glue.Options)) (*glue.BatchCreatePartitionOutput, error)
	UpdatePartition(ctx context.Context, in *glue.UpdatePartitionInput, optFns ...func(*glue.Options)) (*glue.UpdatePartitionOutput, error)
	BatchDeletePartition(ctx context.Context, in *glue.BatchDeletePartitionInput, optFns ...func(*glue.Options)) (*glue.BatchDeletePartitionOutput, error)
}

var _ GlueAPI = (*glue.Client)(nil)

// ErrNoTable is wrapped when the database has no table for an export type
// (a type e3sync creates no table for, or tables not created yet).
var ErrNoTable = errors.New("no Glue table")

// Glue is a Glue database whose tables (one per export type, named after
// it: decisions, events) cover the mirrored export under Location, with
// the partition keys (date, <sub-partition key>) and no partition
// projection: each sub-partition folder is one catalog partition.
//
// Partition values are the folder names byte for byte: "event=add to cart"
// is the partition (date, "add to cart"), "event=a%3Ab" is "a%3Ab" (never
// unescaped) and "event=NULL" is the string "NULL". Each partition's
// location is its folder, so no engine has to derive it from the value.
type Glue struct {
	Client   GlueAPI
	Database string
	// Location is the destination root, "s3://bucket/prefix/".
	Location string

	mu     sync.Mutex
	tables map[export.Type]*types.Table // read once, until UpdateTable
}

// maxBatch is BatchDeletePartition's limit (BatchCreatePartition's is 100).
const maxBatch = 25

// Changes counts what a catalog call changed.
type Changes struct {
	Created int `json:"partitions_created"`
	Updated int `json:"partitions_updated"` // location corrected
	Deleted int `json:"partitions_deleted"`
}

// Add adds c2's counts to c.
func (c *Changes) Add(c2 Changes) {
	c.Created += c2.Created
	c.Updated += c2.Updated
	c.Deleted += c2.Deleted
}

// Register makes sure the catalog has the partition of one sub-partition
// folder ("experiment=123") of a date, with its folder as location. It is
// idempotent: an existing partition is left alone, or its location is
// corrected.
func (g *Glue) Register(ctx context.Context, t export.Type, date, folder string) (Changes, error) {
	table, err := g.table(ctx, t)
	if err != nil {
		return Changes{}, err
	}
	p, err := g.partition(table, t, date, folder)
	if err != nil {
		return Changes{}, err
	}
	return g.create(ctx, table, []partition{p})
}

// SyncDate makes the catalog's partitions of one date exactly the given
// sub-partition folders (the destination's): missing ones are created,
// wrong locations corrected, partitions of folders no longer there deleted.
func (g *Glue) SyncDate(ctx context.Context, t export.Type, date string, folders []string) (Changes, error) {
	table, err := g.table(ctx, t)
	if err != nil {
		return Changes{}, err
	}
	want := map[string]partition{}
	var errs []error
	for _, f := range folders {
		p, err := g.partition(table, t, date, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want[p.values[1]] = p
	}
	have, err := g.datePartitions(ctx, table, date)
	if err != nil {
		return Changes{}, errors.Join(append(errs, err)...)
	}
	var (
		missing []partition
		stale   []types.PartitionValueList
		ch      Changes
	)
	for _, p := range want {
		if _, ok := have[p.values[1]]; !ok {
			missing = append(missing, p)
		}
	}
	for v, hp := range have {
		p, ok := want[v]
		switch {
		case !ok:
			stale = append(stale, types.PartitionValueList{Values: hp.Values})
		case location(hp) != p.location:
			if err := g.update(ctx, table, p); err != nil {
				errs = append(errs, err)
			} else {
				ch.Updated++
			}
		}
	}
	slices.SortFunc(missing, func(a, b partition) int { return strings.Compare(a.values[1], b.values[1]) })
	c, err := g.create(ctx, table, missing)
	ch.Add(c)
	if err != nil {
		errs = append(errs, err)
	}
	for batch := range slices.Chunk(stale, maxBatch) {
		out, err := g.Client.BatchDeletePartition(ctx, &glue.BatchDeletePartitionInput{
			DatabaseName: aws.String(g.Database), TableName: table.Name, PartitionsToDelete: batch,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("glue: delete partitions of %s.%s %s: %w", g.Database, aws.ToString(table.Name), date, err))
			continue
		}
		ch.Deleted += len(batch) - len(out.Errors)
		for _, e := range out.Errors {
			errs = append(errs, fmt.Errorf("glue: delete partition %q of %s.%s: %s", e.PartitionValues, g.Database, aws.ToString(table.Name), errorDetail(e.ErrorDetail)))
		}
	}
	return ch, errors.Join(errs...)
}

// AddColumns appends cols to the table of export type t, so that columns
// the export gained become queryable without redeploying. Partitions
// registered later get the new columns too.
func (g *Glue) AddColumns(ctx context.Context, t export.Type, cols []Column) error {
	table, err := g.table(ctx, t)
	if err != nil {
		return err
	}
	if table.StorageDescriptor == nil {
		return fmt.Errorf("glue: table %s.%s has no storage descriptor", g.Database, t)
	}
	sd := *table.StorageDescriptor
	sd.Columns = append([]types.Column(nil), sd.Columns...)
	for _, c := range cols {
		sd.Columns = append(sd.Columns, types.Column{Name: aws.String(c.Name), Type: aws.String(c.Type)})
	}
	in := &types.TableInput{
		Name: table.Name, Description: table.Description, Owner: table.Owner,
		PartitionKeys: table.PartitionKeys, Parameters: table.Parameters, Retention: table.Retention,
		StorageDescriptor: &sd, TableType: table.TableType,
	}
	_, err = g.Client.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String(g.Database), TableInput: in})
	g.forget(t)
	if err != nil {
		return fmt.Errorf("glue: add columns to %s.%s: %w", g.Database, t, err)
	}
	return nil
}

// TableColumns returns the columns of the table of export type t.
func (g *Glue) TableColumns(ctx context.Context, t export.Type) ([]Column, error) {
	table, err := g.table(ctx, t)
	if err != nil {
		return nil, err
	}
	var cols []Column
	if table.StorageDescriptor != nil {
		for _, c := range table.StorageDescriptor.Columns {
			cols = append(cols, Column{Name: aws.ToString(c.Name), Type: aws.ToString(c.Type)})
		}
	}
	return cols, nil
}

// partition is one partition to register.
type partition struct {
	values   []string // date, sub-partition value
	location string
}

// partition names the partition of folder under date, checking that the
// folder is "<key>=<value>" for the table's sub-partition key and that the
// value can be stored in Glue as it is.
func (g *Glue) partition(table *types.Table, t export.Type, date, folder string) (partition, error) {
	keys := table.PartitionKeys
	if len(keys) != 2 {
		return partition{}, fmt.Errorf("glue: table %s.%s has %d partition keys, want 2 (date and the sub-partition)", g.Database, aws.ToString(table.Name), len(keys))
	}
	if _, err := export.ParseDate(date); err != nil {
		return partition{}, err
	}
	key := aws.ToString(keys[1].Name)
	value, ok := strings.CutPrefix(folder, key+"=")
	switch {
	case !ok:
		return partition{}, fmt.Errorf("glue: folder %q of %s/%s is not %s=<value>: not registered", folder, t, date, key)
	case !utf8.ValidString(value):
		return partition{}, fmt.Errorf("glue: folder %q of %s/%s is not valid UTF-8, which Glue cannot store: not registered", folder, t, date)
	case len(value) > 1024:
		return partition{}, fmt.Errorf("glue: folder %q of %s/%s: a partition value is at most 1024 bytes: not registered", folder, t, date)
	}
	return partition{
		values:   []string{date, value},
		location: strings.TrimSuffix(g.Location, "/") + "/" + export.DatePrefix(t, date) + folder + "/",
	}, nil
}

// input is the PartitionInput of p: the table's storage descriptor (format,
// SerDe, columns) with the partition's own location.
func input(table *types.Table, p partition) types.PartitionInput {
	sd := types.StorageDescriptor{}
	if table.StorageDescriptor != nil {
		sd = *table.StorageDescriptor
	}
	sd.Location = aws.String(p.location)
	return types.PartitionInput{Values: p.values, StorageDescriptor: &sd}
}

// create creates ps, treating partitions that already exist as created if
// their location is right and correcting it otherwise.
func (g *Glue) create(ctx context.Context, table *types.Table, ps []partition) (Changes, error) {
	var (
		ch   Changes
		errs []error
	)
	for batch := range slices.Chunk(ps, maxBatch) {
		in := &glue.BatchCreatePartitionInput{DatabaseName: aws.String(g.Database), TableName: table.Name}
		byValue := map[string]partition{}
		for _, p := range batch {
			in.PartitionInputList = append(in.PartitionInputList, input(table, p))
			byValue[strings.Join(p.values, "\x00")] = p
		}
		out, err := g.Client.BatchCreatePartition(ctx, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("glue: create partitions of %s.%s: %w", g.Database, aws.ToString(table.Name), err))
			continue
		}
		ch.Created += len(batch) - len(out.Errors)
		for _, e := range out.Errors {
			p, ok := byValue[strings.Join(e.PartitionValues, "\x00")]
			if !ok || e.ErrorDetail == nil || aws.ToString(e.ErrorDetail.ErrorCode) != "AlreadyExistsException" {
				errs = append(errs, fmt.Errorf("glue: create partition %q of %s.%s: %s", e.PartitionValues, g.Database, aws.ToString(table.Name), errorDetail(e.ErrorDetail)))
				continue
			}
			got, err := g.Client.GetPartition(ctx, &glue.GetPartitionInput{
				DatabaseName: aws.String(g.Database), TableName: table.Name, PartitionValues: p.values,
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("glue: get partition %q of %s.%s: %w", p.values, g.Database, aws.ToString(table.Name), err))
				continue
			}
			if got.Partition != nil && location(*got.Partition) == p.location {
				continue
			}
			if err := g.update(ctx, table, p); err != nil {
				errs = append(errs, err)
				continue
			}
			ch.Updated++
		}
	}
	return ch, errors.Join(errs...)
}

func (g *Glue) update(ctx context.Context, table *types.Table, p partition) error {
	_, err := g.Client.UpdatePartition(ctx, &glue.UpdatePartitionInput{
		DatabaseName: aws.String(g.Database), TableName: table.Name,
		PartitionValueList: p.values, PartitionInput: ptr(input(table, p)),
	})
	if err != nil {
		return fmt.Errorf("glue: update partition %q of %s.%s: %w", p.values, g.Database, aws.ToString(table.Name), err)
	}
	return nil
}

// datePartitions returns the table's partitions of date, by sub-partition value.
func (g *Glue) datePartitions(ctx context.Context, table *types.Table, date string) (map[string]types.Partition, error) {
	expr := fmt.Sprintf("%s = '%s'", aws.ToString(table.PartitionKeys[0].Name), date) // date is validated: no quote
	out := map[string]types.Partition{}
	p := glue.NewGetPartitionsPaginator(g.Client, &glue.GetPartitionsInput{
		DatabaseName: aws.String(g.Database), TableName: table.Name, Expression: aws.String(expr),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("glue: partitions of %s.%s %s: %w", g.Database, aws.ToString(table.Name), date, err)
		}
		for _, part := range page.Partitions {
			if len(part.Values) == 2 && part.Values[0] == date {
				out[part.Values[1]] = part
			}
		}
	}
	return out, nil
}

// table returns the table of export type t, read once.
func (g *Glue) table(ctx context.Context, t export.Type) (*types.Table, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if tb, ok := g.tables[t]; ok {
		return tb, nil
	}
	out, err := g.Client.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String(g.Database), Name: aws.String(string(t))})
	var nf *types.EntityNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, fmt.Errorf("glue: %w %s.%s for export type %s", ErrNoTable, g.Database, t, t)
	case err != nil:
		return nil, fmt.Errorf("glue: table %s.%s: %w", g.Database, t, err)
	case out.Table == nil:
		return nil, fmt.Errorf("glue: %w %s.%s for export type %s", ErrNoTable, g.Database, t, t)
	}
	if g.tables == nil {
		g.tables = map[export.Type]*types.Table{}
	}
	g.tables[t] = out.Table
	return out.Table, nil
}

// forget drops the cached table of t (after UpdateTable).
func (g *Glue) forget(t export.Type) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.tables, t)
}

func location(p types.Partition) string {
	if p.StorageDescriptor == nil {
		return ""
	}
	return aws.ToString(p.StorageDescriptor.Location)
}

func errorDetail(d *types.ErrorDetail) string {
	if d == nil {
		return "unknown error"
	}
	return aws.ToString(d.ErrorCode) + ": " + aws.ToString(d.ErrorMessage)
}

func ptr[T any](v T) *T { return &v }
