package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/gluetables"
	"github.com/e3sync/e3sync/internal/testenv"
)

// exportSample is the real sample of Optimizely's export (see DESIGN.md).
const exportSample = "../../../shared/fixtures/optimizely-labs-sample"

func sampleFile(t *testing.T, typ string) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(exportSample, "type="+typ, "date=*", "*=*", "*.parquet"))
	if len(files) == 0 {
		t.Skipf("no %s files in %s", typ, exportSample)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// subPartitions is what the catalog must hold: one partition per
// sub-partition folder holding an object in the destination bucket.
func (w *world) subPartitions(t *testing.T, typ string) map[string]string {
	t.Helper()
	want := map[string]string{}
	for k := range objects(t, w.Root, dstBucket, dstPrefix+"type="+typ+"/") {
		parts := strings.Split(k, "/")
		if len(parts) != 3 || !strings.HasPrefix(parts[0], "date=") {
			continue
		}
		date := strings.TrimPrefix(parts[0], "date=")
		_, value, _ := strings.Cut(parts[1], "=")
		want[date+"|"+value] = "s3://" + dstBucket + "/" + dstPrefix + "type=" + typ + "/" + parts[0] + "/" + parts[1] + "/"
	}
	return want
}

func (w *world) checkCatalog(t *testing.T, step string, c *glue.Client, db string) {
	t.Helper()
	for _, typ := range []string{"decisions", "events"} {
		got, want := gluetables.Partitions(t, c, db, typ), w.subPartitions(t, typ)
		if len(want) == 0 || !maps.Equal(got, want) {
			t.Errorf("%s: %s.%s partitions\n%v\nwant the destination's sub-partitions\n%v", step, db, typ, got, want)
		}
	}
}

// The CLI keeps a Glue catalog's partitions equal to the destination's
// sub-partitions: sync with --glue-database (awkward event names), a
// backfill of a date rewritten with a new event, and 'e3sync catalog' for
// dates mirrored before (a new database) and after a folder was removed.
func TestSyncRegistersGluePartitions(t *testing.T) {
	moto := testenv.MotoForTest(t) // before newWorld sets AWS_PROFILE="", which moto's botocore refuses
	w := newWorld(t, 0)
	t.Setenv("AWS_ENDPOINT_URL_GLUE", moto.Endpoint())
	gc := moto.Glue()
	location := "s3://" + dstBucket + "/" + dstPrefix
	gluetables.Create(t, gc, "lake", location)

	ev, dec := sampleFile(t, "events"), sampleFile(t, "decisions")
	old, prev := day(-9), day(-1)
	for _, d := range []string{old, prev} {
		w.put("type=decisions/date="+d+"/experiment=18786493712/part-00000-a.c000.snappy.parquet", dec)
		for _, name := range []string{"purchase", "NULL", "video play", "checkout%3Astart", "promo;code(2)", "Ünïcødé"} {
			w.put("type=events/date="+d+"/event="+name+"/part-00000-b.c000.snappy.parquet", ev)
		}
		w.put("type=decisions/date="+d+"/_SUCCESS", nil)
		w.put("type=events/date="+d+"/_SUCCESS", nil)
	}
	// A type= folder e3sync does not know.
	w.put("type=decisions-rerun/date="+old+"/experiment=18786493712/part-00000-r.c000.snappy.parquet", dec)
	dest := "s3://" + dstBucket + "/" + dstPrefix

	code, s, stderr := w.sync(t, "--dest", dest, "--glue-database", "lake")
	if code != 0 || s.Catalog.Created != 14 || s.Catalog.Failures != 0 || s.Catalog.SchemaChanges != 0 {
		t.Fatalf("sync: exit %d, catalog %+v, want 0, 14 partitions created, no failures or schema changes; stderr:\n%s", code, s.Catalog, stderr)
	}
	if !slices.Equal(s.UnknownTypes, []string{"decisions-rerun"}) || !strings.Contains(stderr, "does not sync") {
		t.Errorf("unknown_types = %q, stderr:\n%s\nwant decisions-rerun reported", s.UnknownTypes, stderr)
	}
	// Named explicitly, it is synced (and gets no partitions: no table).
	code, s, stderr = w.sync(t, "--dest", dest, "--glue-database", "lake", "--types", "decisions-rerun")
	if code != 0 || s.ObjectsCopied != 1 || s.Catalog.Failures != 0 || len(s.UnknownTypes) != 0 {
		t.Errorf("sync --types decisions-rerun: exit %d, %+v, want 1 object copied, no catalog failures; stderr:\n%s", code, s, stderr)
	}
	w.checkCatalog(t, "after the first sync", gc, "lake")

	// Optimizely rewrites the old date with one more event; a backfill of it.
	w.put("type=events/date="+old+"/event=signup/part-00000-c.c000.snappy.parquet", ev)
	code, s, stderr = w.sync(t, "--dest", dest, "--glue-database", "lake", "--from", old, "--to", old)
	if code != 0 || s.Catalog.Created != 1 || s.Catalog.Failures != 0 {
		t.Fatalf("backfill: exit %d, catalog %+v, want 0, 1 partition created; stderr:\n%s", code, s.Catalog, stderr)
	}
	w.checkCatalog(t, "after a backfill", gc, "lake")

	// Dates mirrored before: a new database, registered by 'e3sync catalog'.
	gluetables.Create(t, gc, "lake2", location)
	catalogCmd := func(db string) (int, catalogSummary, string) {
		var out, errb bytes.Buffer
		getenv := func(k string) string { return w.env[k] }
		code := run(context.Background(), []string{"catalog", "--json", "--dest", dest, "--glue-database", db}, getenv, &out, &errb)
		var cs catalogSummary
		if err := json.Unmarshal(out.Bytes(), &cs); err != nil {
			t.Fatalf("catalog summary is not JSON: %v\n%s\n%s", err, out.String(), errb.String())
		}
		return code, cs, errb.String()
	}
	code, cs, errs := catalogCmd("lake2")
	if code != 0 || cs.Created != 15 || cs.Updated != 0 || cs.Deleted != 0 || len(cs.Errors) != 0 {
		t.Errorf("catalog lake2: exit %d, %+v, want 0, 15 created; stderr:\n%s", code, cs, errs)
	}
	w.checkCatalog(t, "after 'e3sync catalog'", gc, "lake2")

	// A sub-partition folder removed from the destination (pruned).
	gone := dstPrefix + "type=events/date=" + prev + "/event=video play/part-00000-b.c000.snappy.parquet"
	if _, err := w.Root.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(gone)}); err != nil {
		t.Fatal(err)
	}
	code, cs, errs = catalogCmd("lake")
	if code != 0 || cs.Deleted != 1 || cs.Created != 0 || cs.Updated != 0 || len(cs.Errors) != 0 {
		t.Errorf("catalog lake after a removal: exit %d, %+v, want 0, 1 deleted; stderr:\n%s", code, cs, errs)
	}
	w.checkCatalog(t, "after a folder was removed", gc, "lake")

	// Schemas of completed dates were recorded beside the state.
	recorded := slices.Sorted(maps.Keys(objects(t, w.Root, dstBucket, dstPrefix+"_e3sync/state/schemas/")))
	want := []string{"type=decisions/date=" + old + ".json", "type=decisions/date=" + prev + ".json",
		"type=events/date=" + old + ".json", "type=events/date=" + prev + ".json"}
	if !slices.Equal(recorded, want) {
		t.Errorf("recorded schemas = %v, want %v", recorded, want)
	}
}

func TestGlueDatabaseFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "--dest", t.TempDir(), "--glue-database", "lake"}, "needs an s3:// destination"},
		{[]string{"sync", "--dest", "s3://b/p/", "--glue-database", "Bad-Name"}, "--glue-database \"Bad-Name\""},
		{[]string{"catalog", "--dest", "s3://b/p/"}, "--glue-database is required"},
		{[]string{"catalog", "--glue-database", "lake"}, "--dest is required"},
		{[]string{"catalog", "--dest", "s3://b/p/", "--glue-database", "lake", "--from", "2024-13-01"}, `--from "2024-13-01" is not a date`},
	} {
		var out, errb bytes.Buffer
		getenv := func(k string) string { return map[string]string{envToken: "pat-x"}[k] }
		code := run(context.Background(), tt.args, getenv, &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("e3sync %q = exit %d, stderr %q; want %d and %q", tt.args, code, errb.String(), exitUsage, tt.want)
		}
	}
}
