package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func newDir(t *testing.T) (*Dir, string) {
	t.Helper()
	root := t.TempDir()
	d, err := NewDir(root)
	if err != nil {
		t.Fatalf("NewDir(%q) error = %v", root, err)
	}
	return d, root
}

// folderNames lists the entries of a folder, hidden ones included.
func folderNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestExactReader(t *testing.T) {
	const want = 10
	tests := []struct {
		name   string
		body   int  // bytes the underlying reader yields
		oneByt bool // read one byte at a time
		dataEO bool // return the last bytes together with io.EOF
		ok     bool
	}{
		{"exact", want, false, false, true},
		{"exact one byte at a time", want, true, false, true},
		{"exact, EOF with data", want, false, true, true},
		{"short", want - 1, false, false, false},
		{"short, EOF with data", want - 1, false, true, false},
		{"empty", 0, false, false, false},
		{"long by one", want + 1, false, false, false},
		{"long by one, one byte at a time", want + 1, true, false, false},
		{"long", 3 * want, false, false, false},
	}
	for _, tt := range tests {
		var r io.Reader = bytes.NewReader(bytes.Repeat([]byte("x"), tt.body))
		if tt.oneByt {
			r = iotest.OneByteReader(r)
		}
		if tt.dataEO {
			r = iotest.DataErrReader(r)
		}
		got, err := io.ReadAll(&exactReader{r: r, want: want})
		if tt.ok && (err != nil || len(got) != want) {
			t.Errorf("ReadAll(exactReader(%s)) = %d bytes, %v, want %d bytes, nil", tt.name, len(got), err, want)
		}
		if !tt.ok && !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("ReadAll(exactReader(%s)) = %d bytes, %v, want ErrSizeMismatch", tt.name, len(got), err)
		}
		if len(got) > want+1 {
			t.Errorf("ReadAll(exactReader(%s)) passed %d bytes, want at most %d", tt.name, len(got), want+1)
		}
	}
}

func TestDirWriteExactSize(t *testing.T) {
	const key = "type=events/date=2024-01-02/event=add to cart/part-00000.parquet"
	data := []byte("0123456789abcdef")
	tests := []struct {
		name string
		body []byte
		ok   bool
	}{
		{"exact", data, true},
		{"short", data[:len(data)-1], false},
		{"empty", nil, false},
		{"long", append(slices.Clone(data), '!'), false},
	}
	for _, tt := range tests {
		d, root := newDir(t)
		_, err := d.Write(context.Background(), key, int64(len(data)), bytes.NewReader(tt.body), nil)
		folder := filepath.Join(root, filepath.FromSlash(filepath.Dir(key)))
		if tt.ok {
			if err != nil {
				t.Fatalf("Write(%s) = %v, want nil", tt.name, err)
			}
			got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("after Write(%s): file = %q, %v, want %q", tt.name, got, err, data)
			}
			if names := folderNames(t, folder); !slices.Equal(names, []string{"part-00000.parquet"}) {
				t.Errorf("after Write(%s): folder holds %q, want only the file", tt.name, names)
			}
			continue
		}
		if !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("Write(%s) = %v, want ErrSizeMismatch", tt.name, err)
		}
		if names := folderNames(t, folder); len(names) != 0 {
			t.Errorf("after Write(%s): folder holds %q, want nothing (no file, no temporary file)", tt.name, names)
		}
		if _, err := d.Head(context.Background(), key); !errors.Is(err, ErrNotFound) {
			t.Errorf("after Write(%s): Head() = %v, want ErrNotFound", tt.name, err)
		}
	}
}

// TestDirWriteFailureKeepsOld checks that a failed overwrite leaves the
// previous file as it was.
func TestDirWriteFailureKeepsOld(t *testing.T) {
	d, root := newDir(t)
	ctx := context.Background()
	if _, err := d.Write(ctx, "a/b", 3, strings.NewReader("old"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write(ctx, "a/b", 5, strings.NewReader("new"), nil); !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("Write(short overwrite) = %v, want ErrSizeMismatch", err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "a", "b")); string(got) != "old" {
		t.Errorf("after a failed overwrite the file = %q, want %q", got, "old")
	}
	if names := folderNames(t, filepath.Join(root, "a")); !slices.Equal(names, []string{"b"}) {
		t.Errorf("after a failed overwrite the folder holds %q, want [b]", names)
	}
}

func TestDirWriteReaderError(t *testing.T) {
	d, root := newDir(t)
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom))
	if _, err := d.Write(context.Background(), "k/v", 10, r, nil); !errors.Is(err, boom) {
		t.Errorf("Write(failing reader) = %v, want it to wrap %v", err, boom)
	}
	if names := folderNames(t, filepath.Join(root, "k")); len(names) != 0 {
		t.Errorf("after Write(failing reader) folder holds %q, want nothing", names)
	}
}

