package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/memorys3"
	"github.com/e3sync/e3sync/internal/testenv"
)

const testBucket = "mirror"

// startS3 starts an in-process S3 server with one bucket and returns a client.
func startS3(t *testing.T) *s3.Client {
	t.Helper()
	_, c := memorys3.ForTest(t, testBucket)
	return c
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// openUploads lists the multipart uploads left open in the bucket.
func openUploads(t *testing.T, c *s3.Client) []string {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads() error = %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// startMinIO starts a real S3 server (MinIO) with one bucket.
func startMinIO(t *testing.T) *s3.Client {
	t.Helper()
	m := testenv.MinIOForTest(t)
	if err := m.CreateBucket(context.Background(), testBucket); err != nil {
		t.Fatal(err)
	}
	return m.S3Client(m.RootProvider())
}

// Keys are opaque bytes: spaces, '+', '%', ';', non-ASCII letters and control
// characters (which XML 1.0 cannot carry, hence URL-encoded listings) all
// round-trip on MinIO; the in-process emulator (gofakes3) does not
// URL-encode listings, so it gets no control characters.
func TestS3AwkwardKeysRoundTrip(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testAwkwardKeys(t, startS3(t), "") })
	t.Run("minio", func(t *testing.T) { testAwkwardKeys(t, startMinIO(t), "\x01\x1f") })
}

func testAwkwardKeys(t *testing.T, c *s3.Client, controls string) {
	s := NewS3(c, testBucket, "root/account=1", S3Options{})
	if got, want := s.String(), "s3://mirror/root/account=1/"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	ctx := context.Background()
	const date = "type=events/date=2024-01-02/"
	keys := []string{
		date + "_SUCCESS",
		date + "event=add to cart/part-00000.parquet",
		date + "event=a%3Ab/part-00000.parquet",
		date + "event=a;b/part-00000.parquet",
		date + "event=a+b 100%/part-00000.parquet",
		date + "event=buy (1)/part-00000.parquet",
		date + "event=caf\u00e9 \u2192 " + controls + "/part-00000.parquet",
		date + "experiment=NULL/part-00000.parquet",
		date + "experiment=NULL/part-00001.parquet",
	}
	for i, key := range keys {
		data := []byte(strings.Repeat(key, i))
		meta := map[string]string{"e3sync-source-etag": fmt.Sprintf(`"etag-%d"`, i)}
		if _, err := s.Write(ctx, key, int64(len(data)), bytes.NewReader(data), meta); err != nil {
			t.Fatalf("Write(%q) error = %v", key, err)
		}
		info, err := s.Head(ctx, key)
		if err != nil {
			t.Fatalf("Head(%q) error = %v", key, err)
		}
		if info.Size != int64(len(data)) || info.ETag == "" || !maps.Equal(info.Metadata, meta) {
			t.Errorf("Head(%q) = %+v, want size %d, an ETag, metadata %v", key, info, len(data), meta)
		}
		if got := testenv.ReadAll(t, s, key); !bytes.Equal(got, data) {
			t.Errorf("Open(%q) = %q, want %q", key, got, data)
		}
	}

	l, err := s.List(ctx, date, false)
	if err != nil {
		t.Fatalf("List(%q) error = %v", date, err)
	}
	want := slices.Sorted(slices.Values(keys))
	if got := objectKeys(l); !slices.Equal(got, want) {
		t.Errorf("List(%q) keys = %q, want %q", date, got, want)
	}
	for i, o := range l.Objects {
		if o.ETag == "" {
			t.Errorf("List(%q).Objects[%d].ETag is empty", date, i)
		}
		wantSize := int64(len(o.Key) * slices.Index(keys, o.Key))
		if o.Size != wantSize {
			t.Errorf("List(%q) size of %q = %d, want %d", date, o.Key, o.Size, wantSize)
		}
	}

	l, err = s.List(ctx, date, true)
	if err != nil {
		t.Fatalf("List(%q, delim) error = %v", date, err)
	}
	wantPrefixes := []string{
		date + "event=a%3Ab/",
		date + "event=a+b 100%/",
		date + "event=a;b/",
		date + "event=add to cart/",
		date + "event=buy (1)/",
		date + "event=caf\u00e9 \u2192 " + controls + "/",
		date + "experiment=NULL/",
	}
	if !slices.Equal(l.Prefixes, wantPrefixes) {
		t.Errorf("List(%q, delim).Prefixes = %q, want %q", date, l.Prefixes, wantPrefixes)
	}
	if got := objectKeys(l); !slices.Equal(got, []string{date + "_SUCCESS"}) {
		t.Errorf("List(%q, delim) keys = %q, want only _SUCCESS", date, got)
	}

	l, err = s.List(ctx, "type=events/", true)
	if err != nil || !slices.Equal(l.Prefixes, []string{date}) || len(l.Objects) != 0 {
		t.Errorf("List(type=events/, delim) = %+v, %v, want one date prefix", l, err)
	}
}

