package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/job"
)

// The e3sync process killed with SIGKILL — no signal handler, no deferred
// abort, nothing written on the way out — in the middle of a multipart
// upload and between objects, then run again: the destination never shows a
// partial object or a false _SUCCESS, the re-run copies exactly what is
// missing and aborts the upload the killed run left open, and ends
// byte-identical to the source. Each soak round kills its share of
// soakFaults times per scenario, each time into an empty destination.
//
// A proxy holds back some requests of the first run until it is killed, so
// the kill always lands at the moment the scenario wants: while the upload
// is open with parts stored, or once every object that can finish has.
func TestKill(t *testing.T) {
	built := buildCLI(t) // while the first world starts
	var bin string
	for round := 0; round <= soakRounds(); round++ { // round 0: the short matrix
		w := newEmptyWorld(t, int64(100+round))
		seedKill(w, min(round, 1)) // the soak repeats; a bigger world only slows it
		if bin == "" {
			bin = built()
		}
		for _, sc := range killScenarios() {
			kills := 1
			if round > 0 {
				sc.name = fmt.Sprintf("soak %d: %s", round, sc.name)
				kills = soakShare(soakRounds())
			}
			t.Run(sc.name, func(t *testing.T) {
				record(repeat(t, sc.name, kills, func() row { return runKill(t, w, bin, sc) }))
			})
		}
	}
}

// holdBack bounds how long a request is held back: far longer than a
// scenario, so a held-back request never completes before the kill.
const holdBack = time.Minute

type killScenario struct {
	name string
	args []string // for the killed run
	// hold are the requests held back during the killed run.
	hold []holdRule
	// ready reports whether the killed run got as far as the scenario
	// wants; it is polled until it does, and the run is killed once it
	// does with nothing in flight but the requests held back: no write of
	// the killed run can land later, racing with the re-run.
	ready func(ctx context.Context, w *world, prefix string) (bool, error)
	// openAfterKill are the keys whose uploads the kill leaves open.
	openAfterKill []string
}

const (
	killDecisions = "type=decisions/date=" + fromDate + "/"
	killEvents    = "type=events/date=" + toDate + "/"
	bigKey        = killDecisions + "experiment=9/part-00000.c000.snappy.parquet"
)

// seedKill writes the kill scenarios' export: a decisions date with small
// objects and one of 48 MiB or more (10 or more parts of 5 MiB), and an
// events date of many small objects; both dates complete.
func seedKill(w *world, round int) {
	for i := range 4 * (1 + round) {
		w.put(fmt.Sprintf("%sexperiment=1/part-%05d.c000.snappy.parquet", killDecisions, i), 50_000+w.rng.Intn(200_000))
	}
	w.put(bigKey, (48+16*round)<<20+w.rng.Intn(1<<20))
	for i := range 30 * (1 + round) {
		w.put(fmt.Sprintf("%sevent=purchase/part-%05d.c000.snappy.parquet", killEvents, i), 20_000+w.rng.Intn(80_000))
	}
	for i := range 6 {
		w.put(fmt.Sprintf("%sevent=view/part-%05d.c000.snappy.parquet", killEvents, i), 20_000+w.rng.Intn(80_000))
	}
	w.put(killDecisions+export.SuccessMarker, 0)
	w.put(killEvents+export.SuccessMarker, 0)
	w.dates[killDecisions], w.dates[killEvents] = true, true
}

// visibleAre reports whether n data objects are visible under prefix.
func visibleAre(ctx context.Context, w *world, prefix string, n int) (bool, error) {
	objs, err := w.dstObjects(ctx, prefix)
	return len(dataOnly(objs)) == n, err
}

// dataOnly is objs without the _SUCCESS markers.
func dataOnly(objs map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, size := range objs {
		if !strings.HasSuffix(k, "/"+export.SuccessMarker) {
			out[k] = size
		}
	}
	return out
}

func killScenarios() []killScenario {
	return []killScenario{
		{
			name: "SIGKILL mid multipart upload, then re-run",
			// The large object's parts after the first two: its upload can
			// neither complete nor go on.
			hold: []holdRule{{op: testenv.OpUploadPart, keyContains: "experiment=9/", after: 2}},
			ready: func(ctx context.Context, w *world, prefix string) (bool, error) {
				if parts, err := w.partsStored(ctx, prefix+bigKey); err != nil || parts != 2 {
					return false, err
				}
				return visibleAre(ctx, w, prefix, len(w.src)-1) // every other object
			},
			openAfterKill: []string{bigKey},
		},
		{
			name: "SIGKILL between objects, then re-run",
			// Purchase objects 20 to 29, with slots enough for the others to
			// go on: the copy stops with nothing in flight but them.
			args: []string{"--concurrency", "16"},
			hold: []holdRule{{op: testenv.OpPutObject, keyContains: "event=purchase/part-0002"}},
			ready: func(ctx context.Context, w *world, prefix string) (bool, error) {
				if open, err := w.listOpenUploads(ctx, prefix); err != nil || len(open) > 0 {
					return false, err // the large object is still on its way
				}
				return visibleAre(ctx, w, prefix, len(w.src)-10)
			},
		},
	}
}

