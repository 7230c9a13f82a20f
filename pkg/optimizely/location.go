package optimizely

import (
	"fmt"
	"strings"
	"unicode"
)

// Location is where an account's export lives: a bucket and a key prefix.
// Prefix always ends with "/", so listing under it never strays into a
// sibling prefix (account_id=12 vs account_id=123).
type Location struct {
	Bucket string
	Prefix string
}

// String returns the location as s3://bucket/prefix.
func (l Location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// AccountID is the Optimizely account id the prefix names (its last
// "account_id=" segment, as in "v1/account_id=123/"), or "" when it names
// none.
func (l Location) AccountID() string {
	segs := strings.Split(strings.TrimSuffix(l.Prefix, "/"), "/")
	for i := len(segs) - 1; i >= 0; i-- {
		if id, ok := strings.CutPrefix(segs[i], "account_id="); ok {
			return id
		}
	}
	return ""
}

// ParseS3Path parses an s3Path as the Authentication API returns it, e.g.
// "s3://optimizely-events-data/v1/account_id=123", with or without trailing
// slash. Repeated trailing slashes are reduced to one. It rejects other
// schemes, an empty bucket or prefix, white space and control characters,
// empty inner segments, and "." or ".." segments.
func ParseS3Path(s string) (Location, error) {
	bad := func(why string) (Location, error) {
		return Location{}, fmt.Errorf("invalid s3Path %q: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	for _, r := range s {
		if unicode.IsSpace(r) {
			return bad("contains white space")
		}
		if unicode.IsControl(r) {
			return bad("contains a control character")
		}
	}
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return bad(`scheme must be "s3://"`)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return bad("empty bucket")
	}
	if err := checkBucket(bucket); err != "" {
		return bad(err)
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		return bad("empty prefix (want s3://bucket/prefix)")
	}
	for _, seg := range strings.Split(prefix, "/") {
		switch seg {
		case "":
			return bad("empty path segment (//)")
		case ".", "..":
			return bad(fmt.Sprintf("%q path segment", seg))
		}
	}
	return Location{Bucket: bucket, Prefix: prefix + "/"}, nil
}

// checkBucket applies S3's bucket naming rules loosely: 3 to 63 characters
// out of lower-case letters, digits, '.' and '-'.
func checkBucket(b string) string {
	if len(b) < 3 || len(b) > 63 {
		return "bucket name must be 3 to 63 characters"
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return "bucket name may hold only lower-case letters, digits, '.' and '-'"
		}
	}
	return ""
}
