// Package store provides the object stores e3sync reads and writes: an S3
// bucket under a key prefix, and a local directory. Keys are always relative
// to the store's root, so the same relative key names an object on both sides
// of a copy.
//
// Error contract, for every store:
//   - List returns every object under prefix (recursively, or with delim only
//     the direct children and the child folders), in key order.
//   - Open and Head return an error wrapping ErrNotFound for a missing key.
//   - Write stores exactly size bytes read from r at key, atomically: on any
//     error (including r yielding fewer or more than size bytes) nothing is
//     left visible at key and no upload is left open. It returns the ETag of
//     the object it wrote, as List and Head report it; every Write of a key
//     gives it a new ETag unless the bytes are the same.
//   - Delete removes the object at key; a missing key is not an error
//     (delete.go).
package store

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotFound is wrapped by Open and Head errors for a key that does not exist.
var ErrNotFound = errors.New("not found")

// Object is one object in a listing.
type Object struct {
	Key  string // relative to the store root
	Size int64
	ETag string // as the store reports it; opaque, never a content hash to compare with
}

// Listing is the result of List: objects, and with delim the child folders
// (relative keys ending in "/").
type Listing struct {
	Objects  []Object
	Prefixes []string
}

// Info is what Head returns.
type Info struct {
	Size     int64
	ETag     string
	Metadata map[string]string // user metadata, keys in lower case
}

// exactReader passes through exactly want bytes from r and fails otherwise,
// so a truncated or overlong source body can never be stored as complete.
type exactReader struct {
	r    io.Reader
	want int64
	n    int64
}

// ErrSizeMismatch is wrapped when a body is shorter or longer than announced.
var ErrSizeMismatch = errors.New("body size differs from the expected size")

func (e *exactReader) Read(p []byte) (int, error) {
	if rest := e.want - e.n; int64(len(p)) > rest+1 {
		p = p[:rest+1] // read at most one byte past the end, to notice overlong bodies
	}
	n, err := e.r.Read(p)
	e.n += int64(n)
	if e.n > e.want {
		return n, fmt.Errorf("%w: more than %d bytes", ErrSizeMismatch, e.want)
	}
	if err == io.EOF && e.n < e.want {
		return n, fmt.Errorf("%w: body ended after %d of %d bytes", ErrSizeMismatch, e.n, e.want)
	}
	return n, err
}

// checkKey rejects keys that cannot name an object under a store root
// (wrapping ErrInvalidKey: retrying cannot help).
func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: key %q is absolute", ErrInvalidKey, key)
	case strings.ContainsRune(key, 0):
		return fmt.Errorf("%w: key %q contains a NUL byte", ErrInvalidKey, key)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(key, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: key %q has an empty, '.' or '..' segment", ErrInvalidKey, key)
		}
	}
	return nil
}
