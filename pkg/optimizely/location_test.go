package optimizely

import (
	"strings"
	"testing"
)

func TestParseS3Path(t *testing.T) {
	tests := []struct {
		in      string
		want    Location
		wantErr string // substring of the error; "" means success
	}{
		{"s3://optimizely-events-data/v1/account_id=123", Location{"optimizely-events-data", "v1/account_id=123/"}, ""},
		{"s3://optimizely-events-data/v1/account_id=123/", Location{"optimizely-events-data", "v1/account_id=123/"}, ""},
		{"s3://optimizely-events-data/v1/account_id=123///", Location{"optimizely-events-data", "v1/account_id=123/"}, ""},
		{"s3://bkt/p", Location{"bkt", "p/"}, ""},
		{"", Location{}, "empty"},
		{"https://optimizely-events-data/v1/account_id=123", Location{}, "scheme"},
		{"S3://optimizely-events-data/v1", Location{}, "scheme"},
		{"optimizely-events-data/v1", Location{}, "scheme"},
		{"s3:///v1/account_id=123", Location{}, "empty bucket"},
		{"s3://optimizely-events-data", Location{}, "empty prefix"},
		{"s3://optimizely-events-data/", Location{}, "empty prefix"},
		{"s3://optimizely-events-data//", Location{}, "empty prefix"},
		{"s3://optimizely-events-data/v1/account id=123", Location{}, "white space"},
		{" s3://optimizely-events-data/v1", Location{}, "white space"},
		{"s3://optimizely-events-data/v1/\n", Location{}, "white space"},
		{"s3://optimizely-events-data/v1/../account_id=9", Location{}, `".."`},
		{"s3://optimizely-events-data/..", Location{}, `".."`},
		{"s3://optimizely-events-data/./v1", Location{}, `"."`},
		{"s3://optimizely-events-data/v1//account_id=1", Location{}, "empty path segment"},
		{"s3://Bad_Bucket/v1", Location{}, "bucket name"},
		{"s3://ab/v1", Location{}, "bucket name"},
		{"s3://bucket/v1/\x00", Location{}, "control character"},
	}
	for _, tt := range tests {
		got, err := ParseS3Path(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseS3Path(%q) = %+v, %v, want %+v, nil", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseS3Path(%q) = %+v, %v, want error containing %q", tt.in, got, err, tt.wantErr)
		}
	}
}

func TestLocationString(t *testing.T) {
	tests := []struct {
		in   Location
		want string
	}{
		{Location{"optimizely-events-data", "v1/account_id=123/"}, "s3://optimizely-events-data/v1/account_id=123/"},
		{Location{"b", ""}, "s3://b/"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in.Prefix == "" {
			continue
		}
		if back, err := ParseS3Path(tt.in.String()); err != nil || back != tt.in {
			t.Errorf("ParseS3Path(%q) = %+v, %v, want %+v, nil", tt.in.String(), back, err, tt.in)
		}
	}
}

func TestLocationAccountID(t *testing.T) {
	tests := []struct {
		prefix, want string
	}{
		{"v1/account_id=123/", "123"},
		{"v1/account_id=123", "123"},
		{"mirror/v1/account_id=98765/", "98765"},
		{"v1/", ""},
		{"account_id=/", ""},
	}
	for _, tt := range tests {
		if got := (Location{Bucket: "b", Prefix: tt.prefix}).AccountID(); got != tt.want {
			t.Errorf("Location{Prefix: %q}.AccountID() = %q, want %q", tt.prefix, got, tt.want)
		}
	}
}
