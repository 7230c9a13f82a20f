package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
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
	ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, optFns ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
}

// Defaults for S3 uploads.
const (
	DefaultPartSize          = 8 << 20
	DefaultUploadConcurrency = 4
	// DefaultPartsInFlight is as many part buffers as the copy engine's two
	// large objects × 4 parts took before they were shared.
	DefaultPartsInFlight = 8
)

// S3Options tune an S3 store's uploads.
type S3Options struct {
	// PartSize is the multipart part size; objects smaller than it are sent
	// with one PutObject. Memory per upload is at most
	// (UploadConcurrency+1) × PartSize.
	PartSize int64
	// UploadConcurrency is the number of parts of one object in flight in
	// a Write of a stream (feature/s3/manager), and the fewest a WriteParts
	// upload takes of PartsInFlight when others are under way.
	UploadConcurrency int
	// PartsInFlight bounds the parts in flight across all of the store's
	// WriteParts uploads, each with its part buffer: one object alone may
	// use them all (far from S3, a lone large object needs many parts in
	// flight), several share them. Default DefaultPartsInFlight.
	PartsInFlight int
	// KMSKeyID, when set, encrypts written objects with SSE-KMS under that key.
	KMSKeyID string
	// BodyGrace and MinBodyRate bound reading a ranged GET's body of n
	// bytes (OpenRange) to BodyGrace + n / MinBodyRate seconds: a body that
	// drips, too slowly for the idle timeout to catch, fails with a
	// *SlowBodyError. Defaults DefaultBodyGrace and DefaultMinBodyRate.
	BodyGrace   time.Duration
	MinBodyRate int64 // bytes per second
}

// S3 is a bucket, under a key prefix.
type S3 struct {
	client   S3API
	bucket   string
	prefix   string
	opts     S3Options
	uploader *manager.Uploader
	small    sync.Pool     // *bytes.Buffer for single-request uploads
	parts    chan *[]byte  // free PartSize buffers for WriteParts, kept across GCs
	inFlight chan struct{} // a place per WriteParts part in flight (PartsInFlight)
	uploads  atomic.Int32  // WriteParts uploads under way
}

// NewS3 returns the store for bucket under prefix ("" or ending in "/").
func NewS3(client S3API, bucket, prefix string, opts S3Options) *S3 {
	if opts.PartSize <= 0 {
		opts.PartSize = DefaultPartSize
	}
	if opts.UploadConcurrency <= 0 {
		opts.UploadConcurrency = DefaultUploadConcurrency
	}
	if opts.PartsInFlight <= 0 {
		opts.PartsInFlight = DefaultPartsInFlight
	}
	if opts.BodyGrace <= 0 {
		opts.BodyGrace = DefaultBodyGrace
	}
	if opts.MinBodyRate <= 0 {
		opts.MinBodyRate = DefaultMinBodyRate
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &S3{client: client, bucket: bucket, prefix: prefix, opts: opts,
		parts: make(chan *[]byte, maxFreeParts), inFlight: make(chan struct{}, opts.PartsInFlight)}
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

// PartSize returns the configured multipart part size: objects this large
// or larger are uploaded in parts.
func (s *S3) PartSize() int64 { return s.opts.PartSize }

// Prefix returns the key prefix of the store root.
func (s *S3) Prefix() string { return s.prefix }

// List lists prefix (relative to the root) with ListObjectsV2, page after
// page. Keys are asked for URL-encoded (a key may hold bytes XML cannot
// carry) and decoded when the server says it encoded them. The answer is
// untrusted: an entry outside prefix (or, with delim, more than one level
// below it), keys out of order or repeated, a repeated continuation token,
// and a listing beyond MaxListEntries or MaxListPages are errors naming the
// problem.
func (s *S3) List(ctx context.Context, prefix string, delim bool) (Listing, error) {
	in := &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix), EncodingType: types.EncodingTypeUrl,
	}
	if delim {
		in.Delimiter = aws.String("/")
	}
	l := newLister(s.prefix, s.prefix+prefix, delim)
	for {
		page, err := s.client.ListObjectsV2(ctx, in, limitBody(maxListPageBytes))
		if err == nil {
			err = l.add(page)
		}
		if err == nil && aws.ToBool(page.IsTruncated) {
			in.ContinuationToken, err = l.next(page)
		}
		if err != nil {
			return Listing{}, fmt.Errorf("list %s%s: %w", s, prefix, err)
		}
		if !aws.ToBool(page.IsTruncated) {
			return l.out, nil
		}
	}
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
// carries a CRC32C checksum that S3 verifies. It returns the ETag S3 gave
// the object.
func (s *S3) Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("write %s: %w", s, err)
	}
	if err := CheckSize(size); err != nil {
		return "", fmt.Errorf("write %s%s: %w", s, key, err)
	}
	body := &exactReader{r: r, want: size}
	if size < s.opts.PartSize {
		return s.put(ctx, key, size, body, meta)
	}
	in := s.putInput(key, meta)
	in.Body = body
	out, err := s.uploader.Upload(ctx, in)
	if err != nil {
		s.abort(ctx, key, err)
		return "", fmt.Errorf("upload %s%s: %w", s, key, err)
	}
	if body.n != size {
		// Unreachable while exactReader holds; kept as the last line of defence.
		return "", fmt.Errorf("upload %s%s: %w: sent %d of %d bytes", s, key, ErrSizeMismatch, body.n, size)
	}
	return aws.ToString(out.ETag), nil
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

