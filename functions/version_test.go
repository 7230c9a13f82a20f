package functions_test

// The function binaries carry the release version: the Makefile's SAM build
// targets stamp it with -ldflags, and each function logs it in its first
// line at cold start.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMakefileStampsFunctionVersion(t *testing.T) {
	out, err := exec.Command("make", "-s", "-n", "-C", "..", "VERSION=v9.8.7",
		"build-FetchCredsFunction", "build-CopierFunction").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n: %v\n%s", err, out)
	}
	for _, fn := range []string{"./functions/fetchcreds", "./functions/copier"} {
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasSuffix(line, fn) {
				found = true
				if !strings.Contains(line, "-X main.version=v9.8.7") {
					t.Errorf("build of %s does not stamp the version:\n%s", fn, line)
				}
			}
		}
		if !found {
			t.Errorf("make -n printed no build of %s:\n%s", fn, out)
		}
	}
}

func TestFunctionsLogVersionAtColdStart(t *testing.T) {
	dir := t.TempDir()
	for _, fn := range []string{"fetchcreds", "copier"} {
		t.Run(fn, func(t *testing.T) {
			bin := filepath.Join(dir, fn)
			build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath",
				"-ldflags", "-X main.version=v9.8.7-test", "-o", bin, "./"+fn)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			// No settings: the function logs its cold start line, then
			// stops on the invalid configuration before reaching the
			// Runtime API.
			cmd := exec.Command(bin)
			cmd.Env = []string{"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_FUNCTION_NAME=e3sync-" + fn}
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			if err := cmd.Run(); err == nil {
				t.Fatalf("%s without settings exited 0; want an error exit\n%s", fn, stderr.String())
			}
			first, _, _ := strings.Cut(stderr.String(), "\n")
			var line map[string]any
			if err := json.Unmarshal([]byte(first), &line); err != nil {
				t.Fatalf("first line is not a JSON log line: %q", first)
			}
			if line["message"] != "cold start" || line["version"] != "v9.8.7-test" || line["function"] != "e3sync-"+fn {
				t.Errorf("first line = %s; want message \"cold start\", version v9.8.7-test, function e3sync-%s", first, fn)
			}
			n := 0
			for sc := bufio.NewScanner(&stderr); sc.Scan(); {
				if strings.Contains(sc.Text(), "v9.8.7-test") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("version logged on %d lines, want 1", n)
			}
		})
	}
}
