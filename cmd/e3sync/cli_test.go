package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/e3sync/e3sync/internal/testenv"
)

// cli runs e3sync with args and the environment env, and returns its exit
// code, stdout and stderr.
func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

// The Optimizely API is a closed loopback port in these tests: nothing may
// ever leave the machine, and a settings error must stop the run before
// any request.
var offline = map[string]string{envToken: "pat-x", envAPI: "http://127.0.0.1:9"}

// Every command answers -h, --help and 'help CMD' alike: its own usage on
// stdout, exit 0, nothing on stderr, and only its own flags.
func TestHelpEveryCommand(t *testing.T) {
	only := map[string][]string{ // flags a command must not list
		"verify":  {"--prune", "--force", "--part-size", "--task-concurrency", "--partitions", "--glue-database", "--abort-uploads-after", "--kms-key-id", "--lookback"},
		"status":  {"--prune", "--force", "--part-size", "--concurrency", "--from", "--verbose", "--quiet"},
		"demo":    {"--token-secret", "--types"},
		"catalog": {"--token-secret", "--prune"},
	}
	for name := range commands {
		var first string
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			code, stdout, stderr := cli(t, nil, args...)
			if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: e3sync "+name) {
				t.Errorf("e3sync %s: exit %d, stderr %q, stdout %q; want exit 0 and the usage on stdout", strings.Join(args, " "), code, stderr, stdout)
			}
			if first == "" {
				first = stdout
			} else if stdout != first {
				t.Errorf("e3sync %s prints another usage than e3sync %s -h", strings.Join(args, " "), name)
			}
			for _, f := range only[name] {
				if strings.Contains(stdout, f+" ") || strings.Contains(stdout, f+"\n") {
					t.Errorf("e3sync %s lists %s, a flag it does not have", strings.Join(args, " "), f)
				}
			}
		}
	}
	// A flag of another command is refused, not silently ignored.
	code, _, stderr := cli(t, offline, "verify", "--dest", t.TempDir(), "--part-size", "16MiB")
	if code != exitUsage || !strings.Contains(stderr, "unknown flag --part-size") || !strings.Contains(stderr, "e3sync verify -h") {
		t.Errorf("verify --part-size: exit %d, stderr %q; want %d, an unknown flag and the hint", code, stderr, exitUsage)
	}
	for _, args := range [][]string{{"help", "nope"}, {"nope"}} {
		if code, _, _ := cli(t, nil, args...); code != exitUsage {
			t.Errorf("e3sync %q: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, stdout, _ := cli(t, nil, "help"); code != 0 || !strings.Contains(stdout, "e3sync help CMD") {
		t.Errorf("e3sync help: exit %d, %q", code, stdout)
	}
}

// A destination that looks like a typo is refused with exit 2 and a hint,
// and nothing is created; so is the demo's s3:// destination.
func TestDestinationTypos(t *testing.T) {
	t.Chdir(t.TempDir())
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sync", "--dest", "s3:/bucket/x"}, "write s3://bucket/prefix"},
		{[]string{"sync", "--dest", "s3:bucket"}, "write s3://bucket/prefix"},
		{[]string{"sync", "--dest", "S3://bucket/x"}, "lower-case s3"},
		{[]string{"plan", "--dest", "~/x"}, "write $HOME/x"},
		{[]string{"sync", "--dest", "~"}, "starts with ~"},
		{[]string{"sync", "--dest", "gs://bucket/x"}, `unsupported URL scheme "gs:"`},
		{[]string{"sync", "--dest", "https:/bucket/x"}, `unsupported URL scheme "https:"`},
		{[]string{"sync", "--dest", file}, "is a file, not a directory"},
		{[]string{"sync", "--dest", filepath.Join(file, "sub")}, "not a directory"},
		{[]string{"verify", "--dest", "missing"}, "no such directory"},
		{[]string{"demo", "--dest", "s3://bucket/x"}, "the demo writes to a local directory only"},
		{[]string{"demo", "--dest", "s3:/bucket/x"}, "write s3://bucket/prefix"},
		{[]string{"demo", "--dest", file}, "is a file"},
	}
	for _, tt := range tests {
		code, stdout, stderr := cli(t, offline, tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("e3sync %q: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.args, code, stdout, stderr, exitUsage, tt.want)
		}
	}
	if ents, _ := os.ReadDir("."); len(ents) > 0 {
		t.Errorf("refused destinations created %v in the working directory", ents)
	}
}

// Every settings problem is named with its flag or variable, all in one
// message, with the accepted forms; exit 2.
func TestSettingsProblemsAllAtOnce(t *testing.T) {
	code, _, stderr := cli(t, map[string]string{envToken: "Bearer pat-x", envAPI: "not a url"},
		"sync", "--dest", t.TempDir(), "--from", "2024-13-01", "--to", "yesterday", "--part-size", "16MB",
		"--partitions", "bogus,experiment=1", "--concurrency", "0", "--duration", "2h")
	for _, want := range []string{
		`8 problems:`, // the --to after a bad --from is reported too
		`--from "2024-13-01" is not a date: want YYYY-MM-DD`,
		`--to "yesterday" is not a date`,
		`--part-size: unknown unit "MB": write the size with KiB, MiB or GiB, e.g. 16MiB`,
		`--partitions: "bogus" is not a sub-partition: want experiment=<id> or event=<name>`,
		`--concurrency 0 is out of range: want 1 to 256`,
		`--duration`,
		`$OPTIMIZELY_TOKEN: starts with "Bearer "`,
		`$OPTIMIZELY_API_URL: optimizely API URL`,
		`Run 'e3sync sync -h' for usage.`,
	} {
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, exitUsage, want)
		}
	}
	if strings.Contains(stderr, "Bearer pat-x") || strings.Contains(stderr, "pat-x") {
		t.Errorf("the token is printed:\n%s", stderr)
	}
	code, _, stderr = cli(t, offline, "sync", "--dest", t.TempDir(), "--part-size", "4MiB")
	if code != exitUsage || !strings.Contains(stderr, `--part-size: "4MiB" is out of range: want 5MiB to 512MiB`) {
		t.Errorf("--part-size 4MiB: exit %d, %q", code, stderr)
	}
	code, _, stderr = cli(t, offline, "sync", "--dest", t.TempDir(), "--from", "2024-02-01", "--to", "2024-01-01")
	if code != exitUsage || !strings.Contains(stderr, "--from 2024-02-01 is after --to 2024-01-01") {
		t.Errorf("reversed range: exit %d, %q", code, stderr)
	}
}

