package store

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/e3sync/e3sync/internal/testenv"
)

// clientAs returns a client for m signed as user, in region, counting the
// requests it sends in n.
func clientAs(m *testenv.MinIO, user, region string, n *atomic.Int32) *s3.Client {
	c := testenv.NewS3Client(m.Endpoint(), testenv.StaticCredentials(aws.Credentials{AccessKeyID: user, SecretAccessKey: user + "-secret"}))
	return s3.New(c.Options(), func(o *s3.Options) {
		o.Region = region
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("count", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if n != nil {
					n.Add(1)
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
		})
	})
}

// A bucket in another region than the client's works: BucketClient finds
// the region once, and every request goes there. Without it, MinIO (as S3)
// refuses requests signed for the wrong region.
func TestBucketClientFindsRegion(t *testing.T) {
	ctx := context.Background()
	m := testenv.MinIOForTest(t, testenv.SiteRegion("eu-west-2"))
	if err := m.CreateBucket(ctx, "dest"); err != nil {
		t.Fatal(err)
	}
	if err := m.AddUser(ctx, "writer", "writer-secret", testenv.ReadWritePolicy("dest")); err != nil {
		t.Fatal(err)
	}
	target := Target{Bucket: "dest", Prefix: "mirror/"}

	raw := clientAs(m, "writer", "us-east-1", nil)
	if _, err := raw.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("dest")}); err == nil {
		t.Fatal("a client for us-east-1 lists a bucket in eu-west-2: the test cannot tell")
	}

	for _, region := range []string{"us-east-1", "eu-west-2", ""} {
		t.Run("client region "+region, func(t *testing.T) {
			var requests atomic.Int32
			bc := NewBucketClient(clientAs(m, "writer", region, &requests), target)
			s := NewS3(bc, "dest", "mirror/", S3Options{PartSize: 5 << 20})
			key := "type=events/date=2024-01-02/part-0-" + region
			data := bytes.Repeat([]byte("x"), 6<<20) // a multipart upload
			if _, err := s.Write(ctx, key, int64(len(data)), bytes.NewReader(data), nil); err != nil {
				t.Fatalf("Write() = %v", err)
			}
			if l, err := s.List(ctx, "", false); err != nil || len(l.Objects) == 0 {
				t.Fatalf("List() = %v, %v", l, err)
			}
			if want := "eu-west-2"; region == want && bc.region != "" || region != want && bc.region != want {
				t.Errorf("region sent = %q; want eu-west-2 (\"\" when the client's)", bc.region)
			}
			// One region look-up (anonymous HeadBucket), then the writes
			// (create, 2 parts, complete) and the listing: no request
			// sent twice to the wrong region.
			if n := requests.Load(); n != 6 {
				t.Errorf("%d requests; want 6 (1 region look-up, 4 for the upload, 1 listing)", n)
			}
			if err := s.ProbeWrite(ctx); err != nil {
				t.Errorf("ProbeWrite() = %v; want nil", err)
			}
		})
	}
}

// A request that meets a region mismatch anyway (the bucket's region was
// learnt wrong, or it moved) learns the region from the answer and is sent
// again; the caller never sees the SDK's error.
func TestBucketClientLearnsRegionFromMismatch(t *testing.T) {
	ctx := context.Background()
	m := testenv.MinIOForTest(t, testenv.SiteRegion("ap-south-1"))
	if err := m.CreateBucket(ctx, "dest"); err != nil {
		t.Fatal(err)
	}
	if err := m.AddUser(ctx, "writer", "writer-secret", testenv.ReadWritePolicy("dest")); err != nil {
		t.Fatal(err)
	}
	bc := NewBucketClient(clientAs(m, "writer", "us-east-1", nil), Target{Bucket: "dest"})
	bc.found, bc.region = true, "eu-central-1" // as if looked up before the bucket moved
	s := NewS3(bc, "dest", "", S3Options{})
	if _, err := s.List(ctx, "", false); err != nil {
		t.Fatalf("List() = %v; want it sent again to the bucket's region", err)
	}
	// A write's body is spent: it fails with a message (no raw SDK error)
	// and the next one goes to the right region.
	bc.region = "eu-central-1"
	_, err := s.Write(ctx, "a", 1, strings.NewReader("a"), nil)
	if err == nil || Permanent(err) || !strings.Contains(err.Error(), "is in region ap-south-1") || strings.Contains(err.Error(), "AuthorizationHeaderMalformed") {
		t.Errorf("Write() = %v; want a retryable error naming the region", err)
	}
	if _, err := s.Write(ctx, "a", 1, strings.NewReader("a"), nil); err != nil {
		t.Errorf("Write() again = %v", err)
	}
}

