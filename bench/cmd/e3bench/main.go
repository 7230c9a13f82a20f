// Command e3bench is `make bench`: on loopback it starts MinIO with a source
// bucket readable only through scoped STS credentials (handed out by the fake
// Optimizely Authentication API) and a destination bucket of another user,
// seeds each workload, and measures, in the same invocation, the raw GET/PUT
// limit, e3sync's copy engine and rclone (defaults and tuned). Each case runs
// once as a warm-up through a request-counting proxy, then BENCH_RUNS times
// directly; the table shows medians.
//
//	BENCH_WORKLOADS=small,mix   workloads to run (default: quick; "all" for every one)
//	BENCH_RUNS=3                timed runs per case
//	BENCH_CASES=e3sync,rclone-tuned  cases to run (default: all)
//	RCLONE=path                 rclone binary (default $E3SYNC_CACHE/bin/rclone)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/e3sync/e3sync/bench"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/emulator"
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
}

// quick is the default subset: the full run takes hours on the 2-core
// machine (MinIO does about 50 PUTs/s there).
var quick = []string{"medium", "large"}

var allCases = []string{"limit-get", "limit-put", "limit-getput", "e3sync", "rclone", "rclone-tuned"}

// rcloneTuned are the flags of the tuned rclone case.
var rcloneTuned = []string{
	"--transfers", "32", "--checkers", "32",
	"--s3-upload-concurrency", "8", "--s3-chunk-size", "16M",
	"--multi-thread-cutoff", "64M", "--multi-thread-streams", "8",
}

