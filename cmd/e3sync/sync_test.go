package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/testworld"
	"github.com/e3sync/e3sync/pkg/job"
)

const (
	srcBucket  = testworld.SourceBucket
	acctPrefix = "v1/account_id=12345/"
	dstBucket  = testworld.DestBucket
	dstPrefix  = "optimizely/"
	token      = "pat-INTEGRATION-secret-0123456789"
)

// world is a testworld (MinIO with Optimizely's bucket behind the emulated
// Authentication API, and the customer's bucket) plus the environment the
// CLI is run with.
type world struct {
	*testworld.World
	t   *testing.T
	env map[string]string
}

func newWorld(t *testing.T, lifetime time.Duration) *world {
	t.Helper()
	tw := testworld.New(t, testworld.Options{
		Token: token, AccountPrefix: acctPrefix, Lifetime: lifetime, TrailingSlash: true, ExtraBuckets: []string{"other-bucket"},
	})
	w := &world{World: tw, t: t}
	// The destination identity comes from the SDK's default chain, as in
	// production: environment variables here.
	home := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           testworld.CustomerKey,
		"AWS_SECRET_ACCESS_KEY":       testworld.CustomerSecret,
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		"AWS_ENDPOINT_URL_S3":         tw.MinIO.Endpoint(),
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:9", // any other service: a closed loopback port, never AWS
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	w.env = map[string]string{
		"OPTIMIZELY_TOKEN":    token,
		"OPTIMIZELY_API_URL":  tw.APIURL,
		"SOURCE_S3_ENDPOINT":  tw.SourceEndpoint,
		"AWS_ENDPOINT_URL_S3": tw.MinIO.Endpoint(),
	}
	return w
}

func (w *world) put(key string, body []byte) {
	w.t.Helper()
	w.Put(w.t, key, body)
}

// sync runs the CLI and returns its exit code and JSON summary.
func (w *world) sync(t *testing.T, args ...string) (int, job.Summary, string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return w.env[k] }
	code := run(context.Background(), append([]string{"sync", "--json"}, args...), getenv, &out, &errb)
	var s job.Summary
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &s); err != nil {
			t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
		}
	}
	return code, s, errb.String()
}

// objects returns key -> sha256 of every object under prefix.
func objects(t *testing.T, c *s3.Client, bucket, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			g, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			io.Copy(h, g.Body)
			g.Body.Close()
			out[strings.TrimPrefix(*o.Key, prefix)] = fmt.Sprintf("%x", h.Sum(nil))
		}
	}
	return out
}

// assertMirror checks that the destination holds exactly the source's data
// objects, byte for byte, plus _SUCCESS for exactly the wanted dates.
func (w *world) assertMirror(t *testing.T, wantSuccess ...string) {
	t.Helper()
	src := objects(t, w.Root, srcBucket, acctPrefix)
	dst := objects(t, w.Root, dstBucket, dstPrefix)
	for k := range dst {
		if strings.HasPrefix(k, "_e3sync/") {
			delete(dst, k)
		}
	}
	for k, sum := range src {
		if strings.HasSuffix(k, "/_SUCCESS") {
			continue
		}
		if dst[k] != sum {
			t.Errorf("destination %q: sha256 %q, want %q", k, dst[k], sum)
		}
	}
	gotSuccess := map[string]bool{}
	for k := range dst {
		if strings.HasSuffix(k, "/_SUCCESS") {
			gotSuccess[strings.TrimSuffix(k, "_SUCCESS")] = true
		} else if _, ok := src[k]; !ok {
			t.Errorf("destination has %q, which the source does not", k)
		}
	}
	if len(gotSuccess) != len(wantSuccess) {
		t.Errorf("destination _SUCCESS markers %v, want %v", gotSuccess, wantSuccess)
	}
	for _, d := range wantSuccess {
		if !gotSuccess[d] {
			t.Errorf("destination has no _SUCCESS for %s", d)
		}
	}
}

func randBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func day(offset int) string { return time.Now().UTC().AddDate(0, 0, offset).Format("2006-01-02") }

