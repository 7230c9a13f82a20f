package settings

import (
	"strings"
	"testing"

	"github.com/e3sync/e3sync/pkg/optimizely"
)

// FuzzParse fuzzes the values of the settings most likely to be mistyped.
func FuzzParse(f *testing.F) {
	f.Add("customer-lake", "e3/", "decisions,events", "3", "1h", "8", "8", "arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf")
	f.Add("customer-lake", "", "events", "0", "15m", "256", "512", "x")
	f.Add("Customer_Lake", "../x", "clicks", "-1", "2h", "0", "4", "")
	f.Add("customer-lake/extra", "/abs/", "events,,", "366", "45M", "257", "513", " ")
	f.Add("customer-lake/extra", "e3/", "events", "3", "1h", "8", "8", "x")
	f.Add("  customer-lake ", "a//b", " events ", "3.5", "60m", "1e3", "8MiB", "x")
	f.Fuzz(func(t *testing.T, bucket, prefix, types, lookback, duration, conc, part, secret string) {
		env := map[string]string{
			EnvPATSecret: secret, EnvDestBucket: bucket, EnvDestPrefix: prefix, EnvTypes: types,
			EnvLookback: lookback, EnvDuration: duration, EnvConcurrency: conc, EnvPartSizeMiB: part,
			EnvTaskQueue: "http://127.0.0.1:1/q",
		}
		s, err := Parse(func(k string) string { return env[k] }, true)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "configuration: ") {
				t.Errorf("Parse error %q does not start with \"configuration: \"", err)
			}
			return
		}
		if s.PATSecret == "" || s.Dest.Bucket == "" || s.Dest.Dir != "" {
			t.Errorf("Parse(%v) = %+v: missing secret or bucket", env, s)
		}
		if s.Dest.Bucket != strings.TrimSpace(bucket) {
			t.Errorf("Parse(DEST_BUCKET=%q) bucket = %q: the bucket setting must name the bucket, nothing else", bucket, s.Dest.Bucket)
		}
		if s.Dest.Prefix != "" && (!strings.HasSuffix(s.Dest.Prefix, "/") || strings.HasPrefix(s.Dest.Prefix, "/")) {
			t.Errorf("Parse(DEST_PREFIX=%q) prefix = %q", prefix, s.Dest.Prefix)
		}
		if len(s.Types) == 0 || s.Lookback < 0 || s.Concurrency < 1 || s.Concurrency > 256 || s.PartSize < 5<<20 || s.PartSize > 512<<20 {
			t.Errorf("Parse(%v) = %+v: out of range", env, s)
		}
		if s.Duration < optimizely.MinDuration || s.Duration > optimizely.MaxDuration {
			t.Errorf("Parse(CREDENTIALS_DURATION=%q) = %v", duration, s.Duration)
		}
	})
}
