package transfer

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/memorys3"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/store"
)

// requestLog records the S3 requests a client sends for one object key, by
// kind: the operation, and for GETs whether they were ranged and
// conditional (If-Match).
type requestLog struct {
	key  string
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	op, key := testenv.ClassifyS3(r)
	if strings.HasSuffix(key, "/"+l.key) {
		kind := string(op)
		if op == testenv.OpGetObject {
			kind += fmt.Sprintf(" range=%t if-match=%t", r.Header.Get("Range") != "", r.Header.Get("If-Match") != "")
		}
		l.mu.Lock()
		l.n[kind]++
		l.mu.Unlock()
	}
	return l.next.RoundTrip(r)
}

func (l *requestLog) counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// An object of at least the destination's part size takes the parallel
// ranged-part path: one ranged GET of the listed version (If-Match) per
// part, each feeding one UploadPart. A smaller one is one conditional GET
// and one PutObject. If a store stops offering RangeReader or PartWriter
// (see package store), the large object is read with one GET and this test
// fails.
func TestCopyLargeObjectInRangedParts(t *testing.T) {
	const partSize = 5 << 20
	tests := []struct {
		name string
		size int64
		want map[string]int
	}{
		{"three parts", 2*partSize + 1<<20, map[string]int{
			"GetObject range=true if-match=true": 3,
			"CreateMultipartUpload":              1,
			"UploadPart":                         3,
			"CompleteMultipartUpload":            1,
		}},
		{"one part exactly", partSize, map[string]int{
			"GetObject range=true if-match=true": 1,
			"CreateMultipartUpload":              1,
			"UploadPart":                         1,
			"CompleteMultipartUpload":            1,
		}},
		{"below the part size", partSize - 1, map[string]int{
			"GetObject range=true if-match=true": 1,
			"PutObject":                          1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const key = "part-00000-big.c000.snappy.parquet"
			m, _ := memorys3.ForTest(t, "export", "mirror")
			log := &requestLog{key: key, next: http.DefaultTransport, n: map[string]int{}}
			c := m.Client(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), func(o *s3.Options) {
				o.HTTPClient = &http.Client{Transport: log}
			})
			ctx := context.Background()
			src := store.NewS3(c, "export", "v1/account_id=123/", store.S3Options{})
			dst := store.NewS3(c, "mirror", "optimizely/", store.S3Options{PartSize: partSize})
			data := bytes.Repeat([]byte("0123456789abcdef"), int(tt.size/16)+1)[:tt.size]
			if _, err := src.Write(ctx, purchase.Prefix()+key, tt.size, bytes.NewReader(data), nil); err != nil {
				t.Fatal(err)
			}
			clear(log.counts())

			got, err := New(src, dst, Options{Attempts: 1}).Copy(ctx, purchase)
			if want := (Result{Copied: 1, Bytes: tt.size}); err != nil || got != want {
				t.Fatalf("Copy() = %+v, %v, want %+v", got, err, want)
			}
			n := log.counts()
			for kind, want := range tt.want {
				if n[kind] != want {
					t.Errorf("%s requests for the object = %d, want %d (all: %v)", kind, n[kind], want, n)
				}
			}
			for kind := range n {
				if _, ok := tt.want[kind]; !ok {
					t.Errorf("unexpected %s requests for the object: %d (all: %v)", kind, n[kind], n)
				}
			}
			rc, err := dst.Open(ctx, purchase.Prefix()+key)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			var copied bytes.Buffer
			if _, err := copied.ReadFrom(rc); err != nil || !bytes.Equal(copied.Bytes(), data) {
				t.Errorf("copied object differs from the source (%d of %d bytes, %v)", copied.Len(), len(data), err)
			}
		})
	}
}
