// Command e3bench is `make bench`: on loopback it starts MinIO with a source
// bucket readable only through scoped STS credentials (handed out by the fake
// Optimizely Authentication API) and a destination bucket of another user,
// seeds each workload, and measures, in the same invocation, the raw GET/PUT
// limit, e3sync's copy engine and rclone (defaults and tuned). Each case runs
// once as a warm-up through a request-counting proxy, then BENCH_RUNS times
// directly, the runs of all cases interleaved; the table shows medians. The
// limit cases are run once at each of a few stream counts first, and the best
// is the limit (more streams is not faster on a 2-core machine shared with
// MinIO).
//
//	BENCH_WORKLOADS=small,mix   workloads to run (default: quick; "all" for every one)
//	BENCH_RUNS=3                timed runs per case
//	BENCH_CASES=e3sync,rclone-tuned  cases to run (default: all)
//	BENCH_LIMIT_STREAMS=2,4,8,16     stream counts the limit cases are measured at (the best is the limit)
//	BENCH_CPUPROFILE=dir             CPU and allocation profiles of the timed runs (<workload>-<case>.pprof and .allocs.pprof;
//	                                 limit cases <workload>-<case>-<streams>.pprof; last run wins)
//	BENCH_LATENCY=0,10,30            per-request delays in ms (default all three): each > 0 puts a delaying
//	                                 proxy (testenv.FaultProxy, FaultLatency) in front of both S3 endpoints
//	BENCH_SLOWDOWN=10                a proxy nearest MinIO answers that percentage of requests (at random) with 503 SlowDown;
//	                                 the table then gives the objects a request of which was sent 3 times or more
//	BENCH_SMALL_OBJECTS=10000        objects of the small workload (fewer: a number in minutes)
//	BENCH_TRACE=dir                  the e3sync case's controller trace per timed run (<workload>-<ms>ms-<case>.jsonl, last run wins)
//	BENCH_BASELINE=path              a copybench built from another commit: case e3sync-baseline runs its
//	                                 copy mode, interleaved with e3sync (before/after in one invocation)
//	RCLONE=path                 rclone binary (default $E3SYNC_CACHE/bin/rclone)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/e3sync/e3sync/bench"
	"github.com/e3sync/e3sync/internal/fakeauth"
	"github.com/e3sync/e3sync/internal/testenv"
)

const (
	srcBucket  = "optimizely-events-data"
	acctPrefix = "v1/account_id=12345/"
	dstBucket  = "customer-lake"
	token      = "pat-BENCH-0123456789abcdef"
	dstUser    = "customer"
	dstSecret  = "customer-secret-key"
	date       = "2024-01-01"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

type workload struct {
	name  string
	desc  string
	sizes func() []int64
}

func repeat(n int, size int64) func() []int64 {
	return func() []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = size
		}
		return s
	}
}

// mix is a Parquet-like day: mostly small files, some medium, a few large,
// plus empty files and sizes exactly on part boundaries.
func mix() []int64 {
	r := rand.New(rand.NewSource(42))
	var s []int64
	for range 400 { // 1 KiB .. 1 MiB, log-uniform
		s = append(s, int64(float64(kib)*pow2(r.Float64()*10)))
	}
	for range 24 { // 1 .. 128 MiB, log-uniform
		s = append(s, int64(float64(mib)*pow2(r.Float64()*7)))
	}
	s = append(s, 300*mib, 700*mib+12345) // a few larger
	s = append(s, 0, 0, 1, 5*mib, 8*mib-1, 8*mib, 8*mib+1, 16*mib, 24*mib, 64*mib, 128*mib)
	return s
}

func pow2(x float64) float64 { return float64(uint64(1)<<uint(x)) * (1 + (x-float64(int(x)))*0.6931) }

var workloads = []workload{
	{"small", "10,000 × 64 KiB", repeat(10000, 64*kib)},
	{"medium", "500 × 1 MiB", repeat(500, mib)},
	{"large", "20 × 256 MiB", repeat(20, 256*mib)},
	{"huge", "2 × 2 GiB", repeat(2, 2*gib)},
	{"mix", "Parquet-like mix", mix},
	{"single", "1 × 2 GiB", repeat(1, 2*gib)},
}

// quick is the default subset: the full run takes hours on the 2-core
// machine (MinIO does about 50 PUTs/s there).
var quick = []string{"medium", "large"}

