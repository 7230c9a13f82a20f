package store

import "testing"

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in   string
		want Target
		ok   bool
	}{
		{"s3://bkt", Target{Bucket: "bkt"}, true},
		{"s3://bkt/", Target{Bucket: "bkt"}, true},
		{"s3://bkt/p", Target{Bucket: "bkt", Prefix: "p/"}, true},
		{"s3://bkt/p/", Target{Bucket: "bkt", Prefix: "p/"}, true},
		{"s3://bkt//p", Target{Bucket: "bkt", Prefix: "p/"}, true},
		{"s3://bkt/p//", Target{Bucket: "bkt", Prefix: "p/"}, true},
		{"s3://my-bucket.x/a/b c/", Target{Bucket: "my-bucket.x", Prefix: "a/b c/"}, true},
		{"s3://", Target{}, false},
		{"s3:///p", Target{}, false},
		{"s3://B/p", Target{}, false},
		{"s3://my bucket/p", Target{}, false},
		{`s3://b\x/p`, Target{}, false},
		{"s3://bkt/a//c", Target{}, false},
		{"s3://bkt/a/../c", Target{}, false},
		{"s3://bkt/./c", Target{}, false},
		{"http://x", Target{}, false},
		{"https://b.s3.amazonaws.com/p", Target{}, false},
		{"file:///tmp/x", Target{Dir: "/tmp/x"}, true},
		{"/tmp/x", Target{Dir: "/tmp/x"}, true},
		{"out/mirror", Target{Dir: "out/mirror"}, true},
		{"", Target{}, false},
		{"   ", Target{}, false},
		// Found by FuzzParseTarget: names S3 never accepts, and no directory.
		{"s3://../p", Target{}, false},
		{"s3://./p", Target{}, false},
		{"s3://-bucket-/p", Target{}, false},
		{"s3://ab/p", Target{}, false},
		{"s3://a..b/p", Target{}, false},
		{"file://", Target{}, false},
		{"file://  ", Target{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, %v, want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestTargetString(t *testing.T) {
	tests := []struct {
		in   Target
		want string
	}{
		{Target{Bucket: "bkt"}, "s3://bkt/"},
		{Target{Bucket: "bkt", Prefix: "p/"}, "s3://bkt/p/"},
		{Target{Dir: "/tmp/x"}, "/tmp/x"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}
