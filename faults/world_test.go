// Package faults runs syncs through injected failures — S3 errors, reset
// and truncated bodies, lost responses, latency, a failing Authentication
// API — between a real MinIO holding the export (read with STS credentials
// scoped to the account prefix) and a customer bucket, and checks after the
// runs it takes that nothing was lost, corrupted, half-visible, falsely
// marked complete, or left as an open upload, and that every run that did
// not finish said so.
//
// `go test ./faults` runs the short matrix; E3SYNC_SOAK=N runs it N times
// over with more data (make soak).
package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/e3sync/e3sync/internal/fakeauth"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/job"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
	"github.com/e3sync/e3sync/pkg/verify"
)

const (
	srcBucket = testworld.SourceBucket
	acct      = "v1/account_id=4242/"
	dstBucket = testworld.DestBucket
	token     = "pat-FAULTS-secret-token"
	partSize  = 5 << 20
	fromDate  = "2024-03-01"
	toDate    = "2024-03-02"
)

// soakRounds is E3SYNC_SOAK (0 when unset): how many rounds the soak runs
// after the short matrix.
func soakRounds() int {
	n, _ := strconv.Atoi(os.Getenv("E3SYNC_SOAK"))
	return n
}

// soakFaults is how many faults of each kind the soak injects at least (the
// short matrix included).
const soakFaults = 100

// soakShare is one soak round's share of soakFaults.
func soakShare(rounds int) int { return (soakFaults + rounds - 1) / rounds }

type world struct {
	t      *testing.T
	root   *s3.Client // MinIO directly, never through the proxy
	proxy  *testenv.FaultProxy
	api    *fakeauth.API
	apiURL string
	src    map[string]string // data key -> sha256, relative to the account root
	sizes  map[string]int64
	dates  map[string]bool // "type=t/date=d/" -> source has _SUCCESS
	next   int             // destination prefix counter
	rng    *rand.Rand      // the source data
}

func newWorld(t *testing.T, scale int) *world {
	t.Helper()
	w := newEmptyWorld(t, int64(scale))
	d1, d2 := "type=decisions/date="+fromDate+"/", "type=events/date="+fromDate+"/"
	d3 := "type=events/date=" + toDate + "/"
	for i := 0; i < 3*scale; i++ {
		w.put(fmt.Sprintf("%sexperiment=1/part-%05d.c000.snappy.parquet", d1, i), 100_000+w.rng.Intn(200_000))
	}
	w.put(d1+"experiment=2/part-00000.c000.snappy.parquet", 12<<20) // multipart: 3 parts
	for i := 0; i < 2*scale; i++ {
		w.put(fmt.Sprintf("%sevent=purchase/part-%05d.c000.snappy.parquet", d2, i), 150_000+w.rng.Intn(100_000))
	}
	w.put(d2+"event=NULL/part-00000.c000.snappy.parquet", 0)
	w.put(d2+"event=video play/part-00000.c000.snappy.parquet", 70_000)
	w.put(d3+"event=purchase/part-00000.c000.snappy.parquet", 90_000)
	if scale > 1 {
		w.put(d3+"event=big/part-00000.c000.snappy.parquet", 11<<20)
		// Multipart objects (2 parts each) for the multipart-level faults.
		for i := 0; i < scale; i++ {
			w.put(fmt.Sprintf("%sexperiment=3/part-%05d.c000.snappy.parquet", d1, i), 6<<20)
		}
	}
	w.put(d1+export.SuccessMarker, 0)
	w.put(d2+export.SuccessMarker, 0)
	w.dates[d1], w.dates[d2], w.dates[d3] = true, true, false
	return w
}

