package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/job"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// hostileTimeouts are the S3 clients' timeouts in these tests: small, so
// that a hung endpoint fails in seconds, yet far above what MinIO needs on
// a loaded machine. With DefaultTimeouts the same runs take the times the
// README gives (Limits).
var hostileTimeouts = clients.Timeouts{Connect: 3 * time.Second, TLSHandshake: 3 * time.Second, ResponseHeader: 3 * time.Second, Idle: 3 * time.Second}

// hostileCase is one attack of a hostile S3-compatible server, on the
// source (or, with onDest, the destination), and the outcome it must have.
type hostileCase struct {
	name   string
	attack testenv.Attack
	onDest bool
	// wantRunErr: the run fails as a whole (it cannot plan) with an error
	// containing this; else wantTaskErr: the attacked tasks fail with it
	// and the others copy.
	wantRunErr, wantTaskErr string
}

// hostileResult is one line of the hostile table.
type hostileResult struct {
	attack, outcome string
	outside         int
	seconds         float64
}

var (
	hostileMu    sync.Mutex
	hostileTable []hostileResult
)

// The sub-partition the listing attacks aim at, and keys around it.
const (
	hDay      = "type=events/date=" + fromDate + "/"
	hTarget   = hDay + "event=purchase/"
	hNoData   = "type=events/date=2024-03-09/"
	hManifest = transfer.StateRoot + hTarget + "_manifest.json"
)

func hostileCases() []hostileCase {
	foreign := func(name, key, want string) hostileCase {
		return hostileCase{name: "foreign key in listing: " + name, wantTaskErr: want,
			attack: testenv.Attack{ListPrefix: hTarget, Extra: []testenv.ListEntry{{Key: acct + key, Size: 10}}}}
	}
	size := func(name string, n int64) hostileCase {
		return hostileCase{name: name, wantTaskErr: "impossible object size",
			attack: testenv.Attack{Sizes: map[string]int64{acct + hTarget + "part-00001.c000.snappy.parquet": n}}}
	}
	cases := []hostileCase{
		foreign("into the destination root", "evil.parquet", "outside the prefix"),
		foreign("into another date", "type=events/date="+toDate+"/event=purchase/evil.parquet", "outside the prefix"),
		foreign("forged _SUCCESS for a date with no data", hNoData+export.SuccessMarker, "outside the prefix"),
		foreign("over the _e3sync/ manifest", hManifest, "outside the prefix"),
		foreign("'..' segments", hTarget+"../../date=2024-03-09/"+export.SuccessMarker, "'..' segment"),
		{name: "repeated continuation token", wantTaskErr: "continuation token repeated",
			attack: testenv.Attack{ListPrefix: hTarget, SameToken: true}},
		{name: "endless fresh continuation tokens", wantTaskErr: fmt.Sprintf("more than %d pages", store.MaxListPages),
			attack: testenv.Attack{ListPrefix: hTarget, FreshTokens: true}},
		size("negative size", -1),
		size("6 TiB size", 6<<40),
		{name: "source accepts but never answers", wantRunErr: "timeout awaiting response headers",
			attack: testenv.Attack{Hang: true, Op: testenv.OpAny, Key: acct}},
		{name: "source drips bodies (1 byte / 200 ms)", wantTaskErr: "too slow",
			attack: testenv.Attack{Drip: true, DripEvery: 200 * time.Millisecond, Op: testenv.OpGetObject, Key: acct}},
		{name: "source drips bodies (1 byte / 5 s, slower than the idle timeout)", wantTaskErr: "idle timeout",
			attack: testenv.Attack{Drip: true, DripEvery: 5 * time.Second, Op: testenv.OpGetObject, Key: acct}},
		{name: "destination accepts uploads but never answers", onDest: true, wantTaskErr: "timeout awaiting response headers",
			attack: testenv.Attack{Hang: true, Op: testenv.OpPutObject}},
	}
	return cases
}

// TestHostileS3 runs a sync against each attack, then a clean run: the
// attack fails what it touches with an error naming the problem, within a
// bounded time; nothing is written outside the listed prefixes, nothing is
// lost, corrupted or falsely complete, no upload is left open, and the clean
// run leaves an exact mirror.
func TestHostileS3(t *testing.T) {
	w := newHostileWorld(t)
	cases := hostileCases()
	prefixes := make([]string, len(cases))
	for i, hc := range cases {
		prefixes[i] = w.newPrefix("hostile " + hc.name)
	}
	t.Cleanup(func() {
		if testing.Verbose() || soakRounds() > 0 {
			printHostileTable()
		}
	})
	for i, hc := range cases {
		t.Run(hc.name, func(t *testing.T) {
			t.Parallel()
			w.runHostile(t, hc, prefixes[i])
		})
	}
}

