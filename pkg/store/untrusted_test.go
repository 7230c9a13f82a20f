package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/e3sync/e3sync/internal/memorys3"
)

// One row per line of checkListed's truth table.
func TestCheckListed(t *testing.T) {
	const root = "v1/account_id=1/"
	const sub = root + "type=events/date=2024-01-01/event=x/"
	const date = root + "type=events/date=2024-01-01/"
	for _, tt := range []struct {
		entry, listed string
		delim, folder bool
		want, wantErr string
	}{
		{root + "type=events/date=2024-01-02/event=x/p", sub, false, false, "", "outside the prefix"},
		{root + "_SUCCESS", sub, false, false, "", "outside the prefix"},
		{root + "_e3sync/state/type=events/date=2024-01-01/event=x/_manifest.json", sub, false, false, "", "outside the prefix"},
		{root + "type=events/date=2024-01-01/event=xy/p", sub, false, false, "", "outside the prefix"},
		{date + "event=x/p", date, true, false, "", "not directly in"},
		{date + "event=x/a/", date, true, true, "", "not one level below"},
		{date + "event=x", date, true, true, "", "not one level below"},
		{date + "/", date, true, true, "", "not one level below"},
		{sub + "../../date=2024-01-02/_SUCCESS", sub, false, false, "", "'..' segment"},
		{sub + "a//b", sub, false, false, "", "empty"},
		{sub + "a\x00", sub, false, false, "", "NUL"},
		{sub + "part-0.parquet", sub, false, false, "type=events/date=2024-01-01/event=x/part-0.parquet", ""},
		{sub + "a/b/c", sub, false, false, "type=events/date=2024-01-01/event=x/a/b/c", ""},
		{date + "_SUCCESS", date, true, false, "type=events/date=2024-01-01/_SUCCESS", ""},
		{date + "event=video play/", date, true, true, "type=events/date=2024-01-01/event=video play/", ""},
		{date, date, true, false, "type=events/date=2024-01-01/", ""}, // the folder's own marker
	} {
		got, err := checkListed(tt.entry, root, tt.listed, tt.delim, tt.folder)
		if tt.wantErr == "" && (err != nil || got != tt.want) || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkListed(%q, %q, delim %v, folder %v) = %q, %v; want %q, error %q", tt.entry, tt.listed, tt.delim, tt.folder, got, err, tt.want, tt.wantErr)
		}
	}
}

// pagedS3 answers ListObjectsV2 with page(token), token "" for the first.
type pagedS3 struct {
	S3API
	page  func(token string) *s3.ListObjectsV2Output
	calls *int
}

func (p pagedS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	*p.calls++
	return p.page(aws.ToString(in.ContinuationToken)), nil
}

func page(next string, keys ...string) *s3.ListObjectsV2Output {
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(next != "")}
	if next != "" && next != "-" {
		out.NextContinuationToken = aws.String(next)
	}
	for _, k := range keys {
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k), Size: aws.Int64(1)})
	}
	return out
}

// Listings that would never end, or end in a lie, are errors after a
// bounded number of requests.
func TestS3ListRejectsBrokenPagination(t *testing.T) {
	const root = "v1/account_id=1/"
	const p = root + "type=events/date=2024-01-01/event=x/"
	for _, tt := range []struct {
		name      string
		page      func(token string) *s3.ListObjectsV2Output
		wantErr   string
		wantCalls int
	}{
		{"same token forever", func(string) *s3.ListObjectsV2Output { return page("T", p+"a") }, "", 0},
		{"same token, empty pages", func(string) *s3.ListObjectsV2Output { return page("T") }, "continuation token repeated after 2 pages", 2},
		{"tokens cycling A B A", func(tok string) *s3.ListObjectsV2Output {
			return page(map[string]string{"": "A", "A": "B", "B": "A"}[tok])
		}, "continuation token repeated after 3 pages", 3},
		{"truncated without a token", func(string) *s3.ListObjectsV2Output { return page("-", p+"a") }, "without a continuation token", 1},
		{"fresh tokens, empty pages, forever", func(tok string) *s3.ListObjectsV2Output { return page(tok + "x") }, "more than 10000 pages", MaxListPages},
		{"the same page again under a fresh token", func(tok string) *s3.ListObjectsV2Output { return page(tok+"x", p+"a", p+"b") }, "out of order or repeated", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			s := NewS3(pagedS3{page: tt.page, calls: &calls}, "b", root, S3Options{})
			l, err := s.List(context.Background(), "type=events/date=2024-01-01/event=x/", false)
			want := tt.wantErr
			if want == "" {
				want = "out of order or repeated" // the repeated key shows first
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("List() = %d objects, %v; want an error saying %q", len(l.Objects), err, want)
			}
			if tt.wantCalls > 0 && calls != tt.wantCalls {
				t.Errorf("List() made %d requests, want %d", calls, tt.wantCalls)
			}
		})
	}
}