var allCases = []string{"limit-get", "limit-put", "limit-getput", "e3sync", "rclone", "rclone-tuned", "rclone-tuned-few"}

// rcloneFlags are the flags of the tuned rclone cases. rclone-tuned is
// tuned for many streams (the usual advice, and what helps small objects);
// rclone-tuned-few keeps few streams of e3sync's 8 MiB parts, which is what
// large objects need on a 2-core machine (rclone-tuned holds up to
// 32 × 8 × 16 MiB of chunks there: 3 GiB RSS).
var rcloneFlags = map[string][]string{
	"rclone": nil,
	"rclone-tuned": {
		"--transfers", "32", "--checkers", "32",
		"--s3-upload-concurrency", "8", "--s3-chunk-size", "16M",
		"--multi-thread-cutoff", "64M", "--multi-thread-streams", "8",
	},
	"rclone-tuned-few": {
		"--transfers", "4", "--checkers", "8",
		"--s3-upload-concurrency", "4", "--s3-chunk-size", "8M",
		"--multi-thread-cutoff", "64M", "--multi-thread-streams", "4",
	},
}

func main() {
	// Interrupted, run still returns: MinIO is stopped and its data on
	// tmpfs removed by run's deferred calls.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e3bench:", err)
		os.Exit(1)
	}
}

type env struct {
	minio    *testenv.MinIO
	root     *s3.Client
	counter  *bench.Counter
	apiURL   string
	copybin  string
	tmp      string
	shm      string // MinIO's data is under it when in memory
	rclone   string
	baseline string // BENCH_BASELINE: copybench of another commit, for case e3sync-baseline
	rcConfig string
	runs     int
	streams  []int // stream counts the limit cases are measured at
	// latencies are the per-request delays measured; ep and countedEP the
	// S3 endpoint of the current one (direct, and through the counter).
	latencies     []time.Duration
	latency       time.Duration
	slowdown      float64 // BENCH_SLOWDOWN: the fraction of requests answered 503 SlowDown, at random (0: none)
	ep, countedEP string
	profiles      string           // BENCH_CPUPROFILE: directory for CPU profiles of the e3sync runs
	traces        string           // BENCH_TRACE: directory for the e3sync runs' controller traces
	lastCPU       float64          // CPU seconds of the last case run, from copybench exec
	lastRetried   map[string]int64 // e3sync cases: the engine's object attempts beyond the first in the last run, by attempt
	cases         []string
	log           io.Writer
}

type result struct {
	workload, kase string
	latency        time.Duration // per-request delay in front of both endpoints
	objects        int
	bytes          int64
	seconds        []float64
	rssKiB         int64
	counts         map[string]int
	attempts       map[int]int      // the counted warm-up's objects with a request sent n times or more (bench.Counter.Attempts)
	mostSent       int              // … and the most times one request was sent
	slowdown       float64          // the fraction of requests answered SlowDown (0: none)
	retried        map[string]int64 // e3sync cases, all runs: the engine's object attempts beyond the first, by attempt
	loads          []float64        // 1-minute load average before each timed run
	cpu            []float64        // CPU seconds (user + system) of the copier process in each timed run
	sweep          []sweepPoint     // limit cases: one run per stream count
	streams        int              // limit cases: the best stream count
	runs           int              // timed runs so far, for the log
	err            error
}

type sweepPoint struct {
	streams int
	seconds float64
}