func TestSyncAgainstMinIO(t *testing.T) {
	w := newWorld(t, 0)
	old, prev, recent := day(-10), day(-9), day(-1)
	// Two complete old dates and a recent one still growing.
	for i, d := range []string{old, prev, recent} {
		w.put("type=decisions/date="+d+"/experiment=18786493712/part-00000-a.c000.snappy.parquet", randBytes(150_000+i, int64(i)))
		w.put("type=decisions/date="+d+"/experiment=222/part-00000-b.c000.snappy.parquet", randBytes(70_000, int64(10+i)))
		w.put("type=events/date="+d+"/event=purchase/part-00000-c.c000.snappy.parquet", randBytes(90_000, int64(20+i)))
	}
	for _, name := range []string{"NULL", "video play", "checkout%3Astart", "promo;code(2)"} {
		w.put("type=events/date="+prev+"/event="+name+"/part-00000-d.c000.snappy.parquet", randBytes(4_000, int64(len(name))))
	}
	w.put("type=events/date="+prev+"/event=empty/part-00000-e.c000.snappy.parquet", nil)                 // zero bytes
	w.put("type=events/date="+prev+"/event=big/part-00000-f.c000.snappy.parquet", randBytes(13<<20, 99)) // multipart at 5 MiB parts
	for _, d := range []string{old, prev} {
		w.put("type=decisions/date="+d+"/_SUCCESS", nil)
		w.put("type=events/date="+d+"/_SUCCESS", nil)
	}
	// Something the scoped credentials must never reach.
	if _, err := w.Root.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String("v1/account_id=999/type=events/date=" + old + "/event=x/secret.parquet"), Body: strings.NewReader("nope")}); err != nil {
		t.Fatal(err)
	}
	dest := "s3://" + dstBucket + "/" + dstPrefix
	complete := []string{
		"type=decisions/date=" + old + "/", "type=decisions/date=" + prev + "/",
		"type=events/date=" + old + "/", "type=events/date=" + prev + "/",
	}

	t.Run("first sync copies everything", func(t *testing.T) {
		code, s, stderr := w.sync(t, "--dest", dest, "--part-size", "5MiB")
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		if s.ObjectsCopied != 15 || s.ObjectsSkipped != 0 || s.ObjectsFailed != 0 || s.DatesCompleted != 4 || len(s.Errors) != 0 {
			t.Errorf("summary = %+v, want 15 copied, 0 skipped, 4 dates completed", s)
		}
		if want := int64(3*(150_000+70_000+90_000) + 3 + 4*4_000 + 13<<20); s.BytesCopied != want {
			t.Errorf("bytes_copied = %d, want %d", s.BytesCopied, want)
		}
		w.assertMirror(t, complete...)
	})

	t.Run("second sync copies nothing", func(t *testing.T) {
		code, s, stderr := w.sync(t, "--dest", dest)
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		// Old complete dates outside the look-back window are not even listed.
		if s.ObjectsCopied != 0 || s.BytesCopied != 0 || s.DatesCompleted != 0 {
			t.Errorf("summary = %+v, want nothing copied", s)
		}
		if s.ObjectsSkipped != 3 {
			t.Errorf("objects_skipped = %d, want 3 (the recent, incomplete date)", s.ObjectsSkipped)
		}
	})

	t.Run("late object and a new date", func(t *testing.T) {
		w.put("type=events/date="+recent+"/event=purchase/part-00001-late.c000.snappy.parquet", randBytes(1234, 7))
		w.put("type=events/date="+day(0)+"/event=add_to_cart/part-00000-g.c000.snappy.parquet", randBytes(2345, 8))
		code, s, stderr := w.sync(t, "--dest", dest)
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		if s.ObjectsCopied != 2 || s.BytesCopied != 1234+2345 {
			t.Errorf("summary = %+v, want 2 objects, %d bytes copied", s, 1234+2345)
		}
		w.assertMirror(t, complete...)
	})

	t.Run("_SUCCESS appearing later is mirrored", func(t *testing.T) {
		w.put("type=events/date="+recent+"/_SUCCESS", nil)
		code, s, stderr := w.sync(t, "--dest", dest)
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		if s.ObjectsCopied != 0 || s.DatesCompleted != 1 || len(s.CompletedDates) != 1 || s.CompletedDates[0] != "events/"+recent {
			t.Errorf("summary = %+v, want 0 copied and events/%s completed", s, recent)
		}
		w.assertMirror(t, append(complete, "type=events/date="+recent+"/")...)
	})

	t.Run("changed object with the same size is recopied", func(t *testing.T) {
		key := "type=events/date=" + recent + "/event=purchase/part-00001-late.c000.snappy.parquet"
		w.put(key, randBytes(1234, 8)) // same size, other bytes, new ETag
		code, s, stderr := w.sync(t, "--dest", dest)
		if code != 0 || s.ObjectsCopied != 1 {
			t.Fatalf("exit %d, summary %+v, want 1 copied; stderr:\n%s", code, s, stderr)
		}
		w.assertMirror(t, append(complete, "type=events/date="+recent+"/")...)
	})

	t.Run("backfill range with a sub-partition filter", func(t *testing.T) {
		code, s, stderr := w.sync(t, "--dest", dest, "--from", old, "--to", old, "--types", "decisions", "--partitions", "experiment=222")
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		if s.Tasks != 1 || s.ObjectsSkipped != 1 || s.ObjectsCopied != 0 {
			t.Errorf("summary = %+v, want 1 task, 1 skipped", s)
		}
	})

	t.Run("revoked token: clear error, nothing written", func(t *testing.T) {
		before := objects(t, w.Root, dstBucket, "")
		w.API.Revoke(token)
		defer w.API.AddToken(token)
		w.put("type=events/date="+day(0)+"/event=add_to_cart/part-00001-h.c000.snappy.parquet", randBytes(10, 9))
		code, _, stderr := w.sync(t, "--dest", dest)
		if code != exitRejected {
			t.Errorf("exit %d, want %d", code, exitRejected)
		}
		if !strings.Contains(stderr, "regenerate") {
			t.Errorf("stderr does not tell the user to regenerate the token:\n%s", stderr)
		}
		if strings.Contains(stderr, token) {
			t.Errorf("stderr contains the token:\n%s", stderr)
		}
		after := objects(t, w.Root, dstBucket, "")
		if len(after) != len(before) {
			t.Errorf("destination changed: %d objects before, %d after", len(before), len(after))
		}
	})
}