func TestS3NotFound(t *testing.T) {
	c := startS3(t)
	s := NewS3(c, testBucket, "root/", S3Options{})
	ctx := context.Background()
	if _, err := s.Open(ctx, "missing/key"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Head(ctx, "missing/key"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head(missing) = %v, want ErrNotFound", err)
	}
	if l, err := s.List(ctx, "missing/", false); err != nil || len(l.Objects) != 0 || len(l.Prefixes) != 0 {
		t.Errorf("List(missing/) = %+v, %v, want empty", l, err)
	}
}

func TestS3WriteRejectsBadKeys(t *testing.T) {
	c := startS3(t)
	s := NewS3(c, testBucket, "root/", S3Options{})
	for _, key := range []string{"", "../x", "/abs", "a//b", "a/./b", "a\x00b"} {
		if _, err := s.Write(context.Background(), key, 1, strings.NewReader("x"), nil); err == nil {
			t.Errorf("Write(%q) = nil, want error", key)
		}
	}
	if l, err := s.List(context.Background(), "", false); err != nil || len(l.Objects) != 0 {
		t.Errorf("after bad writes List() = %+v, %v, want empty", l, err)
	}
}

// TestS3WriteSizes writes objects below, at and above the part size, from a
// reader that hides Seek like a GetObject body, and reads them back.
func TestS3WriteSizes(t *testing.T) {
	c := startS3(t)
	const partSize = 5 << 20
	s := NewS3(c, testBucket, "root/", S3Options{PartSize: partSize, UploadConcurrency: 2})
	ctx := context.Background()
	for _, size := range []int{0, 1, partSize - 1, partSize, 11 << 20} {
		key := "type=events/date=2024-01-02/event=video play/part-" + strings.Repeat("x", size%7) + ".parquet"
		data := randomBytes(size, int64(size))
		meta := map[string]string{"e3sync-source-etag": `"0123456789abcdef-3"`}
		if _, err := s.Write(ctx, key, int64(size), iotest.OneByteReader(bytes.NewReader(data)), meta); err != nil {
			t.Errorf("Write(%d bytes) error = %v", size, err)
			continue
		}
		info, err := s.Head(ctx, key)
		if err != nil || info.Size != int64(size) || !maps.Equal(info.Metadata, meta) {
			t.Errorf("Head(%d-byte object) = %+v, %v, want size %d, metadata %v", size, info, err, size, meta)
		}
		if got := testenv.ReadAll(t, s, key); !bytes.Equal(got, data) {
			t.Errorf("Open(%d-byte object) read %d bytes that differ from what was written", size, len(got))
		}
	}
	if open := openUploads(t, c); len(open) != 0 {
		t.Errorf("open multipart uploads = %q, want none", open)
	}
}

func TestS3WriteSizeMismatch(t *testing.T) {
	c := startS3(t)
	const partSize = 5 << 20
	s := NewS3(c, testBucket, "root/", S3Options{PartSize: partSize, UploadConcurrency: 2})
	ctx := context.Background()
	tests := []struct {
		name       string
		size, body int
	}{
		{"small, short", 1000, 999},
		{"small, long", 1000, 1001},
		{"small, empty", 1000, 0},
		{"large, short within the first part", 11 << 20, 3 << 20},
		{"large, short in the last part", 11 << 20, 11<<20 - 1},
		{"large, short at a part boundary", 11 << 20, 10 << 20},
		{"large, long", 11 << 20, 11<<20 + 1},
		{"exactly two parts, long", 10 << 20, 10<<20 + 1},
	}
	for _, tt := range tests {
		key := "type=events/date=2024-01-02/event=e/" + strings.ReplaceAll(tt.name, " ", "_")
		data := randomBytes(tt.body, int64(tt.body))
		_, err := s.Write(ctx, key, int64(tt.size), io.NopCloser(bytes.NewReader(data)), nil)
		if !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("Write(%s: %d bytes announced, %d sent) = %v, want ErrSizeMismatch", tt.name, tt.size, tt.body, err)
		}
		if _, err := s.Head(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("after Write(%s) Head() = %v, want ErrNotFound", tt.name, err)
		}
	}
	if l, err := s.List(ctx, "", false); err != nil || len(l.Objects) != 0 {
		t.Errorf("after failed writes List() = %v, %v, want no objects", objectKeys(l), err)
	}
	if open := openUploads(t, c); len(open) != 0 {
		t.Errorf("after failed writes open multipart uploads = %q, want none", open)
	}
}

