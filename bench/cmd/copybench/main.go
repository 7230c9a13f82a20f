// Command copybench is the child process of the e3sync benchmark, so that its
// peak RSS can be read on its own. Mode copy runs the copy engine as the
// copier Lambda wires it (export credentials from the Authentication API,
// destination from the default credential chain). Modes get, put and getput
// measure the machine's raw limit: parallel GETs into a discard sink,
// parallel PUT/UploadPart of the same volume from memory, and both at once.
// It prints one JSON line with what it did.
//
// `copybench exec <rusage-file> cmd args...` runs cmd and writes its peak RSS
// (KiB) and CPU time (user + system, seconds) to rusage-file. The benchmark starts every measured process this way:
// on Linux a child's max RSS starts at the high-water mark of the process that
// forked it, and the small launcher, not the benchmark driver, must be that
// process.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/memlimit"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// Output is what copybench prints.
type Output struct {
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	Failed  int   `json:"failed"`
	// Retried counts the engine's own attempts of an object beyond its
	// first, by attempt ("2", "3"): each re-reads the object from the start
	// (the SDK's retries of one request are not in it).
	Retried map[string]int64 `json:"retried,omitempty"`
}

type flags struct {
	mode                 string
	api, token           string
	srcEndpoint, dstEP   string
	srcBucket, srcPrefix string
	dstBucket, dstPrefix string
	task                 string
	concurrency          int
	part                 int64
	streamed             bool
	copyConcurrency      int
	largeConcurrency     int
	cpuprofile           string
	memprofile           string
	trace                string
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "exec" {
		os.Exit(launch(os.Args[2], os.Args[3:]))
	}
	var f flags
	flag.StringVar(&f.mode, "mode", "copy", "copy, get, put or getput")
	flag.StringVar(&f.api, "api", "", "Authentication API base URL (copy)")
	flag.StringVar(&f.token, "token", "", "personal access token (copy)")
	flag.StringVar(&f.srcEndpoint, "src-endpoint", "", "source S3 endpoint")
	flag.StringVar(&f.dstEP, "dst-endpoint", "", "destination S3 endpoint")
	flag.StringVar(&f.srcBucket, "src-bucket", "", "source bucket (limit modes)")
	flag.StringVar(&f.srcPrefix, "src-prefix", "", "account prefix (limit modes)")
	flag.StringVar(&f.dstBucket, "dst-bucket", "", "destination bucket")
	flag.StringVar(&f.dstPrefix, "dst-prefix", "", "destination prefix")
	flag.StringVar(&f.task, "task", "", "type=<t>/date=<d>/<partition>")
	flag.IntVar(&f.concurrency, "concurrency", 8, "streams in flight (limit modes; getput: this many GET and this many PUT streams)")
	flag.Int64Var(&f.part, "part", store.DefaultPartSize, "range and part size (limit modes; e3sync's part size by default)")
	flag.BoolVar(&f.streamed, "streamed", false, "copy: hide the source's ranged reads, so large objects stream through one GET (the pre-#4 path)")
	flag.IntVar(&f.copyConcurrency, "copy-concurrency", 0, "copy: transfer.Options.Concurrency (0: the Lambda default)")
	flag.IntVar(&f.largeConcurrency, "large-concurrency", 0, "copy: transfer.Options.LargeConcurrency (0: the default)")
	flag.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile of the run to this file")
	flag.StringVar(&f.memprofile, "memprofile", "", "write an allocation profile of the run to this file")
	flag.StringVar(&f.trace, "trace", "", "copy: write the engine's objects-in-flight limit and rate per interval to this file (JSON lines)")
	flag.Parse()
	if f.cpuprofile != "" {
		pf, err := os.Create(f.cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(pf)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "copybench:", err)
			os.Exit(1)
		}
		defer pf.Close()
	}
	out, err := run(context.Background(), f)
	pprof.StopCPUProfile()
	if err == nil && f.memprofile != "" {
		err = writeAllocs(f.memprofile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "copybench:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

// writeAllocs writes the allocations of the whole run (pprof's allocs profile).
func writeAllocs(path string) error {
	pf, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC() // the profile counts allocations up to the last collection
	if err := pprof.Lookup("allocs").WriteTo(pf, 0); err != nil {
		pf.Close()
		return err
	}
	return pf.Close()
}

func launch(rusageFile string, argv []string) int {
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "copybench exec: no command")
		return 2
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "copybench exec:", err)
		return 2
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	line := fmt.Sprintf("%d %.3f", rss, cpu.Seconds())
	if werr := os.WriteFile(rusageFile, []byte(line), 0o600); werr != nil {
		fmt.Fprintln(os.Stderr, "copybench exec:", werr)
		return 2
	}
	return cmd.ProcessState.ExitCode()
}

