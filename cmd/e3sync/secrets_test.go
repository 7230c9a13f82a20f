package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Nothing the CLI prints — logs at debug level, summaries in text and JSON,
// verify reports, retry warnings while credentials expire every 2 seconds,
// and the error of a revoked token — holds the PAT, a minted credential or
// the destination's secret key.
func TestCLINeverPrintsSecrets(t *testing.T) {
	w := newWorld(t, 2*time.Second) // credentials expire every 2 seconds
	api, rec := w.API, w.Minted

	d := day(-1)
	for i := 0; i < 6; i++ {
		w.put(fmt.Sprintf("type=events/date=%s/event=e%d/part-00000.c000.snappy.parquet", d, i), randBytes(6<<20, int64(i)))
	}
	w.put("type=events/date="+d+"/_SUCCESS", nil)
	dest := "s3://" + dstBucket + "/" + dstPrefix

	var all bytes.Buffer
	cli := func(args ...string) int {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, func(k string) string { return w.env[k] }, &out, &errb)
		fmt.Fprintf(&all, "$ e3sync %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		return code
	}
	if code := cli("plan", "--dest", dest, "--verbose"); code != 0 {
		t.Errorf("plan exit %d", code)
	}
	if code := cli("sync", "--dest", dest, "--verbose", "--part-size", "5MiB", "--concurrency", "2", "--task-concurrency", "1"); code != 0 {
		t.Errorf("sync exit %d", code)
	}
	if code := cli("sync", "--dest", dest, "--json", "--verbose"); code != 0 {
		t.Errorf("second sync exit %d", code)
	}
	w.putDest(fmt.Sprintf("type=events/date=%s/event=e0/part-00000.c000.snappy.parquet", d), randBytes(6<<20, 99))
	if code := cli("verify", "--dest", dest, "--verbose"); code != exitFailed {
		t.Errorf("verify of a corrupted destination exit %d, want %d", code, exitFailed)
	}
	cli("verify", "--dest", dest, "--json")
	for _, args := range [][]string{{"status", "--dest", dest}, {"status", "--dest", dest, "--json"}} {
		if code := cli(args...); code != 0 {
			t.Errorf("%s exit %d", strings.Join(args, " "), code)
		}
	}
	api.Revoke(token)
	if code := cli("sync", "--dest", dest, "--verbose"); code != exitRejected {
		t.Errorf("sync with a revoked token exit %d, want %d", code, exitRejected)
	}
	if code := cli("status", "--dest", dest); code != exitRejected {
		t.Errorf("status with a revoked token exit %d, want %d", code, exitRejected)
	}

	text := all.String()
	minted := rec.Values()
	if len(minted) < 6 || api.Issued() < 2 {
		t.Fatalf("minted %d values in %d grants: want several refreshes", len(minted), api.Issued())
	}
	if !strings.Contains(text, "regenerate") || !strings.Contains(text, "content mismatch") {
		t.Errorf("output lacks the expected error and report:\n%s", text)
	}
	for _, v := range w.Secrets() {
		if len(v) < 8 {
			t.Fatalf("sentinel %q too short", v)
		}
		if i := strings.Index(text, v); i >= 0 {
			t.Errorf("CLI output contains a secret (%.6s...) at: %q", v, text[max(0, i-80):i])
		}
	}
}
