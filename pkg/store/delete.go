package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Deleting objects, copying one within a bucket, and cleaning up what a
// killed run left in a directory.
//
// Delete contract, for every store: Delete removes the object at key; a key
// that holds no object is not an error (deleting twice is the same as
// once). Only the copy engine's pruning calls it, for stale objects of a
// sub-partition, after it has copied each of them to a quarantine key.

// Delete removes the object at key. An identity that may not delete gets an
// error wrapping ErrAccessDenied.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", s, err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)}); err != nil {
		return fmt.Errorf("delete %s%s: %w", s, key, accessDenied(err))
	}
	return nil
}

// MaxCopyWithin is the largest object CopyWithin copies: S3's limit for one
// CopyObject request (5 GiB).
const MaxCopyWithin = 5 << 30

// ErrTooLargeToCopy is wrapped by CopyWithin for an object above
// MaxCopyWithin: copy it by streaming (Open, then Write) instead.
var ErrTooLargeToCopy = errors.New("too large for a server-side copy")

// CopyWithin copies the object at key, of size bytes, to newKey in the same
// bucket with one CopyObject: no byte passes through this process. The copy
// keeps the object's user metadata and is encrypted as Write encrypts. Like
// Write it is atomic. Objects above MaxCopyWithin get ErrTooLargeToCopy.
func (s *S3) CopyWithin(ctx context.Context, key, newKey string, size int64) error {
	for _, k := range []string{key, newKey} {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("copy %s: %w", s, err)
		}
	}
	if size > MaxCopyWithin {
		return fmt.Errorf("copy %s%s: %d bytes: %w", s, key, size, ErrTooLargeToCopy)
	}
	put := s.putInput(newKey, nil)
	in := &s3.CopyObjectInput{
		Bucket: put.Bucket, Key: put.Key, CopySource: aws.String(s.bucket + "/" + escapeKey(s.prefix+key)),
		MetadataDirective: types.MetadataDirectiveCopy, ChecksumAlgorithm: put.ChecksumAlgorithm,
		ServerSideEncryption: put.ServerSideEncryption, SSEKMSKeyId: put.SSEKMSKeyId,
	}
	if _, err := s.client.CopyObject(ctx, in); err != nil {
		return fmt.Errorf("copy %s%s to %s: %w", s, key, newKey, notFound(err))
	}
	return nil
}

// escapeKey percent-encodes every byte of a key but unreserved characters
// and "/", as x-amz-copy-source wants it ("+" and " " too, so that a
// server decoding it either as a path or as a query gets the same key).
func escapeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Delete removes the file at key, then the folders above it that this left
// empty (up to, not including, the root), as S3 has no empty folders either.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", d, err)
	}
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return fmt.Errorf("delete %s%s: is a folder, not an object", d, key)
	}
	if err := os.Remove(p); err != nil && !missing(err) {
		return fmt.Errorf("delete %s%s: %w", d, key, err)
	}
	for dir := filepath.Dir(p); dir != d.root && strings.HasPrefix(dir, d.root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or gone): the folders above are not empty either
		}
	}
	return nil
}

// AbortStaleUploads removes the temporary files (named "*.e3sync-partial")
// under prefix (with delim only those directly in it) last written before
// initiatedBefore: each is what a killed process left of one Write. Write
// appends to its file until it renames it into place, so a file whose last
// write is that old belongs to no live Write, even of another process syncing
// into the same directory; newer ones are left alone.
//
// It is the directory's counterpart of (*S3).AbortStaleUploads and returns
// the files it removed as Uploads: Key is the temporary file's key, ID is
// empty, Initiated its last write. A file gone by the time it is removed is
// neither returned nor an error.
func (d *Dir) AbortStaleUploads(ctx context.Context, prefix string, delim bool, initiatedBefore time.Time) ([]Upload, error) {
	base := d.root
	if prefix != "" {
		p, err := d.path(prefix)
		if err != nil {
			return nil, fmt.Errorf("partial files %s: %w", d, err)
		}
		base = p
	}
	var (
		removed []Upload
		errs    []error
	)
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			if delim && p != base {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(e.Name(), tmpSuffix) || !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(initiatedBefore) {
			return nil // gone meanwhile, or possibly still being written
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil {
			if !missing(err) {
				errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			}
			return nil
		}
		removed = append(removed, Upload{Key: filepath.ToSlash(rel), Initiated: info.ModTime()})
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("partial files %s%s: %w", d, prefix, err))
	}
	return removed, errors.Join(errs...)
}
