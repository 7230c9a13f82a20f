package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/testenv"
)

// pagedClient lists multipart uploads two at a time, so that a few uploads
// take several pages.
type pagedClient struct{ *s3.Client }

func (c pagedClient) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, optFns ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error) {
	in.MaxUploads = aws.Int32(2)
	return c.Client.ListMultipartUploads(ctx, in, optFns...)
}

// failingAbort fails AbortMultipartUpload for keys containing bad.
type failingAbort struct {
	*s3.Client
	bad string
}

func (c failingAbort) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if strings.Contains(aws.ToString(in.Key), c.bad) {
		return nil, errors.New("injected abort failure")
	}
	return c.Client.AbortMultipartUpload(ctx, in, optFns...)
}

// createUploads opens one multipart upload per key (bucket-relative).
func createUploads(t *testing.T, c *s3.Client, keys ...string) {
	t.Helper()
	createUploadsIn(t, c, testBucket, keys...)
}

func createUploadsIn(t *testing.T, c *s3.Client, bucket string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := c.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
			t.Fatalf("CreateMultipartUpload(%q) error = %v", k, err)
		}
	}
}

// allUploads lists every open upload of the bucket (no prefix: MinIO lists
// nothing under a folder prefix), sorted, with their initiation times.
func allUploads(t *testing.T, c *s3.Client) ([]string, map[string]time.Time) {
	t.Helper()
	return allUploadsIn(t, c, testBucket)
}

func allUploadsIn(t *testing.T, c *s3.Client, bucket string) ([]string, map[string]time.Time) {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads() error = %v", err)
	}
	var keys []string
	at := map[string]time.Time{}
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
		at[aws.ToString(u.Key)] = aws.ToTime(u.Initiated)
	}
	slices.Sort(keys)
	return keys, at
}

func uploadKeys(us []Upload) []string {
	var keys []string
	for _, u := range us {
		keys = append(keys, u.Key)
	}
	slices.Sort(keys)
	return keys
}

// The in-process server has S3's prefix and delimiter semantics (and pages
// of two here); MinIO lists uploads under a prefix only for an exact object
// name, so the store lists its whole bucket and filters.
func TestAbortStaleUploads(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		c := startS3(t)
		testAbortStaleUploads(t, pagedClient{c}, c)
	})
	m := testenv.MinIOForTest(t)
	root := m.S3Client(m.RootProvider())
	t.Run("minio", func(t *testing.T) {
		if err := m.CreateBucket(context.Background(), testBucket); err != nil {
			t.Fatal(err)
		}
		testAbortStaleUploads(t, root, root)
	})
	t.Run("minio errors", func(t *testing.T) { testAbortStaleUploadsErrors(t, m, root) })
}