func (r result) median() float64 {
	s := slices.Clone(r.seconds)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cpuMedian is the median CPU seconds of the measured process.
func (r result) cpuMedian() float64 {
	return result{seconds: r.cpu}.median()
}

func (r result) mbps() float64 {
	if m := r.median(); m > 0 {
		return float64(r.bytes) / 1e6 / m
	}
	return 0
}

func (r result) ops() float64 {
	if m := r.median(); m > 0 {
		return float64(r.objects) / m
	}
	return 0
}

func run(ctx context.Context) error {
	names := quick
	if w := os.Getenv("BENCH_WORKLOADS"); w == "all" {
		names = nil
		for _, w := range workloads {
			names = append(names, w.name)
		}
	} else if w != "" {
		names = strings.Split(w, ",")
	}
	e := &env{runs: 3, cases: allCases, log: os.Stderr}
	if r := os.Getenv("BENCH_RUNS"); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 1 {
			return fmt.Errorf("BENCH_RUNS=%q", r)
		}
		e.runs = n
	}
	e.profiles = os.Getenv("BENCH_CPUPROFILE")
	e.traces = os.Getenv("BENCH_TRACE")
	for _, d := range []string{e.profiles, e.traces} {
		if d == "" {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("BENCH_CPUPROFILE/BENCH_TRACE: %w", err)
		}
	}
	e.streams = []int{2, 4, 8, 16}
	if v := os.Getenv("BENCH_LIMIT_STREAMS"); v != "" {
		e.streams = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				return fmt.Errorf("BENCH_LIMIT_STREAMS=%q", v)
			}
			e.streams = append(e.streams, n)
		}
	}
	e.latencies = []time.Duration{0, 10 * time.Millisecond, 30 * time.Millisecond}
	if v := os.Getenv("BENCH_LATENCY"); v != "" {
		e.latencies = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 {
				return fmt.Errorf("BENCH_LATENCY=%q: want milliseconds, e.g. 0,10,30", v)
			}
			e.latencies = append(e.latencies, time.Duration(n)*time.Millisecond)
		}
	}
	if v := os.Getenv("BENCH_SLOWDOWN"); v != "" {
		pct, err := strconv.ParseFloat(v, 64)
		if err != nil || pct <= 0 || pct > 50 {
			return fmt.Errorf("BENCH_SLOWDOWN=%q: want a percentage of requests, e.g. 10", v)
		}
		e.slowdown = pct / 100
	}
	if v := os.Getenv("BENCH_SMALL_OBJECTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("BENCH_SMALL_OBJECTS=%q: want a positive count", v)
		}
		workloads[0] = workload{"small", fmt.Sprintf("%d × 64 KiB", n), repeat(n, 64*kib)}
	}
	if c := os.Getenv("BENCH_CASES"); c != "" {
		e.cases = strings.Split(c, ",")
	}
	var selected []workload
	for _, n := range names {
		i := slices.IndexFunc(workloads, func(w workload) bool { return w.name == n })
		if i < 0 {
			return fmt.Errorf("unknown workload %q", n)
		}
		selected = append(selected, workloads[i])
	}

	tmp, err := os.MkdirTemp("", "e3bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	e.tmp = tmp
	// MinIO keeps its data under TMPDIR. The VM's disk sustains about
	// 70 MB/s of synced writes, which would make every case measure the disk:
	// keep the data in memory unless BENCH_DISK=1.
	if os.Getenv("BENCH_DISK") != "1" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			shm, err := os.MkdirTemp("/dev/shm", "e3bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(shm)
			os.Setenv("TMPDIR", shm)
			e.shm = shm
		}
	}
	e.copybin = filepath.Join(tmp, "copybench")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.copybin, "./bench/cmd/copybench")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build copybench: %w", err)
	}
	e.baseline = os.Getenv("BENCH_BASELINE")
	if slices.Contains(e.cases, "e3sync-baseline") && e.baseline == "" {
		return fmt.Errorf("case e3sync-baseline needs BENCH_BASELINE=<copybench built from another commit>")
	}
	e.rclone = os.Getenv("RCLONE")
	if e.rclone == "" {
		e.rclone = filepath.Join(cacheDir(), "bin", "rclone")
	}
	e.rcConfig = filepath.Join(tmp, "rclone.conf")
	if err := os.WriteFile(e.rcConfig, nil, 0o600); err != nil {
		return err
	}

	if err := e.startWorld(ctx); err != nil {
		return err
	}
	defer e.minio.Stop()

	var results []result
	for _, w := range selected {
		rs, err := e.runWorkload(ctx, w)
		if err != nil {
			return fmt.Errorf("workload %s: %w", w.name, err)
		}
		results = append(results, rs...)
		printTable(os.Stdout, results[len(results)-len(rs):], selected, false)
	}
	fmt.Println()
	fmt.Printf("## All workloads (median of %d runs after a warm-up, runs of the cases interleaved; MB = 10^6 bytes)\n\n", e.runs)
	fmt.Printf("limit-*: the best of %v streams (one run at each; then the median of %d runs at the best, the sweep's run among them); "+
		"× limit divides by limit-getput; client CPU s: user + system seconds of the copying process (MinIO not included); "+
		"load: 1-minute load average before the timed runs\n\n", e.streams, e.runs)
	printTable(os.Stdout, results, selected, true)
	return nil
}

