package memorys3

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/rand"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"

	"github.com/e3sync/e3sync/internal/fakeauth"
)

// The tests in this file check that the in-process S3 server behaves like S3
// for every call the copy engine makes, byte for byte, with the SDK's default
// client options.

const testBucket = "test-bucket"

// sdkLog collects the warnings the SDK logs, so tests can assert there are
// none. Debug lines (e.g. "Response has no supported checksum" on a Range
// GET, as with S3) are dropped.
type sdkLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *sdkLog) Logf(c logging.Classification, format string, v ...any) {
	if c == logging.Debug {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(c)+": "+fmt.Sprintf(format, v...))
}

func (l *sdkLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// startMemory starts a server with one bucket and returns a client whose SDK
// log is checked to be empty at the end of the test.
func startMemory(t *testing.T, optFns ...func(*s3.Options)) (*Server, *s3.Client) {
	t.Helper()
	m, _ := ForTest(t, testBucket)
	log := &sdkLog{}
	t.Cleanup(func() {
		if s := log.String(); s != "" {
			t.Errorf("SDK logged:\n%s", s)
		}
	})
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "token")
	c := m.Client(creds, append([]func(*s3.Options){func(o *s3.Options) { o.Logger = log }}, optFns...)...)
	return m, c
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func getAll(t *testing.T, c *s3.Client, key string, rng *string) (*s3.GetObjectOutput, []byte) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Range: rng})
	if err != nil {
		t.Fatalf("GetObject(%q, range %v) error = %v", key, aws.ToString(rng), err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject(%q, range %v) read error = %v", key, aws.ToString(rng), err)
	}
	return out, body
}

func TestMemoryPutObjectCRC32CMetadata(t *testing.T) {
	_, c := startMemory(t)
	ctx := context.Background()
	key := "v1/account_id=123/type=events/date=2024-01-02/event=purchase/part-00000-x.c000.snappy.parquet"
	data := randomBytes(300_000, 1)
	meta := map[string]string{"source-etag": `"abc-3"`, "source-size": "300000", "e3sync-run": "r1"}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(testBucket),
		Key:               aws.String(key),
		Body:              bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		Metadata:          meta,
	})
	if err != nil {
		t.Fatalf("PutObject() error = %v", err)
	}
	if aws.ToString(put.ETag) == "" {
		t.Errorf("PutObject() ETag is empty")
	}

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("HeadObject() error = %v", err)
	}
	if got := aws.ToInt64(head.ContentLength); got != int64(len(data)) {
		t.Errorf("HeadObject().ContentLength = %d, want %d", got, len(data))
	}
	if !maps.Equal(head.Metadata, meta) {
		t.Errorf("HeadObject().Metadata = %v, want %v", head.Metadata, meta)
	}
	if aws.ToString(head.ETag) != aws.ToString(put.ETag) {
		t.Errorf("HeadObject().ETag = %s, want %s", aws.ToString(head.ETag), aws.ToString(put.ETag))
	}
	if got := aws.ToString(head.ContentEncoding); got != "" {
		t.Errorf("HeadObject().ContentEncoding = %q, want none", got)
	}

	get, body := getAll(t, c, key, nil)
	if !bytes.Equal(body, data) {
		t.Errorf("GetObject() body differs from what was put (%d bytes, want %d)", len(body), len(data))
	}
	if !maps.Equal(get.Metadata, meta) {
		t.Errorf("GetObject().Metadata = %v, want %v", get.Metadata, meta)
	}
}

