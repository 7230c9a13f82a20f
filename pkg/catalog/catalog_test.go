package catalog_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/internal/gluetables"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

const (
	testDB       = "optimizely_export"
	testLocation = "s3://my-lake/optimizely/"
)

// awkwardEvents are event folder names as Optimizely writes them: free
// text, escapes kept as they are, NULL, numeric entity ids, unicode.
var awkwardEvents = []string{
	"event=purchase", "event=add to cart", "event=a%3Ab", "event=NULL", "event=12345678",
	"event=Ünïcødé 🛒", "event=semi;colon (x)",
}

// destPartitions is what the catalog must hold for the destination at root:
// one partition per sub-partition folder holding an object.
func destPartitions(t *testing.T, root string, typ export.Type) map[string]string {
	t.Helper()
	want := map[string]string{}
	dates, _ := filepath.Glob(filepath.Join(root, "type="+string(typ), "date=*"))
	for _, d := range dates {
		date := strings.TrimPrefix(filepath.Base(d), "date=")
		subs, _ := os.ReadDir(d)
		for _, s := range subs {
			if !s.IsDir() {
				continue
			}
			if files, _ := os.ReadDir(filepath.Join(d, s.Name())); len(files) == 0 {
				continue
			}
			_, value, _ := strings.Cut(s.Name(), "=")
			want[date+"|"+value] = testLocation + "type=" + string(typ) + "/date=" + date + "/" + s.Name() + "/"
		}
	}
	return want
}

func checkPartitions(t *testing.T, step string, c *glue.Client, root string) {
	t.Helper()
	for _, typ := range export.AllTypes {
		got, want := gluetables.Partitions(t, c, testDB, string(typ)), destPartitions(t, root, typ)
		if !maps.Equal(got, want) {
			t.Errorf("%s: %s partitions =\n%v\nwant the destination's sub-partitions\n%v", step, typ, sorted(got), sorted(want))
		}
	}
}

func sorted(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+" -> "+v)
	}
	slices.Sort(out)
	return out
}