// atLatency points the cases at MinIO through a proxy that delays every
// request by d (none for 0), behind one that answers the fraction e.slowdown of
// requests with 503 SlowDown (none for 0), and the counted warm-ups through a
// counter in front of both. It returns the function that stops the proxies.
func (e *env) atLatency(d time.Duration) (func(), error) {
	e.latency = d
	var proxies []*testenv.FaultProxy
	stop := func() {
		for _, p := range proxies {
			p.Close()
		}
		if e.counter != nil {
			e.counter.Close()
		}
	}
	target := e.minio.Endpoint()
	for _, rule := range []testenv.FaultRule{
		{Kind: testenv.FaultSlowDown, Fraction: e.slowdown}, // nearest MinIO: a SlowDown answer is delayed too
		{Kind: testenv.FaultLatency, Latency: d},
	} {
		if rule.Kind == testenv.FaultSlowDown && e.slowdown == 0 || rule.Kind == testenv.FaultLatency && d == 0 {
			continue
		}
		p, err := testenv.NewFaultProxy(target)
		if err != nil {
			stop()
			return nil, err
		}
		p.SetRules(rule)
		proxies = append(proxies, p)
		target = p.URL
	}
	var err error
	if e.counter, err = bench.NewCounter(target); err != nil {
		stop()
		return nil, err
	}
	e.ep, e.countedEP = target, e.counter.URL
	return stop, nil
}

func cacheDir() string {
	if d := os.Getenv("E3SYNC_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "e3sync")
}

func (e *env) startWorld(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	m, err := testenv.StartMinIO(sctx)
	if err != nil {
		return err
	}
	e.minio = m
	e.root = m.S3Client(m.RootProvider())
	for _, b := range []string{srcBucket, dstBucket} {
		if err := m.CreateBucket(ctx, b); err != nil {
			return err
		}
	}
	if err := m.AddUser(ctx, "exporter", "exporter-secret-key", testenv.ReadOnlyPolicy(srcBucket)); err != nil {
		return err
	}
	if err := m.AddUser(ctx, dstUser, dstSecret, testenv.ReadWritePolicy(dstBucket)); err != nil {
		return err
	}
	api := fakeauth.New(fakeauth.Options{
		Tokens: []string{token},
		Minter: &fakeauth.MinIOSTS{Endpoint: m.Endpoint(), AccessKey: "exporter", SecretKey: "exporter-secret-key"},
		Bucket: srcBucket, Prefix: acctPrefix, TrailingSlash: true,
	})
	e.apiURL, _ = api.Start()
	return nil
}

type exportCreds struct {
	Credentials struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		SessionToken    string `json:"sessionToken"`
	} `json:"credentials"`
}

// sourceCreds asks the Authentication API for export credentials, as any
// client of the export must.
func (e *env) sourceCreds(ctx context.Context) (exportCreds, error) {
	var c exportCreds
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.apiURL+"/v2/export/credentials?duration=1h", nil)
	if err != nil {
		return c, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return c, fmt.Errorf("credentials: %s: %s", resp.Status, b)
	}
	return c, json.NewDecoder(resp.Body).Decode(&c)
}

func taskPrefix(w workload) string {
	return "type=events/date=" + date + "/event=" + w.name + "/"
}

// seed writes the workload's objects into the source bucket as root.
func (e *env) seed(ctx context.Context, w workload) (int, int64, error) {
	sizes := w.sizes()
	data := make([]byte, 64*mib)
	rand.New(rand.NewSource(1)).Read(data)
	up := manager.NewUploader(e.root, func(u *manager.Uploader) { u.PartSize = 64 * mib; u.Concurrency = 2 })
	var total int64
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	workers := 32
	if slices.Max(sizes) > 64*mib {
		workers = 4
	}
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				size := sizes[i]
				key := fmt.Sprintf("%s%spart-%05d-%08x.snappy.parquet", acctPrefix, taskPrefix(w), i, uint32(i)*2654435761)
				var err error
				if size <= int64(len(data))/2 {
					off := int64(i*4099) % (int64(len(data)) - size + 1)
					_, err = e.root.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(key), Body: bytes.NewReader(data[off : off+size])})
				} else {
					_, err = up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(key), Body: io.LimitReader(&cycle{b: data, off: i * 7919}, size)})
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("seed %s: %w", key, err):
					default:
					}
				}
			}
		})
	}
	for i, s := range sizes {
		total += s
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return 0, 0, err
	default:
	}
	return len(sizes), total, nil
}

type cycle struct {
	b   []byte
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := copy(p, c.b[c.off%len(c.b):])
	c.off += n
	return n, nil
}

