package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
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
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix), EncodingType: types.EncodingTypeUrl}
	if delim {
		in.Delimiter = aws.String("/")
	}
	var (
		aborted []Upload
		errs    []error
	)
	for first := true; ; first = false {
		page, err := s.listUploads(ctx, in, first)
		if err != nil {
			return aborted, fmt.Errorf("list uploads %s%s: %w", s, prefix, err)
		}
		stale, badKey := s.staleUploads(page, prefix, delim, initiatedBefore)
		for _, u := range stale {
			done, err := s.abortUpload(ctx, u)
			if done {
				aborted = append(aborted, u.Upload)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		if badKey != nil {
			return aborted, fmt.Errorf("list uploads %s%s: %w", s, prefix, badKey)
		}
		more, err := nextUploadsPage(in, page)
		if err != nil {
			return aborted, fmt.Errorf("list uploads %s%s: %w", s, prefix, err)
		}
		if !more {
			return aborted, errors.Join(errs...)
		}
	}
}

// listUploads lists one page of the uploads in asks for. For the first page,
// a server that takes the prefix for one object's name and lists nothing
// under a folder (see ignoresUploadPrefix) is asked again for every upload
// of the bucket: staleUploads filters them.
func (s *S3) listUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, first bool) (*s3.ListMultipartUploadsOutput, error) {
	page, err := s.client.ListMultipartUploads(ctx, in)
	if err != nil {
		return nil, accessDenied(err)
	}
	if first && aws.ToString(in.Prefix) != "" && len(page.Uploads) == 0 && ignoresUploadPrefix(page) {
		in.Prefix, in.Delimiter = nil, nil
		if page, err = s.client.ListMultipartUploads(ctx, in); err != nil {
			return nil, accessDenied(err)
		}
	}
	return page, nil
}

// listedUpload is an upload as listed: the id as the listing gave it.
type listedUpload struct {
	Upload
	id *string
}

// staleUploads returns the uploads of page under prefix (relative to the
// root; with delim only those directly under it) initiated before
// initiatedBefore; on a key it cannot decode, those before it and an error.
func (s *S3) staleUploads(page *s3.ListMultipartUploadsOutput, prefix string, delim bool, initiatedBefore time.Time) ([]listedUpload, error) {
	full := s.prefix + prefix
	var stale []listedUpload
	for _, u := range page.Uploads {
		name, err := decodeUploadKey(page, u.Key)
		if err != nil {
			return stale, fmt.Errorf("key %q: %w", aws.ToString(u.Key), err)
		}
		rest, ok := strings.CutPrefix(name, full)
		if !ok || delim && strings.Contains(rest, "/") {
			continue // outside the prefix: only a server that ignored it returns these
		}
		if u.Initiated == nil || !u.Initiated.Before(initiatedBefore) {
			continue
		}
		stale = append(stale, listedUpload{Upload{Key: prefix + rest, ID: aws.ToString(u.UploadId), Initiated: *u.Initiated}, u.UploadId})
	}
	return stale, nil
}

// abortUpload aborts u and reports whether it did; an upload gone meanwhile
// (completed or aborted) is neither aborted nor an error.
func (s *S3) abortUpload(ctx context.Context, u listedUpload) (bool, error) {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + u.Key), UploadId: u.id,
	})
	switch {
	case err == nil:
		return true, nil
	case isNoSuchUpload(err):
		return false, nil
	default:
		return false, fmt.Errorf("abort upload %s of %s%s: %w", u.ID, s, u.Key, accessDenied(err))
	}
}

// decodeUploadKey returns a key of page, URL-decoded when the page says
// its keys are encoded.
func decodeUploadKey(page *s3.ListMultipartUploadsOutput, k *string) (string, error) {
	if page.EncodingType == types.EncodingTypeUrl {
		return url.QueryUnescape(aws.ToString(k))
	}
	return aws.ToString(k), nil
}

// nextUploadsPage sets in's markers to ask for the page after page, and
// reports whether there is one.
func nextUploadsPage(in *s3.ListMultipartUploadsInput, page *s3.ListMultipartUploadsOutput) (bool, error) {
	if !aws.ToBool(page.IsTruncated) {
		return false, nil
	}
	next, err := decodeUploadKey(page, page.NextKeyMarker)
	if err != nil {
		return false, fmt.Errorf("marker %q: %w", aws.ToString(page.NextKeyMarker), err)
	}
	if next == "" && aws.ToString(page.NextUploadIdMarker) == "" {
		return false, errors.New("truncated listing without a next marker")
	}
	in.KeyMarker, in.UploadIdMarker = aws.String(next), page.NextUploadIdMarker
	return true, nil
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
