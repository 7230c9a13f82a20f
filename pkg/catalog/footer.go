package catalog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// Opener opens whole objects; *store.S3 and *store.Dir satisfy it.
type Opener interface {
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// RangeReader reads part of an object; *store.S3 satisfies it.
type RangeReader interface {
	OpenRange(ctx context.Context, key, etag string, off, n, size int64) (io.ReadCloser, error)
}

// Footer reading limits: the footer of an export file (schema and row group
// metadata) is a few KiB, so one read of the file's tail holds it.
const (
	tailSize  = 64 << 10
	maxFooter = 16 << 20
)

// ObjectColumns returns the Glue columns of the Parquet object key (size
// bytes) from its footer alone: one ranged read of the file's last 64 KiB,
// and a second one only when the footer is larger than that. The rest of the
// file is never read. A store without ranged reads (*store.Dir) must open
// objects as io.ReaderAt (files).
func ObjectColumns(ctx context.Context, s Opener, key string, size int64) ([]Column, error) {
	if size < 12 {
		return nil, fmt.Errorf("%s: %d bytes is too short for a Parquet file", key, size)
	}
	tail, err := readRange(ctx, s, key, size-min(tailSize, size), min(tailSize, size), size)
	if err != nil {
		return nil, err
	}
	end := tail[len(tail)-8:]
	if string(end[4:]) != "PAR1" {
		return nil, fmt.Errorf("%s: not a Parquet file (no PAR1 at its end)", key)
	}
	footer := int64(binary.LittleEndian.Uint32(end[:4]))
	if footer+12 > size || footer > maxFooter {
		return nil, fmt.Errorf("%s: Parquet footer of %d bytes does not fit a %d-byte file (at most %d)", key, footer, size, int64(maxFooter))
	}
	if footer+8 > int64(len(tail)) {
		if tail, err = readRange(ctx, s, key, size-footer-8, footer+8, size); err != nil {
			return nil, err
		}
	}
	ra := &tailReaderAt{data: tail, off: size - int64(len(tail))}
	pf, err := parquet.OpenFile(ra, size, parquet.SkipMagicBytes(true), parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true), parquet.OptimisticRead(false))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	cols, err := Columns(pf.Schema())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return cols, nil
}

// readRange reads bytes [off, off+n) of key.
func readRange(ctx context.Context, s Opener, key string, off, n, size int64) ([]byte, error) {
	buf := make([]byte, n)
	if rr, ok := s.(RangeReader); ok {
		rc, err := rr.OpenRange(ctx, key, "", off, n, size)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, buf); err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		return buf, nil
	}
	rc, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	ra, ok := rc.(io.ReaderAt)
	if !ok {
		return nil, fmt.Errorf("read %s: the store cannot read part of an object", key)
	}
	if _, err := ra.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return buf, nil
}

// tailReaderAt serves reads from the bytes of a file's tail, which start at
// offset off; the footer parser reads nothing before it.
type tailReaderAt struct {
	data []byte
	off  int64
}

var errOutsideTail = errors.New("read outside the file's footer")

func (t *tailReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < t.off || off-t.off > int64(len(t.data)) {
		return 0, errOutsideTail
	}
	n, err := bytes.NewReader(t.data).ReadAt(p, off-t.off)
	return n, err
}
