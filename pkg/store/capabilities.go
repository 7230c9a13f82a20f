package store

import (
	"context"
	"io"
	"time"
)

// Capabilities: what a store can do beyond the basic contract (List, Open,
// Head, Write; see the package comment). A user such as the copy engine
// (package transfer) checks for one with a type assertion on these exported
// interfaces only, and uses it when the store has it. Each store declares
// below, at compile time, the capabilities it has: a method whose signature
// drifts from its capability breaks the build instead of silently turning the
// capability off.
//
//	capability    | *S3 | *Dir | the engine uses it for
//	RangeReader   | yes | no   | reading only the listed version (If-Match), in parallel parts
//	PartWriter    | yes | no   | large objects as parallel ranged parts, one UploadPart each
//	UploadAborter | yes | yes  | cleaning up what a killed run left (open uploads, partial files)
//	Deleter       | yes | yes  | pruning stale objects (after their copy to quarantine)
//	WithinCopier  | yes | no   | that quarantine copy, without the bytes passing through
//	WriteProber   | yes | yes  | checking, before a run copies, that the destination takes writes (probe.go)
//	NameChecker   | no  | yes  | keys a file system would merge or forbids, found before they are written (names.go)

// RangeReader reads part of an object, and only the version it is asked for.
type RangeReader interface {
	// OpenRange streams bytes [off, off+n) of key, and only while the
	// object still has etag (when etag is not ""): a ranged copy never mixes
	// two versions of an object. size is the object's listed size; a
	// response for another total size fails with ErrSizeMismatch.
	OpenRange(ctx context.Context, key, etag string, off, n, size int64) (io.ReadCloser, error)
}

// PartWriter writes a large object as parts it reads itself, several at a
// time, so that reads and uploads of different parts overlap.
type PartWriter interface {
	// PartSize is the size of one part: objects this large or larger are
	// worth writing with WriteParts.
	PartSize() int64
	// WriteParts stores exactly size bytes at key, each part read with open.
	// Like Write it is atomic (on failure nothing is visible at key and no
	// upload is left open) and returns the ETag of the written object.
	WriteParts(ctx context.Context, key string, size int64, open PartOpener, meta map[string]string) (string, error)
}

// PartOpener opens bytes [off, off+n) of the object being written.
type PartOpener func(ctx context.Context, off, n int64) (io.ReadCloser, error)

// UploadAborter cleans up the unfinished writes a killed process left.
type UploadAborter interface {
	// AbortStaleUploads aborts the unfinished writes under prefix (relative
	// to the root; with delim only those directly under it) started before
	// initiatedBefore, and returns them, also when it fails part way. An
	// identity that may not list or abort them gets an error wrapping
	// ErrAccessDenied.
	AbortStaleUploads(ctx context.Context, prefix string, delim bool, initiatedBefore time.Time) ([]Upload, error)
}

// Deleter deletes objects: see the Delete contract in delete.go.
type Deleter interface {
	Delete(ctx context.Context, key string) error
}

// WithinCopier copies an object to another key of the same store without
// the bytes passing through this process.
type WithinCopier interface {
	// CopyWithin copies the object at key, of size bytes, to newKey,
	// atomically, keeping its user metadata. Objects above MaxCopyWithin get
	// an error wrapping ErrTooLargeToCopy: stream them instead.
	CopyWithin(ctx context.Context, key, newKey string, size int64) error
}

// WriteProber checks that a store takes writes, leaving nothing behind.
type WriteProber interface {
	// ProbeWrite returns nil when the store takes writes, a *RefusedError
	// when it refuses them (saying what to fix), and any other error when
	// the check itself failed.
	ProbeWrite(ctx context.Context) error
}

// NameChecker tells keys a store would not hold as distinct objects.
type NameChecker interface {
	// CheckNames returns a *NameError naming the keys (of one task, under
	// the folder prefix) that the store would merge or refuses, or nil.
	CheckNames(prefix string, keys []string) error
}

// What each store can do (the table above).
var (
	_ RangeReader   = (*S3)(nil)
	_ PartWriter    = (*S3)(nil)
	_ UploadAborter = (*S3)(nil)
	_ Deleter       = (*S3)(nil)
	_ WithinCopier  = (*S3)(nil)
	_ WriteProber   = (*S3)(nil)

	_ UploadAborter = (*Dir)(nil)
	_ Deleter       = (*Dir)(nil)
	_ WriteProber   = (*Dir)(nil)
	_ NameChecker   = (*Dir)(nil)
)