// Refusals: an identity without s3:PutObject, a bucket that does not
// exist. Each is a *RefusedError that says what to fix, found by the probe
// (which stores nothing) as by a write; an identity that may write passes
// the probe, and nothing is left at ProbeKey.
func TestBucketClientRefusals(t *testing.T) {
	ctx := context.Background()
	m := testenv.MinIOForTest(t)
	if err := m.CreateBucket(ctx, "dest"); err != nil {
		t.Fatal(err)
	}
	if err := m.AddUser(ctx, "reader", "reader-secret", testenv.ReadOnlyPolicy("dest")); err != nil {
		t.Fatal(err)
	}
	if err := m.AddUser(ctx, "writer", "writer-secret", testenv.ReadWritePolicy("dest")); err != nil {
		t.Fatal(err)
	}
	root := testenv.NewS3Client(m.Endpoint(), m.RootProvider())
	for _, c := range []struct {
		name, bucket string
		client       *s3.Client
		want         string // in the message; "" for no refusal
	}{
		{"may write", "dest", clientAs(m, "writer", "us-east-1", nil), ""},
		{"no s3:PutObject", "dest", clientAs(m, "reader", "us-east-1", nil), "access denied (AccessDenied): the AWS identity e3sync writes with may not do this: allow it s3:PutObject on arn:aws:s3:::dest/mirror/*"},
		{"no such bucket", "no-such-bucket", root, "bucket no-such-bucket does not exist: create it, or correct the bucket name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewS3(NewBucketClient(c.client, Target{Bucket: c.bucket, Prefix: "mirror/"}), c.bucket, "mirror/", S3Options{})
			err := s.ProbeWrite(ctx)
			if c.want == "" {
				if err != nil {
					t.Fatalf("ProbeWrite() = %v; want nil", err)
				}
				_, err := root.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(c.bucket), Key: aws.String("mirror/" + ProbeKey)})
				var re *smithyhttp.ResponseError
				if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotFound {
					t.Errorf("HeadObject(probe) = %v; want 404: the probe must store nothing", err)
				}
				return
			}
			if re := Refused(err); re == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ProbeWrite() = %v; want a refusal saying %q", err, c.want)
			}
			_, err = s.Write(ctx, "type=events/x", 1, strings.NewReader("x"), nil)
			if re := Refused(err); re == nil || !strings.Contains(re.Error(), c.want) || !Permanent(err) {
				t.Errorf("Write() = %v; want a refusal saying %q", err, c.want)
			}
		})
	}
}

// What BucketClient makes of each S3 error code, by request: one row per
// case of the code tables in refused.go.
func TestBucketClientClassify(t *testing.T) {
	b := NewBucketClient(s3.New(s3.Options{Region: "us-east-1"}), Target{Bucket: "lake", Prefix: "e3/"})
	apiErr := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	for _, c := range []struct {
		op, code string
		want     string // in the refusal; "" for no refusal
		invalid  bool   // ErrInvalidKey
	}{
		{"PutObject", "AccessDenied", "access denied (AccessDenied): the AWS identity e3sync writes with may not do this: allow it s3:PutObject on arn:aws:s3:::lake/e3/*", false},
		{"UploadPart", "AllAccessDisabled", "allow it s3:PutObject on arn:aws:s3:::lake/e3/*", false},
		{"ListObjectsV2", "AccessDenied", "allow it s3:ListBucket on arn:aws:s3:::lake, and check that lake is the bucket you meant", false},
		{"GetObject", "AccessDenied", "allow it s3:GetObject on arn:aws:s3:::lake/e3/*", false},
		{"HeadObject", "Forbidden", "allow it s3:GetObject", false},
		{"PutObject", "InvalidAccessKeyId", "the AWS credentials are not valid (InvalidAccessKeyId): check AWS_PROFILE", false},
		{"PutObject", "SignatureDoesNotMatch", "the AWS credentials are not valid", false},
		{"ListObjectsV2", "NoSuchBucket", "bucket lake does not exist: create it, or correct the bucket name", false},
		{"PutObject", "InvalidBucketName", "S3 does not accept the bucket name lake: correct the bucket name", false},
		{"PutObject", "PermanentRedirect", "the bucket is in another region than us-east-1 and did not say which (PermanentRedirect): set AWS_REGION", false},
		{"PutObject", "KeyTooLongError", "", true},
		{"HeadObject", "NotFound", "", false},
		{"GetObject", "NoSuchKey", "", false},
		{"PutObject", "InternalError", "", false},
		{"PutObject", "SlowDown", "", false},
		{"DeleteObject", "AccessDenied", "", false}, // pruning keeps its own handling
		{"AbortMultipartUpload", "AccessDenied", "", false},
		{"ListMultipartUploads", "AccessDenied", "", false},
	} {
		err := b.classify(c.op, "e3/k", apiErr(c.code))
		re := Refused(err)
		switch {
		case c.want == "" && re != nil, c.want != "" && (re == nil || !strings.Contains(re.Error(), c.want)):
			t.Errorf("classify(%s, %s) = %v; want refusal %q", c.op, c.code, err, c.want)
		case errors.Is(err, ErrInvalidKey) != c.invalid:
			t.Errorf("classify(%s, %s) = %v; want ErrInvalidKey %v", c.op, c.code, err, c.invalid)
		case Permanent(err) != (c.want != "" || c.invalid):
			t.Errorf("Permanent(classify(%s, %s)) = %v", c.op, c.code, Permanent(err))
		}
	}
}