func TestMemoryChecksumMode(t *testing.T) {
	m, c := startMemory(t)
	ctx := context.Background()
	data := randomBytes(5000, 3)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String("k"), Body: bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	}); err != nil {
		t.Fatalf("PutObject() error = %v", err)
	}
	want := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))))
	tests := []struct {
		rng          string
		mode         types.ChecksumMode
		wantChecksum string
		start, end   int
	}{
		{"", types.ChecksumModeEnabled, want, 0, 5000},
		{"", "", "", 0, 5000},
		// gofakes3 alone returns the whole-object checksum here and the SDK
		// then fails with "checksum did not match".
		{"bytes=10-19", types.ChecksumModeEnabled, "", 10, 20},
		{"bytes=10-19", "", "", 10, 20},
	}
	for _, tt := range tests {
		in := &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k"), ChecksumMode: tt.mode}
		if tt.rng != "" {
			in.Range = aws.String(tt.rng)
		}
		out, err := c.GetObject(ctx, in)
		if err != nil {
			t.Fatalf("GetObject(%q, %q) error = %v", tt.rng, tt.mode, err)
		}
		body, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Errorf("GetObject(%q, %q) read error = %v", tt.rng, tt.mode, err)
		}
		if !bytes.Equal(body, data[tt.start:tt.end]) {
			t.Errorf("GetObject(%q, %q) body differs", tt.rng, tt.mode)
		}
		if got := aws.ToString(out.ChecksumCRC32C); got != tt.wantChecksum {
			t.Errorf("GetObject(%q, %q).ChecksumCRC32C = %q, want %q", tt.rng, tt.mode, got, tt.wantChecksum)
		}
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("HeadObject() error = %v", err)
	}
	if got := aws.ToString(head.ChecksumCRC32C); got != want {
		t.Errorf("HeadObject(ChecksumMode ENABLED).ChecksumCRC32C = %q, want %q", got, want)
	}

	// Request headers gofakes3 stores with the object must not come back.
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, err := http.NewRequest(method, m.URL()+"/"+testBucket+"/k", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for _, h := range []string{"X-Amz-Security-Token", "X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Sdk-Checksum-Algorithm", "X-Amz-Checksum-Crc32c"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("%s object: response header %s = %q, want none", method, h, v)
			}
		}
	}
}

func TestMemoryGetObjectRange(t *testing.T) {
	_, c := startMemory(t)
	ctx := context.Background()
	data := randomBytes(100_000, 2)
	key := "ranged"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	}); err != nil {
		t.Fatalf("PutObject() error = %v", err)
	}
	tests := []struct {
		rng        string
		start, end int // want data[start:end]
	}{
		{"bytes=0-0", 0, 1},
		{"bytes=100-199", 100, 200},
		{"bytes=99000-", 99000, 100000},
		{"bytes=-500", 99500, 100000},
		{"bytes=0-99999", 0, 100000},
	}
	for _, tt := range tests {
		out, body := getAll(t, c, key, aws.String(tt.rng))
		if !bytes.Equal(body, data[tt.start:tt.end]) {
			t.Errorf("GetObject(Range %s) = %d bytes, want data[%d:%d]", tt.rng, len(body), tt.start, tt.end)
		}
		wantCR := fmt.Sprintf("bytes %d-%d/%d", tt.start, tt.end-1, len(data))
		if got := aws.ToString(out.ContentRange); got != wantCR {
			t.Errorf("GetObject(Range %s).ContentRange = %q, want %q", tt.rng, got, wantCR)
		}
	}
}

// awkwardKeys are sub-partition values seen in real exports, and then some.
var awkwardKeys = []string{
	"v1/account_id=123/type=events/date=2024-01-02/event=NULL/part-00000-a.c000.snappy.parquet",
	"v1/account_id=123/type=events/date=2024-01-02/event=video play/part-00000-a.c000.snappy.parquet",
	"v1/account_id=123/type=events/date=2024-01-02/event=checkout%3Astart/part-00000-a.c000.snappy.parquet",
	"v1/account_id=123/type=events/date=2024-01-02/event=promo;code(2)/part-00000-a.c000.snappy.parquet",
	"v1/account_id=123/type=events/date=2024-01-02/event=a=b&c+d/part-00000-a.c000.snappy.parquet",
	"v1/account_id=123/type=events/date=2024-01-02/event=%2F%25 ~!*'@$,[]/part-00000-a.c000.snappy.parquet",
	"v1/account_id=123/type=events/date=2024-01-02/event=ünï cødé ✓/part-00000-a.c000.snappy.parquet",
	"v1/account_id=123/type=events/date=2024-01-02/_SUCCESS",
}

