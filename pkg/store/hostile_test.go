package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// listingS3 answers every ListObjectsV2 with fixed keys and prefixes,
// whatever was asked: a misbehaving or hostile server.
type listingS3 struct {
	S3API
	keys, prefixes []string
}

func (l listingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out := &s3.ListObjectsV2Output{}
	for _, k := range l.keys {
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k), Size: aws.Int64(1)})
	}
	for _, p := range l.prefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, types.CommonPrefix{Prefix: aws.String(p)})
	}
	return out, nil
}

// A listing entry outside the account prefix (another account, a sibling
// prefix that merely starts the same, the bucket root) is an error, never an
// object to copy.
func TestS3ListRejectsKeysOutsideThePrefix(t *testing.T) {
	const root = "v1/account_id=123/"
	for _, tt := range []struct {
		name           string
		keys, prefixes []string
	}{
		{"another account", []string{"v1/account_id=999/type=events/date=2024-01-01/event=x/part-0.parquet"}, nil},
		{"sibling prefix", []string{"v1/account_id=1234/type=events/date=2024-01-01/event=x/part-0.parquet"}, nil},
		{"bucket root", []string{"secret.parquet"}, nil},
		{"folder of another account", nil, []string{"v1/account_id=999/type=events/"}},
		{"one bad key among good ones", []string{root + "type=events/a", "v1/account_id=9/b"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewS3(listingS3{keys: tt.keys, prefixes: tt.prefixes}, "optimizely-events-data", root, S3Options{})
			l, err := s.List(context.Background(), "type=events/", true)
			if err == nil || !strings.Contains(err.Error(), "outside the prefix") {
				t.Errorf("List() = %+v, %v; want an error about a key outside the prefix", l, err)
			}
		})
	}
	s := NewS3(listingS3{keys: []string{root + "type=events/date=2024-01-01/event=x/a"}}, "optimizely-events-data", root, S3Options{})
	if l, err := s.List(context.Background(), "type=events/", false); err != nil || len(l.Objects) != 1 || l.Objects[0].Key != "type=events/date=2024-01-01/event=x/a" {
		t.Errorf("List() = %+v, %v; want the one key, relative to the root", l, err)
	}
}

// Keys that would leave the destination are refused by every store before
// any request or file operation.
func TestWriteRejectsEscapingKeys(t *testing.T) {
	sandbox := t.TempDir()
	d, err := NewDir(filepath.Join(sandbox, "root"))
	if err != nil {
		t.Fatal(err)
	}
	s3s := NewS3(listingS3{}, "customer-lake", "optimizely/", S3Options{})
	for _, key := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "..", "a\x00b", "type=events/../../../x"} {
		if _, err := d.Write(context.Background(), key, 1, strings.NewReader("x"), nil); err == nil {
			t.Errorf("Dir.Write(%q) = nil, want an error", key)
		}
		if _, err := s3s.Write(context.Background(), key, 1, strings.NewReader("x"), nil); err == nil {
			t.Errorf("S3.Write(%q) = nil, want an error", key)
		}
		if _, err := d.Open(context.Background(), key); err == nil {
			t.Errorf("Dir.Open(%q) = %v, want an error", key, err)
		}
	}
	entries, _ := os.ReadDir(sandbox)
	if len(entries) != 1 {
		t.Errorf("sandbox holds %d entries, want only the root", len(entries))
	}
}

// Found by FuzzDirWrite: a key ending in the suffix of Dir's partial files
// was written but never listed, so it would be copied on every run and its
// date never completed. It is now refused with a clear error.
func TestDirWriteRefusesReservedSuffix(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Write(context.Background(), "type=events/date=2024-01-01/event=x/a"+tmpSuffix, 1, strings.NewReader("x"), nil)
	if err == nil || !strings.Contains(err.Error(), "reserves") {
		t.Errorf("Write() = %v, want an error naming the reserved suffix", err)
	}
}
