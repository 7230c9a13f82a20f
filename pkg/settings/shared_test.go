package settings

import (
	"strings"
	"testing"
)

func TestParsePartSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		problem string // "": valid
	}{
		{"8MiB", 8 << 20, ""},
		{"16M", 16 << 20, ""},
		{"1GiB", 0, "out of range: want 5MiB to 512MiB"},
		{"512MiB", 512 << 20, ""},
		{"5242880", 5 << 20, ""},
		{"5120KiB", 5 << 20, ""},
		{"16MB", 0, `unknown unit "MB": write the size with KiB, MiB or GiB, e.g. 16MiB`},
		{"16 mb", 0, `unknown unit "mb"`},
		{"4MiB", 0, "out of range: want 5MiB to 512MiB"},
		{"MiB", 0, "is not a size"},
		{"-8MiB", 0, "is not a size"},
		{"", 0, "is not a size"},
	}
	for _, tt := range tests {
		got, err := ParsePartSize(tt.in)
		switch {
		case tt.problem == "" && (err != nil || got != tt.want):
			t.Errorf("ParsePartSize(%q) = %d, %v, want %d", tt.in, got, err, tt.want)
		case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
			t.Errorf("ParsePartSize(%q) = %d, %v, want an error with %q", tt.in, got, err, tt.problem)
		}
	}
}

// The one name of a setting wins over its deprecated name, which is still
// read when the new one is unset.
func TestLookupDeprecated(t *testing.T) {
	tests := []struct {
		env       map[string]string
		want, old string
	}{
		{map[string]string{EnvAPIURL: "https://a"}, "https://a", ""},
		{map[string]string{"E3SYNC_OPTIMIZELY_API": "https://old"}, "https://old", "E3SYNC_OPTIMIZELY_API"},
		{map[string]string{EnvAPIURL: "https://a", "E3SYNC_OPTIMIZELY_API": "https://old"}, "https://a", ""},
		{nil, "", ""},
	}
	for _, tt := range tests {
		v, old := Lookup(func(k string) string { return tt.env[k] }, EnvAPIURL)
		if v != tt.want || old != tt.old {
			t.Errorf("Lookup(%v) = %q, %q, want %q, %q", tt.env, v, old, tt.want, tt.old)
		}
	}
}