func (s *S3) put(ctx context.Context, key string, size int64, body io.Reader, meta map[string]string) (string, error) {
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
	buf.Grow(int(size) + bytes.MinRead) // ReadFrom needs MinRead free bytes to see EOF without growing
	if _, err := buf.ReadFrom(body); err != nil {
		return "", fmt.Errorf("read body for %s%s: %w", s, key, err)
	}
	in := s.putInput(key, meta)
	in.Body = bytes.NewReader(buf.Bytes())
	in.ContentLength = aws.Int64(size)
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return "", fmt.Errorf("put %s%s: %w", s, key, err)
	}
	return aws.ToString(out.ETag), nil
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

// OpenRange streams bytes [off, off+n) of key, and only while the object
// still has etag (when etag is not ""): a ranged copy never mixes two
// versions of an object. A response for a different total size fails with
// ErrSizeMismatch.
func (s *S3) OpenRange(ctx context.Context, key, etag string, off, n, size int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("get %s%s [%d, %d): %w", s, key, off, off+n, notFound(err))
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		if _, total, ok := strings.Cut(cr, "/"); ok && total != "*" && total != fmt.Sprint(size) {
			out.Body.Close()
			cancel(nil)
			return nil, fmt.Errorf("get %s%s: %w: object is %s bytes, want %d", s, key, ErrSizeMismatch, total, size)
		}
	}
	return s.boundBody(ctx, cancel, out.Body, s.String()+key, n), nil
}

// partAttempts is how many times one part's read is tried before the upload
// fails (the SDK retries each request too; this covers a body that breaks
// mid-stream).
const partAttempts = 3

// WriteParts uploads exactly size bytes to key as a multipart upload whose
// parts are read with open, up to PartsInFlight parts at a time across all
// of the store's uploads: each part is its own ranged read into a pooled
// buffer, then one UploadPart with a CRC32C checksum, so reads and uploads
// of different parts overlap. Memory is at most PartsInFlight part buffers,
// however many objects are uploaded at once. On failure, including a cancelled
// ctx, the upload is aborted and nothing is visible at key. It returns the
// ETag S3 gave the object.
func (s *S3) WriteParts(ctx context.Context, key string, size int64, open PartOpener, meta map[string]string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("write %s: %w", s, err)
	}
	if err := CheckSize(size); err != nil {
		return "", fmt.Errorf("write %s%s: %w", s, key, err)
	}
	partSize := s.partSizeFor(size)
	if size < partSize {
		rc, err := open(ctx, 0, size)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		return s.Write(ctx, key, size, rc, meta)
	}
	in := s.putInput(key, meta)
	cu, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, Metadata: in.Metadata, ChecksumAlgorithm: in.ChecksumAlgorithm,
		ServerSideEncryption: in.ServerSideEncryption, SSEKMSKeyId: in.SSEKMSKeyId,
	})
	if err != nil {
		return "", fmt.Errorf("upload %s%s: %w", s, key, err)
	}
	uploadID := aws.ToString(cu.UploadId)
	parts, err := s.uploadParts(ctx, key, uploadID, size, partSize, open)
	var done *s3.CompleteMultipartUploadOutput
	if err == nil {
		done, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: in.Bucket, Key: in.Key, UploadId: aws.String(uploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: in.Bucket, Key: in.Key, UploadId: aws.String(uploadID)})
		return "", fmt.Errorf("upload %s%s: %w", s, key, err)
	}
	return aws.ToString(done.ETag), nil
}