// newEmptyWorld starts MinIO with the export bucket (read by "exporter",
// through the emulated Authentication API's credentials) and the customer's
// bucket (read and written by "customer"), the fault proxy in front of it,
// and no data: seed with put, and mark each date in w.dates.
func newEmptyWorld(t *testing.T, seed int64) *world {
	t.Helper()
	tw := testworld.New(t, testworld.Options{Token: token, AccountPrefix: acct})
	m := tw.MinIO
	w := &world{t: t, root: tw.Root, api: tw.API, apiURL: tw.APIURL,
		src: map[string]string{}, sizes: map[string]int64{}, dates: map[string]bool{}, rng: rand.New(rand.NewSource(seed))}
	p, err := testenv.NewFaultProxy(m.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	w.proxy = p
	return w
}

// put writes size random bytes at key (relative to the account root) in the
// export bucket and records their SHA-256 (a _SUCCESS is not recorded).
func (w *world) put(key string, size int) {
	w.t.Helper()
	b := make([]byte, size)
	w.rng.Read(b)
	if _, err := w.root.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(acct + key), Body: bytes.NewReader(b)}); err != nil {
		w.t.Fatal(err)
	}
	if !strings.HasSuffix(key, export.SuccessMarker) {
		h := sha256.Sum256(b)
		w.src[key], w.sizes[key] = hex.EncodeToString(h[:]), int64(size)
	}
}

// newPrefix returns a fresh destination prefix: each scenario starts empty.
func (w *world) newPrefix(name string) string {
	w.next++
	return fmt.Sprintf("s%02d-%s/", w.next, strings.NewReplacer(" ", "-", "/", "-").Replace(name))
}

func (w *world) source(ctx context.Context) (*source.Source, error) {
	env := map[string]string{"T": token}
	return source.Open(ctx, source.Config{
		Tokens: pat.FromEnv(func(k string) string { return env[k] }, "T"), APIBaseURL: w.apiURL, Endpoint: w.proxy.URL,
	})
}

func (w *world) dest(prefix string) *store.S3 {
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testworld.CustomerKey, testworld.CustomerSecret, ""),
		BaseEndpoint: aws.String(w.proxy.URL),
	}
	return clients.NewDestinationS3(cfg, store.Target{Bucket: dstBucket, Prefix: prefix}, true, store.S3Options{PartSize: partSize})
}

// sync runs one whole job through the proxy, as the CLI does.
func (w *world) sync(ctx context.Context, prefix string) (job.Summary, error) {
	src, err := w.source(ctx)
	if err != nil {
		return job.Summary{}, err
	}
	dst := w.dest(prefix)
	eng := transfer.New(src.Store, dst, transfer.Options{Concurrency: 4})
	j := &job.Job{Source: src.Store, Dest: dst, Engine: eng, TaskConcurrency: 4}
	return j.Run(ctx, plan.Options{Types: export.AllTypes, From: fromDate, To: toDate, RunID: "faults"})
}

