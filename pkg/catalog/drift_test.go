package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/parquet-go/parquet-go"

	"github.com/e3sync/e3sync/internal/exportseed"
	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/internal/gluetables"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

func TestDiff(t *testing.T) {
	before := []catalog.Column{{"uuid", "string"}, {"session_id", "string"}, {"revenue", "bigint"}, {"Tags", "map<string,string>"}}
	for _, tt := range []struct {
		name string
		now  []catalog.Column
		want catalog.Drift
	}{
		{"same", before, catalog.Drift{}},
		{"same, other order and case", []catalog.Column{{"tags", "map<string,string>"}, {"revenue", "bigint"}, {"uuid", "string"}, {"SESSION_ID", "string"}}, catalog.Drift{}},
		{"added", append(slices.Clone(before), catalog.Column{"country", "string"}), catalog.Drift{Added: []catalog.Column{{"country", "string"}}}},
		{"removed", before[:3], catalog.Drift{Removed: []catalog.Column{{"Tags", "map<string,string>"}}}},
		{"retyped", []catalog.Column{{"uuid", "string"}, {"session_id", "string"}, {"revenue", "double"}, {"Tags", "map<string,string>"}},
			catalog.Drift{Retyped: []catalog.Retype{{"revenue", "bigint", "double"}}}},
	} {
		got := catalog.Diff(before, tt.now)
		if !reflect.DeepEqual(got, tt.want) || got.Changes() != tt.want.Changes() {
			t.Errorf("Diff(%s) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	d := catalog.Drift{Added: []catalog.Column{{"country", "string"}}, Removed: []catalog.Column{{"session_id", "string"}},
		Retyped: []catalog.Retype{{"revenue", "bigint", "double"}}}
	if got, want := d.String(), "added: country string; removed: session_id; retyped: revenue bigint -> double"; got != want {
		t.Errorf("Drift.String() = %q, want %q", got, want)
	}
}

// eventV2 is an events row as a future export might write it: one column more.
type eventV2 struct {
	exportseed.Event
	Country *string `parquet:"country,optional"`
}

// eventFileWithColumn writes a real Parquet file of the events schema plus
// a "country" column, with a few rows.
func eventFileWithColumn(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[eventV2](&buf)
	str := func(s string) *string { return &s }
	rows := []eventV2{
		{Event: exportseed.Event{UUID: str("u1"), EventName: str("purchase")}, Country: str("DE")},
		{Event: exportseed.Event{UUID: str("u2"), EventName: str("purchase")}},
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rangeOnly is a directory store that reads objects only through ranged
// reads, and counts them: Open of a data file fails.
type rangeOnly struct {
	*store.Dir
	mu    sync.Mutex
	reads int
	bytes int64
}

func (r *rangeOnly) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if len(key) > 8 && key[len(key)-8:] == ".parquet" {
		return nil, errors.New("whole-file read of " + key)
	}
	return r.Dir.Open(ctx, key)
}

func (r *rangeOnly) OpenRange(ctx context.Context, key, etag string, off, n, size int64) (io.ReadCloser, error) {
	rc, err := r.Dir.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.reads++
	r.bytes += n
	r.mu.Unlock()
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(rc.(io.ReaderAt), off, n), rc}, nil
}

// A schema change between two dates is found from the files' footers with
// ranged reads: against the schema recorded for the previous date without
// Glue, and against the table with Glue, whose table then gets the column.
func TestSchemaDrift(t *testing.T) {
	ctx := context.Background()
	ev, v2 := fixture.Sample(t, "events"), eventFileWithColumn(t)
	root := t.TempDir()
	fixture.WriteFiles(t, root, map[string][]byte{
		"type=events/date=2024-01-04/event=purchase/part-00000-a.c000.snappy.parquet": ev,
		"type=events/date=2024-01-05/event=purchase/part-00000-b.c000.snappy.parquet": v2,
		"type=events/date=2024-01-06/event=purchase/part-00000-c.c000.snappy.parquet": v2,
	})
	dir, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	dst := &rangeOnly{Dir: dir}
	k := &catalog.Keeper{Dest: dst}
	added := []catalog.Column{{"country", "string"}}

	r, err := k.DateCompleted(ctx, export.Events, "2024-01-04")
	if err != nil || r.ComparedWith != "" || r.Drift.Changes() != 0 {
		t.Errorf("first date: DateCompleted() = %+v, %v, want nothing to compare with", r, err)
	}
	if dst.reads != 1 || dst.bytes >= int64(len(ev)) {
		t.Errorf("first date: %d ranged reads of %d bytes, want 1 read of less than the file's %d bytes", dst.reads, dst.bytes, len(ev))
	}
	r, err = k.DateCompleted(ctx, export.Events, "2024-01-05")
	if err != nil || r.ComparedWith != "date 2024-01-04" || !reflect.DeepEqual(r.Drift, catalog.Drift{Added: added}) {
		t.Errorf("second date: DateCompleted() = %+v, %v, want country added since 2024-01-04", r, err)
	}
	r, err = k.DateCompleted(ctx, export.Events, "2024-01-06")
	if err != nil || r.ComparedWith != "date 2024-01-05" || r.Drift.Changes() != 0 {
		t.Errorf("third date: DateCompleted() = %+v, %v, want no change since 2024-01-05", r, err)
	}
	// A date completed again (a re-run) compares with the date before it, not with itself.
	r, err = k.DateCompleted(ctx, export.Events, "2024-01-05")
	if err != nil || r.ComparedWith != "date 2024-01-04" || r.Drift.Changes() != 1 {
		t.Errorf("second date again: DateCompleted() = %+v, %v, want country added since 2024-01-04", r, err)
	}

	// With the tables: compared with the table, and the column is added to it.
	moto := testenv.MotoForTest(t)
	gc := moto.Glue()
	gluetables.Create(t, gc, testDB, testLocation)
	g := &catalog.Glue{Client: gc, Database: testDB, Location: testLocation}
	k = &catalog.Keeper{Dest: dst, Glue: g}
	r, err = k.DateCompleted(ctx, export.Events, "2024-01-04")
	if err != nil || r.ComparedWith != "table "+testDB+".events" || r.Drift.Changes() != 0 {
		t.Errorf("with Glue, first date: DateCompleted() = %+v, %v, want the table to match the real export file", r, err)
	}
	r, err = k.DateCompleted(ctx, export.Events, "2024-01-05")
	if err != nil || r.ComparedWith != "date 2024-01-04" || !reflect.DeepEqual(r.Drift, catalog.Drift{Added: added}) || !reflect.DeepEqual(r.ColumnsAdded, added) {
		t.Errorf("with Glue, second date: DateCompleted() = %+v, %v, want country added since 2024-01-04 and to the table", r, err)
	}
	cols, err := (&catalog.Glue{Client: gc, Database: testDB, Location: testLocation}).TableColumns(ctx, export.Events)
	if err != nil || len(cols) == 0 || cols[len(cols)-1] != added[0] {
		t.Errorf("events table columns = %v, %v, want country appended", cols, err)
	}
	r, err = k.DateCompleted(ctx, export.Events, "2024-01-06")
	if err != nil || r.Drift.Changes() != 0 || r.ColumnsAdded != nil {
		t.Errorf("with Glue, third date: DateCompleted() = %+v, %v, want no change (the table has country now)", r, err)
	}
	// A stack update resets the table's columns: the next date adds the
	// column again, without reporting a schema change (none happened).
	resetColumns(t, g, export.Events)
	r, err = k.DateCompleted(ctx, export.Events, "2024-01-06")
	if err != nil || r.Drift.Changes() != 0 || !reflect.DeepEqual(r.ColumnsAdded, added) {
		t.Errorf("with Glue, after a reset of the table: DateCompleted() = %+v, %v, want country added again, no change reported", r, err)
	}
	// The old files lack the new column: reported as removed against the table.
	r, err = k.DateCompleted(ctx, export.Events, "2024-01-04")
	if err != nil || !reflect.DeepEqual(r.Drift, catalog.Drift{Removed: added}) {
		t.Errorf("with Glue, first date again: DateCompleted() = %+v, %v, want country missing from the file", r, err)
	}
}

// resetColumns sets the table's columns back to the export's known schema,
// as a stack update does.
func resetColumns(t *testing.T, g *catalog.Glue, typ export.Type) {
	t.Helper()
	ctx := context.Background()
	cols, err := g.TableColumns(ctx, typ)
	if err != nil {
		t.Fatal(err)
	}
	table, err := g.Client.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String(g.Database), Name: aws.String(string(typ))})
	if err != nil {
		t.Fatal(err)
	}
	sd := *table.Table.StorageDescriptor
	sd.Columns = sd.Columns[:len(cols)-1]
	if _, err := g.Client.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String(g.Database), TableInput: &gluetypes.TableInput{
		Name: table.Table.Name, PartitionKeys: table.Table.PartitionKeys, StorageDescriptor: &sd, TableType: table.Table.TableType,
		Parameters: table.Table.Parameters,
	}}); err != nil {
		t.Fatal(err)
	}
}

// Files that are not Parquet are refused with the reason.
func TestObjectColumnsRefusesNonParquet(t *testing.T) {
	root := t.TempDir()
	fixture.WriteFiles(t, root, map[string][]byte{
		"a.parquet": []byte("this is not a parquet file at all"),
		"b.parquet": append(bytes.Repeat([]byte{0}, 20), 0xff, 0xff, 0xff, 0x7f, 'P', 'A', 'R', '1'),
		"c.parquet": []byte("PAR1"),
	})
	dir, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"a.parquet": "no PAR1", "b.parquet": "does not fit", "c.parquet": "too short"} {
		_, err := catalog.ObjectColumns(context.Background(), dir, key, map[string]int64{"a.parquet": 33, "b.parquet": 28, "c.parquet": 4}[key])
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("ObjectColumns(%s) error = %v, want %q", key, err, want)
		}
	}
}