// maxParts is S3's limit of parts per upload.
const maxParts = 10000

// partSizeFor is the part size for an object of size bytes: the configured
// one, raised (in MiB steps) when the object would need more than maxParts.
func (s *S3) partSizeFor(size int64) int64 {
	p := s.opts.PartSize
	if size > p*maxParts {
		p = ((size+maxParts-1)/maxParts + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return p
}

func (s *S3) uploadParts(ctx context.Context, key, uploadID string, size, partSize int64, open PartOpener) ([]types.CompletedPart, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	n := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)
	next := make(chan int)
	var wg sync.WaitGroup
	// A lone upload may take every place (far from S3 it needs them); one
	// that starts beside others takes its share of them, and at least
	// UploadConcurrency, as each did before the places were shared.
	active := int(s.uploads.Add(1))
	defer s.uploads.Add(-1)
	for range min(max(s.opts.UploadConcurrency, s.opts.PartsInFlight/active), n) {
		wg.Go(func() {
			for i := range next {
				off := int64(i) * partSize
				p, err := s.partInFlight(ctx, key, uploadID, int32(i+1), off, min(partSize, size-off), partSize, open)
				if err != nil {
					cancel(err)
					continue
				}
				parts[i] = p
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return parts, nil
}

// partInFlight uploads one part in one of the store's places for a part in
// flight, with a part buffer for as long as it holds the place.
func (s *S3) partInFlight(ctx context.Context, key, uploadID string, number int32, off, n, partSize int64, open PartOpener) (types.CompletedPart, error) {
	select {
	case s.inFlight <- struct{}{}:
	case <-ctx.Done():
		return types.CompletedPart{}, context.Cause(ctx)
	}
	defer func() { <-s.inFlight }()
	buf := s.partBuffer(partSize)
	defer s.releasePartBuffer(buf)
	return s.uploadPart(ctx, key, uploadID, number, off, n, (*buf)[:n], open)
}

// uploadPart runs in a worker goroutine of uploadParts: a panic in it
// fails the upload (which is then aborted), never the process.
func (s *S3) uploadPart(ctx context.Context, key, uploadID string, number int32, off, n int64, buf []byte, open PartOpener) (_ types.CompletedPart, err error) {
	defer recovered(&err)
	for attempt := range partAttempts {
		if attempt > 0 && ctx.Err() != nil {
			break
		}
		if err = readPart(ctx, open, off, buf); err == nil || errors.Is(err, ErrSizeMismatch) || Unanswered(err) {
			break
		}
	}
	if err != nil {
		return types.CompletedPart{}, fmt.Errorf("part %d: %w", number, err)
	}
	out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(number), Body: bytes.NewReader(buf), ContentLength: aws.Int64(n),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	})
	if err != nil {
		return types.CompletedPart{}, fmt.Errorf("part %d: %w", number, err)
	}
	return types.CompletedPart{PartNumber: aws.Int32(number), ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C}, nil
}

// readPart fills buf with exactly len(buf) bytes from open(off, len(buf)).
func readPart(ctx context.Context, open PartOpener, off int64, buf []byte) error {
	rc, err := open(ctx, off, int64(len(buf)))
	if err != nil {
		return err
	}
	defer rc.Close()
	body := &exactReader{r: rc, want: int64(len(buf))}
	if _, err := io.ReadFull(body, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: part ended early", ErrSizeMismatch)
		}
		return err
	}
	// The body must end here.
	var one [1]byte
	if _, err := body.Read(one[:]); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("%w: part longer than %d bytes", ErrSizeMismatch, len(buf))
		}
		return err
	}
	return nil
}

// maxFreeParts bounds the free part buffers a store keeps. A free list, not
// a sync.Pool: a pool is emptied by every GC, and each 8 MiB buffer
// reallocated after that is garbage the heap has to grow for.
const maxFreeParts = 16

// partBuffer returns a buffer of at least partSize bytes; buffers of the
// configured part size are reused across uploads.
func (s *S3) partBuffer(partSize int64) *[]byte {
	if partSize == s.opts.PartSize {
		select {
		case b := <-s.parts:
			return b
		default:
		}
	}
	b := make([]byte, partSize)
	return &b
}

func (s *S3) releasePartBuffer(b *[]byte) {
	if int64(len(*b)) == s.opts.PartSize {
		select {
		case s.parts <- b:
		default: // more buffers than the free list keeps: let the GC have it
		}
	}
}