// TestS3WriteParts copies objects between two S3 stores with ranged reads
// feeding parallel UploadParts: exact bytes and metadata, no open uploads.
func TestS3WriteParts(t *testing.T) {
	c := startS3(t)
	const partSize = 5 << 20
	src := NewS3(c, testBucket, "src/", S3Options{PartSize: partSize})
	dst := NewS3(c, testBucket, "dst/", S3Options{PartSize: partSize, UploadConcurrency: 3})
	ctx := context.Background()
	for _, size := range []int{1000, partSize, partSize + 1, 3 * partSize, 17<<20 + 3} {
		key := "type=events/date=2024-01-02/event=a b/part-" + strings.Repeat("y", size%5)
		data := randomBytes(size, int64(size)+1)
		srcETag, err := src.Write(ctx, key, int64(size), bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := src.Head(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if srcETag != info.ETag {
			t.Errorf("Write(%d bytes) = ETag %s, but Head says %s", size, srcETag, info.ETag)
		}
		meta := map[string]string{"e3sync-source-etag": info.ETag}
		open := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
			return src.OpenRange(ctx, key, info.ETag, off, n, int64(size))
		}
		etag, err := dst.WriteParts(ctx, key, int64(size), open, meta)
		if err != nil {
			t.Errorf("WriteParts(%d bytes) error = %v", size, err)
			continue
		}
		got, err := dst.Head(ctx, key)
		if err != nil || got.Size != int64(size) || !maps.Equal(got.Metadata, meta) || got.ETag != etag {
			t.Errorf("Head(%d-byte object) = %+v, %v, want size %d, metadata %v, ETag %s (what WriteParts returned)", size, got, err, size, meta, etag)
		}
		l, err := dst.List(ctx, key[:strings.LastIndex(key, "/")+1], true)
		if i := slices.IndexFunc(l.Objects, func(o Object) bool { return o.Key == key }); err != nil || i < 0 || l.Objects[i].ETag != etag {
			t.Errorf("List after WriteParts(%d bytes) = %+v, %v, want %s with ETag %s", size, l, err, key, etag)
		}
		if b := testenv.ReadAll(t, dst, key); !bytes.Equal(b, data) {
			t.Errorf("Open(%d-byte object) read %d bytes that differ from what was written", size, len(b))
		}
	}
	if open := openUploads(t, c); len(open) != 0 {
		t.Errorf("open multipart uploads = %q, want none", open)
	}
}

// TestS3WritePartsFailures: a part read that is short, long or failing, a
// source of another size, or a cancelled context leave no object and no open
// upload. (The in-memory server ignores If-Match, so a changed ETag is
// not tested here.)
func TestS3WritePartsFailures(t *testing.T) {
	c := startS3(t)
	const partSize = 5 << 20
	const size = 3*partSize + 7
	src := NewS3(c, testBucket, "src/", S3Options{PartSize: partSize})
	dst := NewS3(c, testBucket, "dst/", S3Options{PartSize: partSize, UploadConcurrency: 2})
	ctx := context.Background()
	data := randomBytes(size, 9)
	if _, err := src.Write(ctx, "k", size, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	info, err := src.Head(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	ranged := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data[off : off+n])), nil
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		open    PartOpener
		wantErr error
	}{
		{"short last part", ctx, func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
			if off+n == size {
				n--
			}
			return ranged(ctx, off, n)
		}, ErrSizeMismatch},
		{"long part", ctx, func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
			return io.NopCloser(io.MultiReader(bytes.NewReader(data[off:off+n]), strings.NewReader("x"))), nil
		}, ErrSizeMismatch},
		{"failing read", ctx, func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
			if off > 0 {
				return nil, io.ErrClosedPipe
			}
			return ranged(ctx, off, n)
		}, io.ErrClosedPipe},
		{"source has another size", ctx, func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
			return src.OpenRange(ctx, "k", info.ETag, off, n, size+1)
		}, ErrSizeMismatch},
		{"cancelled", cancelled, ranged, context.Canceled},
	}
	for _, tt := range tests {
		key := strings.ReplaceAll(tt.name, " ", "_")
		_, err := dst.WriteParts(tt.ctx, key, size, tt.open, nil)
		if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("WriteParts(%s) = %v, want %v", tt.name, err, tt.wantErr)
		}
		if _, err := dst.Head(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("after WriteParts(%s) Head() = %v, want ErrNotFound", tt.name, err)
		}
	}
	if open := openUploads(t, c); len(open) != 0 {
		t.Errorf("after failed writes open multipart uploads = %q, want none", open)
	}
}

