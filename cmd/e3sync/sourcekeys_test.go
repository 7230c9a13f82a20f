package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
	"github.com/e3sync/e3sync/pkg/source"
)

// Exactly one source mode: a token or static keys. Both, or neither, is a
// settings error (exit 2) naming both ways, for every command that reads
// the source; status may run without one, but not with both.
func TestSourceModeSettings(t *testing.T) {
	keysEnv := map[string]string{source.EnvAccessKeyID: "AKIA1", source.EnvSecretAccessKey: "s", source.EnvAccountID: "12345"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // "" for no source-mode problem
	}{
		{"token", []string{"plan"}, map[string]string{envToken: "pat"}, ""},
		{"token secret", []string{"plan", "--token-secret", "prod/pat"}, nil, ""},
		{"keys from the environment", []string{"plan"}, keysEnv, ""},
		{"keys secret", []string{"sync", "--source-keys-secret", "prod/keys"}, nil, ""},
		{"one key variable is keys mode", []string{"verify"}, map[string]string{source.EnvAccountID: "1"}, ""},
		{"neither", []string{"sync"}, nil, "no token: set a token ($OPTIMIZELY_TOKEN or --token-secret), or source keys (--source-keys-secret"},
		{"token and keys variables", []string{"sync"}, map[string]string{envToken: "pat", source.EnvAccessKeyID: "AKIA1"}, "both a token"},
		{"token secret and keys secret", []string{"plan", "--token-secret", "a", "--source-keys-secret", "b"}, nil, "both a token"},
		{"status: both", []string{"status", "--token-secret", "a", "--source-keys-secret", "b"}, nil, "both a token"},
	}
	for _, tt := range tests {
		args := append(tt.args, "--dest", t.TempDir())
		_, err := parseConfig(args[0], args[1:], func(k string) string { return tt.env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: e3sync %s = %v, want no error", tt.name, strings.Join(args, " "), err)
			}
			continue
		}
		var stderr bytes.Buffer
		if err == nil || exitCode(context.Background(), err, &stderr) != exitUsage || !strings.Contains(err.Error(), tt.want) ||
			!strings.Contains(err.Error(), "--source-keys-secret") || !strings.Contains(err.Error(), envToken) {
			t.Errorf("%s: e3sync %s = %v, want exit %d with %q, naming both modes", tt.name, strings.Join(args, " "), err, exitUsage, tt.want)
		}
	}
}

func TestExitCodeKeysRejected(t *testing.T) {
	var stderr bytes.Buffer
	err := fmt.Errorf("list s3://optimizely-events-data/v1/account_id=1/ with the source access keys: %w", source.ErrKeysRejected)
	if code := exitCode(context.Background(), err, &stderr); code != exitKeysRejected || !strings.Contains(stderr.String(), "rejected the Optimizely source access keys") {
		t.Errorf("exitCode(keys rejected) = %d, stderr %q; want %d and the error", code, stderr.String(), exitKeysRejected)
	}
}

// A sync with static keys from the environment against MinIO, the keys
// reaching only the account's prefix; then the keys revoked: exit 5 with
// the keys' error, and the secret key printed nowhere.
func TestSyncWithStaticKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	w := newWorld(t, 0)
	const keyID, secret = "optkeys", "static-SECRET-key-0123456789"
	if err := w.MinIO.AddUser(context.Background(), keyID, secret, testenv.PrefixReadPolicy(testworld.SourceBucket, acctPrefix)); err != nil {
		t.Fatal(err)
	}
	d := day(-1)
	w.put("type=events/date="+d+"/event=purchase/part-00000.c000.snappy.parquet", randBytes(1<<20, 1))
	w.put("type=events/date="+d+"/_SUCCESS", nil)
	delete(w.env, envToken)
	w.env[source.EnvAccessKeyID], w.env[source.EnvSecretAccessKey], w.env[source.EnvAccountID] = keyID, secret, "12345"

	code, sum, stderr := w.sync(t, "--dest", "s3://"+dstBucket+"/"+dstPrefix, "--types", "events")
	if code != exitOK || sum.ObjectsCopied != 1 || len(sum.CompletedDates) != 1 {
		t.Fatalf("sync with static keys: exit %d, %+v\n%s", code, sum, stderr)
	}
	w.assertMirror(t, "type=events/date="+d+"/")

	if err := w.MinIO.RemoveUser(context.Background(), keyID); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = w.sync(t, "--dest", "s3://"+dstBucket+"/"+dstPrefix, "--types", "events")
	if code != exitKeysRejected || !strings.Contains(stderr, "rejected the Optimizely source access keys") || !strings.Contains(stderr, "InvalidAccessKeyId") {
		t.Errorf("sync with revoked keys: exit %d, want %d with the keys' error\n%s", code, exitKeysRejected, stderr)
	}
	if strings.Contains(stderr, secret) {
		t.Errorf("the secret key is in the output:\n%s", stderr)
	}
}