// The entry bound holds across pages (tested with a small bound: the real
// one is a million).
func TestListerEntryBound(t *testing.T) {
	const p = "r/x/"
	l := newLister("r/", p, false)
	l.maxEntries = 3
	if err := l.add(page("t1", p+"a", p+"b")); err != nil {
		t.Fatal(err)
	}
	if err := l.add(page("t2", p+"c", p+"d")); err == nil || !strings.Contains(err.Error(), "more than 3 entries") {
		t.Errorf("add() = %v, want the entry bound exceeded", err)
	}
}

// A listing page larger than the page bound fails while it is read, over a
// real HTTP transport.
func TestListPageBodyBound(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><Prefix>r/</Prefix><IsTruncated>false</IsTruncated>`)
		for i := range 100 {
			fmt.Fprintf(w, "<Contents><Key>r/%05d</Key><Size>1</Size></Contents>", i)
		}
		fmt.Fprint(w, `</ListBucketResult>`)
	}))
	defer srv.Close()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
	in := &s3.ListObjectsV2Input{Bucket: aws.String("b"), Prefix: aws.String("r/")}
	if out, err := c.ListObjectsV2(context.Background(), in, limitBody(64<<10)); err != nil || len(out.Contents) != 100 {
		t.Fatalf("ListObjectsV2 under the bound = %v; want 100 keys", err)
	}
	_, err := c.ListObjectsV2(context.Background(), in, limitBody(1024))
	if err == nil || !strings.Contains(err.Error(), "response body larger than 1024 bytes") {
		t.Errorf("ListObjectsV2 over the bound = %v, want an error naming the bound", err)
	}
}

// A panic in a part upload's goroutine fails the upload, which is aborted:
// nothing is visible and no upload is left open.
func TestWritePartsPanicIsAnError(t *testing.T) {
	_, c := memorys3.ForTest(t, "b")
	s := NewS3(c, "b", "p/", S3Options{PartSize: 5 << 20})
	open := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		if off > 0 {
			panic("part reader exploded")
		}
		return io.NopCloser(strings.NewReader(strings.Repeat("x", int(n)))), nil
	}
	_, err := s.WriteParts(context.Background(), "k", 11<<20, open, nil)
	var pe *PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "part reader exploded") {
		t.Errorf("WriteParts() = %v, want a PanicError", err)
	}
	if _, err := s.Head(context.Background(), "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head() after the failed upload = %v, want not found", err)
	}
	ups, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("b")})
	if err != nil || len(ups.Uploads) != 0 {
		t.Errorf("open uploads = %v, %v; want none", ups, err)
	}
}

// Writes of an impossible size are refused before any request.
func TestWriteRejectsImpossibleSizes(t *testing.T) {
	s := NewS3(listingS3{}, "b", "p/", S3Options{})
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{-1, MaxObjectSize + 1, 6 << 40} {
		if _, err := s.Write(context.Background(), "k", size, strings.NewReader(""), nil); !errors.Is(err, ErrBadSize) {
			t.Errorf("S3.Write(size %d) = %v, want ErrBadSize", size, err)
		}
		if _, err := s.WriteParts(context.Background(), "k", size, nil, nil); !errors.Is(err, ErrBadSize) {
			t.Errorf("S3.WriteParts(size %d) = %v, want ErrBadSize", size, err)
		}
		if _, err := d.Write(context.Background(), "k", size, strings.NewReader(""), nil); !errors.Is(err, ErrBadSize) {
			t.Errorf("Dir.Write(size %d) = %v, want ErrBadSize", size, err)
		}
	}
}

// A ranged body that drips (bytes keep coming, so no idle timeout fires)
// fails once its bound has passed, as a SlowBodyError that Unanswered
// recognises; a body at the minimum rate is read whole.
func TestOpenRangeBoundsSlowBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "40")
		w.Header().Set("Content-Range", "bytes 0-39/40")
		w.WriteHeader(http.StatusPartialContent)
		pause := time.Millisecond
		if strings.HasSuffix(r.URL.Path, "/drip") {
			pause = 100 * time.Millisecond // 4 s for the body, bound 1.1 s
		}
		for range 40 {
			w.Write([]byte{'x'})
			w.(http.Flusher).Flush()
			select {
			case <-time.After(pause):
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer srv.Close()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
	s := NewS3(c, "b", "p/", S3Options{BodyGrace: time.Second, MinBodyRate: 400})
	read := func(key string) (int, error) {
		rc, err := s.OpenRange(context.Background(), key, "", 0, 40, 40)
		if err != nil {
			return 0, err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return len(b), err
	}
	if n, err := read("fast"); n != 40 || err != nil {
		t.Errorf("fast body: %d bytes, %v; want 40", n, err)
	}
	start := time.Now()
	n, err := read("drip")
	var slow *SlowBodyError
	if !errors.As(err, &slow) || !Unanswered(err) || !strings.Contains(err.Error(), "s3://b/p/drip") {
		t.Errorf("dripping body: %d bytes, %v; want a SlowBodyError naming s3://b/p/drip", n, err)
	}
	t.Logf("dripping body failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if Unanswered(fmt.Errorf("x: %w", context.DeadlineExceeded)) || Unanswered(fmt.Errorf("x: %w", context.Canceled)) || Unanswered(errors.New("x")) {
		t.Errorf("Unanswered() true for a context error or a plain error")
	}
}
