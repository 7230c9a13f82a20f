package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/pkg/verify"
)

// verifyRun runs "e3sync verify" and returns the exit code, stdout and stderr.
func (w *world) verifyRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return w.env[k] }
	code := run(context.Background(), append([]string{"verify"}, args...), getenv, &out, &errb)
	return code, out.String(), errb.String()
}

func (w *world) verifyJSON(t *testing.T, args ...string) (int, verify.Report) {
	t.Helper()
	code, out, stderr := w.verifyRun(t, append([]string{"--json"}, args...)...)
	var rep verify.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify --json output is not a report: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	return code, rep
}

func (w *world) putDest(key string, body []byte) {
	w.t.Helper()
	if _, err := w.Root.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(dstBucket), Key: aws.String(dstPrefix + key), Body: bytes.NewReader(body),
	}); err != nil {
		w.t.Fatal(err)
	}
}

func kinds(rep verify.Report) map[string]verify.Kind {
	m := map[string]verify.Kind{}
	for _, d := range rep.Differences {
		if d.Kind != verify.IncompleteSuccess {
			m[d.Key] = d.Kind
		} else {
			m[d.Key+"!"] = d.Kind
		}
	}
	return m
}

func TestVerifyAgainstMinIO(t *testing.T) {
	w := newWorld(t, 0)
	d1, d2 := day(-2), day(-1)
	big := "type=events/date=" + d1 + "/event=big/part-00000.c000.snappy.parquet"
	small := "type=decisions/date=" + d1 + "/experiment=1/part-00000.c000.snappy.parquet"
	late := "type=events/date=" + d2 + "/event=NULL/part-00000.c000.snappy.parquet"
	w.put(big, randBytes(6<<20, 1))
	w.put(small, randBytes(30_000, 2))
	w.put(late, randBytes(5_000, 3))
	w.put("type=events/date="+d1+"/_SUCCESS", nil)
	w.put("type=decisions/date="+d1+"/_SUCCESS", nil)
	dest := "s3://" + dstBucket + "/" + dstPrefix
	if code, s, stderr := w.sync(t, "--dest", dest, "--part-size", "5MiB"); code != 0 || s.ObjectsCopied != 3 {
		t.Fatalf("sync: exit %d, %+v\n%s", code, s, stderr)
	}

	t.Run("identical after a sync", func(t *testing.T) {
		code, rep := w.verifyJSON(t, "--dest", dest)
		if code != 0 || !rep.Identical() || rep.ObjectsCompared != 3 || rep.BytesCompared != 6<<20+35_000 || len(rep.Dates) != 3 {
			t.Errorf("verify = exit %d, %+v; want 0, identical, 3 objects over 3 dates", code, rep)
		}
		code, out, _ := w.verifyRun(t, "--dest", dest)
		if code != 0 || !strings.HasPrefix(out, "identical: 3 dates, 3 objects") {
			t.Errorf("verify = exit %d, %q", code, out)
		}
	})

	t.Run("a corrupted object of the same size", func(t *testing.T) {
		corrupt := randBytes(6<<20, 1)
		corrupt[3<<20] ^= 0xff
		w.putDest(big, corrupt)
		code, rep := w.verifyJSON(t, "--dest", dest)
		want := map[string]verify.Kind{big: verify.ContentMismatch, "type=events/date=" + d1 + "/_SUCCESS!": verify.IncompleteSuccess}
		if code != exitFailed || !mapsEq(kinds(rep), want) {
			t.Errorf("verify = exit %d, %+v; want 1 and %v", code, rep.Differences, want)
		}
		code, out, _ := w.verifyRun(t, "--dest", dest, "--types", "events", "--from", d1, "--to", d1)
		if code != exitFailed || !strings.Contains(out, "content mismatch") || !strings.Contains(out, big) || !strings.Contains(out, "2 differences") {
			t.Errorf("verify text = exit %d:\n%s", code, out)
		}
		code, rep = w.verifyJSON(t, "--dest", dest, "--types", "decisions")
		if code != 0 || !rep.Identical() {
			t.Errorf("verify --types decisions = exit %d, %+v; want identical", code, rep.Differences)
		}
		w.putDest(big, randBytes(6<<20, 1))
	})

	t.Run("missing, extra, size and _SUCCESS differences", func(t *testing.T) {
		if _, err := w.Root.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(dstPrefix + small)}); err != nil {
			t.Fatal(err)
		}
		w.putDest("type=events/date="+d2+"/event=NULL/part-99999.c000.snappy.parquet", []byte("extra"))
		w.putDest(late, randBytes(4_999, 3))
		w.putDest("type=events/date="+d2+"/_SUCCESS", nil)
		code, rep := w.verifyJSON(t, "--dest", dest)
		want := map[string]verify.Kind{
			small: verify.Missing,
			"type=decisions/date=" + d1 + "/_SUCCESS!":                              verify.IncompleteSuccess,
			"type=events/date=" + d2 + "/event=NULL/part-99999.c000.snappy.parquet": verify.Extra,
			late:                                   verify.SizeMismatch,
			"type=events/date=" + d2 + "/_SUCCESS": verify.FalseSuccess,
		}
		if code != exitFailed || !mapsEq(kinds(rep), want) {
			t.Errorf("verify = exit %d, %v; want 1 and %v", code, kinds(rep), want)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		if code, _, stderr := w.verifyRun(t, "--dest", dest, "--from", d2, "--to", d1); code != exitUsage {
			t.Errorf("reversed range: exit %d, want %d\n%s", code, exitUsage, stderr)
		}
		if code, _, stderr := w.verifyRun(t, "--dest", t.TempDir()+"/nope"); code != exitUsage || !strings.Contains(stderr, "no such directory") {
			t.Errorf("missing directory: exit %d, %q; want %d, a settings error", code, stderr, exitUsage)
		}
	})
}

func mapsEq[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
