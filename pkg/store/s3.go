package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3API is the part of *s3.Client a bucket store uses.
type S3API interface {
	s3.ListObjectsV2APIClient
	s3.HeadObjectAPIClient
	manager.UploadAPIClient
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Defaults for S3 uploads.
const (
	DefaultPartSize          = 8 << 20
	DefaultUploadConcurrency = 4
)

// S3Options tune an S3 store's uploads.
type S3Options struct {
	// PartSize is the multipart part size; objects smaller than it are sent
	// with one PutObject. Memory per upload is at most
	// (UploadConcurrency+1) × PartSize.
	PartSize int64
	// UploadConcurrency is the number of parts of one object in flight.
	UploadConcurrency int
	// KMSKeyID, when set, encrypts written objects with SSE-KMS under that key.
	KMSKeyID string
}

// S3 is a bucket, under a key prefix.
type S3 struct {
	client   S3API
	bucket   string
	prefix   string
	opts     S3Options
	uploader *manager.Uploader
	small    sync.Pool // *bytes.Buffer for single-request uploads
}

// NewS3 returns the store for bucket under prefix ("" or ending in "/").
func NewS3(client S3API, bucket, prefix string, opts S3Options) *S3 {
	if opts.PartSize <= 0 {
		opts.PartSize = DefaultPartSize
	}
	if opts.UploadConcurrency <= 0 {
		opts.UploadConcurrency = DefaultUploadConcurrency
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &S3{client: client, bucket: bucket, prefix: prefix, opts: opts}
	s.uploader = manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = opts.PartSize
		u.Concurrency = opts.UploadConcurrency
		u.LeavePartsOnError = false
	})
	return s
}

// String is the store's URL, s3://bucket/prefix.
func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.bucket }

// Prefix returns the key prefix of the store root.
func (s *S3) Prefix() string { return s.prefix }

// List lists prefix (relative to the root) with one paginated ListObjectsV2.
func (s *S3) List(ctx context.Context, prefix string, delim bool) (Listing, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix)}
	if delim {
		in.Delimiter = aws.String("/")
	}
	var out Listing
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("list %s%s: %w", s, prefix, err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok {
				return Listing{}, fmt.Errorf("list %s%s: key %q is outside the prefix", s, prefix, aws.ToString(o.Key))
			}
			out.Objects = append(out.Objects, Object{Key: key, Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag)})
		}
		for _, cp := range page.CommonPrefixes {
			key, ok := strings.CutPrefix(aws.ToString(cp.Prefix), s.prefix)
			if !ok {
				return Listing{}, fmt.Errorf("list %s%s: prefix %q is outside the prefix", s, prefix, aws.ToString(cp.Prefix))
			}
			out.Prefixes = append(out.Prefixes, key)
		}
	}
	return out, nil
}

// Open streams the object at key.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		return nil, fmt.Errorf("get %s%s: %w", s, key, notFound(err))
	}
	return out.Body, nil
}

// Head returns the size, ETag and user metadata of key.
func (s *S3) Head(ctx context.Context, key string) (Info, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		return Info{}, fmt.Errorf("head %s%s: %w", s, key, notFound(err))
	}
	md := make(map[string]string, len(out.Metadata))
	for k, v := range out.Metadata {
		md[strings.ToLower(k)] = v
	}
	return Info{Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag), Metadata: md}, nil
}

// Write uploads exactly size bytes from r to key: one PutObject below the
// part size, a multipart upload (aborted on failure) above it. Every request
// carries a CRC32C checksum that S3 verifies.
func (s *S3) Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("write %s: %w", s, err)
	}
	body := &exactReader{r: r, want: size}
	if size < s.opts.PartSize {
		return s.put(ctx, key, size, body, meta)
	}
	in := s.putInput(key, meta)
	in.Body = body
	if _, err := s.uploader.Upload(ctx, in); err != nil {
		s.abort(ctx, key, err)
		return fmt.Errorf("upload %s%s: %w", s, key, err)
	}
	if body.n != size {
		// Unreachable while exactReader holds; kept as the last line of defence.
		return fmt.Errorf("upload %s%s: %w: sent %d of %d bytes", s, key, ErrSizeMismatch, body.n, size)
	}
	return nil
}

// abortTimeout bounds the clean-up of a failed multipart upload.
const abortTimeout = 30 * time.Second

// abort makes sure a failed multipart upload is aborted. The uploader aborts
// with the caller's context, which fails when that context was cancelled
// (a deadline, an interrupt): abort again on a context that is not.
func (s *S3) abort(ctx context.Context, key string, err error) {
	var mf manager.MultiUploadFailure
	if !errors.As(err, &mf) || mf.UploadID() == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	// A NoSuchUpload answer means the uploader's own abort went through.
	s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key), UploadId: aws.String(mf.UploadID()),
	})
}

func (s *S3) put(ctx context.Context, key string, size int64, body io.Reader, meta map[string]string) error {
	buf, _ := s.small.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= int(s.opts.PartSize) {
			buf.Reset()
			s.small.Put(buf)
		}
	}()
	buf.Reset()
	buf.Grow(int(size))
	if _, err := buf.ReadFrom(body); err != nil {
		return fmt.Errorf("read body for %s%s: %w", s, key, err)
	}
	in := s.putInput(key, meta)
	in.Body = bytes.NewReader(buf.Bytes())
	in.ContentLength = aws.Int64(size)
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put %s%s: %w", s, key, err)
	}
	return nil
}

func (s *S3) putInput(key string, meta map[string]string) *s3.PutObjectInput {
	in := &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(s.prefix + key),
		Metadata:          meta,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	}
	if s.opts.KMSKeyID != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.opts.KMSKeyID)
	}
	return in
}

func notFound(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