func TestMemoryAwkwardKeysRoundTrip(t *testing.T) {
	_, c := startMemory(t)
	ctx := context.Background()
	for i, key := range awkwardKeys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader([]byte(key)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
			Metadata:          map[string]string{"i": fmt.Sprint(i)},
		}); err != nil {
			t.Fatalf("PutObject(%q) error = %v", key, err)
		}
	}
	var listed []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String("v1/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListObjectsV2() error = %v", err)
		}
		for _, o := range page.Contents {
			listed = append(listed, aws.ToString(o.Key))
		}
	}
	want := slices.Sorted(slices.Values(awkwardKeys))
	if !slices.Equal(listed, want) {
		t.Errorf("listed keys =\n%q\nwant\n%q", listed, want)
	}
	for i, key := range awkwardKeys {
		out, body := getAll(t, c, key, nil)
		if string(body) != key {
			t.Errorf("GetObject(%q) body = %q, want the key itself", key, body)
		}
		if got := out.Metadata["i"]; got != fmt.Sprint(i) {
			t.Errorf("GetObject(%q).Metadata[i] = %q, want %d", key, got, i)
		}
	}
}

func TestMemoryListDelimiterPagination(t *testing.T) {
	_, c := startMemory(t)
	ctx := context.Background()
	const prefix = "v1/account_id=123/type=events/date=2024-01-02/"
	var wantPrefixes []string
	for _, ev := range []string{"NULL", "add_to_cart", "checkout%3Astart", "promo;code(2)", "purchase", "video play", "z"} {
		wantPrefixes = append(wantPrefixes, prefix+"event="+ev+"/")
	}
	wantKeys := []string{prefix + "_SUCCESS", prefix + "a.txt", prefix + "b c.txt"}
	for _, p := range wantPrefixes {
		for i := range 3 {
			wantKeys = append(wantKeys, fmt.Sprintf("%spart-%05d.parquet", p, i))
		}
	}
	for _, k := range wantKeys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatalf("PutObject(%q) error = %v", k, err)
		}
	}
	// Keys outside the prefix must not show up.
	for _, k := range []string{"v1/account_id=123/type=events/date=2024-01-03/_SUCCESS", "v1/account_id=1234/x"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatalf("PutObject(%q) error = %v", k, err)
		}
	}

	for _, maxKeys := range []int32{1, 2, 3, 1000} {
		t.Run(fmt.Sprint("MaxKeys=", maxKeys), func(t *testing.T) {
			// Delimited: direct objects and common prefixes, each exactly once.
			var gotPrefixes, gotKeys []string
			var token *string
			pages := 0
			for {
				out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
					Bucket: aws.String(testBucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
					MaxKeys: aws.Int32(maxKeys), ContinuationToken: token,
				})
				if err != nil {
					t.Fatalf("ListObjectsV2() error = %v", err)
				}
				pages++
				if n := len(out.Contents) + len(out.CommonPrefixes); n > int(maxKeys) {
					t.Errorf("page %d has %d entries, more than MaxKeys %d", pages, n, maxKeys)
				}
				for _, cp := range out.CommonPrefixes {
					gotPrefixes = append(gotPrefixes, aws.ToString(cp.Prefix))
				}
				for _, o := range out.Contents {
					gotKeys = append(gotKeys, aws.ToString(o.Key))
				}
				if !aws.ToBool(out.IsTruncated) {
					break
				}
				if out.NextContinuationToken == nil {
					t.Fatalf("page %d truncated without NextContinuationToken", pages)
				}
				token = out.NextContinuationToken
				if pages > 100 {
					t.Fatal("pagination does not end")
				}
			}
			if want := slices.Sorted(slices.Values(wantPrefixes)); !slices.Equal(gotPrefixes, want) {
				t.Errorf("CommonPrefixes =\n%q\nwant\n%q", gotPrefixes, want)
			}
			if want := []string{prefix + "_SUCCESS", prefix + "a.txt", prefix + "b c.txt"}; !slices.Equal(gotKeys, want) {
				t.Errorf("Contents =\n%q\nwant\n%q", gotKeys, want)
			}

			// Not delimited, through the SDK paginator: every key exactly once.
			var all []string
			p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{
				Bucket: aws.String(testBucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(maxKeys),
			})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListObjectsV2 paginator error = %v", err)
				}
				for _, o := range out.Contents {
					all = append(all, aws.ToString(o.Key))
				}
			}
			if want := slices.Sorted(slices.Values(wantKeys)); !slices.Equal(all, want) {
				t.Errorf("all keys =\n%q\nwant\n%q", all, want)
			}
		})
	}
}

