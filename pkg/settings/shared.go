package settings

import (
	"fmt"
	"strconv"
	"strings"
)

// The settings the e3sync CLI and the Lambdas share have one name and one
// default each, here. The CLI takes most of them as flags (--lookback for
// LOOKBACK_DAYS, ...); the environment variables below are read by both
// under the same name.

// EnvToken is where the CLI reads the Personal Access Token when no
// --token-secret is given (the Lambdas read it from PAT_SECRET_ARN's secret).
const EnvToken = "OPTIMIZELY_TOKEN"

// Defaults shared by the CLI's flags and the Lambdas' environment.
const (
	DefaultTypes             = "decisions,events"
	DefaultLookbackDays      = 3
	DefaultDuration          = "1h"
	DefaultConcurrency       = 64 // objects in flight at most: the engine adapts below it (transfer.DefaultConcurrency)
	DefaultTaskConcurrency   = 8  // sub-partitions worked on at once
	DefaultVerifyConcurrency = 8  // objects verify compares at once
	DefaultPartSizeMiB       = 8
	MinPartSizeMiB           = 5   // S3's smallest part
	MaxPartSizeMiB           = 512 // copy buffers take 8 x part size
	MaxConcurrency           = 256
)

// deprecatedEnv maps the names the CLI used to read to the one name each
// setting has now.
var deprecatedEnv = map[string]string{
	"E3SYNC_OPTIMIZELY_API":  EnvAPIURL,
	"E3SYNC_SOURCE_ENDPOINT": EnvSourceEndpoint,
}

// Lookup reads the variable name through getenv; when it is unset, a
// deprecated name of the same setting is read instead, and old is that
// name (for a deprecation warning).
func Lookup(getenv func(string) string, name string) (value, old string) {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v, ""
	}
	for o, n := range deprecatedEnv {
		if n == name {
			if v := strings.TrimSpace(getenv(o)); v != "" {
				return v, o
			}
		}
	}
	return "", ""
}

// ConcurrencyProblem says what is wrong with an objects-in-flight count, or
// "".
func ConcurrencyProblem(n int) string {
	if n < 1 || n > MaxConcurrency {
		return fmt.Sprintf("%d is out of range: want 1 to %d", n, MaxConcurrency)
	}
	return ""
}

// ParsePartSize reads a multipart part size: a whole number with a binary
// unit (KiB, MiB, GiB; K, M, G mean the same) or of bytes, from
// MinPartSizeMiB to MaxPartSizeMiB. The error says what is wrong and shows
// the accepted forms.
func ParsePartSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult := map[string]int64{"": 1, "B": 1, "K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20, "G": 1 << 30, "GiB": 1 << 30}
	m, ok := mult[unit]
	if num != "" && !ok {
		return 0, fmt.Errorf("unknown unit %q: write the size with KiB, MiB or GiB, e.g. %sMiB", unit, num)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || !ok || n <= 0 || n > (1<<40)/m {
		return 0, fmt.Errorf("%q is not a size: want a whole number with KiB, MiB or GiB, e.g. %dMiB", s, DefaultPartSizeMiB)
	}
	if size := n * m; size < MinPartSizeMiB<<20 || size > MaxPartSizeMiB<<20 {
		return 0, fmt.Errorf("%q is out of range: want %dMiB to %dMiB", s, MinPartSizeMiB, MaxPartSizeMiB)
	}
	return n * m, nil
}
