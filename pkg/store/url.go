package store

import (
	"fmt"
	"strings"
)

// Target is a parsed destination: an S3 bucket and prefix, or a local
// directory (exactly one of Bucket and Dir is set).
type Target struct {
	Bucket string
	Prefix string // "" or ending in "/"
	Dir    string
}

// ParseTarget parses "s3://bucket[/prefix]" or a local directory path
// (optionally "file://path").
func ParseTarget(s string) (Target, error) {
	if strings.TrimSpace(s) == "" {
		return Target{}, fmt.Errorf("destination is empty: want s3://bucket/prefix or a directory")
	}
	if rest, ok := strings.CutPrefix(s, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return Target{}, fmt.Errorf("destination %q has no bucket name", s)
		}
		if why := bucketNameProblem(bucket); why != "" {
			return Target{}, fmt.Errorf("destination %q: %q is not a valid bucket name: %s", s, bucket, why)
		}
		prefix = strings.TrimLeft(prefix, "/")
		if prefix != "" {
			prefix = strings.TrimRight(prefix, "/") + "/"
			if err := checkKey(prefix); err != nil {
				return Target{}, fmt.Errorf("destination %q: prefix: %w", s, err)
			}
		}
		return Target{Bucket: bucket, Prefix: prefix}, nil
	}
	if strings.Contains(s, "://") && !strings.HasPrefix(s, "file://") {
		return Target{}, fmt.Errorf("destination %q: unsupported scheme (want s3:// or a directory)", s)
	}
	dir := strings.TrimPrefix(s, "file://")
	if strings.TrimSpace(dir) == "" {
		return Target{}, fmt.Errorf("destination %q names no directory", s)
	}
	return Target{Dir: dir}, nil
}

// bucketNameProblem applies S3's naming rules for general purpose buckets
// (3 to 63 lower-case letters, digits, '.' and '-', a letter or digit at
// both ends, no ".."), and says what is wrong, or "".
func bucketNameProblem(b string) string {
	if len(b) < 3 || len(b) > 63 {
		return "want 3 to 63 characters"
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return "want only lower-case letters, digits, '.' and '-'"
		}
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return "want a letter or digit at both ends"
	}
	if strings.Contains(b, "..") {
		return "want no two adjacent periods"
	}
	return ""
}

// String is the target's URL.
func (t Target) String() string {
	if t.Dir != "" {
		return t.Dir
	}
	return "s3://" + t.Bucket + "/" + t.Prefix
}