func parseTask(s string) (export.Task, error) {
	parts := strings.SplitN(s, "/", 3)
	if len(parts) != 3 {
		return export.Task{}, fmt.Errorf("task %q: want type=<t>/date=<d>/<partition>", s)
	}
	t := export.Task{
		Type:      export.Type(strings.TrimPrefix(parts[0], "type=")),
		Date:      strings.TrimPrefix(parts[1], "date="),
		Partition: parts[2],
	}
	return t, t.Validate()
}

func run(ctx context.Context, f flags) (Output, error) {
	t, err := parseTask(f.task)
	if err != nil {
		return Output{}, err
	}
	switch f.mode {
	case "copy":
		return copyTask(ctx, f, t)
	case "get", "put", "getput":
		return limit(ctx, f, t)
	}
	return Output{}, fmt.Errorf("unknown mode %q", f.mode)
}

// copyTask is what the copier Lambda does with one task, default settings.
func copyTask(ctx context.Context, f flags, t export.Task) (Output, error) {
	tok, err := pat.New(f.token)
	if err != nil {
		return Output{}, err
	}
	src, err := source.Open(ctx, source.Config{Tokens: pat.Static(tok), APIBaseURL: f.api, Endpoint: f.srcEndpoint})
	if err != nil {
		return Output{}, err
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithBaseEndpoint(f.dstEP))
	if err != nil {
		return Output{}, err
	}
	dst := clients.NewDestinationS3(cfg, store.Target{Bucket: f.dstBucket, Prefix: f.dstPrefix}, true, store.S3Options{PartSize: store.DefaultPartSize})
	var from transfer.Source = src.Store
	if f.streamed {
		from = struct{ transfer.Source }{src.Store}
	}
	memlimit.Set(os.Getenv, 0) // as the copier Lambda and the CLI do
	opts := transfer.Options{Concurrency: f.copyConcurrency, LargeConcurrency: f.largeConcurrency}
	var h slog.Handler = slog.DiscardHandler
	if f.trace != "" {
		tf, err := os.Create(f.trace)
		if err != nil {
			return Output{}, err
		}
		defer tf.Close()
		h = only{slog.NewJSONHandler(tf, &slog.HandlerOptions{Level: slog.LevelDebug}), "objects in flight"}
	}
	retries := retryCounter{Handler: h, n: &[maxCounted + 1]atomic.Int64{}}
	opts.Logger = slog.New(retries)
	res, err := transfer.New(from, dst, opts).Copy(ctx, t)
	if err != nil {
		return Output{}, err
	}
	out := Output{Objects: res.Copied, Bytes: res.Bytes, Failed: res.Failed}
	for a := 2; a <= maxCounted; a++ {
		if n := retries.n[a].Load(); n > 0 {
			if out.Retried == nil {
				out.Retried = map[string]int64{}
			}
			out.Retried[strconv.Itoa(a)] = n
		}
	}
	return out, nil
}

// chunk is one GET range or one uploaded part.
type chunk struct {
	key        string
	off, n     int64
	size       int64 // the object's size
	partNumber int32 // 0: a whole-object PUT
	upload     *upload
}

type upload struct {
	id    string
	key   string
	left  atomic.Int32
	mu    sync.Mutex
	parts []types.CompletedPart
}

