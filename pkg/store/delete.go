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
)

// Deleting objects, and cleaning up what a killed run left in a directory.
//
// Delete contract, for every store: Delete removes the object at key; a key
// that holds no object is not an error (deleting twice is the same as
// once). Only the copy engine's pruning calls it, for stale objects of a
// sub-partition, after it has copied each of them to a quarantine key.

// objectDeleter is the part of *s3.Client that deletes objects.
type objectDeleter interface {
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Delete removes the object at key. An identity that may not delete gets an
// error wrapping ErrAccessDenied.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", s, err)
	}
	d, ok := s.client.(objectDeleter)
	if !ok {
		return fmt.Errorf("delete %s%s: the S3 client cannot delete objects", s, key)
	}
	if _, err := d.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)}); err != nil {
		return fmt.Errorf("delete %s%s: %w", s, key, accessDenied(err))
	}
	return nil
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