// unseekable hides every method of r but Read, like a GetObject body does.
type unseekable struct{ r io.Reader }

func (u unseekable) Read(p []byte) (int, error) { return u.r.Read(p) }

func TestMemoryMultipartUploadCRC32C(t *testing.T) {
	_, c := startMemory(t)
	ctx := context.Background()
	const partSize = 8 << 20
	for _, size := range []int{partSize - 1, 2*partSize + 12345} {
		key := fmt.Sprintf("big/event=video play/part-%d.parquet", size)
		data := randomBytes(size, int64(size))
		meta := map[string]string{"source-etag": `"0123-3"`}
		up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = partSize })
		res, err := up.Upload(ctx, &s3.PutObjectInput{
			Bucket: aws.String(testBucket), Key: aws.String(key),
			Body:              unseekable{bytes.NewReader(data)},
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
			Metadata:          meta,
		})
		if err != nil {
			t.Fatalf("Upload(%d bytes) error = %v", size, err)
		}
		if res.Key == nil || *res.Key != key {
			t.Errorf("Upload().Key = %v, want %q", aws.ToString(res.Key), key)
		}
		wantMultipart := size > partSize
		if got := res.UploadID != ""; got != wantMultipart {
			t.Errorf("Upload(%d bytes) multipart = %v, want %v", size, got, wantMultipart)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("HeadObject() error = %v", err)
		}
		if got := aws.ToInt64(head.ContentLength); got != int64(size) {
			t.Errorf("HeadObject().ContentLength = %d, want %d", got, size)
		}
		if !maps.Equal(head.Metadata, meta) {
			t.Errorf("HeadObject().Metadata = %v, want %v", head.Metadata, meta)
		}
		_, body := getAll(t, c, key, nil)
		if !bytes.Equal(body, data) {
			t.Errorf("GetObject() after Upload(%d bytes) = %d bytes, differs from input", size, len(body))
		}
		_, body = getAll(t, c, key, aws.String(fmt.Sprintf("bytes=%d-%d", partSize-10, partSize+9)))
		if !bytes.Equal(body, data[partSize-10:min(partSize+10, size)]) {
			t.Errorf("GetObject(range across part boundary) differs from input")
		}
	}
}

// Minted credentials work against the server (it checks no signature).
func TestStaticMinterWithMemoryS3(t *testing.T) {
	m, admin := startMemory(t)
	ctx := context.Background()
	if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("p/k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	creds, err := fakeauth.StaticMinter{AccessKeyID: "A", SecretAccessKey: "S"}.Mint(ctx, testBucket, "p/", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Client(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken))
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String("p/")})
	if err != nil {
		t.Fatalf("ListObjectsV2 with minted credentials error = %v", err)
	}
	if len(out.Contents) != 1 {
		t.Errorf("ListObjectsV2 = %d objects, want 1", len(out.Contents))
	}
}