// newHostileWorld is a small export: two sub-partitions and a date-level
// file on a complete date, one on an incomplete one, one decisions date.
func newHostileWorld(t *testing.T) *world {
	w := newEmptyWorld(t, 11)
	dd := "type=decisions/date=" + fromDate + "/"
	d2 := "type=events/date=" + toDate + "/"
	w.put(hTarget+"part-00000.c000.snappy.parquet", 90_000)
	w.put(hTarget+"part-00001.c000.snappy.parquet", 120_000)
	w.put(hDay+"event=cart/part-00000.c000.snappy.parquet", 50_000)
	w.put(d2+"event=purchase/part-00000.c000.snappy.parquet", 60_000)
	w.put(dd+"experiment=1/part-00000.c000.snappy.parquet", 80_000)
	w.put(hDay+export.SuccessMarker, 0)
	w.put(dd+export.SuccessMarker, 0)
	w.dates[hDay], w.dates[d2], w.dates[dd] = true, false, true
	return w
}

func (w *world) runHostile(t *testing.T, hc hostileCase, prefix string) {
	ctx := context.Background()
	src, err := testenv.NewHostileS3(w.proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := testenv.NewHostileS3(w.proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	attacked := src
	if hc.onDest {
		attacked = dst
		hc.attack.Key = prefix // only this row's destination
	}
	attacked.Set(hc.attack)

	start := time.Now()
	done := make(chan struct{})
	var sum job.Summary
	go func() {
		defer close(done)
		sum, err = w.hostileSync(ctx, prefix, src.URL, dst.URL)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Minute): // a "did not hang" guard only
		t.Fatalf("the run under attack did not end")
	}
	took := time.Since(start)
	outcome := ""
	switch {
	case hc.wantRunErr != "":
		if err == nil || !strings.Contains(err.Error(), hc.wantRunErr) {
			t.Errorf("run = %v, want it to fail with %q", err, hc.wantRunErr)
		}
		outcome = "run fails: " + excerpt(err.Error(), hc.wantRunErr)
	case err != nil:
		t.Errorf("run failed as a whole: %v; want only the attacked tasks to fail", err)
		outcome = "run fails: " + excerpt(err.Error(), "")
	default:
		i := slices.IndexFunc(sum.Errors, func(e string) bool { return strings.Contains(e, hc.wantTaskErr) })
		if sum.TasksFailed == 0 || i < 0 {
			t.Errorf("run: %d tasks failed, errors %q; want a task failing with %q", sum.TasksFailed, sum.Errors, hc.wantTaskErr)
		}
		if hc.attack.ListPrefix != "" || hc.attack.Sizes != nil {
			// Only the attacked sub-partition fails: the 3 others copy.
			if sum.TasksFailed != 1 || sum.ObjectsCopied < 3 {
				t.Errorf("run: %d tasks failed, %d objects copied; want only the attacked task to fail", sum.TasksFailed, sum.ObjectsCopied)
			}
		}
		outcome = fmt.Sprintf("%d of %d tasks fail, %d objects copied", sum.TasksFailed, sum.Tasks, sum.ObjectsCopied)
		if i >= 0 {
			outcome += ": " + excerpt(sum.Errors[i], hc.wantTaskErr)
		}
	}
	t.Logf("under attack (%d hostile answers): %s, after %v", attacked.Served(), outcome, took.Round(time.Millisecond))
	if attacked.Served() == 0 {
		t.Errorf("the attack was never made: the row tests nothing")
	}
	outside := w.outsideListed(t, prefix)
	for _, k := range outside {
		t.Errorf("written outside the listed prefixes: %s", k)
	}

	// The attack stops: the next run completes an exact mirror.
	attacked.Set(testenv.Attack{})
	if sum, err := w.hostileSync(ctx, prefix, src.URL, dst.URL); err != nil || sum.Failed() {
		t.Errorf("clean run after the attack = %v, errors %q", err, sum.Errors)
	}
	for _, df := range w.differences(t, prefix) {
		t.Errorf("after the clean run: %v", df)
	}
	res := row{name: "hostile S3: " + hc.name, injected: attacked.Served(), runs: 2, failedRuns: 1}
	d := newDamage()
	var mu sync.Mutex
	w.final(t, prefix, d, &mu, &res)
	record(res)
	hostileMu.Lock()
	hostileTable = append(hostileTable, hostileResult{attack: hc.name, outcome: outcome, outside: len(outside), seconds: took.Seconds()})
	hostileMu.Unlock()
}

// hostileSync is one whole job, as the CLI runs it, with the source read
// through srcURL and the destination written through dstURL.
func (w *world) hostileSync(ctx context.Context, prefix, srcURL, dstURL string) (job.Summary, error) {
	env := map[string]string{"T": token}
	src, err := source.Open(ctx, source.Config{
		Tokens: pat.FromEnv(func(k string) string { return env[k] }, "T"), APIBaseURL: w.apiURL, Endpoint: srcURL,
		Timeouts: hostileTimeouts,
	})
	if err != nil {
		return job.Summary{}, err
	}
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testworld.CustomerKey, testworld.CustomerSecret, ""),
		BaseEndpoint: aws.String(dstURL),
	}
	dst := clients.NewDestinationS3(cfg, store.Target{Bucket: dstBucket, Prefix: prefix}, true, store.S3Options{PartSize: partSize},
		func(o *s3.Options) { o.HTTPClient = clients.HTTPClient(nil, hostileTimeouts) })
	eng := transfer.New(src.Store, dst, transfer.Options{Concurrency: 4})
	j := &job.Job{Source: src.Store, Dest: dst, Engine: eng, TaskConcurrency: 4}
	return j.Run(ctx, plan.Options{Types: export.AllTypes, From: fromDate, To: toDate, RunID: "hostile"})
}

