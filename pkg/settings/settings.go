// Package settings parses the Lambdas' configuration from their environment,
// in one place, reporting every missing or invalid setting in one error. The
// environment is passed in as a getenv function: nothing below functions/ and
// cmd/ reads os.Getenv.
package settings

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/store"
)

// The environment variables, as template.yaml sets them.
const (
	EnvPATSecret = "PAT_SECRET_ARN" // Secrets Manager secret holding the PAT (or EnvKeysSecret)
	// EnvKeysSecret: Secrets Manager secret holding static source keys and
	// the account id (package source, KeysSecret). Exactly one of
	// EnvPATSecret and EnvKeysSecret is set.
	EnvKeysSecret      = "SOURCE_KEYS_SECRET_ARN"
	EnvDestBucket      = "DEST_BUCKET"          // required
	EnvDestPrefix      = "DEST_PREFIX"          // optional, "" or ending in "/"
	EnvDestKMSKey      = "DEST_KMS_KEY_ID"      // optional SSE-KMS key for written objects
	EnvTypes           = "EXPORT_TYPES"         // default "decisions,events"
	EnvLookback        = "LOOKBACK_DAYS"        // default 3
	EnvMaxBackfillDays = "MAX_BACKFILL_DAYS"    // default 400
	EnvTaskQueue       = "TASK_QUEUE_URL"       // required by fetchcreds; the copier uses it for continuations
	EnvDuration        = "CREDENTIALS_DURATION" // default "1h"
	EnvConcurrency     = "COPY_CONCURRENCY"     // default 64: most objects in flight per copier (adapted below it)
	EnvPartSizeMiB     = "PART_SIZE_MIB"        // default 8
	EnvMetricsNS       = "METRICS_NAMESPACE"    // default "e3sync"
	EnvStackName       = "STACK_NAME"           // metric dimension; default "e3sync"
	EnvSecretTTL       = "PAT_CACHE_SECONDS"    // default 300; also for the keys secret
	EnvAPIURL          = "OPTIMIZELY_API_URL"   // optional: Optimizely API base URL (tests, emulators)
	EnvSourceEndpoint  = "SOURCE_S3_ENDPOINT"   // optional: export bucket endpoint (tests, emulators)
	EnvEventBus        = "EVENT_BUS_NAME"       // default "default": where completion events go
	EnvGlueDatabase    = "GLUE_DATABASE"        // optional: register partitions in this Glue database's tables
	// EnvPrune: "true" makes the copier prune stale objects (quarantine,
	// then delete); default "false": they are only counted.
	EnvPrune = "PRUNE_STALE_OBJECTS"
	// EnvRetryBackoff: the copier's delay before a failed task's next
	// attempt, in seconds, one per attempt (the last repeats).
	EnvRetryBackoff = "RETRY_BACKOFF_SECONDS" // default "60,120,300,600,1200"
)

// Settings are both functions' configuration.
type Settings struct {
	// PATSecret and KeysSecret: exactly one is set (the source mode).
	PATSecret       string
	KeysSecret      string
	Dest            store.Target
	KMSKeyID        string
	Types           []export.Type
	Lookback        int
	MaxBackfillDays int
	TaskQueueURL    string
	Duration        time.Duration
	Concurrency     int
	PartSize        int64
	MetricsNS       string
	StackName       string
	SecretTTL       time.Duration
	APIURL          string
	SourceEndpoint  string
	EventBus        string
	// GlueDatabase, when set, is the Glue database whose decisions and
	// events tables the copier registers partitions in (pkg/catalog).
	GlueDatabase string
	Prune        bool
	RetryBackoff []time.Duration
}

