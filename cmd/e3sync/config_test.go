package main

import (
	"bytes"
	"context"
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
		c, err := parseConfig("sync", append([]string{"--dest", t.TempDir()}, tt.args...), getenv, &bytes.Buffer{}, &bytes.Buffer{})
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
	_, err := parseConfig("sync", []string{"--abort-uploads-after", "0", "--concurrency", "0"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	for _, want := range []string{"--abort-uploads-after", "--concurrency 0", "--dest is required", "no token"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConfig() = %v, want every problem, %q among them", err, want)
		}
	}
	var help bytes.Buffer
	if _, err := parseConfig("sync", []string{"--help"}, func(string) string { return "" }, &help, &bytes.Buffer{}); err == nil {
		t.Errorf("parseConfig(--help) = nil error, want flag.ErrHelp")
	}
	if h := help.String(); !strings.Contains(h, "-abort-uploads-after") || !strings.Contains(h, `(default "1h")`) {
		t.Errorf("--help does not document --abort-uploads-after with its default:\n%s", h)
	}
}

// A plain-http Optimizely API URL to a non-loopback host is a usage error
// (exit 2), reported with the other problems; https and loopback http pass.
func TestAPIURLMustNotLeakToken(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"", true},
		{"https://api.optimizely.com", true},
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://api.optimizely.com", false},
		{"http://192.168.1.10", false},
	}
	for _, tt := range tests {
		getenv := func(k string) string { return map[string]string{envToken: "pat", envAPI: tt.url}[k] }
		_, err := parseConfig("sync", []string{"--dest", t.TempDir()}, getenv, &bytes.Buffer{}, &bytes.Buffer{})
		if tt.ok != (err == nil) {
			t.Errorf("%s=%q: parseConfig() = %v, want ok=%v", envAPI, tt.url, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, errUsage) || !strings.Contains(err.Error(), envAPI) || !strings.Contains(err.Error(), "plain http")) {
			t.Errorf("%s=%q: parseConfig() = %v, want a usage error naming %s and plain http", envAPI, tt.url, err, envAPI)
		}
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"sync", "--dest", t.TempDir()},
		func(k string) string {
			return map[string]string{envToken: "pat", envAPI: "http://api.optimizely.com"}[k]
		}, &bytes.Buffer{}, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "plain http") {
		t.Errorf("e3sync sync with an http API URL: exit %d, stderr %q; want %d naming the problem", code, stderr.String(), exitUsage)
	}
}
