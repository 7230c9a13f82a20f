package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/transfer"
)

func TestAbortUploadsAfterFlag(t *testing.T) {
	getenv := func(k string) string { return map[string]string{envToken: "pat"}[k] }
	tests := []struct {
		args    []string
		want    time.Duration
		problem string // "": valid
	}{
		{nil, transfer.DefaultStaleUploadAge, ""},
		{[]string{"--abort-uploads-after", "90m"}, 90 * time.Minute, ""},
		{[]string{"--abort-uploads-after", "1ms"}, time.Millisecond, ""},
		{[]string{"--abort-uploads-after", "0"}, 0, `--abort-uploads-after "0"`},
		{[]string{"--abort-uploads-after", "-1h"}, 0, `--abort-uploads-after "-1h"`},
		{[]string{"--abort-uploads-after", "1 day"}, 0, `--abort-uploads-after "1 day"`},
	}
	for _, tt := range tests {
		c, err := parseConfig("sync", append([]string{"--dest", t.TempDir()}, tt.args...), getenv, &bytes.Buffer{})
		switch {
		case tt.problem == "" && (err != nil || c.staleUploadAge != tt.want):
			t.Errorf("parseConfig(%q) = age %v, %v, want %v, nil", tt.args, c.staleUploadAge, err, tt.want)
		case tt.problem != "" && (!errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.problem)):
			t.Errorf("parseConfig(%q) = %v, want a usage error naming %s", tt.args, err, tt.problem)
		}
	}
}

// A bad age is reported with the other problems, and --help documents the
// flag with its default.
func TestAbortUploadsAfterReportedAndDocumented(t *testing.T) {
	_, err := parseConfig("sync", []string{"--abort-uploads-after", "0", "--concurrency", "0"}, func(string) string { return "" }, &bytes.Buffer{})
	for _, want := range []string{"--abort-uploads-after", "--concurrency 0", "--dest is required", "no token"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConfig() = %v, want every problem, %q among them", err, want)
		}
	}
	var help bytes.Buffer
	if _, err := parseConfig("sync", []string{"--help"}, func(string) string { return "" }, &help); err == nil {
		t.Errorf("parseConfig(--help) = nil error, want flag.ErrHelp")
	}
	if h := help.String(); !strings.Contains(h, "-abort-uploads-after") || !strings.Contains(h, `(default "1h")`) {
		t.Errorf("--help does not document --abort-uploads-after with its default:\n%s", h)
	}
}
