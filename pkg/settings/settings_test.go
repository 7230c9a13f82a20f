package settings

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// required is the smallest valid environment.
var required = map[string]string{
	EnvPATSecret:  "arn:aws:secretsmanager:us-east-1:123456789012:secret:e3sync/pat-AbCdEf",
	EnvDestBucket: "lake",
	EnvTaskQueue:  "https://sqs.us-east-1.amazonaws.com/123456789012/tasks",
}

func with(over map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range required {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

func TestDefaults(t *testing.T) {
	s, err := Parse(env(required), true)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		PATSecret:       required[EnvPATSecret],
		Dest:            store.Target{Bucket: "lake"},
		Types:           []export.Type{export.Decisions, export.Events},
		Lookback:        3,
		MaxBackfillDays: 400,
		TaskQueueURL:    required[EnvTaskQueue],
		Duration:        time.Hour,
		Concurrency:     64,
		PartSize:        8 << 20,
		MetricsNS:       "e3sync",
		StackName:       "e3sync",
		SecretTTL:       300 * time.Second,
		EventBus:        "default",
		RetryBackoff:    []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Parse(required only) =\n%+v\nwant\n%+v", s, want)
	}
}

// One row per variable: a valid non-default value and what it parses to.
func TestEveryVariable(t *testing.T) {
	tests := []struct {
		name, value string
		check       func(Settings) any
		want        any
	}{
		{EnvPATSecret, "other-secret", func(s Settings) any { return s.PATSecret }, "other-secret"},
		{EnvDestBucket, "other-lake", func(s Settings) any { return s.Dest.Bucket }, "other-lake"},
		{EnvDestPrefix, "optimizely/", func(s Settings) any { return s.Dest.Prefix }, "optimizely/"},
		{EnvDestKMSKey, "arn:aws:kms:us-east-1:123456789012:key/k", func(s Settings) any { return s.KMSKeyID }, "arn:aws:kms:us-east-1:123456789012:key/k"},
		{EnvTypes, "events", func(s Settings) any { return s.Types }, []export.Type{export.Events}},
		{EnvLookback, "0", func(s Settings) any { return s.Lookback }, 0},
		{EnvMaxBackfillDays, "31", func(s Settings) any { return s.MaxBackfillDays }, 31},
		{EnvTaskQueue, "https://q", func(s Settings) any { return s.TaskQueueURL }, "https://q"},
		{EnvDuration, "15m", func(s Settings) any { return s.Duration }, 15 * time.Minute},
		{EnvConcurrency, "32", func(s Settings) any { return s.Concurrency }, 32},
		{EnvPartSizeMiB, "16", func(s Settings) any { return s.PartSize }, int64(16 << 20)},
		{EnvMetricsNS, "Custom/NS", func(s Settings) any { return s.MetricsNS }, "Custom/NS"},
		{EnvStackName, "prod", func(s Settings) any { return s.StackName }, "prod"},
		{EnvSecretTTL, "0", func(s Settings) any { return s.SecretTTL }, time.Duration(0)},
		{EnvAPIURL, "http://127.0.0.1:9", func(s Settings) any { return s.APIURL }, "http://127.0.0.1:9"},
		{EnvAPIURL, "https://api.optimizely.com", func(s Settings) any { return s.APIURL }, "https://api.optimizely.com"},
		{EnvSourceEndpoint, "http://127.0.0.1:10", func(s Settings) any { return s.SourceEndpoint }, "http://127.0.0.1:10"},
		{EnvEventBus, "analytics", func(s Settings) any { return s.EventBus }, "analytics"},
		{EnvEventBus, "arn:aws:events:us-east-1:123456789012:event-bus/analytics", func(s Settings) any { return s.EventBus }, "arn:aws:events:us-east-1:123456789012:event-bus/analytics"},
		{EnvGlueDatabase, "optimizely_export", func(s Settings) any { return s.GlueDatabase }, "optimizely_export"},
		{EnvPrune, "true", func(s Settings) any { return s.Prune }, true},
		{EnvPrune, "false", func(s Settings) any { return s.Prune }, false},
		{EnvRetryBackoff, "1, 2,0", func(s Settings) any { return s.RetryBackoff }, []time.Duration{time.Second, 2 * time.Second, 0}},
		{EnvRetryBackoff, "43200", func(s Settings) any { return s.RetryBackoff }, []time.Duration{12 * time.Hour}},
	}
	for _, tt := range tests {
		s, err := Parse(env(with(map[string]string{tt.name: tt.value})), true)
		if err != nil {
			t.Errorf("Parse(%s=%q) = %v", tt.name, tt.value, err)
			continue
		}
		if got := tt.check(s); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%s=%q) gives %v, want %v", tt.name, tt.value, got, tt.want)
		}
	}
}

