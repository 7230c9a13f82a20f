package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Upload is a multipart upload in progress.
type Upload struct {
	Key       string // relative to the store root
	ID        string
	Initiated time.Time
}

// ErrAccessDenied is wrapped by AbortStaleUploads errors when the store's
// identity may not list or abort uploads: retrying will not help.
var ErrAccessDenied = errors.New("access denied")

// uploadLister is the part of *s3.Client that lists multipart uploads (the
// SDK exports no interface or paginator for it).
type uploadLister interface {
	ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, optFns ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
}

// AbortStaleUploads aborts the multipart uploads under prefix (relative to
// the root; with delim only those directly under it, not in its child
// folders) that were initiated before initiatedBefore: uploads left open by
// a process that was killed, which nothing else would ever abort. Uploads
// initiated later may belong to a run still going on and are left alone.
//
// It returns the uploads it aborted, also when it fails part way; an upload
// that is gone by the time it is aborted (completed or aborted meanwhile) is
// neither returned nor an error.
func (s *S3) AbortStaleUploads(ctx context.Context, prefix string, delim bool, initiatedBefore time.Time) ([]Upload, error) {
	lister, ok := s.client.(uploadLister)
	if !ok {
		return nil, fmt.Errorf("list uploads %s%s: the S3 client cannot list multipart uploads", s, prefix)
	}
	full := s.prefix + prefix
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(full), EncodingType: types.EncodingTypeUrl}
	if delim {
		in.Delimiter = aws.String("/")
	}
	var (
		aborted []Upload
		errs    []error
	)
	for first := true; ; first = false {
		page, err := lister.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, fmt.Errorf("list uploads %s%s: %w", s, prefix, accessDenied(err))
		}
		if first && full != "" && len(page.Uploads) == 0 && isMinIO(page) {
			// MinIO takes a prefix for one object's name and lists nothing
			// under a folder (minio/minio#20989, "working as intended"):
			// list the whole bucket and filter here.
			in.Prefix, in.Delimiter = nil, nil
			if page, err = lister.ListMultipartUploads(ctx, in); err != nil {
				return aborted, fmt.Errorf("list uploads %s%s: %w", s, prefix, accessDenied(err))
			}
		}
		decode := func(k *string) (string, error) { return aws.ToString(k), nil }
		if page.EncodingType == types.EncodingTypeUrl {
			decode = func(k *string) (string, error) { return url.QueryUnescape(aws.ToString(k)) }
		}
		for _, u := range page.Uploads {
			name, err := decode(u.Key)
			if err != nil {
				return aborted, fmt.Errorf("list uploads %s%s: key %q: %w", s, prefix, aws.ToString(u.Key), err)
			}
			rest, ok := strings.CutPrefix(name, full)
			if !ok || delim && strings.Contains(rest, "/") {
				continue // outside the prefix: only a server that ignored it returns these
			}
			if u.Initiated == nil || !u.Initiated.Before(initiatedBefore) {
				continue
			}
			up := Upload{Key: prefix + rest, ID: aws.ToString(u.UploadId), Initiated: *u.Initiated}
			_, err = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.bucket), Key: aws.String(name), UploadId: u.UploadId,
			})
			switch {
			case err == nil:
				aborted = append(aborted, up)
			case isNoSuchUpload(err):
			default:
				errs = append(errs, fmt.Errorf("abort upload %s of %s%s: %w", up.ID, s, up.Key, accessDenied(err)))
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		next, err := decode(page.NextKeyMarker)
		if err != nil {
			return aborted, fmt.Errorf("list uploads %s%s: marker %q: %w", s, prefix, aws.ToString(page.NextKeyMarker), err)
		}
		if next == "" && aws.ToString(page.NextUploadIdMarker) == "" {
			return aborted, fmt.Errorf("list uploads %s%s: truncated listing without a next marker", s, prefix)
		}
		in.KeyMarker, in.UploadIdMarker = aws.String(next), page.NextUploadIdMarker
	}
	return aborted, errors.Join(errs...)
}

// isMinIO reports whether a response came from MinIO (its Server header).
func isMinIO(out *s3.ListMultipartUploadsOutput) bool {
	raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
	return ok && strings.HasPrefix(raw.Header.Get("Server"), "MinIO")
}

func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	var ae smithy.APIError
	return errors.As(err, &nsu) || errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}

func accessDenied(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied" {
		return fmt.Errorf("%w: %w", ErrAccessDenied, err)
	}
	return err
}