func runKill(t *testing.T, w *world, bin string, sc killScenario) row {
	ctx := context.Background()
	prefix := w.newPrefix("kill")
	res := row{name: sc.name, injected: 1, runs: 2, failedRuns: 1} // the killed run cannot report; it counts as failed

	d := newDamage()
	var mu sync.Mutex
	stopObs := w.observe(prefix, d, &mu)

	// Run 1, killed.
	hp := newHoldProxy(t, w.proxy.URL)
	defer hp.close()
	hp.setRules(sc.hold...)
	cmd, _, stderr := w.startCLI(t, bin, hp.URL, prefix, sc.args...)
	defer func(stderr *bytes.Buffer) {
		if t.Failed() {
			t.Logf("run 1 (killed) stderr:\n%s", stderr)
		}
	}(stderr)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(holdBack / 2)
poll:
	for {
		select {
		case err := <-exited:
			stopObs()
			t.Fatalf("the run ended (%v) before it could be killed where the scenario wants; stderr:\n%s", err, stderr)
		case <-deadline:
			stopObs()
			t.Fatalf("the run never got where the scenario kills it; stderr:\n%s", stderr)
		case <-time.After(20 * time.Millisecond):
		}
		ok, err := sc.ready(ctx, w, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if ok && hp.idle() {
			break poll
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("run 1 ended with %v, want killed by SIGKILL", err)
	}
	hp.setRules()

	open, err := w.listOpenUploads(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(open, sc.openAfterKill) {
		t.Errorf("uploads open after the kill = %q, want %q", open, sc.openAfterKill)
		w.logUploads(t, ctx, prefix)
	}
	all, err := w.dstObjects(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	after := dataOnly(all)
	for _, k := range sc.openAfterKill {
		if _, ok := after[k]; ok {
			t.Errorf("%s is visible after the run was killed in the middle of its upload", k)
		}
	}
	for date := range w.dates {
		if _, ok := all[date+export.SuccessMarker]; !ok {
			continue
		}
		for k := range w.src {
			if _, there := after[k]; strings.HasPrefix(k, date) && !there {
				t.Errorf("%s_SUCCESS written by the killed run, but %s is missing", date, k)
			}
		}
	}
	if len(after) == 0 || len(after) >= len(w.src) {
		t.Errorf("%d of %d objects visible after the kill, want some but not all", len(after), len(w.src))
	}

	// Run 2, to the end, aborting what is left open at once (the test
	// cannot wait for the default hour).
	cmd, stdout, stderr2 := w.startCLI(t, bin, hp.URL, prefix, "--abort-uploads-after", "1ms")
	defer func() {
		if t.Failed() {
			t.Logf("run 2 stderr:\n%s", stderr2)
		}
	}()
	if err := cmd.Wait(); err != nil {
		res.failedRuns++
		t.Errorf("run 2: %v", err)
	}
	var sum job.Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("run 2 summary is not JSON (%v):\n%s", err, stdout)
	}
	if sum.ObjectsCopied != len(w.src)-len(after) || sum.ObjectsSkipped != len(after) || sum.ObjectsFailed != 0 ||
		sum.UploadsAborted != len(sc.openAfterKill) || sum.Failed() {
		t.Errorf("run 2: copied %d, skipped %d, failed %d, uploads aborted %d, errors %q; want %d copied, %d skipped (of %d), %d aborted",
			sum.ObjectsCopied, sum.ObjectsSkipped, sum.ObjectsFailed, sum.UploadsAborted, sum.Errors,
			len(w.src)-len(after), len(after), len(w.src), len(sc.openAfterKill))
	}
	for _, k := range sc.openAfterKill {
		if !strings.Contains(stderr2.String(), "aborted a stale multipart upload") || !strings.Contains(stderr2.String(), k) {
			t.Errorf("run 2 did not log the abort of %s", k)
		}
	}

	res.seen = stopObs()
	w.final(t, prefix, d, &mu, &res)
	for _, df := range w.differences(t, prefix) {
		t.Errorf("after the re-run the destination differs: %v", df)
	}
	final, err := w.dstObjects(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for date, complete := range w.dates {
		if _, ok := final[date+export.SuccessMarker]; ok != complete {
			t.Errorf("after the re-run %s_SUCCESS present = %v, want %v", date, ok, complete)
		}
	}
	t.Logf("killed with %d of %d objects visible and %d uploads open; the re-run copied %d, skipped %d, aborted %d uploads; %d observer passes",
		len(after), len(w.src), len(open), sum.ObjectsCopied, sum.ObjectsSkipped, sum.UploadsAborted, res.seen)
	if !t.Failed() {
		w.remove(prefix)
	}
	return res
}

// buildCLI starts building the e3sync command into a temporary directory;
// the function it returns waits for the build and returns the binary.
func buildCLI(t *testing.T) func() string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "e3sync")
	var out bytes.Buffer
	cmd := exec.Command("go", "build", "-o", bin, "github.com/e3sync/e3sync/cmd/e3sync")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("go build ./cmd/e3sync: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) // a no-op once it has ended
	return func() string {
		t.Helper()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("go build ./cmd/e3sync: %v\n%s", err, &out)
		}
		return bin
	}
}

// startCLI starts `e3sync sync --json` into prefix of the customer bucket,
// both buckets at endpoint, with an environment of its own: the emulated
// Authentication API, the customer's keys, every other AWS service at a
// closed loopback port.
func (w *world) startCLI(t *testing.T, bin, endpoint, prefix string, args ...string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer) {
	t.Helper()
	home := t.TempDir()
	cmd = exec.Command(bin, append([]string{"sync", "--json", "--dest", "s3://" + dstBucket + "/" + prefix,
		"--from", fromDate, "--to", toDate, "--part-size", "5MiB", "--concurrency", "4", "--task-concurrency", "4"}, args...)...)
	cmd.Env = []string{
		"HOME=" + home,
		"OPTIMIZELY_TOKEN=" + token,
		"E3SYNC_OPTIMIZELY_API=" + w.apiURL,
		"E3SYNC_SOURCE_ENDPOINT=" + endpoint,
		"AWS_ENDPOINT_URL_S3=" + endpoint,
		"AWS_ENDPOINT_URL=http://127.0.0.1:9",
		"AWS_ACCESS_KEY_ID=" + testworld.CustomerKey,
		"AWS_SECRET_ACCESS_KEY=" + testworld.CustomerSecret,
		"AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) // a no-op once it has ended
	return cmd, stdout, stderr
}

// partsStored is how many parts the open upload of key (bucket-relative)
// has stored, -1 when there is no open upload for it.
func (w *world) partsStored(ctx context.Context, key string) (int, error) {
	out, err := w.root.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(dstBucket), Prefix: aws.String(key)})
	if err != nil {
		return 0, err
	}
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) != key {
			continue
		}
		parts, err := w.root.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(dstBucket), Key: u.Key, UploadId: u.UploadId})
		var nsu *types.NoSuchUpload
		if errors.As(err, &nsu) {
			continue // gone since it was listed (MinIO lists an upload being created or completed)
		}
		if err != nil {
			return 0, err
		}
		return len(parts.Parts), nil
	}
	return -1, nil
}