// dstObjects lists the destination prefix (directly): key -> size, data and
// markers only.
func (w *world) dstObjects(ctx context.Context, prefix string) (map[string]int64, error) {
	out := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(w.root, &s3.ListObjectsV2Input{Bucket: aws.String(dstBucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if !strings.HasPrefix(k, transfer.StateRoot) {
				out[k] = aws.ToInt64(o.Size)
			}
		}
	}
	return out, nil
}

func (w *world) dstSum(ctx context.Context, key string) (string, error) {
	sum, n, err := verify.Sum(ctx, store.NewS3(w.root, dstBucket, "", store.S3Options{}), key)
	if err == nil && n < 0 {
		err = store.ErrNotFound
	}
	return sum, err
}

// damage is what an inspection of the destination found wrong.
type damage struct {
	lost, corrupted, partial, falseSuccess, extra map[string]bool
}

func newDamage() *damage {
	return &damage{lost: map[string]bool{}, corrupted: map[string]bool{}, partial: map[string]bool{}, falseSuccess: map[string]bool{}, extra: map[string]bool{}}
}

// inspect checks every visible object of the destination against the
// source: a data object must be byte-identical (else partial while a run is
// going on, corrupted after), a _SUCCESS must sit beside every object of its
// date and exist at the source. With final, missing objects count as lost.
func (w *world) inspect(ctx context.Context, prefix string, d *damage, final bool, mu *sync.Mutex) error {
	objs, err := w.dstObjects(ctx, prefix)
	if err != nil {
		return err
	}
	bad := map[string]bool{}
	for k, size := range objs {
		if strings.HasSuffix(k, "/"+export.SuccessMarker) {
			continue
		}
		want, ok := w.src[k]
		if !ok {
			mu.Lock()
			d.extra[k] = true
			mu.Unlock()
			continue
		}
		got := ""
		if size == w.sizes[k] {
			if got, err = w.dstSum(ctx, prefix+k); err != nil {
				continue // replaced or gone meanwhile; the next look sees it
			}
		}
		if got != want {
			bad[k] = true
			mu.Lock()
			if final {
				d.corrupted[k] = true
			} else {
				d.partial[k] = true
			}
			mu.Unlock()
		}
	}
	for date, complete := range w.dates {
		if _, ok := objs[date+export.SuccessMarker]; !ok {
			continue
		}
		ok := complete
		for k := range w.src {
			if strings.HasPrefix(k, date) {
				if _, there := objs[k]; !there || bad[k] {
					ok = false
				}
			}
		}
		if !ok {
			mu.Lock()
			d.falseSuccess[date] = true
			mu.Unlock()
		}
	}
	if final {
		for k := range w.src {
			if _, ok := objs[k]; !ok {
				d.lost[k] = true
			}
		}
	}
	return nil
}

// openUploads lists the keys of the multipart uploads left open under
// prefix, and fails the world's test if it cannot.
func (w *world) openUploads(ctx context.Context, prefix string) []string {
	keys, err := w.listOpenUploads(ctx, prefix)
	if err != nil {
		w.t.Fatalf("ListMultipartUploads: %v", err)
	}
	return keys
}

// listOpenUploads lists the keys of the multipart uploads open under
// prefix. It lists the whole bucket and filters: MinIO lists uploads under
// a prefix only when the prefix is an object's exact name
// (minio/minio#20989), so a listing by prefix would never find one.
func (w *world) listOpenUploads(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(dstBucket)}
	for {
		out, err := w.root.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, u := range out.Uploads {
			if k := aws.ToString(u.Key); strings.HasPrefix(k, prefix) {
				keys = append(keys, strings.TrimPrefix(k, prefix))
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	sort.Strings(keys)
	return keys, nil
}

// observe inspects the destination prefix over and over, while runs go on,
// until the returned stop is called; stop returns how many passes it made.
func (w *world) observe(prefix string, d *damage, mu *sync.Mutex) (stop func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		looks := 0
		for ctx.Err() == nil {
			if w.inspect(ctx, prefix, d, false, mu) == nil {
				looks++
			}
		}
		done <- looks
	}()
	return func() int {
		cancel()
		return <-done
	}
}

// final inspects the destination once the runs are over (a missing object
// is lost now), fills in res's damage and open uploads, and fails the test
// on any.
func (w *world) final(t *testing.T, prefix string, d *damage, mu *sync.Mutex, res *row) {
	t.Helper()
	ctx := context.Background()
	if err := w.inspect(ctx, prefix, d, true, mu); err != nil {
		t.Fatal(err)
	}
	open := w.openUploads(ctx, prefix)
	res.lost, res.corrupted, res.partial, res.falseSuccess, res.orphans = len(d.lost), len(d.corrupted), len(d.partial), len(d.falseSuccess), len(open)
	if res.lost+res.corrupted+res.partial+res.falseSuccess+res.orphans+len(d.extra) > 0 {
		t.Errorf("damage: lost [%s] corrupted [%s] partial [%s] false _SUCCESS [%s] extra [%s] open uploads %q",
			keys(d.lost), keys(d.corrupted), keys(d.partial), keys(d.falseSuccess), keys(d.extra), open)
		w.logUploads(t, ctx, prefix)
	}
}

// remove deletes everything under prefix of the destination bucket
// (directly), so that a long soak does not fill the disk with finished
// scenarios.
func (w *world) remove(prefix string) {
	w.t.Helper()
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(w.root, &s3.ListObjectsV2Input{Bucket: aws.String(dstBucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			w.t.Fatalf("list %s to remove it: %v", prefix, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := w.root.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(dstBucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			w.t.Fatalf("remove %s: %v", prefix, err)
		}
	}
}

// differences compares the destination with the source through pkg/verify,
// directly (not through the proxy); it fails the test if it cannot.
func (w *world) differences(t *testing.T, prefix string) []verify.Difference {
	t.Helper()
	src := store.NewS3(w.root, srcBucket, acct, store.S3Options{})
	dst := store.NewS3(w.root, dstBucket, prefix, store.S3Options{})
	rep, err := verify.Compare(context.Background(), src, dst, verify.Options{From: fromDate, To: toDate})
	if err != nil {
		t.Fatalf("verify %s: %v", prefix, err)
	}
	return rep.Differences
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
