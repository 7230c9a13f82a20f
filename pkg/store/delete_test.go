package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/e3sync/e3sync/internal/testenv"
)

func TestDirDelete(t *testing.T) {
	ctx := context.Background()
	d, root := newDir(t)
	const a, b = "type=events/date=2024-01-02/event=a/part-0.parquet", "type=events/date=2024-01-02/event=b/part-0.parquet"
	for _, k := range []string{a, b} {
		if _, err := d.Write(ctx, k, 3, bytes.NewReader([]byte("abc")), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Delete(ctx, a); err != nil {
		t.Fatalf("Delete(%q) = %v", a, err)
	}
	if _, err := d.Head(ctx, a); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head after Delete = %v, want ErrNotFound", err)
	}
	// The emptied folder event=a is gone; its parent, still holding event=b, stays.
	if got := folderNames(t, filepath.Join(root, "type=events/date=2024-01-02")); !slices.Equal(got, []string{"event=b"}) {
		t.Errorf("date folder holds %q, want only event=b", got)
	}
	if err := d.Delete(ctx, a); err != nil {
		t.Errorf("second Delete(%q) = %v, want nil (already gone)", a, err)
	}
	if err := d.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := folderNames(t, root); len(got) != 0 {
		t.Errorf("root holds %q after deleting every object, want nothing (the root itself stays)", got)
	}
	if _, err := os.Stat(root); err != nil {
		t.Errorf("root removed: %v", err)
	}
	for _, bad := range []string{"../x", "/etc/passwd", "a/../../x", ""} {
		if err := d.Delete(ctx, bad); err == nil {
			t.Errorf("Delete(%q) = nil, want an error", bad)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "folder"); err == nil {
		t.Errorf("Delete of a folder = nil, want an error")
	}
}

func TestS3Delete(t *testing.T) {
	ctx := context.Background()
	c := startS3(t)
	s := NewS3(c, testBucket, "root/", S3Options{})
	const k = "type=events/date=2024-01-02/event=a b/part-0.parquet"
	if _, err := s.Write(ctx, k, 3, bytes.NewReader([]byte("abc")), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, k); err != nil {
		t.Fatalf("Delete(%q) = %v", k, err)
	}
	if _, err := s.Head(ctx, k); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, k); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	if err := s.Delete(ctx, "../x"); err == nil {
		t.Errorf("Delete(../x) = nil, want an error")
	}
}

// Partial files a killed Write left are removed once older than the
// cut-off; a file written since (a live Write) and other files are kept.
func TestDirAbortStaleUploads(t *testing.T) {
	ctx := context.Background()
	d, root := newDir(t)
	const date = "type=events/date=2024-01-02/"
	write := func(rel string, age time.Duration) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(-age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	oldA := date + "event=a/.part-0.parquet.123" + tmpSuffix
	write(oldA, 2*time.Hour)
	write(date+"event=a/.part-1.parquet.456"+tmpSuffix, time.Minute) // being written
	write(date+"event=a/part-2.parquet", 3*time.Hour)                // a real object
	oldDate := date + ".loose.parquet.1" + tmpSuffix
	write(oldDate, 2*time.Hour)
	write(date+"event=b/.part-0.parquet.9"+tmpSuffix, 2*time.Hour) // another sub-partition

	cut := time.Now().Add(-time.Hour)
	got, err := d.AbortStaleUploads(ctx, date+"event=a/", false, cut)
	if err != nil || len(got) != 1 || got[0].Key != oldA {
		t.Fatalf("AbortStaleUploads(event=a) = %+v, %v; want only %s", got, err, oldA)
	}
	got, err = d.AbortStaleUploads(ctx, date, true, cut)
	if err != nil || len(got) != 1 || got[0].Key != oldDate {
		t.Fatalf("AbortStaleUploads(date, delim) = %+v, %v; want only %s", got, err, oldDate)
	}
	want := []string{".part-1.parquet.456" + tmpSuffix, "part-2.parquet"}
	if names := folderNames(t, filepath.Join(root, date, "event=a")); !slices.Equal(names, want) {
		t.Errorf("event=a holds %q, want %q", names, want)
	}
	if names := folderNames(t, filepath.Join(root, date, "event=b")); len(names) != 1 {
		t.Errorf("event=b holds %q, want its partial file untouched", names)
	}
	if got, err := d.AbortStaleUploads(ctx, "type=events/date=2099-01-01/", false, cut); err != nil || len(got) != 0 {
		t.Errorf("AbortStaleUploads(missing folder) = %+v, %v; want nothing, nil", got, err)
	}
}

// CopyWithin copies server-side, awkward keys byte for byte, keeping the
// user metadata; against the in-process server and MinIO.
func TestS3CopyWithin(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testCopyWithin(t, startS3(t)) })
	t.Run("minio", func(t *testing.T) {
		m := testenv.MinIOForTest(t)
		root := m.S3Client(m.RootProvider())
		if err := m.CreateBucket(context.Background(), testBucket); err != nil {
			t.Fatal(err)
		}
		testCopyWithin(t, root)
	})
}

func testCopyWithin(t *testing.T, c S3API) {
	ctx := context.Background()
	s := NewS3(c, testBucket, "root/", S3Options{})
	for i, name := range []string{"add to cart", "checkout%3Astart", "promo;code(2)+x", "NULL", "日本語 ü"} {
		key := "type=events/date=2024-01-02/event=" + name + "/part-0.parquet"
		body := randomBytes(1000+i, int64(i))
		if _, err := s.Write(ctx, key, int64(len(body)), bytes.NewReader(body), map[string]string{"e3sync-source-etag": `"abc"`}); err != nil {
			t.Fatal(err)
		}
		q := "_e3sync/quarantine/run-1/" + key
		if err := s.CopyWithin(ctx, key, q, int64(len(body))); err != nil {
			t.Fatalf("CopyWithin(%q) = %v", key, err)
		}
		rc, err := s.Open(ctx, q)
		if err != nil {
			t.Fatalf("Open(%q) = %v", q, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, body) {
			t.Errorf("copy of %q holds %d other bytes", key, len(got))
		}
		if info, err := s.Head(ctx, q); err != nil || info.Metadata["e3sync-source-etag"] != `"abc"` {
			t.Errorf("Head(%q) = %+v, %v; want the metadata copied", q, info, err)
		}
	}
	if err := s.CopyWithin(ctx, "type=events/none", "x/y", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("CopyWithin(missing) = %v, want ErrNotFound", err)
	}
	if err := s.CopyWithin(ctx, "a/b", "a/c", MaxCopyWithin+1); !errors.Is(err, ErrTooLargeToCopy) {
		t.Errorf("CopyWithin(5 GiB + 1) = %v, want ErrTooLargeToCopy", err)
	}
	if err := s.CopyWithin(ctx, "a/b", "../c", 1); err == nil {
		t.Errorf("CopyWithin to ../c = nil, want an error")
	}
}