// limit runs the raw GET and/or PUT streams over the task's objects.
func limit(ctx context.Context, f flags, t export.Task) (Output, error) {
	srcCreds := credentials.NewStaticCredentialsProvider(os.Getenv("SRC_AWS_ACCESS_KEY_ID"), os.Getenv("SRC_AWS_SECRET_ACCESS_KEY"), os.Getenv("SRC_AWS_SESSION_TOKEN"))
	dstCreds := credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), "")
	// The same HTTP clients as e3sync's source and destination.
	client := func(ep string, c aws.CredentialsProvider, opts ...func(*http.Transport)) *s3.Client {
		return s3.New(s3.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(ep), UsePathStyle: true, Credentials: c,
			HTTPClient: clients.HTTPClient(nil, clients.DefaultTimeouts, opts...), Retryer: clients.Retryer(),
		})
	}
	src := client(f.srcEndpoint, srcCreds)
	dst := client(f.dstEP, dstCreds, clients.ForUploads)
	prefix := f.srcPrefix + t.Prefix()
	var objs []types.Object
	p := s3.NewListObjectsV2Paginator(src, &s3.ListObjectsV2Input{Bucket: aws.String(f.srcBucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return Output{}, err
		}
		objs = append(objs, page.Contents...)
	}
	var out Output
	for _, o := range objs {
		out.Objects++
		out.Bytes += aws.ToInt64(o.Size)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	if f.mode != "put" {
		wg.Go(func() { errs[0] = getAll(ctx, src, f, objs) })
	}
	if f.mode != "get" {
		wg.Go(func() { errs[1] = putAll(ctx, dst, f, objs, prefix) })
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func pool(n int, jobs []chunk, do func(chunk) error) error {
	ch := make(chan chunk)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for c := range ch {
				if err := do(c); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return first
}

func getAll(ctx context.Context, c *s3.Client, f flags, objs []types.Object) error {
	var jobs []chunk
	for _, o := range objs {
		size := aws.ToInt64(o.Size)
		if size <= f.part {
			jobs = append(jobs, chunk{key: aws.ToString(o.Key), n: size, size: size})
			continue
		}
		for off := int64(0); off < size; off += f.part {
			jobs = append(jobs, chunk{key: aws.ToString(o.Key), off: off, n: min(f.part, size-off), size: size})
		}
	}
	bufs := sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
	return pool(f.concurrency, jobs, func(j chunk) error {
		in := &s3.GetObjectInput{Bucket: aws.String(f.srcBucket), Key: aws.String(j.key)}
		if j.n < j.size {
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", j.off, j.off+j.n-1))
		}
		out, err := c.GetObject(ctx, in)
		if err != nil {
			return err
		}
		defer out.Body.Close()
		b := bufs.Get().(*[]byte)
		defer bufs.Put(b)
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{out.Body}, *b)
		if err == nil && n != j.n {
			err = fmt.Errorf("get %s: %d of %d bytes", j.key, n, j.n)
		}
		return err
	})
}

func putAll(ctx context.Context, c *s3.Client, f flags, objs []types.Object, prefix string) error {
	data := make([]byte, f.part)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	var jobs []chunk
	for _, o := range objs {
		size := aws.ToInt64(o.Size)
		key := f.dstPrefix + strings.TrimPrefix(aws.ToString(o.Key), f.srcPrefix)
		if size <= f.part {
			jobs = append(jobs, chunk{key: key, n: size, size: size})
			continue
		}
		cu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
			Bucket: aws.String(f.dstBucket), Key: aws.String(key), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		})
		if err != nil {
			return err
		}
		u := &upload{id: aws.ToString(cu.UploadId), key: key}
		var n int32
		for off := int64(0); off < size; off += f.part {
			n++
			jobs = append(jobs, chunk{key: key, off: off, n: min(f.part, size-off), size: size, partNumber: n, upload: u})
		}
		u.left.Store(n)
	}
	return pool(f.concurrency, jobs, func(j chunk) error {
		if j.partNumber == 0 {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(f.dstBucket), Key: aws.String(j.key), Body: bytesReader(data[:j.n]),
				ContentLength: aws.Int64(j.n), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
			})
			return err
		}
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(f.dstBucket), Key: aws.String(j.key), UploadId: aws.String(j.upload.id),
			PartNumber: aws.Int32(j.partNumber), Body: bytesReader(data[:j.n]), ContentLength: aws.Int64(j.n),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		})
		if err != nil {
			return err
		}
		u := j.upload
		u.mu.Lock()
		u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(j.partNumber), ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C})
		u.mu.Unlock()
		if u.left.Add(-1) > 0 {
			return nil
		}
		slicesSortParts(u.parts)
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(f.dstBucket), Key: aws.String(u.key), UploadId: aws.String(u.id),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
		})
		return err
	})
}

// maxCounted is the highest object attempt retryCounter tells apart (the
// engine tries an object 3 times).
const maxCounted = 9

// retryCounter counts the engine's "retrying object" records by attempt
// and passes the other records to its Handler.
type retryCounter struct {
	slog.Handler
	n *[maxCounted + 1]atomic.Int64
}

func (h retryCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.Handler.Enabled(ctx, l)
}

func (h retryCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "retrying object" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "attempt" {
				h.n[min(max(int(a.Value.Int64()), 0), maxCounted)].Add(1)
			}
			return true
		})
		return nil
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h retryCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return retryCounter{h.Handler.WithAttrs(as), h.n}
}
func (h retryCounter) WithGroup(g string) slog.Handler {
	return retryCounter{h.Handler.WithGroup(g), h.n}
}

// only is a log handler that passes only the records with message msg: the
// trace of the engine's controller, without the per-object lines.
type only struct {
	slog.Handler
	msg string
}

func (h only) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != h.msg {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h only) WithAttrs(as []slog.Attr) slog.Handler { return only{h.Handler.WithAttrs(as), h.msg} }
func (h only) WithGroup(g string) slog.Handler       { return only{h.Handler.WithGroup(g), h.msg} }
