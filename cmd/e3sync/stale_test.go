package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/pkg/verify"
)

func (w *world) deleteSource(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := w.Root.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(acctPrefix + k)}); err != nil {
			t.Fatal(err)
		}
	}
}

// dataObjects is objects of the destination without e3sync's own folder.
func dataObjects(t *testing.T, w *world) map[string]string {
	t.Helper()
	out := objects(t, w.Root, dstBucket, dstPrefix)
	for k := range out {
		if strings.HasPrefix(k, "_e3sync/") {
			delete(out, k)
		}
	}
	return out
}

// A date Optimizely rewrites under new part names (one object also changed
// in place, one sub-partition dropped): without --prune the objects the
// source no longer lists are counted and left alone; with --prune they are
// quarantined and removed, and the destination equals the source exactly.
// A date that vanished from the source entirely is never touched.
func TestRewrittenDateAgainstMinIO(t *testing.T) {
	w := newWorld(t, 0)
	dest := "s3://" + dstBucket + "/" + dstPrefix
	rewritten, vanished := day(-1), day(-2)
	dec := "type=decisions/date=" + rewritten + "/"
	ev := "type=events/date=" + rewritten + "/"
	old := []string{
		dec + "experiment=1/part-00000-aaaa.c000.snappy.parquet",
		dec + "experiment=1/part-00001-aaaa.c000.snappy.parquet",
		ev + "event=purchase/part-00000-aaaa.c000.snappy.parquet",
		ev + "event=dropped/part-00000-aaaa.c000.snappy.parquet",
	}
	inPlace := dec + "experiment=2/part-00000-aaaa.c000.snappy.parquet"
	for i, k := range append(old, inPlace) {
		w.put(k, randBytes(20_000+i, int64(i)))
	}
	w.put(dec+"_SUCCESS", nil)
	w.put(ev+"_SUCCESS", nil)
	gone := "type=events/date=" + vanished + "/event=x/part-00000-cccc.c000.snappy.parquet"
	w.put(gone, randBytes(3_000, 42))
	w.put("type=events/date="+vanished+"/_SUCCESS", nil)

	if code, s, stderr := w.sync(t, "--dest", dest); code != 0 || s.ObjectsCopied != 6 || s.DatesCompleted != 3 || s.ObjectsStale != 0 {
		t.Fatalf("first sync: exit %d, %+v\n%s", code, s, stderr)
	}
	before := dataObjects(t, w)

	// Optimizely rewrites the date, and its retention removes the other.
	w.deleteSource(t, old...)
	w.put(dec+"experiment=1/part-00000-bbbb.c000.snappy.parquet", randBytes(30_000, 10))
	w.put(ev+"event=purchase/part-00000-bbbb.c000.snappy.parquet", randBytes(25_000, 11))
	w.put(ev+"event=purchase/part-00001-bbbb.c000.snappy.parquet", randBytes(5_000, 12))
	w.put(inPlace, randBytes(20_000+len(old), 13)) // same key and size, other bytes
	w.deleteSource(t, gone, "type=events/date="+vanished+"/_SUCCESS")

	t.Run("without --prune: counted, nothing removed", func(t *testing.T) {
		code, s, stderr := w.sync(t, "--dest", dest)
		if code != 0 || s.ObjectsCopied != 4 || s.ObjectsStale != len(old) || s.ObjectsPruned != 0 {
			t.Fatalf("sync: exit %d, %+v, want 4 copied, %d stale, 0 pruned\n%s", code, s, len(old), stderr)
		}
		if !strings.Contains(stderr, "stale object") {
			t.Errorf("no warning names the stale objects:\n%s", stderr)
		}
		got := dataObjects(t, w)
		for _, k := range append(old, gone) {
			if got[k] != before[k] {
				t.Errorf("%s was changed or removed without --prune", k)
			}
		}
		for k := range objects(t, w.Root, dstBucket, dstPrefix+"_e3sync/quarantine/") {
			t.Errorf("quarantine %s written without --prune", k)
		}
		// plan shows them too, and what --prune would do.
		var out, errb strings.Builder
		getenv := func(k string) string { return w.env[k] }
		if code := run(context.Background(), []string{"plan", "--dest", dest, "--prune"}, getenv, &out, &errb); code != 0 ||
			!strings.Contains(out.String(), "objects stale: 4 (no longer at the source); to prune: 4") {
			t.Errorf("plan --prune: exit %d\n%s\n%s", code, out.String(), errb.String())
		}
	})

	var runID string
	t.Run("with --prune: exactly the source, copies quarantined", func(t *testing.T) {
		code, s, stderr := w.sync(t, "--dest", dest, "--prune")
		if code != 0 || s.ObjectsCopied != 0 || s.ObjectsStale != len(old) || s.ObjectsPruned != len(old) {
			t.Fatalf("sync --prune: exit %d, %+v, want %d stale and pruned\n%s", code, s, len(old), stderr)
		}
		runID = s.RunID
		src := objects(t, w.Root, srcBucket, acctPrefix)
		got := dataObjects(t, w)
		for k, sum := range src {
			if got[k] != sum {
				t.Errorf("destination %s: sha256 %q, want the source's %q", k, got[k], sum)
			}
		}
		for k := range got {
			if _, ok := src[k]; !ok && !strings.HasPrefix(k, "type=events/date="+vanished+"/") {
				t.Errorf("destination has %s, which the source does not", k)
			}
		}
		for _, k := range []string{dec + "_SUCCESS", ev + "_SUCCESS"} {
			if _, ok := got[k]; !ok {
				t.Errorf("%s is gone: the rewritten date is complete at the source", k)
			}
		}
		q := objects(t, w.Root, dstBucket, dstPrefix+"_e3sync/quarantine/"+runID+"/")
		if len(q) != len(old) {
			t.Errorf("quarantine holds %d objects, want %d", len(q), len(old))
		}
		for _, k := range old {
			if q[k] != before[k] {
				t.Errorf("quarantine %s: sha256 %q, want the removed object's %q", k, q[k], before[k])
			}
		}
		// The vanished date is left exactly as it was.
		for _, k := range []string{gone, "type=events/date=" + vanished + "/_SUCCESS"} {
			if got[k] != before[k] {
				t.Errorf("%s of a date the source no longer has was changed or removed", k)
			}
		}
		if code, s, _ := w.sync(t, "--dest", dest, "--prune"); code != 0 || s.ObjectsStale != 0 || s.ObjectsCopied != 0 {
			t.Errorf("sync --prune again: exit %d, %+v, want nothing stale or copied", code, s)
		}
	})

	// Every difference verify reports is repaired by the one command it
	// prints.
	t.Run("verify prints the command that repairs every difference", func(t *testing.T) {
		incomplete := "type=events/date=" + day(0) + "/"
		w.put(incomplete+"event=late/part-00000-dddd.c000.snappy.parquet", randBytes(1_000, 20))
		if code, _, stderr := w.sync(t, "--dest", dest); code != 0 {
			t.Fatalf("sync: exit %d\n%s", code, stderr)
		}
		corrupt := randBytes(30_000, 10)
		corrupt[7] ^= 0xff
		w.putDest(dec+"experiment=1/part-00000-bbbb.c000.snappy.parquet", corrupt)                      // content mismatch
		w.putDest(ev+"event=purchase/part-00001-bbbb.c000.snappy.parquet", []byte("short"))             // size mismatch
		w.putDest(ev+"event=purchase/part-00009-eeee.c000.snappy.parquet", []byte("stale"))             // extra
		w.putDest(incomplete+"event=late/part-00001-ffff.c000.snappy.parquet", []byte("stale as well")) // extra, incomplete date
		w.putDest(incomplete+"_SUCCESS", nil)                                                           // false _SUCCESS
		if _, err := w.Root.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(dstBucket),
			Key: aws.String(dstPrefix + inPlace)}); err != nil { // missing
			t.Fatal(err)
		}
		code, out, stderr := w.verifyRun(t, "--dest", dest, "--json")
		var rep struct {
			verify.Report
			RepairCommand string `json:"repair_command"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFailed {
			t.Fatalf("verify: exit %d, %v\n%s\n%s", code, err, out, stderr)
		}
		kinds := map[verify.Kind]bool{}
		for _, d := range rep.Differences {
			kinds[d.Kind] = true
		}
		for _, k := range []verify.Kind{verify.Missing, verify.Extra, verify.SizeMismatch, verify.ContentMismatch, verify.FalseSuccess, verify.IncompleteSuccess} {
			if !kinds[k] {
				t.Errorf("verify found no %s difference: %+v", k, rep.Differences)
			}
		}
		if len(rep.RetainedDates) != 1 || rep.RetainedDates[0] != "events/"+vanished {
			t.Errorf("retained_dates = %v, want [events/%s]", rep.RetainedDates, vanished)
		}
		want := "e3sync sync --dest " + dest + " --from " + rewritten + " --to " + day(0) + " --force --prune"
		if rep.RepairCommand != want {
			t.Fatalf("repair_command = %q, want %q", rep.RepairCommand, want)
		}
		_, text, _ := w.verifyRun(t, "--dest", dest)
		if !strings.Contains(text, "repair with: "+want+"\n") {
			t.Errorf("verify's text output does not print the repair command:\n%s", text)
		}
		args := strings.Fields(rep.RepairCommand)[2:] // after "e3sync sync"
		if code, s, stderr := w.sync(t, args...); code != 0 || len(s.WithdrawnDates) != 1 {
			t.Fatalf("%s: exit %d, %+v\n%s", rep.RepairCommand, code, s, stderr)
		}
		code, rep2 := w.verifyJSON(t, "--dest", dest)
		if code != 0 || !rep2.Identical() {
			t.Errorf("verify after the repair: exit %d, %+v; want identical", code, rep2.Differences)
		}
		if got := dataObjects(t, w)[gone]; got != before[gone] {
			t.Errorf("the repair touched %s of the vanished date", gone)
		}
	})
}
