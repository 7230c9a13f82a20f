package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/memorys3"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// stallingSource is a source whose object stall streams its first bytes,
// then nothing more until the reader's context is done: a copy of it is
// still in flight when the invocation's time runs out.
type stallingSource struct {
	*store.Dir
	stall     string
	cancelled atomic.Bool // the stalled read ended by cancellation
}

func (s *stallingSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.Dir.Open(ctx, key)
	if err != nil || key != s.stall {
		return rc, err
	}
	return &stallingReader{rc: rc, ctx: ctx, left: 6 << 20, src: s}, nil
}

type stallingReader struct {
	rc   io.ReadCloser
	ctx  context.Context
	left int64 // bytes still given before the stall
	src  *stallingSource
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		<-r.ctx.Done()
		r.src.cancelled.Store(true)
		return 0, r.ctx.Err()
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.rc.Read(p)
	r.left -= int64(n)
	return n, err
}

func (r *stallingReader) Close() error { return r.rc.Close() }

// A copier invocation whose deadline comes in the middle of a task: the
// objects copied before the stop time stay, the one in flight (a multipart
// upload with a part stored) is aborted at the abort margin, the rest is
// deferred; the invocation succeeds and sends the task again; nothing
// partial is visible, no upload is left open, no _SUCCESS is written; the
// next invocation copies exactly the rest and completes the date.
func TestCopierDeadlineMidTask(t *testing.T) {
	ctx := context.Background()
	root, dir, _ := newDirs(t)
	const date = "2024-03-01"
	prefix := "type=events/date=" + date + "/event=a/"
	files := map[string][]byte{}
	for i := range 6 {
		size := 1000 + 100*i
		if i == 3 {
			size = 12 << 20 // three parts of 5 MiB
		}
		key := fmt.Sprintf("%spart-%05d.parquet", prefix, i)
		files[key] = bytes.Repeat([]byte{byte('a' + i)}, size)
		writeFile(t, root, key, files[key])
	}
	writeFile(t, root, "type=events/date="+date+"/_SUCCESS", nil)
	stall := prefix + "part-00003.parquet"
	src := &stallingSource{Dir: dir, stall: stall}

	_, client := memorys3.ForTest(t, "mirror")
	dst := store.NewS3(client, "mirror", "optimizely/", store.S3Options{PartSize: 5 << 20})

	q := &fakeQueue{}
	c := &Copier{Engine: transfer.New(src, dst, transfer.Options{Concurrency: 1, Attempts: 1}), Queue: q, QueueURL: "url",
		StopMargin: time.Second, AbortMargin: 500 * time.Millisecond}
	task := export.Task{RunID: "r1", Type: export.Events, Date: date, Partition: "event=a", SourceComplete: true}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := c.Run(dctx, task)
	if err != nil || !out.Continued || out.Result.Failed != 0 || out.Result.Copied == 0 || out.Result.Deferred == 0 ||
		out.Result.Copied+out.Result.Deferred != len(files) || out.Completion != transfer.Incomplete.String() {
		t.Fatalf("Run(deadline mid-task) = %+v, %v; want no error, a continuation, %d objects copied or deferred (some of each), none failed",
			out, err, len(files))
	}
	t.Logf("first invocation: %+v", out.Result)
	if !src.cancelled.Load() {
		t.Errorf("the copy of %s was not in flight when the time ran out", stall)
	}
	if len(q.bodies) != 1 {
		t.Fatalf("continuations sent = %d, want 1", len(q.bodies))
	}
	cont, err := export.DecodeTask([]byte(q.bodies[0]))
	if err != nil || cont != task { // objects were copied: no stall counted
		t.Errorf("continuation = %+v, %v, want %+v", cont, err, task)
	}

	// Nothing partial, nothing open, no _SUCCESS.
	checkMirror := func(when string, wantAll bool) {
		t.Helper()
		l, err := dst.List(ctx, "type=events/date="+date+"/", false)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, o := range l.Objects {
			if o.Key == export.SuccessKey(export.Events, date) {
				seen[o.Key] = true
				continue
			}
			want, ok := files[o.Key]
			got := testenv.ReadAll(t, dst, o.Key)
			if !ok || !bytes.Equal(got, want) {
				t.Errorf("%s: %s holds %d bytes, not the source's %d", when, o.Key, len(got), len(want))
			}
			seen[o.Key] = true
		}
		if wantAll {
			for k := range files {
				if !seen[k] {
					t.Errorf("%s: %s missing", when, k)
				}
			}
		}
		if got := seen[export.SuccessKey(export.Events, date)]; got != wantAll {
			t.Errorf("%s: _SUCCESS present = %v, want %v", when, got, wantAll)
		}
		ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mirror")})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ups.Uploads {
			t.Errorf("%s: upload of %s left open", when, aws.ToString(u.Key))
		}
	}
	checkMirror("after the invocation that ran out of time", false)
	if _, err := dst.Head(ctx, stall); err == nil {
		t.Errorf("%s, cancelled in flight, is visible", stall)
	}

	// The continuation, with time enough, copies exactly the rest.
	src.stall = ""
	first := out.Result
	out, err = c.Run(ctx, cont)
	if err != nil || out.Continued || out.Result.Copied != first.Deferred || out.Result.Skipped != first.Copied ||
		out.Completion != transfer.Completed.String() {
		t.Errorf("continuation Run = %+v, %v; want %d copied, %d skipped, the date completed", out, err, first.Deferred, first.Copied)
	}
	checkMirror("after the continuation", true)
}