// Parse reads the settings; needQueue makes TASK_QUEUE_URL required.
func Parse(getenv func(string) string, needQueue bool) (Settings, error) {
	var (
		s        Settings
		problems []string
	)
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	integer := func(name string, def, min, max int) int {
		v := get(name, strconv.Itoa(def))
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			bad(name, "%q is not a whole number from %d to %d", v, min, max)
		}
		return n
	}

	s.PATSecret, s.KeysSecret = get(EnvPATSecret, ""), get(EnvKeysSecret, "")
	if p := sourceModeProblem(s.PATSecret, s.KeysSecret); p != "" {
		bad(EnvPATSecret+"/"+EnvKeysSecret, "%s", p)
	}
	if t, name, p := parseDest(get(EnvDestBucket, ""), get(EnvDestPrefix, "")); p != "" {
		bad(name, "%s", p)
	} else {
		s.Dest = t
	}
	s.KMSKeyID = get(EnvDestKMSKey, "")
	if ts, err := export.ParseTypes(get(EnvTypes, DefaultTypes)); err != nil {
		bad(EnvTypes, "%v", err)
	} else {
		s.Types = ts
	}
	s.Lookback = integer(EnvLookback, DefaultLookbackDays, 0, 365)
	s.MaxBackfillDays = integer(EnvMaxBackfillDays, 400, 1, 3660)
	s.TaskQueueURL = get(EnvTaskQueue, "")
	if needQueue && s.TaskQueueURL == "" {
		bad(EnvTaskQueue, "required")
	}
	if d, err := optimizely.ParseDuration(get(EnvDuration, DefaultDuration)); err != nil {
		bad(EnvDuration, "%v", err)
	} else {
		s.Duration = d
	}
	s.Concurrency = integer(EnvConcurrency, DefaultConcurrency, 1, MaxConcurrency)
	s.PartSize = int64(integer(EnvPartSizeMiB, DefaultPartSizeMiB, MinPartSizeMiB, MaxPartSizeMiB)) << 20
	s.MetricsNS = get(EnvMetricsNS, "e3sync")
	s.StackName = get(EnvStackName, "e3sync")
	s.SecretTTL = time.Duration(integer(EnvSecretTTL, 300, 0, 86400)) * time.Second
	if s.APIURL = get(EnvAPIURL, ""); s.APIURL != "" {
		if err := optimizely.CheckBaseURL(s.APIURL); err != nil {
			bad(EnvAPIURL, "%v", err)
		}
	}
	s.SourceEndpoint = get(EnvSourceEndpoint, "")
	if s.EventBus = get(EnvEventBus, "default"); !validBusName(s.EventBus) {
		bad(EnvEventBus, "%q is not an event bus name (1-256 letters, digits, '.', '-', '_', '/') or ARN", s.EventBus)
	}
	if s.GlueDatabase = get(EnvGlueDatabase, ""); s.GlueDatabase != "" && !ValidGlueDatabase(s.GlueDatabase) {
		bad(EnvGlueDatabase, "%q is not a Glue database name (1-255 lowercase letters, digits and '_')", s.GlueDatabase)
	}
	switch v := get(EnvPrune, "false"); v {
	case "true", "false":
		s.Prune = v == "true"
	default:
		bad(EnvPrune, "%q is not true or false", v)
	}
	if b, err := parseBackoff(get(EnvRetryBackoff, "60,120,300,600,1200")); err != nil {
		bad(EnvRetryBackoff, "%v", err)
	} else {
		s.RetryBackoff = b
	}
	if len(problems) > 0 {
		return Settings{}, fmt.Errorf("configuration: %s", strings.Join(problems, "; "))
	}
	return s, nil
}

// sourceModeProblem says what is wrong with the source mode: exactly one
// of the PAT's secret and the static keys' secret is set.
func sourceModeProblem(patSecret, keysSecret string) string {
	switch {
	case patSecret == "" && keysSecret == "":
		return "one is required (a Personal Access Token's secret, or static source keys' secret)"
	case patSecret != "" && keysSecret != "":
		return "both are set; set exactly one (the token's secret or the source keys' secret)"
	}
	return ""
}

// parseDest reads the destination bucket and prefix; a problem comes with
// the variable it names.
func parseDest(bucket, prefix string) (t store.Target, name, problem string) {
	switch {
	case bucket == "":
		return t, EnvDestBucket, "required"
	case strings.ContainsAny(bucket, "/:"):
		return t, EnvDestBucket, fmt.Sprintf("%q is not a bucket name (put the key prefix in %s)", bucket, EnvDestPrefix)
	}
	t, err := store.ParseTarget("s3://" + bucket + "/" + prefix)
	if err != nil {
		return t, EnvDestBucket + "/" + EnvDestPrefix, err.Error()
	}
	return t, "", ""
}

// maxVisibilitySeconds is SQS's largest visibility timeout (12 hours).
const maxVisibilitySeconds = 43200

// parseBackoff reads a comma-separated list of 1 to 20 whole seconds, each
// from 0 to 43200 (SQS's longest visibility timeout).
func parseBackoff(v string) ([]time.Duration, error) {
	fields := strings.Split(v, ",")
	if len(fields) > 20 {
		return nil, fmt.Errorf("%q has %d delays (at most 20)", v, len(fields))
	}
	out := make([]time.Duration, 0, len(fields))
	for _, f := range fields {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > maxVisibilitySeconds {
			return nil, fmt.Errorf("%q: %q is not a whole number of seconds from 0 to %d", v, strings.TrimSpace(f), maxVisibilitySeconds)
		}
		out = append(out, time.Duration(n)*time.Second)
	}
	return out, nil
}

// validBusName accepts an EventBridge bus name or ARN.
func validBusName(s string) bool {
	if strings.HasPrefix(s, "arn:") {
		return strings.Contains(s, ":event-bus/")
	}
	if len(s) < 1 || len(s) > 256 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r)
		if !ok {
			return false
		}
	}
	return true
}

// ValidGlueDatabase accepts the Glue database names template.yaml allows
// (AthenaDatabaseName): 1-255 lowercase letters, digits and '_'.
func ValidGlueDatabase(s string) bool {
	if len(s) < 1 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
