package optimizely

import (
	"strings"
	"testing"
	"time"
)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15m", "45M", "1h", "1H", "60m", "14m", "61m", "2h", "0h", "0015m", "00001h", "-15m", "+15m", "1.5h", "1h30m", "15 m", " 15m", "15s", "m", "h", "", "99999999999999999999m", "٣٠m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Errorf("ParseDuration(%q) = %v with error %v", s, d, err)
			}
			return
		}
		if d < MinDuration || d > MaxDuration || d%time.Minute != 0 {
			t.Errorf("ParseDuration(%q) = %v, outside 15m..1h or not whole minutes", s, d)
		}
		if err := validDuration(d); err != nil {
			t.Errorf("ParseDuration(%q) = %v, which validDuration rejects: %v", s, d, err)
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v; want %v", d, back, err, d)
		}
	})
}

func FuzzParseS3Path(f *testing.F) {
	for _, s := range []string{
		"s3://optimizely-events-data/v1/account_id=123",
		"s3://optimizely-events-data/v1/account_id=123/",
		"s3://optimizely-events-data/v1/account_id=123///",
		"s3://optimizely-events-data/",
		"s3://optimizely-events-data",
		"s3:///v1/account_id=1",
		"s3://b/v1",
		"s3://Bucket/v1",
		"s3://bucket/v1//account_id=1",
		"s3://bucket/v1/../account_id=2",
		"s3://bucket/./v1",
		"s3://bucket/v1/account id=1",
		"s3://bucket/v1/account_id=1\x00",
		"https://bucket/v1",
		"S3://bucket/v1",
		"s3://bucket//v1",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseS3Path(s)
		if err != nil {
			if loc != (Location{}) {
				t.Errorf("ParseS3Path(%q) = %+v with error %v", s, loc, err)
			}
			return
		}
		if !strings.HasSuffix(loc.Prefix, "/") || strings.HasSuffix(loc.Prefix, "//") || strings.HasPrefix(loc.Prefix, "/") {
			t.Errorf("ParseS3Path(%q).Prefix = %q: want one trailing slash and no leading one", s, loc.Prefix)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(loc.Prefix, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Errorf("ParseS3Path(%q).Prefix = %q has segment %q", s, loc.Prefix, seg)
			}
		}
		if checkBucket(loc.Bucket) != "" {
			t.Errorf("ParseS3Path(%q).Bucket = %q is not a valid bucket name", s, loc.Bucket)
		}
		back, err := ParseS3Path(loc.String())
		if err != nil || back != loc {
			t.Errorf("ParseS3Path(%q) = %+v, %v; want %+v (round trip of %q)", loc.String(), back, err, loc, s)
		}
	})
}
