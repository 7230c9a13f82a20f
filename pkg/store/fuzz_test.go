package store

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"s3://customer-lake/optimizely/", "s3://customer-lake", "s3://customer-lake/", "s3://customer-lake//a//",
		"s3://", "s3:///prefix", "s3://Bucket/x", "s3://b c/x", "s3://bucket/../x", "s3://bucket/a/./b",
		"s3://../x", "s3://./x", "s3://-bucket-/x", "s3://ab/x", "s3://bucket/a\x00b",
		"/tmp/export", "./export", "file:///tmp/export", "file://", "file://  ", "http://x/y", "", "   ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if (tg.Bucket == "") == (tg.Dir == "") {
			t.Fatalf("ParseTarget(%q) = %+v: want exactly one of Bucket and Dir", s, tg)
		}
		if tg.Dir != "" {
			if strings.TrimSpace(tg.Dir) == "" {
				t.Errorf("ParseTarget(%q) = blank directory %q", s, tg.Dir)
			}
			return
		}
		if why := bucketNameProblem(tg.Bucket); why != "" {
			t.Errorf("ParseTarget(%q) accepted bucket %q: %s", s, tg.Bucket, why)
		}
		if tg.Prefix != "" {
			if !strings.HasSuffix(tg.Prefix, "/") {
				t.Errorf("ParseTarget(%q).Prefix = %q does not end with /", s, tg.Prefix)
			}
			if err := checkKey(tg.Prefix); err != nil {
				t.Errorf("ParseTarget(%q).Prefix = %q: %v", s, tg.Prefix, err)
			}
		}
		back, err := ParseTarget(tg.String())
		if err != nil || back != tg {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", tg.String(), back, err, tg)
		}
	})
}

// FuzzDirWrite writes under a root inside a sandbox folder and checks that
// no key, accepted or not, puts anything outside the root.
func FuzzDirWrite(f *testing.F) {
	for _, k := range []string{
		"type=events/date=2020-09-14/event=a/part-0.parquet", "a", "a/", "../x", "a/../../x", "/etc/x", "./x", "a//b",
		"a/./b", "..", "...", "a/..", `..\x`, `a\..\..\x`, "a\x00b", "type=events/date=2020-09-14/event=NULL/p;q(2)%3A",
		"x.e3sync-partial", "a/b/c/d/e/f/g/h", strings.Repeat("a", 300),
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		sandbox := t.TempDir()
		root := filepath.Join(sandbox, "root")
		d, err := NewDir(root)
		if err != nil {
			t.Fatal(err)
		}
		body := []byte("data")
		_, werr := d.Write(context.Background(), key, int64(len(body)), bytes.NewReader(body), nil)
		filepath.WalkDir(sandbox, func(p string, e fs.DirEntry, err error) error {
			if err != nil || p == sandbox || p == root {
				return nil
			}
			rel, rerr := filepath.Rel(root, p)
			if rerr != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Errorf("Write(%q) (error %v) left %s outside the root", key, werr, p)
			}
			if strings.HasSuffix(p, tmpSuffix) {
				t.Errorf("Write(%q) left a temporary file %s", key, p)
			}
			return nil
		})
		if werr != nil {
			return
		}
		if checkKey(key) != nil {
			t.Errorf("Write(%q) succeeded for a key checkKey rejects", key)
		}
		if strings.HasSuffix(key, "/") {
			return
		}
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("after Write(%q): read %q, %v", key, got, err)
		}
		l, err := d.List(context.Background(), "", false)
		if err != nil {
			t.Fatalf("List after Write(%q): %v", key, err)
		}
		if len(l.Objects) != 1 || l.Objects[0].Key != key {
			t.Errorf("List after Write(%q) = %+v, want exactly that key", key, l.Objects)
		}
	})
}