// One row per invalid value: the error names the variable.
func TestInvalidValues(t *testing.T) {
	tests := []struct{ name, value string }{
		{EnvDestPrefix, "a/../b/"},
		{EnvDestBucket, "Not_A_Bucket"},
		{EnvTypes, "cli cks"},
		{EnvLookback, "-1"},
		{EnvLookback, "366"},
		{EnvLookback, "three"},
		{EnvMaxBackfillDays, "0"},
		{EnvMaxBackfillDays, "3661"},
		{EnvDuration, "2h"},
		{EnvDuration, "5m"},
		{EnvConcurrency, "0"},
		{EnvConcurrency, "257"},
		{EnvPartSizeMiB, "4"},
		{EnvPartSizeMiB, "513"},
		{EnvSecretTTL, "-5"},
		{EnvSecretTTL, "86401"},
		{EnvEventBus, "has space"},
		{EnvEventBus, strings.Repeat("b", 257)},
		{EnvEventBus, "arn:aws:sqs:us-east-1:123456789012:q"},
		{EnvGlueDatabase, "Has-Caps"},
		{EnvGlueDatabase, strings.Repeat("d", 256)},
		{EnvPrune, "yes"},
		{EnvPrune, "TRUE"},
		{EnvRetryBackoff, "60,,120"},
		{EnvRetryBackoff, "-1"},
		{EnvRetryBackoff, "43201"},
		{EnvRetryBackoff, "1m"},
		{EnvRetryBackoff, strings.Repeat("1,", 20) + "1"},
		{EnvAPIURL, "http://api.optimizely.com"}, // the token would cross the network in cleartext
		{EnvAPIURL, "http://10.1.2.3:8080"},
		{EnvAPIURL, "ftp://api.optimizely.com"},
		{EnvAPIURL, "api.optimizely.com"},
	}
	for _, tt := range tests {
		_, err := Parse(env(with(map[string]string{tt.name: tt.value})), true)
		if err == nil || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("Parse(%s=%q) = %v, want an error naming %s", tt.name, tt.value, err, tt.name)
		}
	}
}

// Exactly one source mode: the PAT's secret or the static keys' secret.
// Neither and both are errors naming the two variables.
func TestSourceMode(t *testing.T) {
	const pat, keys = "arn:aws:secretsmanager:us-east-1:123456789012:secret:e3sync/pat-AbCdEf",
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:e3sync/keys-AbCdEf"
	tests := []struct {
		pat, keys         string
		wantPAT, wantKeys string
		wantErr           string // "" for no error
	}{
		{pat, "", pat, "", ""},
		{"", keys, "", keys, ""},
		{"", "", "", "", "one is required"},
		{" ", "\t", "", "", "one is required"},
		{pat, keys, "", "", "both are set"},
	}
	for _, tt := range tests {
		e := with(map[string]string{EnvPATSecret: tt.pat, EnvKeysSecret: tt.keys})
		s, err := Parse(env(e), true)
		if tt.wantErr == "" {
			if err != nil || s.PATSecret != tt.wantPAT || s.KeysSecret != tt.wantKeys {
				t.Errorf("Parse(%s=%q, %s=%q) = %q, %q, %v; want %q, %q, nil", EnvPATSecret, tt.pat, EnvKeysSecret, tt.keys,
					s.PATSecret, s.KeysSecret, err, tt.wantPAT, tt.wantKeys)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) ||
			!strings.Contains(err.Error(), EnvPATSecret) || !strings.Contains(err.Error(), EnvKeysSecret) {
			t.Errorf("Parse(%s=%q, %s=%q) = %v; want an error %q naming both variables", EnvPATSecret, tt.pat, EnvKeysSecret, tt.keys, err, tt.wantErr)
		}
	}
}

func TestRequired(t *testing.T) {
	tests := []struct {
		needQueue bool
		want      []string
	}{
		{true, []string{EnvDestBucket, EnvTaskQueue}},
		{false, []string{EnvDestBucket}},
	}
	for _, tt := range tests {
		_, err := Parse(env(nil), tt.needQueue)
		if err == nil {
			t.Fatalf("Parse(empty, %v) = nil, want an error", tt.needQueue)
		}
		for _, name := range tt.want {
			if !strings.Contains(err.Error(), name+": required") {
				t.Errorf("Parse(empty, %v) = %v, want %s required", tt.needQueue, err, name)
			}
		}
		if !tt.needQueue && strings.Contains(err.Error(), EnvTaskQueue) {
			t.Errorf("Parse(empty, false) = %v, want %s optional", err, EnvTaskQueue)
		}
	}
}

// Every problem is reported in one error, not the first only.
func TestAllProblemsTogether(t *testing.T) {
	bad := map[string]string{
		EnvTypes: "cli cks", EnvLookback: "x", EnvMaxBackfillDays: "0", EnvDuration: "2h",
		EnvConcurrency: "0", EnvPartSizeMiB: "1", EnvSecretTTL: "-1", EnvEventBus: "a b",
	}
	_, err := Parse(env(bad), true)
	if err == nil {
		t.Fatal("Parse = nil, want an error")
	}
	var missing []string
	for _, name := range append([]string{EnvPATSecret, EnvDestBucket, EnvTaskQueue}, slices.Collect(keys(bad))...) {
		if !strings.Contains(err.Error(), name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("Parse error %q does not name %v", err, missing)
	}
}

func keys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestSpacesAreTrimmed(t *testing.T) {
	s, err := Parse(env(with(map[string]string{EnvLookback: " 5 ", EnvEventBus: "  "})), true)
	if err != nil || s.Lookback != 5 || s.EventBus != "default" {
		t.Errorf("Parse = %+v, %v; want lookback 5 and the default bus for a blank value", s, err)
	}
}

func TestParseRejectsSlashInBucket(t *testing.T) {
	env := map[string]string{EnvPATSecret: "arn", EnvDestBucket: "lake/extra", EnvTaskQueue: "q"}
	_, err := Parse(func(k string) string { return env[k] }, true)
	if err == nil || !strings.Contains(err.Error(), EnvDestPrefix) {
		t.Errorf("Parse(DEST_BUCKET=lake/extra) = %v, want an error pointing at %s", err, EnvDestPrefix)
	}
}
