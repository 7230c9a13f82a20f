package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/pkg/status"
)

func runStatusCLI(t *testing.T, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"status"}, args...), getenv, &out, &errb)
	return code, out.String(), errb.String()
}

func statusJSON(t *testing.T, getenv func(string) string, args ...string) status.Report {
	t.Helper()
	code, out, stderr := runStatusCLI(t, getenv, append([]string{"--json"}, args...)...)
	var r status.Report
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("status --json: exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, out, stderr)
	}
	return r
}

// wantLines checks that each pattern matches a line of out.
func wantLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)^` + p + `$`).MatchString(out) {
			t.Errorf("no line matches %q in:\n%s", p, out)
		}
	}
}

func TestStatusOnDemoDestination(t *testing.T) {
	dir := t.TempDir()
	noEnv := func(string) string { return "" }
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--dest", dir}, noEnv, &out, &errb); code != 0 {
		t.Fatalf("demo: exit %d\n%s%s", code, out.String(), errb.String())
	}
	// The demo's export: complete dates up to yesterday, today still growing.
	yesterday, today := day(-1), day(0)
	code, text, stderr := runStatusCLI(t, noEnv, "--dest", dir)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, stderr)
	}
	t.Logf("e3sync status --dest <demo>:\n%s", text)
	wantLines(t, text,
		`checked .* UTC, source not checked \(no token\), look-back window from `+day(-3),
		`TYPE +NEWEST COMPLETE +AGE +COMPLETE DATES +INCOMPLETE +STALE OBJECTS`,
		`decisions +`+yesterday+` +1 day +4 +1 +-`,
		`events +`+yesterday+` +1 day +4 +1 +-`,
		`  TYPE +DATE +MISSING +STALE +WHY`,
		`  decisions +`+today+` +- +- +no _SUCCESS in the destination; source not checked`,
		`  events +`+today+` +- +- +no _SUCCESS in the destination; source not checked`,
		`last run: \d{8}T\d{6}Z-[0-9a-f]{8} \(e3sync CLI\), finished .* UTC`,
		`  tasks 36 \(failed 0, continued 0\), objects copied 12 \(.*\), skipped 36, failed 0, dates completed 2`,
	)

	r := statusJSON(t, noEnv, "--dest", dir)
	if r.SourceChecked || len(r.Types) != 2 || r.LastRun == nil || r.LastRun.DatesCompleted != 2 {
		t.Errorf("status --json = %+v; want the source not checked, 2 types, the demo's last run", r)
	}
	for _, ts := range r.Types {
		if ts.NewestComplete != yesterday || len(ts.Incomplete) != 1 || ts.Incomplete[0].Date != today || ts.StaleObjects != nil {
			t.Errorf("%s = %+v; want newest complete %s, incomplete %s only, stale unknown", ts.Type, ts, yesterday, today)
		}
	}
}

func TestStatusAgainstMinIO(t *testing.T) {
	w := newWorld(t, 0)
	old, twoDays, yesterday, today := day(-6), day(-2), day(-1), day(0)
	for i, d := range []string{old, twoDays, yesterday, today} {
		w.put("type=events/date="+d+"/event=purchase/part-00000-a.c000.snappy.parquet", randBytes(5_000+i, int64(i)))
		w.put("type=events/date="+d+"/event=NULL/part-00000-a.c000.snappy.parquet", randBytes(3_000, int64(10+i)))
	}
	for _, d := range []string{old, yesterday} {
		w.put("type=events/date="+d+"/_SUCCESS", nil)
	}
	dest := "s3://" + dstBucket + "/" + dstPrefix
	if code, s, stderr := w.sync(t, "--dest", dest, "--types", "events"); code != 0 || s.ObjectsCopied != 8 || s.DatesCompleted != 2 {
		t.Fatalf("sync: exit %d, %+v\n%s", code, s, stderr)
	}
	// After the sync: Optimizely completes two days ago and rewrites
	// yesterday (one object under a new name); today keeps growing.
	w.put("type=events/date="+twoDays+"/_SUCCESS", nil)
	gone := "type=events/date=" + yesterday + "/event=NULL/part-00000-a.c000.snappy.parquet"
	if _, err := w.Root.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(acctPrefix + gone)}); err != nil {
		t.Fatal(err)
	}
	w.put("type=events/date="+yesterday+"/event=NULL/part-00000-b.c000.snappy.parquet", randBytes(3_000, 77))
	w.put("type=events/date="+today+"/event=late/part-00000-a.c000.snappy.parquet", randBytes(1_000, 78))
	getenv := func(k string) string { return w.env[k] }

	code, text, stderr := runStatusCLI(t, getenv, "--dest", dest, "--types", "events")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, stderr)
	}
	t.Logf("e3sync status --dest %s --types events:\n%s", dest, text)
	wantLines(t, text,
		`destination `+regexp.QuoteMeta(dest),
		`checked .* UTC, source checked, look-back window from `+day(-3),
		`events +`+yesterday+` +1 day +2 +3 +1`,
		`  events +`+twoDays+` +0 +0 +_SUCCESS not yet mirrored`,
		`  events +`+yesterday+` +1 +1 +objects missing`,
		`  events +`+today+` +1 +0 +no source _SUCCESS yet`,
		`last run: .* \(e3sync CLI\), finished .*`,
		`  tasks 8 \(failed 0, continued 0\), objects copied 8 \(.*\), skipped 0, failed 0, dates completed 2`,
	)
	if strings.Contains(text+stderr, token) {
		t.Errorf("status printed the token")
	}

	r := statusJSON(t, getenv, "--dest", dest, "--types", "events")
	ev := r.Types[0]
	if !r.SourceChecked || ev.NewestComplete != yesterday || ev.DatesComplete != 2 || ev.DatesChecked != 3 ||
		ev.StaleObjects == nil || *ev.StaleObjects != 1 || len(ev.Incomplete) != 3 || ev.Incomplete[1].Reason != status.ObjectsMissing {
		t.Errorf("status --json = %+v, events %+v; want newest %s, 2 complete, 3 compared, 1 stale, 3 incomplete", r, ev, yesterday)
	}

	// Without a token: the destination alone.
	noToken := func(k string) string {
		if k == envToken {
			return ""
		}
		return w.env[k]
	}
	code, text, _ = runStatusCLI(t, noToken, "--dest", dest, "--types", "events")
	wantLines(t, text,
		`checked .* UTC, source not checked \(no token\), look-back window from `+day(-3),
		`events +`+yesterday+` +1 day +2 +2 +-`,
		`  events +`+twoDays+` +- +- +no _SUCCESS in the destination; source not checked`,
		`  events +`+today+` +- +- +no _SUCCESS in the destination; source not checked`,
	)
	if code != 0 {
		t.Errorf("status without a token: exit %d", code)
	}
}

func TestStatusUsage(t *testing.T) {
	noEnv := func(string) string { return "" }
	code, stdout, stderr := runStatusCLI(t, noEnv, "-h")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: e3sync status --dest DEST") || !strings.Contains(stdout, "--lookback") {
		t.Errorf("status -h: exit %d, stderr %q, stdout\n%s", code, stderr, stdout)
	}
	code, _, stderr = runStatusCLI(t, noEnv, "--types", "no/pe", "--lookback", "-2", "extra")
	for _, want := range []string{"unexpected arguments: extra", "--dest is required", `invalid export type "no/pe"`, "--lookback -2 is negative"} {
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("status with bad flags: exit %d, stderr %q; want exit %d naming %q", code, stderr, exitUsage, want)
		}
	}
	if code, _, stderr = runStatusCLI(t, noEnv, "--dest", t.TempDir()+"/missing"); code != exitUsage || !strings.Contains(stderr, "no such directory") {
		t.Errorf("status of a missing directory: exit %d, %q", code, stderr)
	}
}