// clear deletes everything under prefix in bucket, as root.
func (e *env) clear(ctx context.Context, bucket, prefix string) error {
	p := s3.NewListObjectsV2Paginator(e.root, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := e.root.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) runWorkload(ctx context.Context, w workload) ([]result, error) {
	fmt.Fprintf(e.log, "== %s (%s): seeding\n", w.name, w.desc)
	start := time.Now()
	n, total, err := e.seed(ctx, w)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.log, "   %d objects, %.1f MB in %.1fs\n", n, float64(total)/1e6, time.Since(start).Seconds())
	defer e.purgeTrash()
	defer e.clear(ctx, srcBucket, acctPrefix+taskPrefix(w))
	var out []result
	for _, d := range e.latencies {
		stop, err := e.atLatency(d)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(e.log, "== %s at %v per request\n", w.name, d)
		out = append(out, e.runCases(ctx, w, d, n, total)...)
		stop()
	}
	return out, nil
}

// runCases runs every case on the seeded workload w at per-request delay d.
func (e *env) runCases(ctx context.Context, w workload, d time.Duration, n int, total int64) []result {
	rs := make([]*result, len(e.cases))
	for i, c := range e.cases {
		rs[i] = &result{workload: w.name, kase: c, latency: d, objects: n, bytes: total}
	}
	// Warm-ups (counted) and the limit cases' stream sweeps first, then the
	// timed runs interleaved: run i of every case before run i+1 of any, so
	// that a change in the shared machine's load hits every case alike.
	for _, r := range rs {
		if strings.HasPrefix(r.kase, "limit-") {
			e.sweepLimit(ctx, w, r)
		} else {
			e.timed(ctx, w, r, 0, true)
		}
	}
	for i := range e.runs {
		for _, r := range rs {
			if r.err != nil || i == 0 && r.streams > 0 { // a limit case's first run is its sweep's best
				continue
			}
			e.timed(ctx, w, r, r.streams, false)
		}
	}
	var out []result
	for _, r := range rs {
		out = append(out, *r)
	}
	return out
}

// sweepLimit runs a limit case once through the counting proxy, at the
// middle of e.streams, then once at every stream count of e.streams, and
// keeps the best: on this machine more streams is not always faster, and the
// limit must be the best the machine can do. While the largest count is the
// best so far (a far endpoint needs many streams), the sweep goes on at
// twice as many, up to maxStreams, until it stops growing. The timed runs
// that follow are at the best stream count; the sweep's best run is the
// first of them.
func (e *env) sweepLimit(ctx context.Context, w workload, r *result) {
	if err := e.timed(ctx, w, r, e.streams[len(e.streams)/2], true); err != nil {
		return
	}
	streams := slices.Clone(e.streams)
	best, bestRun := 0, 0
	for i := 0; i < len(streams); i++ {
		n := streams[i]
		if err := e.timed(ctx, w, r, n, false); err != nil {
			return
		}
		r.sweep = append(r.sweep, sweepPoint{streams: n, seconds: r.seconds[i]})
		if best == 0 || r.seconds[i] < r.seconds[bestRun] {
			best, bestRun = n, i
		}
		if i == len(streams)-1 && best == n && 2*n <= maxStreams {
			streams = append(streams, 2*n)
		}
	}
	r.streams = best
	r.seconds = r.seconds[bestRun : bestRun+1]
	r.loads = r.loads[bestRun : bestRun+1]
	r.cpu = r.cpu[bestRun : bestRun+1]
}

// maxStreams bounds the limit cases' sweep.
const maxStreams = 512