// TestS3PartsInFlightShared checks that WriteParts's parts in flight are
// the store's, not each upload's: one object alone reaches PartsInFlight
// parts at once (far from S3 it needs them), and two objects at once never
// hold more than PartsInFlight between them.
func TestS3PartsInFlightShared(t *testing.T) {
	c := startS3(t)
	const partSize, inFlight = 5 << 20, 6
	dst := NewS3(c, testBucket, "dst/", S3Options{PartSize: partSize, PartsInFlight: inFlight})
	ctx := context.Background()
	for _, objects := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d objects", objects), func(t *testing.T) {
			const size = 2*inFlight*partSize + 1
			data := randomBytes(size, int64(objects))
			var mu sync.Mutex
			reading, most := 0, 0
			full := make(chan struct{}) // closed once inFlight parts are read at once
			open := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
				mu.Lock()
				reading++
				most = max(most, reading)
				if reading == inFlight {
					select {
					case <-full:
					default:
						close(full)
					}
				}
				mu.Unlock()
				select { // hold the part until as many are in flight as the store allows (a guard, not a timing)
				case <-full:
				case <-time.After(30 * time.Second):
				}
				mu.Lock()
				reading--
				mu.Unlock()
				return io.NopCloser(bytes.NewReader(data[off : off+n])), nil
			}
			var wg sync.WaitGroup
			errs := make([]error, objects)
			for i := range objects {
				wg.Go(func() {
					_, errs[i] = dst.WriteParts(ctx, fmt.Sprintf("shared/%d-%d", objects, i), size, open, nil)
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if most != inFlight {
				t.Errorf("most parts in flight at once = %d, want the store's %d", most, inFlight)
			}
		})
	}
}
