package transfer

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/memorys3"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// startS3 starts an in-process S3 server with the buckets and returns a client.
func startS3(t *testing.T, buckets ...string) *s3.Client {
	t.Helper()
	_, c := memorys3.ForTest(t, buckets...)
	return c
}

// TestCopyS3ToS3 copies awkward partitions between two S3 stores, then
// loses the manifests: the check path reads the source ETag from each
// object's metadata and skips everything.
func TestCopyS3ToS3(t *testing.T) {
	c := startS3(t, "export", "mirror")
	ctx := context.Background()
	src := store.NewS3(c, "export", "v1/account_id=123/", store.S3Options{})
	dst := store.NewS3(c, "mirror", "optimizely/", store.S3Options{})

	const date = "2024-01-02"
	partitions := []string{"event=add to cart", "event=a%3Ab", "event=a;b", "event=buy (1)", "experiment=NULL"}
	var tasks []export.Task
	var wantBytes int64
	for i, p := range partitions {
		for j := range 2 {
			key := export.DatePrefix(export.Events, date) + p + "/part-0000" + string(rune('0'+j)) + ".parquet"
			data := strings.Repeat(p, i+j+1)
			wantBytes += int64(len(data))
			if _, err := src.Write(ctx, key, int64(len(data)), strings.NewReader(data), nil); err != nil {
				t.Fatal(err)
			}
		}
		tasks = append(tasks, export.Task{Type: export.Events, Date: date, Partition: p, SourceComplete: true})
	}
	if _, err := src.Write(ctx, export.SuccessKey(export.Events, date), 0, strings.NewReader(""), nil); err != nil {
		t.Fatal(err)
	}

	e := New(src, dst, Options{Attempts: 1})
	got, err := copyAll(t, e, tasks...)
	if want := (Result{Copied: 10, Bytes: wantBytes}); err != nil || got != want {
		t.Errorf("Copy() = %+v, %v, want %+v, nil", got, err, want)
	}
	srcL, err := src.List(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range srcL.Objects {
		if o.Key == export.SuccessKey(export.Events, date) {
			continue
		}
		info, err := dst.Head(ctx, o.Key)
		if err != nil {
			t.Errorf("Head(%q) = %v", o.Key, err)
			continue
		}
		if info.Size != o.Size || info.Metadata[MetaSourceETag] != o.ETag {
			t.Errorf("Head(%q) = size %d, %s %q, want size %d, %q", o.Key, info.Size, MetaSourceETag, info.Metadata[MetaSourceETag], o.Size, o.ETag)
		}
		want := testenv.ReadAll(t, src, o.Key)
		if got := testenv.ReadAll(t, dst, o.Key); !bytes.Equal(got, want) {
			t.Errorf("destination %q = %q, want %q", o.Key, got, want)
		}
	}

	// Lose every manifest.
	for _, task := range tasks {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("mirror"), Key: aws.String("optimizely/" + manifestKey(task))}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = copyAll(t, e, tasks...)
	if want := (Result{Skipped: 10}); err != nil || got != want {
		t.Errorf("Copy() without manifests = %+v, %v, want %+v, nil", got, err, want)
	}
	for _, task := range tasks {
		if _, err := dst.Head(ctx, manifestKey(task)); err != nil {
			t.Errorf("manifest of %s not rebuilt: Head() = %v", task, err)
		}
	}

	if c, err := e.Finalize(ctx, export.Events, date); err != nil || c != Completed {
		t.Errorf("Finalize() = %v, %v, want %v", c, err, Completed)
	}
	if info, err := dst.Head(ctx, export.SuccessKey(export.Events, date)); err != nil || info.Size != 0 {
		t.Errorf("Head(_SUCCESS) = %+v, %v, want a zero-byte object", info, err)
	}
}

// A killed run's upload is aborted by the next run of its task once it is
// older than StaleUploadAge, and only under the task's own prefix; with the
// default age, a fresh upload (a run going on at the same time) is left.
func TestCopyS3AbortsStaleUploads(t *testing.T) {
	c := startS3(t, "export", "mirror")
	ctx := context.Background()
	src := store.NewS3(c, "export", "v1/account_id=123/", store.S3Options{})
	dst := store.NewS3(c, "mirror", "optimizely/", store.S3Options{})
	for k, v := range exportDay() {
		if _, err := src.Write(ctx, k, int64(len(v)), strings.NewReader(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	open := []string{
		"optimizely/" + purchase.Prefix() + "part-00001.c000.snappy.parquet", // a killed run's
		"optimizely/" + cart.Prefix() + "part-00000.c000.snappy.parquet",     // another task's
		"optimizely/" + day + "loose.parquet",                                // the date-level task's
	}
	for _, k := range open {
		if _, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mirror"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	left := func() []string {
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mirror")})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		slices.Sort(keys)
		return keys
	}

	got, err := New(src, dst, Options{Attempts: 1}).Copy(ctx, purchase)
	if err != nil || got.Copied != 3 || got.UploadsAborted != 0 {
		t.Errorf("Copy() with the default age = %+v, %v, want 3 copied, no upload aborted", got, err)
	}
	if l := left(); len(l) != 3 {
		t.Errorf("uploads left = %q, want all 3 (too young)", l)
	}

	e := New(src, dst, Options{Attempts: 1, StaleUploadAge: time.Nanosecond})
	got, err = e.Copy(ctx, purchase)
	if want := (Result{Skipped: 3, UploadsAborted: 1}); err != nil || got != want {
		t.Errorf("Copy() = %+v, %v, want %+v", got, err, want)
	}
	got, err = e.Copy(ctx, dayLevel)
	if want := (Result{Copied: 1, Bytes: 5, UploadsAborted: 1}); err != nil || got != want {
		t.Errorf("Copy(date-level task) = %+v, %v, want %+v", got, err, want)
	}
	if l, want := left(), open[1:2]; !slices.Equal(l, want) {
		t.Errorf("uploads left = %q, want %q", l, want)
	}
}