// outsideListed returns what the destination prefix holds that no listing
// of the source could have put there: anything but a source object, the
// _SUCCESS of a complete source date, the manifest of a sub-partition
// (naming only source objects), the run records (package runlog) and the
// recorded schemas (package catalog).
func (w *world) outsideListed(t *testing.T, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var bad []string
	p := s3.NewListObjectsV2Paginator(w.root, &s3.ListObjectsV2Input{Bucket: aws.String(dstBucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			date, isSuccess := strings.CutSuffix(k, export.SuccessMarker)
			_, isData := w.src[k]
			switch {
			case isData, isSuccess && w.dates[date]:
			case strings.HasPrefix(k, transfer.StateRoot) && strings.HasSuffix(k, "/_manifest.json"):
				bad = append(bad, w.foreignInManifest(t, aws.ToString(o.Key))...)
			case strings.HasPrefix(k, runlog.Root) && w.isRunRecord(t, aws.ToString(o.Key)):
				// The run's own record (counts and task names), no source key.
			case strings.HasPrefix(k, catalog.SchemaRoot) && strings.HasSuffix(k, ".json"): // a completed date's recorded schema
			default:
				bad = append(bad, k)
			}
		}
	}
	return bad
}

// isRunRecord reports whether key holds a run record (package runlog), not
// bytes copied from the source.
func (w *world) isRunRecord(t *testing.T, key string) bool {
	g, err := w.root.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Body.Close()
	var r runlog.Record
	return json.NewDecoder(g.Body).Decode(&r) == nil && r.Version == 1 && r.Origin == runlog.OriginCLI
}

// foreignInManifest returns the keys a manifest records that are not source
// objects.
func (w *world) foreignInManifest(t *testing.T, key string) []string {
	g, err := w.root.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Body.Close()
	data, err := io.ReadAll(g.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Objects map[string]json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return []string{key + " (not a manifest: " + err.Error() + ")"}
	}
	var bad []string
	for k := range m.Objects {
		if _, ok := w.src[k]; !ok {
			bad = append(bad, key+" records "+k)
		}
	}
	return bad
}

// excerpt is the part of an error message around want: what a reader needs
// to see in a table cell.
func excerpt(msg, want string) string {
	for _, line := range strings.Split(msg, "\n") {
		i := strings.Index(line, want)
		if i < 0 {
			continue
		}
		from, to := max(0, i-110), min(len(line), i+len(want)+50)
		out := line[from:to]
		if from > 0 {
			out = "…" + out
		}
		if to < len(line) {
			out += "…"
		}
		return out
	}
	return msg
}

func printHostileTable() {
	hostileMu.Lock()
	defer hostileMu.Unlock()
	fmt.Printf("\n| hostile S3 attack | outcome | files written outside the listed prefix | seconds to fail |\n|---|---|---|---|\n")
	for _, r := range hostileTable {
		fmt.Printf("| %s | %s | %d | %.1f |\n", r.attack, strings.ReplaceAll(r.outcome, "|", "/"), r.outside, r.seconds)
	}
}