// Allowed but contradictory or ineffective settings are warned about; the
// deprecated names still work, with a warning.
func TestSettingsWarnings(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--quiet", "--verbose"}, nil, "--quiet and --verbose contradict each other"},
		{[]string{"--abort-uploads-after", "1s"}, nil, "--abort-uploads-after 1s is shorter than an upload can take"},
		{[]string{"--part-size", "16MiB"}, nil, "--part-size has no effect: the destination is a local directory"},
		{[]string{"--from", "2024-01-01", "--lookback", "5"}, nil, "--lookback has no effect with --from/--to"},
		{nil, map[string]string{"E3SYNC_OPTIMIZELY_API": "http://127.0.0.1:9"}, "$E3SYNC_OPTIMIZELY_API is deprecated: set $OPTIMIZELY_API_URL instead"},
		{nil, map[string]string{"E3SYNC_SOURCE_ENDPOINT": "http://127.0.0.1:9"}, "$E3SYNC_SOURCE_ENDPOINT is deprecated: set $SOURCE_S3_ENDPOINT instead"},
	}
	for _, tt := range tests {
		env := map[string]string{envToken: "pat-x"}
		for k, v := range tt.env {
			env[k] = v
		}
		var stderr bytes.Buffer
		c, err := parseConfig("sync", append([]string{"--dest", dir}, tt.args...), func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr)
		if err != nil || !strings.Contains(stderr.String(), "e3sync: warning: "+tt.want) {
			t.Errorf("sync %q %v: %v, stderr %q; want the warning %q", tt.args, tt.env, err, stderr.String(), tt.want)
		}
		if tt.env != nil && c.apiBaseURL+c.sourceEndpoint != "http://127.0.0.1:9" {
			t.Errorf("deprecated %v not read: api %q, source %q", tt.env, c.apiBaseURL, c.sourceEndpoint)
		}
	}
	var stderr bytes.Buffer
	if _, err := parseConfig("sync", []string{"--dest", dir}, func(k string) string { return offline[k] }, &bytes.Buffer{}, &stderr); err != nil || stderr.Len() > 0 {
		t.Errorf("plain settings: %v, warnings %q; want none", err, stderr.String())
	}
}