// holdProxy is a reverse proxy on 127.0.0.1 that holds back the requests
// its rules match: it reads the whole request body (only then does the HTTP
// server notice a client that goes away), then waits until the client is
// gone and drops the request, or until holdBack has passed and forwards it.
// A held request never reaches the store while its client lives.
type holdProxy struct {
	URL string

	srv        *httptest.Server
	rp         *httputil.ReverseProxy
	forwarding atomic.Int64 // requests being forwarded
	mu         sync.Mutex
	rules      []*holdRule
}

// holdRule matches requests of op whose key contains keyContains, all but
// the first after of them.
type holdRule struct {
	op          testenv.Op
	keyContains string
	after       int
	seen        int
}

func newHoldProxy(t *testing.T, target string) *holdProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{rp: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // SigV4 signs Host
		},
		FlushInterval: -1,
	}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p
}

// close stops the proxy, dropping what it holds back.
func (p *holdProxy) close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

func (p *holdProxy) setRules(rules ...holdRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
	for _, r := range rules {
		p.rules = append(p.rules, &r)
	}
}

func (p *holdProxy) holds(r *http.Request) bool {
	op, key := testenv.ClassifyS3(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rule := range p.rules {
		if op != rule.op || !strings.Contains(key, rule.keyContains) {
			continue
		}
		rule.seen++
		if rule.seen > rule.after {
			return true
		}
	}
	return false
}

func (p *holdProxy) serve(w http.ResponseWriter, r *http.Request) {
	if p.holds(r) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return // the client is gone: the request never reaches the store
		case <-time.After(holdBack):
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	p.forwarding.Add(1)
	defer p.forwarding.Add(-1)
	p.rp.ServeHTTP(w, r)
}

// idle reports whether no request is being forwarded (held ones are not).
func (p *holdProxy) idle() bool { return p.forwarding.Load() == 0 }

// logUploads logs the open uploads under prefix, with their parts, for a
// test that found some it did not want.
func (w *world) logUploads(t *testing.T, ctx context.Context, prefix string) {
	out, err := w.root.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(dstBucket)})
	if err != nil {
		t.Logf("ListMultipartUploads: %v", err)
		return
	}
	for _, u := range out.Uploads {
		if !strings.HasPrefix(aws.ToString(u.Key), prefix) {
			continue
		}
		parts, err := w.root.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(dstBucket), Key: u.Key, UploadId: u.UploadId})
		n := -1
		if err == nil {
			n = len(parts.Parts)
		}
		t.Logf("open upload of %s: id %.20s…, initiated %v (now %v), %d parts (%v)", aws.ToString(u.Key), aws.ToString(u.UploadId), aws.ToTime(u.Initiated), time.Now(), n, err)
	}
}
