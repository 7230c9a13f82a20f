package optimizely

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"15m", 15 * time.Minute, true},
		{"45M", 45 * time.Minute, true},
		{"1h", time.Hour, true},
		{"1H", time.Hour, true},
		{"60m", time.Hour, true},
		{"", 0, false},
		{"14m", 0, false},
		{"61m", 0, false},
		{"2h", 0, false},
		{"0h", 0, false},
		{"1.5h", 0, false},
		{"30s", 0, false},
		{"-1h", 0, false},
		{"1h30m", 0, false},
		{"m", 0, false},
		{" 1h", 0, false},
		{"1h ", 0, false},
		{"+1h", 0, false},
		{"99999999999999999999m", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v, want %v, nil", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, nil, want error", tt.in, got)
			continue
		}
		// The error names the value and the rule.
		if msg := err.Error(); !strings.Contains(msg, "\""+tt.in+"\"") || !strings.Contains(msg, "15m to 1h") {
			t.Errorf("ParseDuration(%q) error = %q, want it to quote the value and state the rule", tt.in, msg)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{time.Hour, "1h"},
		{45 * time.Minute, "45m"},
		{15 * time.Minute, "15m"},
		{90 * time.Minute, "90m"},
		{2 * time.Hour, "2h"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	for d := MinDuration; d <= MaxDuration; d += time.Minute {
		got, err := ParseDuration(FormatDuration(d))
		if err != nil || got != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v, want %v, nil", d, got, err, d)
		}
	}
}