// The catalog's partitions are exactly the destination's sub-partitions,
// with their folders as locations and awkward names byte for byte, through
// a backfill of dates mirrored before, per-task registration, a date
// completing, a rewrite that drops and adds sub-partitions, and a
// partition whose location someone changed.
func TestGluePartitionsFollowTheDestination(t *testing.T) {
	moto := testenv.MotoForTest(t)
	gc := moto.Glue()
	gluetables.Create(t, gc, testDB, testLocation)
	ctx := context.Background()

	ev, dec := fixture.Sample(t, "events"), fixture.Sample(t, "decisions")
	root := t.TempDir()
	files := map[string][]byte{
		"type=decisions/date=2024-01-04/experiment=18786493712/part-00000-a.c000.snappy.parquet": dec,
		"type=decisions/date=2024-01-04/_SUCCESS":                                                nil,
	}
	for _, e := range awkwardEvents {
		files["type=events/date=2024-01-04/"+e+"/part-00000-a.c000.snappy.parquet"] = ev
	}
	files["type=events/date=2024-01-04/_SUCCESS"] = nil
	files["type=events/date=2024-01-05/event=purchase/part-00000-b.c000.snappy.parquet"] = ev
	fixture.WriteFiles(t, root, files)
	dst, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	k := &catalog.Keeper{Dest: dst, Glue: &catalog.Glue{Client: gc, Database: testDB, Location: testLocation}}

	// Backfill: dates mirrored before partitions were registered.
	var total catalog.Changes
	for _, typ := range export.AllTypes {
		ch, err := k.RegisterDates(ctx, typ, "", "")
		if err != nil {
			t.Fatalf("RegisterDates(%s) error = %v", typ, err)
		}
		total.Add(ch)
	}
	if want := (catalog.Changes{Created: len(awkwardEvents) + 2}); total != want {
		t.Errorf("backfill changes = %+v, want %+v", total, want)
	}
	checkPartitions(t, "after the backfill", gc, root)

	// Again: nothing to do.
	ch, err := k.RegisterDates(ctx, export.Events, "2024-01-01", "2024-01-31")
	if err != nil || ch != (catalog.Changes{}) {
		t.Errorf("second RegisterDates() = %+v, %v, want no changes", ch, err)
	}

	// A sync: tasks of a new date register their sub-partition as they are
	// copied (twice: a duplicate delivery), then the date completes.
	fixture.WriteFiles(t, root, map[string][]byte{
		"type=events/date=2024-01-06/event=NULL/part-00000-c.c000.snappy.parquet":        ev,
		"type=events/date=2024-01-06/event=add to cart/part-00000-c.c000.snappy.parquet": ev,
	})
	for range 2 {
		for _, p := range []string{"event=NULL", "event=add to cart"} {
			if _, err := k.PartitionCopied(ctx, export.Task{Type: export.Events, Date: "2024-01-06", Partition: p}); err != nil {
				t.Errorf("PartitionCopied(%s) error = %v", p, err)
			}
		}
	}
	if _, err := k.PartitionCopied(ctx, export.Task{Type: export.Events, Date: "2024-01-06"}); err != nil {
		t.Errorf("PartitionCopied(date-level task) error = %v, want nothing to do", err)
	}
	checkPartitions(t, "after the tasks of a sync", gc, root)
	if r, err := k.DateCompleted(ctx, export.Events, "2024-01-06"); err != nil || r.Partitions != (catalog.Changes{}) {
		t.Errorf("DateCompleted() = %+v, %v, want the partitions already there", r.Partitions, err)
	}

	// A rewrite: Optimizely rewrote 2024-01-04 without "add to cart" and
	// with a new event; the stale folder was pruned.
	if err := os.RemoveAll(filepath.Join(root, "type=events/date=2024-01-04/event=add to cart")); err != nil {
		t.Fatal(err)
	}
	fixture.WriteFiles(t, root, map[string][]byte{"type=events/date=2024-01-04/event=checkout/part-00000-d.c000.snappy.parquet": ev})
	r, err := k.DateCompleted(ctx, export.Events, "2024-01-04")
	if err != nil || r.Partitions != (catalog.Changes{Created: 1, Deleted: 1}) {
		t.Errorf("DateCompleted() after the rewrite = %+v, %v, want 1 created, 1 deleted", r.Partitions, err)
	}
	checkPartitions(t, "after the rewrite", gc, root)

	// A partition moved elsewhere by hand comes back to its folder.
	values := []string{"2024-01-05", "purchase"}
	if _, err := gc.UpdatePartition(ctx, &glue.UpdatePartitionInput{
		DatabaseName: aws.String(testDB), TableName: aws.String("events"), PartitionValueList: values,
		PartitionInput: &gluetypes.PartitionInput{Values: values, StorageDescriptor: &gluetypes.StorageDescriptor{Location: aws.String("s3://elsewhere/")}},
	}); err != nil {
		t.Fatal(err)
	}
	ch, err = k.PartitionCopied(ctx, export.Task{Type: export.Events, Date: "2024-01-05", Partition: "event=purchase"})
	if err != nil || ch != (catalog.Changes{Updated: 1}) {
		t.Errorf("PartitionCopied() of a moved partition = %+v, %v, want 1 updated", ch, err)
	}
	checkPartitions(t, "after a location was corrected", gc, root)

	// Registered partitions carry the table's format and columns.
	got, err := gc.GetPartition(ctx, &glue.GetPartitionInput{DatabaseName: aws.String(testDB), TableName: aws.String("events"),
		PartitionValues: []string{"2024-01-04", "a%3Ab"}})
	if err != nil {
		t.Fatal(err)
	}
	if sd := got.Partition.StorageDescriptor; aws.ToString(sd.SerdeInfo.SerializationLibrary) != "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" || len(sd.Columns) == 0 {
		t.Errorf("partition storage descriptor = %+v, want the table's Parquet SerDe and columns", sd)
	}
}

// A folder that cannot be a Glue partition is reported by name, and the
// others are still registered.
func TestGlueRefusesFoldersItCannotStore(t *testing.T) {
	moto := testenv.MotoForTest(t)
	gc := moto.Glue()
	gluetables.Create(t, gc, testDB, testLocation)
	g := &catalog.Glue{Client: gc, Database: testDB, Location: testLocation}
	ctx := context.Background()
	for _, tt := range []struct{ folder, want string }{
		{"event=\xff\xfe", "not valid UTF-8"},
		{"experiment=1", "is not event=<value>"},
		{"event=" + strings.Repeat("x", 1025), "at most 1024 bytes"},
	} {
		_, err := g.Register(ctx, export.Events, "2024-01-04", tt.folder)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Register(%.20q) error = %v, want %q", tt.folder, err, tt.want)
		}
	}
	ch, err := g.SyncDate(ctx, export.Events, "2024-01-04", []string{"event=ok", "event=\xff"})
	if err == nil || ch.Created != 1 {
		t.Errorf("SyncDate() = %+v, %v, want 1 created and an error naming the bad folder", ch, err)
	}
	if _, err := (&catalog.Glue{Client: gc, Database: "nope", Location: testLocation}).Register(ctx, export.Events, "2024-01-04", "event=a"); err == nil {
		t.Error("Register() in a missing database succeeded")
	}
}