// timed runs case r.kase once (through the counting proxy when counted,
// then its request counts are kept and its time is not), checks and deletes
// the copy, and records the time, peak RSS and load average in r. It
// records and returns the first error.
func (e *env) timed(ctx context.Context, w workload, r *result, streams int, counted bool) error {
	run := 0 // the counted warm-up
	if counted {
		e.counter.Reset()
	} else {
		r.runs++
		run = r.runs
	}
	dstPrefix := fmt.Sprintf("run-%s-%d-%d-%d/", r.kase, r.latency.Milliseconds(), streams, run)
	load := loadAvg()
	e.lastRetried = nil
	secs, rss, err := e.runCase(ctx, w, r.kase, dstPrefix, streams, counted)
	for a, n := range e.lastRetried {
		if r.retried == nil {
			r.retried = map[string]int64{}
		}
		r.retried[a] += n
	}
	if counted {
		r.counts = e.counter.Counts()
		r.attempts, r.mostSent = e.counter.Attempts()
		r.slowdown = e.slowdown
	}
	if cerr := e.clear(ctx, dstBucket, dstPrefix); cerr != nil && err == nil {
		err = cerr
	}
	e.purgeTrash()
	label := r.kase
	if streams > 0 {
		label = fmt.Sprintf("%s/%d", r.kase, streams)
	}
	if err != nil {
		r.err = err
		fmt.Fprintf(e.log, "   %-16s run %d: %v\n", label, run, err)
		return err
	}
	r.rssKiB = max(r.rssKiB, rss)
	if !counted {
		r.seconds = append(r.seconds, secs)
		r.loads = append(r.loads, load)
		r.cpu = append(r.cpu, e.lastCPU)
	}
	fmt.Fprintf(e.log, "   %-16s run %d: %6.2fs %8.1f MB/s  rss %d MiB  cpu %.1fs  load %.1f\n", label, run, secs, float64(r.bytes)/1e6/secs, rss/1024, e.lastCPU, load)
	return nil
}

// loadAvg is the 1-minute load average: the machine is shared, and the
// tables say how busy it was.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	l, _ := strconv.ParseFloat(f[0], 64)
	return l
}