// Credentials whose advertised lifetime is a few seconds (enforced by a
// proxy in front of MinIO, as AWS enforces Optimizely's) expire many times
// during one sync; the sync still succeeds.
func TestSyncWithExpiringCredentials(t *testing.T) {
	soak := os.Getenv("E3SYNC_SOAK") != ""
	// Short-lived credentials are used for three quarters of their life
	// (no refresh on every request): the short copy takes about a second,
	// so they must live well under that to expire several times.
	lifetime := 500 * time.Millisecond
	if soak {
		lifetime = 2 * time.Second
	}
	w := newWorld(t, lifetime)
	d := day(-1)
	for i := 0; i < 12; i++ {
		w.put(fmt.Sprintf("type=events/date=%s/event=e%02d/part-00000.c000.snappy.parquet", d, i), randBytes(6<<20, int64(i)))
	}
	want := 12
	if soak {
		// make soak: a multi-GiB object, copied over hundreds of credential lifetimes.
		want++
		key := acctPrefix + "type=events/date=" + d + "/event=huge/part-00000.c000.snappy.parquet"
		up := manager.NewUploader(w.Root, func(u *manager.Uploader) { u.PartSize = 64 << 20 })
		_, err := up.Upload(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(srcBucket), Key: aws.String(key), Body: io.LimitReader(rand.New(rand.NewSource(7)), 2<<30),
		})
		if err != nil {
			t.Fatalf("seed 2 GiB: %v", err)
		}
	}
	w.put("type=events/date="+d+"/_SUCCESS", nil)
	code, s, stderr := w.sync(t, "--dest", "s3://"+dstBucket+"/"+dstPrefix, "--part-size", "5MiB", "--concurrency", "2", "--task-concurrency", "1")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if s.ObjectsCopied != want || s.DatesCompleted != 1 {
		t.Errorf("summary = %+v, want %d copied, 1 date completed", s, want)
	}
	n := w.API.Issued()
	if n < 2 {
		t.Errorf("credentials issued = %d, want several refreshes", n)
	}
	t.Logf("%d objects, %d credential grants of %v each", want, n, lifetime)
	w.assertMirror(t, "type=events/date="+d+"/")
}

// The real Optimizely sample, synced into a local directory, arrives byte for
// byte; its events day has _SUCCESS, its decisions day has not.
func TestSyncRealSampleToDirectory(t *testing.T) {
	sample := filepath.Join("..", "..", "..", "shared", "fixtures", "optimizely-labs-sample")
	if _, err := os.Stat(sample); err != nil {
		t.Skipf("real sample not available: %v", err)
	}
	w := newWorld(t, 0)
	var files []string
	filepath.WalkDir(sample, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.Contains(p, "type=") {
			rel, _ := filepath.Rel(sample, p)
			data, _ := os.ReadFile(p)
			w.put(filepath.ToSlash(rel), data)
			files = append(files, rel)
		}
		return nil
	})
	dir := t.TempDir()
	code, s, stderr := w.sync(t, "--dest", dir)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, rel := range files {
		want, _ := os.ReadFile(filepath.Join(sample, rel))
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: not copied byte for byte (err %v)", rel, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "type=decisions/date=2020-09-14/_SUCCESS")); err == nil {
		t.Errorf("decisions day got a _SUCCESS the source does not have")
	}
	if s.DatesCompleted != 1 || s.ObjectsCopied != len(files)-1 {
		t.Errorf("summary = %+v, want %d objects copied and 1 date completed", s, len(files)-1)
	}
}
