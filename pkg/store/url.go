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
		if strings.ContainsAny(bucket, " /\\") || strings.ToLower(bucket) != bucket {
			return Target{}, fmt.Errorf("destination %q: %q is not a valid bucket name", s, bucket)
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
	return Target{Dir: strings.TrimPrefix(s, "file://")}, nil
}

// String is the target's URL.
func (t Target) String() string {
	if t.Dir != "" {
		return t.Dir
	}
	return "s3://" + t.Bucket + "/" + t.Prefix
}