func main() {
	if err := run(context.Background()); err != nil {
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
	rcConfig string
	runs     int
	cases    []string
	log      io.Writer
}

type result struct {
	workload, kase string
	objects        int
	bytes          int64
	seconds        []float64
	rssKiB         int64
	counts         map[string]int
	err            error
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
	defer e.counter.Close()

	var results []result
	for _, w := range selected {
		rs, err := e.runWorkload(ctx, w)
		if err != nil {
			return fmt.Errorf("workload %s: %w", w.name, err)
		}
		results = append(results, rs...)
		printTable(os.Stdout, results[len(results)-len(rs):], selected, e.runs, false)
	}
	fmt.Println()
	fmt.Printf("## All workloads (median of %d runs after a warm-up; MB = 10^6 bytes)\n\n", e.runs)
	printTable(os.Stdout, results, selected, e.runs, true)
	return nil
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
	api := emulator.NewAuthAPI(emulator.AuthAPIOptions{
		Tokens: []string{token},
		Minter: &emulator.MinIOSTS{Endpoint: m.Endpoint(), AccessKey: "exporter", SecretKey: "exporter-secret-key"},
		Bucket: srcBucket, Prefix: acctPrefix, TrailingSlash: true,
	})
	e.apiURL, _ = api.Start()
	e.counter, err = bench.NewCounter(m.Endpoint())
	return err
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
	for _, c := range e.cases {
		r := result{workload: w.name, kase: c, objects: n, bytes: total}
		for i := 0; i <= e.runs; i++ { // run 0 is the counted warm-up
			dstPrefix := fmt.Sprintf("run-%s-%d/", c, i)
			counted := i == 0
			if counted {
				e.counter.Reset()
			}
			secs, rss, err := e.runCase(ctx, w, c, dstPrefix, counted)
			if counted {
				r.counts = e.counter.Counts()
			}
			if cerr := e.clear(ctx, dstBucket, dstPrefix); cerr != nil && err == nil {
				err = cerr
			}
			e.purgeTrash()
			if err != nil {
				r.err = err
				fmt.Fprintf(e.log, "   %-13s run %d: %v\n", c, i, err)
				break
			}
			r.rssKiB = max(r.rssKiB, rss)
			if !counted {
				r.seconds = append(r.seconds, secs)
			}
			fmt.Fprintf(e.log, "   %-13s run %d: %6.2fs %8.1f MB/s  rss %d MiB\n", c, i, secs, float64(total)/1e6/secs, rss/1024)
		}
		out = append(out, r)
	}
	return out, nil
}

// runCase runs one case once in a child process and returns its wall time
// and peak RSS in KiB.
func (e *env) runCase(ctx context.Context, w workload, c, dstPrefix string, counted bool) (float64, int64, error) {
	ep := e.minio.Endpoint()
	if counted {
		ep = e.counter.URL
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
		// path); e3sync-cN: N objects in flight instead of the default.
		args := []string{"-mode", "copy", "-api", e.apiURL, "-token", token,
			"-src-endpoint", ep, "-dst-endpoint", ep, "-dst-bucket", dstBucket, "-dst-prefix", dstPrefix, "-task", task}
		if c == "e3sync-streamed" {
			args = append(args, "-streamed")
		} else if n, ok := strings.CutPrefix(c, "e3sync-c"); ok {
			args = append(args, "-copy-concurrency", n)
		}
		cmd = exec.CommandContext(ctx, e.copybin, args...)
	case strings.HasPrefix(c, "limit-"):
		creds, err := e.sourceCreds(ctx)
		if err != nil {
			return 0, 0, err
		}
		cmd = exec.CommandContext(ctx, e.copybin, "-mode", strings.TrimPrefix(c, "limit-"),
			"-src-endpoint", ep, "-dst-endpoint", ep, "-src-bucket", srcBucket, "-src-prefix", acctPrefix,
			"-dst-bucket", dstBucket, "-dst-prefix", dstPrefix, "-task", task)
		environ = append(environ, "SRC_AWS_ACCESS_KEY_ID="+creds.Credentials.AccessKeyID,
			"SRC_AWS_SECRET_ACCESS_KEY="+creds.Credentials.SecretAccessKey, "SRC_AWS_SESSION_TOKEN="+creds.Credentials.SessionToken)
	case c == "rclone" || c == "rclone-tuned":
		creds, err := e.sourceCreds(ctx)
		if err != nil {
			return 0, 0, err
		}
		args := []string{"copy", "--config", e.rcConfig, "-q",
			"src:" + srcBucket + "/" + acctPrefix + taskPrefix(w), "dst:" + dstBucket + "/" + dstPrefix + taskPrefix(w)}
		if c == "rclone-tuned" {
			args = append(args, rcloneTuned...)
		}
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
	rss, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, 0, err
	}
	if strings.HasPrefix(c, "e3sync") {
		var o struct {
			Objects int   `json:"objects"`
			Bytes   int64 `json:"bytes"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &o); err != nil {
			return 0, 0, fmt.Errorf("copybench output %q: %w", stdout.String(), err)
		}
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

func printTable(out io.Writer, rs []result, ws []workload, runs int, markdown bool) {
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
	row("workload", "case", "MB/s", "objects/s", "× rclone-tuned", "× limit", "peak RSS MiB", "requests per object")
	if markdown {
		row("---", "---", "---:", "---:", "---:", "---:", "---:", "---")
	}
	for _, r := range rs {
		desc := r.workload
		if i := slices.IndexFunc(ws, func(w workload) bool { return w.name == r.workload }); i >= 0 {
			desc = r.workload + " (" + ws[i].desc + ")"
		}
		if r.err != nil {
			row(desc, r.kase, "failed", "", "", "", "", firstLine(r.err.Error()))
			continue
		}
		ratio := func(kase string) string {
			for _, o := range rs {
				if o.workload == r.workload && o.kase == kase && o.err == nil && o.mbps() > 0 {
					return fmt.Sprintf("%.2f", r.mbps()/o.mbps())
				}
			}
			return "-"
		}
		row(desc, r.kase, fmt.Sprintf("%.0f", r.mbps()), fmt.Sprintf("%.0f", r.ops()),
			ratio("rclone-tuned"), ratio("limit-getput"), fmt.Sprintf("%d", r.rssKiB/1024), bench.PerObject(r.counts, r.objects))
	}
	tw.Flush()
	_ = runs
	_ = errors.New
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
