package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tmpSuffix marks files being written; List never shows them.
const tmpSuffix = ".e3sync-partial"

// Dir is a local directory: keys map to paths below Root, "/" to the OS
// separator. Writes go to a hidden temporary file in the same folder, are
// synced, then renamed into place, so a reader never sees a partial file.
// Dir keeps no user metadata: Head returns size only.
type Dir struct {
	root  string
	names dirNames // names.go
}

// NewDir returns the store rooted at dir, which is created if missing.
func NewDir(dir string) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("destination directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("destination directory: %w", refusedPath(abs+string(filepath.Separator), "to be created", err))
	}
	return &Dir{root: abs}, nil
}

// String is the store's root directory.
func (d *Dir) String() string { return d.root + string(filepath.Separator) }

// path maps a key (or a folder prefix ending in "/") to a path inside root.
func (d *Dir) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	p := filepath.Join(d.root, filepath.FromSlash(key))
	if !strings.HasPrefix(p, d.root+string(filepath.Separator)) {
		return "", fmt.Errorf("key %q leaves the directory %s", key, d.root)
	}
	return p, nil
}

// List lists the folder prefix ("" or ending in "/").
func (d *Dir) List(ctx context.Context, prefix string, delim bool) (Listing, error) {
	base := d.root
	if prefix != "" {
		if !strings.HasSuffix(prefix, "/") {
			return Listing{}, fmt.Errorf("list %s: prefix %q is not a folder", d, prefix)
		}
		p, err := d.path(prefix)
		if err != nil {
			return Listing{}, fmt.Errorf("list %s: %w", d, err)
		}
		base = p
	}
	var out Listing
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
		if p == base {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if delim {
				out.Prefixes = append(out.Prefixes, key+"/")
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(e.Name(), tmpSuffix) || !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		out.Objects = append(out.Objects, Object{Key: key, Size: info.Size(), ETag: fileETag(info)})
		return nil
	})
	if err != nil {
		return Listing{}, refusedPath(d.String(), "a listing", fmt.Errorf("list %s%s: %w", d, prefix, err))
	}
	sort.Slice(out.Objects, func(i, j int) bool { return out.Objects[i].Key < out.Objects[j].Key })
	return out, nil
}

// Open opens the file at key.
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	f, err := os.Open(p)
	if missing(err) {
		return nil, fmt.Errorf("open %s%s: %w", d, key, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open %s%s: %w", d, key, ErrNotFound)
	}
	return f, nil
}

// missing reports whether err means no file is at the path: it does not
// exist, or a parent is a file. A folder is not an object either (as in S3).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Head returns the size and ETag of the file at key.
func (d *Dir) Head(ctx context.Context, key string) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, fmt.Errorf("head %s: %w", d, err)
	}
	fi, err := os.Stat(p)
	if missing(err) || (err == nil && fi.IsDir()) {
		return Info{}, fmt.Errorf("head %s%s: %w", d, key, ErrNotFound)
	}
	if err != nil {
		return Info{}, err
	}
	return Info{Size: fi.Size(), ETag: fileETag(fi)}, nil
}

// fileETag stands in for an ETag: it changes with every Write of the file
// (a new file renamed into place, its modification time set to the
// nanosecond), which is what a reader needs from it to tell one written
// version from another.
func fileETag(fi fs.FileInfo) string {
	return fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size())
}

// Write stores exactly size bytes from r at key through a temporary file and
// a rename, and returns the file's ETag. meta is not kept.
func (d *Dir) Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (etag string, err error) {
	defer func() {
		if err != nil {
			err = refusedPath(d.String(), "write of "+strconv.Quote(key), err)
		}
	}()
	p, err := d.path(key)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", d, err)
	}
	if strings.HasSuffix(key, "/") {
		return "", os.MkdirAll(p, 0o755)
	}
	if err := CheckSize(size); err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	if strings.HasSuffix(key, tmpSuffix) {
		// List hides such names (they are our temporary files): a file
		// written under one would be invisible and copied again forever.
		return "", fmt.Errorf("write %s%s: %w: it ends in %q, which this store reserves for partial files", d, key, ErrInvalidKey, tmpSuffix)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*"+tmpSuffix)
	if err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, &exactReader{r: r, want: size}); err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	if err = f.Sync(); err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	// The wall clock, to the nanosecond: the file system's own timestamps
	// are coarser (a clock tick), and two writes within one tick would
	// get the same ETag.
	if err = os.Chtimes(f.Name(), time.Time{}, time.Now()); err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	if err = f.Close(); err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	if err = os.Rename(f.Name(), p); err != nil {
		return "", fmt.Errorf("write %s%s: %w", d, key, err)
	}
	return fileETag(fi), nil
}
