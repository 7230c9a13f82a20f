// Package gluetables creates, in a test's Glue (moto), the database and
// tables template.yaml declares over the mirrored export.
package gluetables

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/e3sync/e3sync/internal/exportseed"
	"github.com/e3sync/e3sync/pkg/catalog"
)

// CreateExportTables creates, in moto's Glue, the database db with the
// decisions and events tables as template.yaml declares them
// (CreateAthenaTables=true): the export's columns, partition keys date and
// experiment/event, Parquet SerDe, no partition projection, over location
// ("s3://bucket/prefix/").
func Create(t testing.TB, c *glue.Client, db, location string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String(db)}}); err != nil && !alreadyExists(err) {
		t.Fatal(err)
	}
	tables := []struct {
		name, sub string
		cols      []catalog.Column
	}{
		{"decisions", "experiment", mustColumns(t, "decisions")},
		{"events", "event", mustColumns(t, "events")},
	}
	for _, tb := range tables {
		var cols []gluetypes.Column
		for _, c := range tb.cols {
			cols = append(cols, gluetypes.Column{Name: aws.String(c.Name), Type: aws.String(c.Type)})
		}
		_, err := c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String(db), TableInput: &gluetypes.TableInput{
			Name:       aws.String(tb.name),
			TableType:  aws.String("EXTERNAL_TABLE"),
			Parameters: map[string]string{"classification": "parquet", "EXTERNAL": "TRUE"},
			PartitionKeys: []gluetypes.Column{
				{Name: aws.String("date"), Type: aws.String("string")},
				{Name: aws.String(tb.sub), Type: aws.String("string")},
			},
			StorageDescriptor: &gluetypes.StorageDescriptor{
				Location:     aws.String(location + "type=" + tb.name + "/"),
				InputFormat:  aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"),
				OutputFormat: aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"),
				SerdeInfo: &gluetypes.SerDeInfo{
					SerializationLibrary: aws.String("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"),
					Parameters:           map[string]string{"serialization.format": "1"},
				},
				Columns: cols,
			},
		}})
		if err != nil && !alreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// alreadyExists reports an AlreadyExistsException: under load the SDK may
// retry a create whose first attempt moto had already carried out, and
// what was asked for is then there.
func alreadyExists(err error) bool {
	var ae *gluetypes.AlreadyExistsException
	return errors.As(err, &ae)
}

func mustColumns(t testing.TB, typ string) []catalog.Column {
	t.Helper()
	schema := exportseed.EventSchema()
	if typ == "decisions" {
		schema = exportseed.DecisionSchema()
	}
	cols, err := catalog.Columns(schema)
	if err != nil {
		t.Fatal(err)
	}
	return cols
}

// Partitions returns every partition of db.table: its values joined by "|"
// (e.g. "2024-01-02|event=purchase") -> location.
func Partitions(t testing.TB, c *glue.Client, db, table string) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := glue.NewGetPartitionsPaginator(c, &glue.GetPartitionsInput{DatabaseName: aws.String(db), TableName: aws.String(table)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range page.Partitions {
			out[strings.Join(part.Values, "|")] = aws.ToString(part.StorageDescriptor.Location)
		}
	}
	return out
}
