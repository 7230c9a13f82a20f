package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// IsolateAWS sets the process environment for t as a Lambda's is (see
// StartLambda): the given variables (credentials, AWS_ENDPOINT_URL_<SERVICE>
// endpoints), region us-east-1, empty AWS config files, no instance
// metadata, and every other service at a closed loopback port, so that code
// loading the SDK's default configuration in-process never reaches AWS or
// the developer's credentials. t must not be parallel.
func IsolateAWS(t testing.TB, env map[string]string) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "aws-config-empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"AWS_REGION":                  Region,
		"AWS_DEFAULT_REGION":          Region,
		"AWS_PROFILE":                 "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_CONFIG_FILE":             empty,
		"AWS_SHARED_CREDENTIALS_FILE": empty,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:9",
	}
	for k, v := range env {
		vars[k] = v
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}
