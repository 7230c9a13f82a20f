package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// BucketClient is the S3 client of a destination bucket. Before its first
// request it finds the bucket's region, the way the SDK's S3 helpers do
// (manager.GetBucketRegion: the X-Amz-Bucket-Region header of a HeadBucket),
// and sends every request there, so a bucket in any region works whatever
// region the client was made for. A request that still meets a region
// mismatch (PermanentRedirect, AuthorizationHeaderMalformed) learns the
// region from the answer and, when it has no body to send again, is sent
// once more. Errors no retry can fix become a *RefusedError that says what
// to fix (refusal).
type BucketClient struct {
	c      *s3.Client
	bucket string
	prefix string
	mu     sync.Mutex // held while finding the region
	found  bool
	region string // "" while the client's own region is right
}

// DefaultRegion is the region a BucketClient asks in when its client has
// none (no AWS_REGION, no profile region): the bucket's own is found from
// there, in the same AWS partition.
const DefaultRegion = "us-east-1"

// NewBucketClient returns the client for bucket t.Bucket (its prefix names
// the keys in error messages).
func NewBucketClient(c *s3.Client, t Target) *BucketClient {
	if c.Options().Region == "" {
		c = s3.New(c.Options(), func(o *s3.Options) { o.Region = DefaultRegion })
	}
	return &BucketClient{c: c, bucket: t.Bucket, prefix: t.Prefix}
}

// findRegion asks for the bucket's region once. An answer without the
// header (an S3-compatible server that has no regions) keeps the client's
// region; a bucket that does not exist is a *RefusedError. Only a request
// that got no answer at all is asked again by the next call.
func (b *BucketClient) findRegion(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.found {
		return nil
	}
	region, err := manager.GetBucketRegion(ctx, b.c, b.bucket)
	if region == "" && err != nil {
		// Anonymous requests may be refused without the header (not by
		// S3): ask again, signed.
		_, err = b.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket})
		region = headerRegion(err)
	}
	var status interface{ HTTPStatusCode() int }
	switch {
	case region != "":
	case err == nil:
	case errors.As(err, &status) && status.HTTPStatusCode() == http.StatusNotFound:
		b.found = true
		return b.refusal("HeadBucket", "", fmt.Errorf("%w (HTTP 404)", err), "NoSuchBucket")
	case errors.As(err, &status):
		// Refused without saying where the bucket is: the requests
		// themselves will say why.
	default:
		return fmt.Errorf("find the region of bucket %s: %w", b.bucket, err)
	}
	b.found = true
	if region != b.c.Options().Region {
		b.region = region
	}
	return nil
}

// headerRegion returns the X-Amz-Bucket-Region header of the error
// response in err, or "".
func headerRegion(err error) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}

// regionFns returns optFns, and after them one that sets the bucket's
// region when it is not the client's.
func (b *BucketClient) regionFns(ctx context.Context, optFns []func(*s3.Options)) ([]func(*s3.Options), error) {
	if err := b.findRegion(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	region := b.region
	b.mu.Unlock()
	if region == "" {
		return optFns, nil
	}
	return append(optFns[:len(optFns):len(optFns)], func(o *s3.Options) { o.Region = region }), nil
}

// learnRegion notes the region a mismatched answer names, and reports
// whether it was another one than the request used.
func (b *BucketClient) learnRegion(err error) bool {
	region := headerRegion(err)
	if region == "" || !regionMismatch(err) {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.region
	if old == "" {
		old = b.c.Options().Region
	}
	if region == old {
		return false
	}
	b.region = region
	return true
}

// call sends one request to the bucket's region. replay: the request has no
// body, so it can be sent again after a region mismatch.
func call[I, O any](ctx context.Context, b *BucketClient, op, key string, replay bool,
	fn func(context.Context, I, ...func(*s3.Options)) (O, error), in I, optFns []func(*s3.Options)) (O, error) {
	var zero O
	fns, err := b.regionFns(ctx, optFns)
	if err != nil {
		return zero, err
	}
	out, err := fn(ctx, in, fns...)
	if err != nil && b.learnRegion(err) {
		if !replay {
			// Its body is spent: the caller's retry goes to the right region.
			return zero, fmt.Errorf("%s: bucket %s is in region %s, not the one this request went to; retry", op, b.bucket, headerRegion(err))
		}
		if fns, err = b.regionFns(ctx, optFns); err != nil {
			return zero, err
		}
		out, err = fn(ctx, in, fns...)
	}
	if err != nil {
		return zero, b.classify(op, key, err)
	}
	return out, nil
}

// The S3API methods.

func (b *BucketClient) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return call(ctx, b, "ListObjectsV2", deref(in.Prefix), true, b.c.ListObjectsV2, in, optFns)
}

func (b *BucketClient) HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return call(ctx, b, "HeadObject", deref(in.Key), true, b.c.HeadObject, in, optFns)
}

func (b *BucketClient) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return call(ctx, b, "GetObject", deref(in.Key), true, b.c.GetObject, in, optFns)
}

func (b *BucketClient) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return call(ctx, b, "PutObject", deref(in.Key), false, b.c.PutObject, in, optFns)
}

func (b *BucketClient) UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return call(ctx, b, "UploadPart", deref(in.Key), false, b.c.UploadPart, in, optFns)
}

func (b *BucketClient) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return call(ctx, b, "CreateMultipartUpload", deref(in.Key), true, b.c.CreateMultipartUpload, in, optFns)
}

func (b *BucketClient) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return call(ctx, b, "CompleteMultipartUpload", deref(in.Key), true, b.c.CompleteMultipartUpload, in, optFns)
}

func (b *BucketClient) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return call(ctx, b, "AbortMultipartUpload", deref(in.Key), true, b.c.AbortMultipartUpload, in, optFns)
}

func (b *BucketClient) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, optFns ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error) {
	return call(ctx, b, "ListMultipartUploads", deref(in.Prefix), true, b.c.ListMultipartUploads, in, optFns)
}

func (b *BucketClient) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	return call(ctx, b, "DeleteObject", deref(in.Key), true, b.c.DeleteObject, in, optFns)
}

func (b *BucketClient) CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	return call(ctx, b, "CopyObject", deref(in.Key), true, b.c.CopyObject, in, optFns)
}

var (
	_ S3API                   = (*BucketClient)(nil)
	_ manager.UploadAPIClient = (*BucketClient)(nil)
)

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
