package main

import (
	"io"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/pkg/export"
)

// FuzzParseConfig fuzzes the plan/sync command line: args are separated by
// NUL bytes. Accepted configurations are internally consistent.
func FuzzParseConfig(f *testing.F) {
	for _, a := range []string{
		"--dest\x00s3://customer-lake/e3/",
		"--dest\x00./out\x00--from\x002024-01-01\x00--to\x002024-01-31\x00--types\x00decisions",
		"--dest\x00s3://customer-lake\x00--from\x002024-02-01\x00--to\x002024-01-01",
		"--dest\x00s3://../x",
		"--dest\x00file://",
		"--dest\x00s3://customer-lake/a/../b",
		"--dest\x00out\x00--concurrency\x000\x00--part-size\x004MiB\x00--duration\x002h",
		"--dest\x00out\x00--part-size\x009223372036854775807K",
		"--dest\x00out\x00--part-size\x00-8MiB",
		"--dest\x00out\x00--lookback\x00-1\x00--partitions\x00experiment=1,,event=a b",
		"--dest\x00out\x00extra",
		"--dest=out\x00--json\x00--quiet\x00--verbose",
		"-h",
	} {
		f.Add(a, "pat-token")
	}
	f.Add("--dest\x00out", "")
	f.Fuzz(func(t *testing.T, joined, token string) {
		args := strings.Split(joined, "\x00")
		env := map[string]string{envToken: token}
		c, err := parseConfig("sync", args, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err != nil {
			return
		}
		if (c.dest.Bucket == "") == (c.dest.Dir == "") {
			t.Errorf("parseConfig(%q) dest = %+v: want exactly one of bucket and directory", args, c.dest)
		}
		if len(c.types) == 0 {
			t.Errorf("parseConfig(%q): no types", args)
		}
		for _, ty := range c.types {
			if _, err := export.ParseType(string(ty)); err != nil {
				t.Errorf("parseConfig(%q) type %q", args, ty)
			}
		}
		if c.concurrency < 1 || c.concurrency > 256 || c.taskConcurrency < 1 || c.taskConcurrency > 256 {
			t.Errorf("parseConfig(%q) concurrency %d/%d", args, c.concurrency, c.taskConcurrency)
		}
		if c.partSize < 5<<20 || c.partSize > 512<<20 {
			t.Errorf("parseConfig(%q) part size %d", args, c.partSize)
		}
		if c.lookback < 0 {
			t.Errorf("parseConfig(%q) lookback %d", args, c.lookback)
		}
		if c.from != "" && c.to != "" && c.from > c.to {
			t.Errorf("parseConfig(%q) from %s after to %s", args, c.from, c.to)
		}
		if strings.TrimSpace(c.token) == "" && c.tokenSecret == "" {
			t.Errorf("parseConfig(%q) accepted no token", args)
		}
		for _, p := range c.partitions {
			if strings.TrimSpace(p) != p || p == "" {
				t.Errorf("parseConfig(%q) partition %q", args, p)
			}
		}
	})
}