func TestDirKeyEscapes(t *testing.T) {
	keys := []string{
		"",
		"../x",
		"a/../../x",
		"a/..",
		"..",
		".",
		"/abs",
		"/",
		"a//b",
		"a/./b",
		"./a",
		"a\x00b",
	}
	ctx := context.Background()
	parent := t.TempDir()
	d, err := NewDir(filepath.Join(parent, "root"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		if _, err := d.Write(ctx, key, 1, strings.NewReader("x"), nil); err == nil {
			t.Errorf("Write(%q) = nil, want error", key)
		}
		if _, err := d.Open(ctx, key); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v, want a key error", key, err)
		}
		if _, err := d.Head(ctx, key); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Head(%q) = %v, want a key error", key, err)
		}
	}
	for _, prefix := range []string{"../", "/abs/", "a//b/", "a/./"} {
		if _, err := d.List(ctx, prefix, false); err == nil {
			t.Errorf("List(%q) = nil error, want error", prefix)
		}
	}
	if names := folderNames(t, parent); !slices.Equal(names, []string{"root"}) {
		t.Errorf("after escaping writes the parent holds %q, want only [root]", names)
	}
}

func TestDirAwkwardKeys(t *testing.T) {
	d, _ := newDir(t)
	ctx := context.Background()
	keys := []string{
		"type=events/date=2024-01-02/event=add to cart/part-0.parquet",
		"type=events/date=2024-01-02/event=a%3Ab/part-0.parquet",
		"type=events/date=2024-01-02/event=a;b/part-0.parquet",
		"type=events/date=2024-01-02/event=buy (1)/part-0.parquet",
		"type=events/date=2024-01-02/experiment=NULL/part-0.parquet",
		"type=events/date=2024-01-02/x..y/part-0.parquet",
	}
	for _, key := range keys {
		if _, err := d.Write(ctx, key, int64(len(key)), strings.NewReader(key), nil); err != nil {
			t.Fatalf("Write(%q) = %v", key, err)
		}
		rc, err := d.Open(ctx, key)
		if err != nil {
			t.Fatalf("Open(%q) = %v", key, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != key {
			t.Errorf("Open(%q) read %q, %v, want the key as content", key, got, err)
		}
	}
	l, err := d.List(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(keys))
	if got := objectKeys(l); !slices.Equal(got, want) {
		t.Errorf("List() keys = %q, want %q", got, want)
	}
}

func objectKeys(l Listing) []string {
	var keys []string
	for _, o := range l.Objects {
		keys = append(keys, o.Key)
	}
	return keys
}

func TestDirList(t *testing.T) {
	d, root := newDir(t)
	ctx := context.Background()
	files := map[string]string{
		"type=events/date=2024-01-02/_SUCCESS":               "",
		"type=events/date=2024-01-02/event=a/part-1.parquet": "1",
		"type=events/date=2024-01-02/event=a/part-0.parquet": "00",
		"type=events/date=2024-01-02/event=b/part-0.parquet": "000",
		"type=events/date=2024-01-02/loose.parquet":          "0000",
		"type=events/date=2024-01-03/event=a/part-0.parquet": "00000",
	}
	etags := map[string]string{}
	for k, v := range files {
		etag, err := d.Write(ctx, k, int64(len(v)), strings.NewReader(v), nil)
		if err != nil {
			t.Fatal(err)
		}
		etags[k] = etag
	}
	// A write in progress: List never shows it.
	partial := filepath.Join(root, "type=events", "date=2024-01-02", "event=a", ".part-2.parquet.123"+tmpSuffix)
	if err := os.WriteFile(partial, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix       string
		delim        bool
		wantObjects  []Object
		wantPrefixes []string
	}{
		{"type=events/date=2024-01-02/", false, []Object{
			{Key: "type=events/date=2024-01-02/_SUCCESS", Size: 0},
			{Key: "type=events/date=2024-01-02/event=a/part-0.parquet", Size: 2},
			{Key: "type=events/date=2024-01-02/event=a/part-1.parquet", Size: 1},
			{Key: "type=events/date=2024-01-02/event=b/part-0.parquet", Size: 3},
			{Key: "type=events/date=2024-01-02/loose.parquet", Size: 4},
		}, nil},
		{"type=events/date=2024-01-02/", true, []Object{
			{Key: "type=events/date=2024-01-02/_SUCCESS", Size: 0},
			{Key: "type=events/date=2024-01-02/loose.parquet", Size: 4},
		}, []string{"type=events/date=2024-01-02/event=a/", "type=events/date=2024-01-02/event=b/"}},
		{"type=events/", true, nil, []string{"type=events/date=2024-01-02/", "type=events/date=2024-01-03/"}},
		{"", true, nil, []string{"type=events/"}},
		{"type=events/date=2024-01-02/event=a/", false, []Object{
			{Key: "type=events/date=2024-01-02/event=a/part-0.parquet", Size: 2},
			{Key: "type=events/date=2024-01-02/event=a/part-1.parquet", Size: 1},
		}, nil},
		{"type=decisions/", true, nil, nil}, // missing folder: empty, no error
		{"type=decisions/", false, nil, nil},
	}
	for _, tt := range tests {
		got, err := d.List(ctx, tt.prefix, tt.delim)
		if err != nil {
			t.Errorf("List(%q, %v) error = %v", tt.prefix, tt.delim, err)
			continue
		}
		for i, o := range tt.wantObjects {
			tt.wantObjects[i].ETag = etags[o.Key] // each object's own, as Write returned it
		}
		if !slices.Equal(got.Objects, tt.wantObjects) {
			t.Errorf("List(%q, %v).Objects = %v, want %v", tt.prefix, tt.delim, got.Objects, tt.wantObjects)
		}
		if !slices.Equal(got.Prefixes, tt.wantPrefixes) {
			t.Errorf("List(%q, %v).Prefixes = %q, want %q", tt.prefix, tt.delim, got.Prefixes, tt.wantPrefixes)
		}
	}
	if _, err := d.List(ctx, "type=events", false); err == nil {
		t.Errorf("List(%q) = nil error, want error for a prefix that is not a folder", "type=events")
	}
}

func TestDirOpenHead(t *testing.T) {
	d, _ := newDir(t)
	ctx := context.Background()
	if _, err := d.Write(ctx, "a/b.parquet", 5, strings.NewReader("hello"), map[string]string{"e3sync-source-etag": `"x"`}); err != nil {
		t.Fatal(err)
	}
	info, err := d.Head(ctx, "a/b.parquet")
	if err != nil || info.Size != 5 {
		t.Errorf("Head(a/b.parquet) = %+v, %v, want size 5", info, err)
	}
	rc, err := d.Open(ctx, "a/b.parquet")
	if err != nil {
		t.Fatalf("Open(a/b.parquet) = %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "hello" {
		t.Errorf("Open(a/b.parquet) read %q, want %q", got, "hello")
	}
	for _, key := range []string{"missing", "a/missing", "missing/b.parquet"} {
		if _, err := d.Open(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", key, err)
		}
		if _, err := d.Head(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Head(%q) = %v, want ErrNotFound", key, err)
		}
	}
}

func TestDirOpenHeadNotFoundForFoldersAndPathsThroughFiles(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.Write(ctx, "a/b.parquet", 1, strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "a/", "a/b.parquet/c"} {
		if _, err := d.Open(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", key, err)
		}
		if _, err := d.Head(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Head(%q) = %v, want ErrNotFound", key, err)
		}
	}
}

// TestDirETag checks that Write returns the ETag List and Head report, and
// that every Write of a key gives it a new one, even with the same bytes.
func TestDirETag(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seen := map[string]bool{}
	for i := range 20 {
		etag, err := d.Write(ctx, "a/b", 3, strings.NewReader("abc"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if etag == "" || seen[etag] {
			t.Fatalf("Write #%d returned ETag %q, want a new one", i, etag)
		}
		seen[etag] = true
		info, err := d.Head(ctx, "a/b")
		if err != nil || info.ETag != etag {
			t.Errorf("Head() = %+v, %v, want ETag %s", info, err, etag)
		}
		l, err := d.List(ctx, "a/", false)
		if err != nil || len(l.Objects) != 1 || l.Objects[0].ETag != etag {
			t.Errorf("List() = %+v, %v, want one object with ETag %s", l, err, etag)
		}
	}
}
