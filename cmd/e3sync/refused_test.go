package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/internal/testenv"
)

// errorLines returns the lines of stderr that report a problem: the CLI's
// own ("e3sync: ...") and log lines at WARN or ERROR.
func errorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "e3sync:") || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// A destination that refuses stops the sync at once with one line saying
// what to fix, and exit code 4: an identity without s3:PutObject (found by
// the write probe), a bucket that does not exist, and an identity that may
// write e3sync's state but not the data (found at the first object: the
// run stops there, nothing is retried).
func TestSyncRefusedDestination(t *testing.T) {
	w := newWorld(t, 0)
	ctx := context.Background()
	for i := range 40 {
		w.put(fmt.Sprintf("type=events/date=%s/event=e%d/part-%05d-a.c000.snappy.parquet", day(-2), i%4, i), randBytes(1000, int64(i)))
	}
	w.put("type=events/date="+day(-2)+"/_SUCCESS", nil)
	stateOnly := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation","s3:ListBucketMultipartUploads"],"Resource":["arn:aws:s3:::%[1]s"]},`+
		`{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%[1]s/*"]},`+
		`{"Effect":"Allow","Action":["s3:PutObject","s3:AbortMultipartUpload"],"Resource":["arn:aws:s3:::%[1]s/%[2]s_e3sync/*"]}]}`, dstBucket, dstPrefix)
	for user, policy := range map[string]string{"reader": testenv.ReadOnlyPolicy(dstBucket), "stateonly": stateOnly} {
		if err := w.MinIO.AddUser(ctx, user, user+"-secret", policy); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, user, dest, want string
	}{
		{"no s3:PutObject", "reader", "s3://" + dstBucket + "/" + dstPrefix,
			"e3sync: destination s3://" + dstBucket + "/" + dstPrefix + ` refused PutObject of "` + dstPrefix + `_e3sync/write-probe": access denied (AccessDenied): ` +
				"the AWS identity e3sync writes with may not do this: allow it s3:PutObject on arn:aws:s3:::" + dstBucket + "/" + dstPrefix + "*"},
		{"no such bucket, may do anything", "root", "s3://no-such-bucket-e3/x/", "e3sync: destination s3://no-such-bucket-e3/x/ refused HeadBucket: bucket no-such-bucket-e3 does not exist: create it, or correct the bucket name"},
		{"no such bucket, may use one bucket", "", "s3://no-such-bucket-e3/x/",
			"refused PutObject of \"x/_e3sync/write-probe\": access denied (AccessDenied): the AWS identity e3sync writes with may not do this: " +
				"allow it s3:PutObject on arn:aws:s3:::no-such-bucket-e3/x/* (and the use of the bucket's KMS key, if it has one), and check that no-such-bucket-e3 is the bucket you meant"},
		{"data refused, state allowed", "stateonly", "s3://" + dstBucket + "/" + dstPrefix, "access denied (AccessDenied): the AWS identity e3sync writes with may not do this: allow it s3:PutObject"},
	} {
		t.Run(c.name, func(t *testing.T) {
			switch c.user {
			case "":
			case "root":
				t.Setenv("AWS_ACCESS_KEY_ID", w.MinIO.Root().AccessKeyID)
				t.Setenv("AWS_SECRET_ACCESS_KEY", w.MinIO.Root().SecretAccessKey)
			default:
				t.Setenv("AWS_ACCESS_KEY_ID", c.user)
				t.Setenv("AWS_SECRET_ACCESS_KEY", c.user+"-secret")
			}
			code, _, stderr := w.sync(t, "--dest", c.dest)
			if code != exitRefused {
				t.Errorf("exit %d, want %d", code, exitRefused)
			}
			lines := errorLines(stderr)
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "e3sync:") || !strings.Contains(lines[0], c.want) {
				t.Errorf("problem lines = %q; want one, containing %q; stderr:\n%s", lines, c.want, stderr)
			}
			if got := objects(t, w.Root, dstBucket, dstPrefix); len(got) != 0 {
				t.Errorf("destination holds %d objects; want none", len(got))
			}
		})
	}
}

// A read-only directory: the demo (a sync into a directory) stops before
// copying, with one line and exit code 4. Runs as nobody: root ignores
// permissions.
func TestDemoReadOnlyDirectory(t *testing.T) {
	if !testenv.AsNobody(t) {
		return
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"demo", "--dest", dir}, func(string) string { return "" }, &stdout, &stderr)
	if code != exitRefused {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitRefused, stderr.String())
	}
	want := "e3sync: destination " + dir + "/ refused a test write: permission denied: give the user running e3sync read and write access to " + dir + "/"
	if lines := errorLines(stderr.String()); len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("problem lines = %q; want one, starting %q", lines, want)
	}
}