func testAbortStaleUploads(t *testing.T, c S3API, root *s3.Client) {
	ctx := context.Background()
	s := NewS3(c, testBucket, "root/", S3Options{})
	const d = "type=events/date=2024-01-02/"
	createUploads(t, root,
		"root/"+d+"loose.parquet",
		"root/"+d+"event=a/part-0.parquet", "root/"+d+"event=a/part-0.parquet", "root/"+d+"event=a/part-1.parquet",
		"root/"+d+"event=ab/part-0.parquet", // shares "event=a" but not "event=a/"
		"root/"+d+"event=a b/part-0.parquet",
		"root/type=events/date=2024-01-03/event=a/part-0.parquet",
		"elsewhere/"+d+"event=a/part-0.parquet", // outside the store root
	)
	all, _ := allUploads(t, root)
	if len(all) != 8 {
		t.Fatalf("uploads created = %q, want 8", all)
	}
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)

	tests := []struct {
		name    string
		prefix  string
		delim   bool
		before  time.Time
		aborted []string
	}{
		{"all newer than the cut-off", d + "event=a/", false, past, nil},
		{"a sub-partition", d + "event=a/", false, future, []string{d + "event=a/part-0.parquet", d + "event=a/part-0.parquet", d + "event=a/part-1.parquet"}},
		{"the same again", d + "event=a/", false, future, nil},
		{"a date's own files only", d, true, future, []string{d + "loose.parquet"}},
		{"a partition name with a space", d + "event=a b/", false, future, []string{d + "event=a b/part-0.parquet"}},
	}
	for _, tt := range tests {
		got, err := s.AbortStaleUploads(ctx, tt.prefix, tt.delim, tt.before)
		if err != nil || !slices.Equal(uploadKeys(got), tt.aborted) {
			t.Errorf("%s: AbortStaleUploads(%q, %v) = %q, %v, want %q, nil", tt.name, tt.prefix, tt.delim, uploadKeys(got), err, tt.aborted)
		}
		for _, u := range got {
			if u.ID == "" || u.Initiated.IsZero() || !u.Initiated.Before(tt.before) {
				t.Errorf("%s: aborted upload %+v: want an id and an initiation time before %v", tt.name, u, tt.before)
			}
		}
	}
	left, at := allUploads(t, root)
	want := []string{
		"elsewhere/" + d + "event=a/part-0.parquet",
		"root/" + d + "event=ab/part-0.parquet",
		"root/type=events/date=2024-01-03/event=a/part-0.parquet",
	}
	if !slices.Equal(left, want) {
		t.Errorf("uploads left open = %q, want %q", left, want)
	}

	// The cut-off is strict: an upload initiated exactly then is left alone.
	key := "root/" + d + "event=ab/part-0.parquet"
	if got, err := s.AbortStaleUploads(ctx, d+"event=ab/", false, at[key]); err != nil || len(got) != 0 {
		t.Errorf("AbortStaleUploads(before = its initiation) = %q, %v, want nothing aborted", uploadKeys(got), err)
	}
	if got, err := s.AbortStaleUploads(ctx, d+"event=ab/", false, at[key].Add(time.Millisecond)); err != nil || len(got) != 1 {
		t.Errorf("AbortStaleUploads(before = 1ms after its initiation) = %q, %v, want it aborted", uploadKeys(got), err)
	}
}

// A failed abort names the key and does not stop the others; a listing the
// identity may not make is ErrAccessDenied, naming the bucket.
func testAbortStaleUploadsErrors(t *testing.T, m *testenv.MinIO, root *s3.Client) {
	ctx := context.Background()
	const bucket = "denied"
	if err := m.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	createUploadsIn(t, root, bucket, "r/event=a/part-0.parquet", "r/event=a/part-1.parquet", "r/event=a/part-2.parquet")

	s := NewS3(failingAbort{Client: root, bad: "part-1"}, bucket, "r/", S3Options{})
	got, err := s.AbortStaleUploads(ctx, "event=a/", false, time.Now().Add(time.Hour))
	if want := []string{"event=a/part-0.parquet", "event=a/part-2.parquet"}; !slices.Equal(uploadKeys(got), want) {
		t.Errorf("AbortStaleUploads() aborted %q, want %q", uploadKeys(got), want)
	}
	if err == nil || !strings.Contains(err.Error(), "s3://"+bucket+"/r/event=a/part-1.parquet") || !strings.Contains(err.Error(), "injected") {
		t.Errorf("AbortStaleUploads() error = %v, want one naming s3://%s/r/event=a/part-1.parquet", err, bucket)
	}

	if err := m.AddUser(ctx, "reader", "reader-secret-key", testenv.ReadOnlyPolicy(bucket)); err != nil {
		t.Fatal(err)
	}
	reader := NewS3(m.S3Client(testenv.StaticCredentials(aws.Credentials{AccessKeyID: "reader", SecretAccessKey: "reader-secret-key"})), bucket, "r/", S3Options{})
	got, err = reader.AbortStaleUploads(ctx, "event=a/", false, time.Now().Add(time.Hour))
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "s3://"+bucket+"/r/event=a/") || len(got) != 0 {
		t.Errorf("AbortStaleUploads() without permission = %q, %v, want ErrAccessDenied naming s3://%s/r/event=a/", uploadKeys(got), err, bucket)
	}
	if left, _ := allUploadsIn(t, root, bucket); !slices.Equal(left, []string{"r/event=a/part-1.parquet"}) {
		t.Errorf("uploads left open = %q, want only the one whose abort failed", left)
	}
}