func TestPlural(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{{0, "0 dates"}, {1, "1 date"}, {2, "2 dates"}} {
		if got := plural(tt.n, "date", "dates"); got != tt.want {
			t.Errorf("plural(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// A token source that cannot work is a settings error (exit 2) said once,
// before any request to Optimizely, with a hint that fits the source.
func TestTokenSourceProblems(t *testing.T) {
	moto := testenv.MotoForTest(t)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "", "AWS_REGION": "us-east-1",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "c"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "c"),
		"AWS_ENDPOINT_URL": moto.Endpoint(), "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	for id, value := range map[string]string{"no-field": `{"pat": "x"}`, "bearer": "Bearer pat-x", "blank": "  "} {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{envAPI: "http://127.0.0.1:9"}
	for _, tt := range []struct{ secret, want string }{
		{"missing", `--token-secret missing: secret "missing" not found`},
		{"no-field", `JSON object has no "token" field (store the token alone, or as {"token": "<token>"})`},
		{"bearer", `"Bearer <token>" must hold the token alone`},
		{"blank", "empty"},
	} {
		code, _, stderr := cli(t, env, "sync", "--dest", t.TempDir(), "--token-secret", tt.secret)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "pat-x") {
			t.Errorf("--token-secret %s: exit %d, stderr %q; want %d and %q", tt.secret, code, stderr, exitUsage, tt.want)
		}
	}
}

// plan creates nothing, not even its destination directory; counts are
// spelled right; a range without data is warned about; a rejected token's
// remediation names where the token came from.
func TestPlanAndMessagesAgainstMinIO(t *testing.T) {
	w := newWorld(t, 0)
	d := day(-2)
	w.put("type=decisions/date="+d+"/experiment=1/part-00000-a.c000.snappy.parquet", randBytes(1000, 1))
	dir := filepath.Join(t.TempDir(), "not-yet")
	code, stdout, stderr := cli(t, w.env, "plan", "--dest", dir, "--types", "decisions")
	if code != 0 || !strings.Contains(stdout, ": 1 date, 1 task\n") || !strings.Contains(stdout, "objects to copy: 1 (1000 B)") {
		t.Errorf("plan: exit %d, stdout %q, stderr %q; want 1 date, 1 task, 1 object to copy", code, stdout, stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("plan created its destination %s (%v)", dir, err)
	}
	code, _, stderr = cli(t, w.env, "sync", "--dest", dir, "--from", "2001-01-01", "--to", "2001-01-31")
	if code != 0 || !strings.Contains(stderr, "the export has no dates in the range asked for") {
		t.Errorf("sync of an empty range: exit %d, stderr %q; want 0 and a warning", code, stderr)
	}
	w.API.Revoke(token)
	code, _, stderr = cli(t, w.env, "sync", "--dest", dir)
	if code != exitRejected || !strings.Contains(stderr, "from $OPTIMIZELY_TOKEN") || !strings.Contains(stderr, "set OPTIMIZELY_TOKEN to the new one") || strings.Contains(stderr, "secret") {
		t.Errorf("sync with a rejected token from the environment: exit %d, stderr %q; want %d and a remediation for the variable", code, stderr, exitRejected)
	}
}

// An interrupted command exits 130 for SIGINT and 143 for SIGTERM, with one
// line that says how much was copied and how to continue.
func TestInterruptionExit(t *testing.T) {
	for _, tt := range []struct {
		sig  os.Signal
		err  error
		code int
		line string
	}{
		{os.Interrupt, &interruptedRun{objects: 1}, 130, "interrupted after 1 object; run the same command to continue\n"},
		{syscall.SIGTERM, &interruptedRun{objects: 12}, 143, "interrupted after 12 objects; run the same command to continue\n"},
		{os.Interrupt, context.Canceled, 130, "interrupted; run the same command to continue\n"},
	} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(&interruption{sig: tt.sig})
		var stderr bytes.Buffer
		if code := exitCode(ctx, tt.err, &stderr); code != tt.code || stderr.String() != tt.line {
			t.Errorf("exitCode after %v, %v = %d, %q; want %d, %q", tt.sig, tt.err, code, stderr.String(), tt.code, tt.line)
		}
	}
}