// runCase runs one case once in a child process and returns its wall time
// and peak RSS in KiB.
func (e *env) runCase(ctx context.Context, w workload, c, dstPrefix string, streams int, counted bool) (float64, int64, error) {
	ep := e.ep
	if counted {
		ep = e.countedEP
	}
	task := "type=events/date=" + date + "/event=" + w.name
	var cmd *exec.Cmd
	environ := append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+dstUser, "AWS_SECRET_ACCESS_KEY="+dstSecret, "AWS_SESSION_TOKEN=",
		"AWS_REGION=us-east-1", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_ENDPOINT_URL_S3="+ep)
	switch {
	case c == "e3sync" || strings.HasPrefix(c, "e3sync-"):
		// e3sync-streamed: large objects through one GET stream (the old
		// path); e3sync-cN: at most N objects in flight instead of the
		// default; e3sync-lN: N large objects at once instead of the
		// default; e3sync-baseline: another commit's copybench.
		args := []string{"-mode", "copy", "-api", e.apiURL, "-token", token,
			"-src-endpoint", ep, "-dst-endpoint", ep, "-dst-bucket", dstBucket, "-dst-prefix", dstPrefix, "-task", task}
		if c == "e3sync-streamed" {
			args = append(args, "-streamed")
		} else if n, ok := strings.CutPrefix(c, "e3sync-c"); ok {
			args = append(args, "-copy-concurrency", n)
		} else if n, ok := strings.CutPrefix(c, "e3sync-l"); ok {
			args = append(args, "-large-concurrency", n)
		}
		if e.traces != "" && !counted && c == "e3sync" {
			args = append(args, "-trace", filepath.Join(e.traces, fmt.Sprintf("%s-%dms-%s.jsonl", w.name, e.latency.Milliseconds(), c)))
		}
		if e.profiles != "" && !counted {
			args = append(args, "-cpuprofile", filepath.Join(e.profiles, w.name+"-"+c+".pprof"))
			if c != "e3sync-baseline" {
				args = append(args, "-memprofile", filepath.Join(e.profiles, w.name+"-"+c+".allocs.pprof"))
			}
		}
		bin := e.copybin
		if c == "e3sync-baseline" {
			bin = e.baseline
		}
		cmd = exec.CommandContext(ctx, bin, args...)
	case strings.HasPrefix(c, "limit-"):
		creds, err := e.sourceCreds(ctx)
		if err != nil {
			return 0, 0, err
		}
		cmd = exec.CommandContext(ctx, e.copybin, "-mode", strings.TrimPrefix(c, "limit-"),
			"-src-endpoint", ep, "-dst-endpoint", ep, "-src-bucket", srcBucket, "-src-prefix", acctPrefix,
			"-dst-bucket", dstBucket, "-dst-prefix", dstPrefix, "-task", task, "-concurrency", strconv.Itoa(streams))
		if e.profiles != "" && !counted {
			name := filepath.Join(e.profiles, fmt.Sprintf("%s-%s-%d", w.name, c, streams))
			cmd.Args = append(cmd.Args, "-cpuprofile", name+".pprof", "-memprofile", name+".allocs.pprof")
		}
		environ = append(environ, "SRC_AWS_ACCESS_KEY_ID="+creds.Credentials.AccessKeyID,
			"SRC_AWS_SECRET_ACCESS_KEY="+creds.Credentials.SecretAccessKey, "SRC_AWS_SESSION_TOKEN="+creds.Credentials.SessionToken)
	case rcloneFlags[c] != nil || c == "rclone":
		creds, err := e.sourceCreds(ctx)
		if err != nil {
			return 0, 0, err
		}
		args := []string{"copy", "--config", e.rcConfig, "-q",
			"src:" + srcBucket + "/" + acctPrefix + taskPrefix(w), "dst:" + dstBucket + "/" + dstPrefix + taskPrefix(w)}
		args = append(args, rcloneFlags[c]...)
		cmd = exec.CommandContext(ctx, e.rclone, args...)
		environ = slices.DeleteFunc(environ, func(s string) bool { return strings.HasPrefix(s, "AWS_CA_BUNDLE=") })
		for k, v := range map[string]string{
			"SRC_TYPE": "s3", "SRC_PROVIDER": "Minio", "SRC_ENDPOINT": ep, "SRC_REGION": "us-east-1", "SRC_FORCE_PATH_STYLE": "true",
			"SRC_ACCESS_KEY_ID": creds.Credentials.AccessKeyID, "SRC_SECRET_ACCESS_KEY": creds.Credentials.SecretAccessKey,
			"SRC_SESSION_TOKEN": creds.Credentials.SessionToken,
			"DST_TYPE":          "s3", "DST_PROVIDER": "Minio", "DST_ENDPOINT": ep, "DST_REGION": "us-east-1", "DST_FORCE_PATH_STYLE": "true",
			"DST_ACCESS_KEY_ID": dstUser, "DST_SECRET_ACCESS_KEY": dstSecret,
		} {
			environ = append(environ, "RCLONE_CONFIG_"+k+"="+v)
		}
	default:
		return 0, 0, fmt.Errorf("unknown case %q", c)
	}
	cmd.Env = environ
	rusage := filepath.Join(e.tmp, "rusage")
	cmd.Args = append([]string{e.copybin, "exec", rusage}, cmd.Args...)
	cmd.Path = e.copybin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	secs := time.Since(start).Seconds()
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w\n%s", c, err, tail(stderr.String(), 2000))
	}
	b, err := os.ReadFile(rusage)
	if err != nil {
		return 0, 0, err
	}
	var rss int64
	var cpu float64
	if _, err := fmt.Sscanf(string(b), "%d %f", &rss, &cpu); err != nil {
		return 0, 0, fmt.Errorf("rusage %q: %w", b, err)
	}
	e.lastCPU = cpu
	if strings.HasPrefix(c, "e3sync") {
		var o struct {
			Objects int              `json:"objects"`
			Bytes   int64            `json:"bytes"`
			Retried map[string]int64 `json:"retried"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &o); err != nil {
			return 0, 0, fmt.Errorf("copybench output %q: %w", stdout.String(), err)
		}
		e.lastRetried = o.Retried
		if want := w.sizes(); o.Objects != len(want) {
			return 0, 0, fmt.Errorf("e3sync copied %d objects, want %d", o.Objects, len(want))
		}
	}
	if err := e.verify(ctx, w, c, dstPrefix); err != nil {
		return 0, 0, err
	}
	return secs, rss, nil
}

// verify checks that a copy case left every object with its size.
func (e *env) verify(ctx context.Context, w workload, c, dstPrefix string) error {
	if strings.HasPrefix(c, "limit-") {
		return nil
	}
	got := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(e.root, &s3.ListObjectsV2Input{Bucket: aws.String(dstBucket), Prefix: aws.String(dstPrefix + taskPrefix(w))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			got[strings.TrimPrefix(aws.ToString(o.Key), dstPrefix)] = aws.ToInt64(o.Size)
		}
	}
	sizes := w.sizes()
	if len(got) < len(sizes) {
		return fmt.Errorf("%s: %d objects at the destination, want %d", c, len(got), len(sizes))
	}
	var total, want int64
	for _, s := range got {
		total += s
	}
	for _, s := range sizes {
		want += s
	}
	if total != want {
		return fmt.Errorf("%s: %d bytes at the destination, want %d", c, total, want)
	}
	return nil
}

// purgeTrash frees the memory of deleted objects: MinIO moves them to
// .minio.sys/tmp/.trash and purges it lazily, which on tmpfs fills the
// machine's memory within a few large runs.
func (e *env) purgeTrash() {
	if e.shm == "" {
		return
	}
	dirs, _ := filepath.Glob(filepath.Join(e.shm, "e3sync-minio-*", "data", ".minio.sys", "tmp", ".trash", "*"))
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func printTable(out io.Writer, rs []result, ws []workload, markdown bool) {
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
	sep := "\t"
	if markdown {
		sep = "\t| "
	}
	row := func(cells ...string) {
		line := strings.Join(cells, sep)
		if markdown {
			line = "| " + line + "\t|"
		}
		fmt.Fprintln(tw, line)
	}
	row("workload", "latency", "case", "MB/s", "objects/s", "× rclone-tuned", "× limit", "peak RSS MiB", "client CPU s", "load", "requests per object")
	if markdown {
		row("---", "---:", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---")
	}
	for _, r := range rs {
		desc := r.workload
		if i := slices.IndexFunc(ws, func(w workload) bool { return w.name == r.workload }); i >= 0 {
			desc = r.workload + " (" + ws[i].desc + ")"
		}
		if r.err != nil {
			row(desc, ms(r.latency), r.kase, "failed", "", "", "", "", "", "", firstLine(r.err.Error()))
			continue
		}
		ratio := func(kase string) string {
			for _, o := range rs {
				if o.workload == r.workload && o.latency == r.latency && o.kase == kase && o.err == nil && o.mbps() > 0 {
					return fmt.Sprintf("%.2f", r.mbps()/o.mbps())
				}
			}
			return "-"
		}
		kase := r.kase
		if r.streams > 0 {
			kase = fmt.Sprintf("%s (%d streams)", r.kase, r.streams)
		}
		row(desc, ms(r.latency), kase, fmt.Sprintf("%.0f", r.mbps()), fmt.Sprintf("%.0f", r.ops()),
			ratio("rclone-tuned"), ratio("limit-getput"), fmt.Sprintf("%d", r.rssKiB/1024), fmt.Sprintf("%.1f", r.cpuMedian()), loadRange(r.loads),
			bench.PerObject(r.counts, r.objects))
	}
	tw.Flush()
	var notes []string
	for _, r := range rs {
		if len(r.sweep) == 0 || r.err != nil {
			continue
		}
		var pts []string
		for _, p := range r.sweep {
			pts = append(pts, fmt.Sprintf("%d: %.0f", p.streams, float64(r.bytes)/1e6/p.seconds))
		}
		notes = append(notes, fmt.Sprintf("%s at %s %s MB/s by streams (one run each) %s; best %d, median of %d runs there",
			r.workload, ms(r.latency), r.kase, strings.Join(pts, ", "), r.streams, len(r.seconds)))
	}
	for _, r := range rs {
		if r.slowdown == 0 || r.err != nil || strings.HasPrefix(r.kase, "limit-") {
			continue
		}
		note := fmt.Sprintf("%s at %s, %g %% of requests answered SlowDown at random: %s: objects with a request sent 2 times or more %d, "+
			"3 times or more %d (%.2f %% of %d), at most %d times (counted warm-up); every object copied",
			r.workload, ms(r.latency), 100*r.slowdown, r.kase, r.attempts[2], r.attempts[3], 100*float64(r.attempts[3])/float64(r.objects), r.objects, r.mostSent)
		if strings.HasPrefix(r.kase, "e3sync") {
			note += fmt.Sprintf("; the engine's own attempts of an object beyond the first, all %d runs: second %d, third %d",
				len(r.seconds)+1, r.retried["2"], r.retried["3"])
		}
		notes = append(notes, note)
	}
	if len(notes) > 0 {
		fmt.Fprintln(out)
		for _, n := range notes {
			fmt.Fprintln(out, "- "+n)
		}
	}
}

// ms formats a per-request delay for the tables.
func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// loadRange is the range of the load averages seen before the timed runs.
func loadRange(l []float64) string {
	if len(l) == 0 {
		return "-"
	}
	lo, hi := slices.Min(l), slices.Max(l)
	if fmt.Sprintf("%.1f", lo) == fmt.Sprintf("%.1f", hi) {
		return fmt.Sprintf("%.1f", lo)
	}
	return fmt.Sprintf("%.1f–%.1f", lo, hi)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
