package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/settings"
	"github.com/e3sync/e3sync/pkg/store"
)

// Environment variables the CLI reads: the settings it shares with the
// Lambdas have their one name in package settings.
const (
	envToken    = settings.EnvToken          // the Personal Access Token
	envAPI      = settings.EnvAPIURL         // Optimizely API base URL (emulators)
	envSourceS3 = settings.EnvSourceEndpoint // S3 endpoint of the export bucket (emulators)
	envDestS3   = "AWS_ENDPOINT_URL_S3"      // destination S3 endpoint (SDK standard)
	envEndpoint = "AWS_ENDPOINT_URL"         // all services' endpoint (SDK standard)
)

// envHelp is the Environment section of the usage of every command that
// reads the token.
const envHelp = `  OPTIMIZELY_TOKEN       Personal Access Token (unless --token-secret)
  OPTIMIZELY_ACCESS_KEY_ID, OPTIMIZELY_SECRET_ACCESS_KEY, OPTIMIZELY_ACCOUNT_ID
                         static source keys instead of a token (or --source-keys-secret)
  OPTIMIZELY_API_URL     Optimizely API base URL (default https://api.optimizely.com)
  SOURCE_S3_ENDPOINT     S3 endpoint of the export bucket (emulators only)
  AWS_ENDPOINT_URL_S3    S3 endpoint of the destination (S3-compatible servers; path style)
  AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID, ...
                         the destination identity and region, as for the AWS CLI
  NO_COLOR               no progress bar colours
`

// config is everything one command needs, from flags and environment.
type config struct {
	cmd             string
	dest            store.Target
	destExists      bool // a local destination directory exists already
	types           []export.Type
	from, to        string
	lookback        int
	partitions      []string
	tokenSecret     string
	keysSecret      string // --source-keys-secret (sourcekeys.go)
	duration        time.Duration
	concurrency     int
	taskConcurrency int
	partSize        int64
	kmsKeyID        string
	staleUploadAge  time.Duration // --abort-uploads-after
	prune, force    bool          // plan and sync only
	json, quiet     bool
	verbose         bool
	apiBaseURL      string
	sourceEndpoint  string
	customDestEP    bool
	token           string // from the environment; read through pat.FromEnv
	glueDatabase    string // --glue-database: register partitions in its tables
}

// errUsage marks errors in flags and settings (exit code 2); see usageError.
var errUsage = errors.New("usage")

// minStaleUploadAge is the shortest --abort-uploads-after that cannot abort
// an upload of another run still going on (a large object takes minutes).
const minStaleUploadAge = 15 * time.Minute

// raw holds flag values before they are checked.
type raw struct {
	dest, types, partitions, duration, partSize, abortAfter string
}

// parseConfig parses the flags of plan, sync, verify and status (each has
// its own set, see defineFlags) and the environment. -h prints the usage on
// stdout; warnings go to stderr. Every problem is reported at once.
func parseConfig(name string, args []string, getenv func(string) string, stdout, stderr io.Writer) (config, error) {
	fs := newFlagSet(name)
	c := config{cmd: name}
	var r raw
	defineFlags(fs, name, &c, &r)
	problems, err := parseFlags(fs, name, args, stdout)
	if err != nil {
		return config{}, err
	}
	set := flagsSet(fs)
	problems = append(problems, c.checkDest(r.dest)...)
	if ts, err := export.ParseTypes(r.types); err != nil {
		problems = append(problems, "--types: "+err.Error())
	} else {
		c.types = ts
	}
	problems = append(problems, checkRange(c.from, c.to)...)
	if c.lookback < 0 {
		problems = append(problems, fmt.Sprintf("--lookback %d is negative: want a number of days, 0 or more", c.lookback))
	}
	if fs.Lookup("partitions") != nil {
		ps, bad := parsePartitions(r.partitions)
		c.partitions = ps
		problems = append(problems, bad...)
	}
	if d, err := optimizely.ParseDuration(r.duration); err != nil {
		problems = append(problems, "--duration: "+err.Error())
	} else {
		c.duration = d
	}
	if p := settings.ConcurrencyProblem(c.concurrency); p != "" {
		problems = append(problems, "--concurrency "+p)
	}
	if p := settings.ConcurrencyProblem(c.taskConcurrency); p != "" {
		problems = append(problems, "--task-concurrency "+p)
	}
	if n, err := settings.ParsePartSize(r.partSize); err != nil {
		problems = append(problems, "--part-size: "+err.Error())
	} else {
		c.partSize = n
	}
	if d, err := time.ParseDuration(r.abortAfter); err != nil || d <= 0 {
		problems = append(problems, fmt.Sprintf("--abort-uploads-after %q: want a duration above zero, e.g. 1h, 90m", r.abortAfter))
	} else {
		c.staleUploadAge = d
	}
	problems = append(problems, glueDatabaseProblems(c.glueDatabase, c.dest)...)
	problems = append(problems, c.readEnv(getenv, stderr)...)
	if len(problems) > 0 {
		return config{}, usageErr(name, problems...)
	}
	c.warnings(set, stderr)
	return c, nil
}

// defineFlags defines the flags command name has. plan and sync have them
// all; verify those that select and read; status those that select.
func defineFlags(fs *flag.FlagSet, name string, c *config, r *raw) {
	copies := name == "plan" || name == "sync"
	reads := copies || name == "verify"
	// Values of flags the command lacks: the defaults.
	r.duration, r.partSize, r.abortAfter = settings.DefaultDuration, fmt.Sprintf("%dMiB", settings.DefaultPartSizeMiB), "1h"
	c.concurrency, c.taskConcurrency, c.lookback = settings.DefaultConcurrency, settings.DefaultTaskConcurrency, settings.DefaultLookbackDays

	fs.StringVar(&r.dest, "dest", "", "destination: s3://bucket/prefix or a local directory (required)")
	fs.StringVar(&r.types, "types", settings.DefaultTypes, "export types, comma-separated")
	if reads {
		fs.StringVar(&c.from, "from", "", "first date, YYYY-MM-DD (with --to: exactly this range)")
		fs.StringVar(&c.to, "to", "", "last date, YYYY-MM-DD, inclusive")
	}
	if copies || name == "status" {
		about := "days before today that are always re-checked for late data"
		if name == "status" {
			about = "days before today whose objects are compared with the source even when complete"
		}
		fs.IntVar(&c.lookback, "lookback", settings.DefaultLookbackDays, about)
	}
	if copies {
		fs.StringVar(&r.partitions, "partitions", "", "only these sub-partitions, comma-separated (e.g. experiment=123,event=purchase)")
	}
	fs.StringVar(&c.tokenSecret, "token-secret", "", "Secrets Manager secret id or ARN holding the token (instead of $"+envToken+")")
	addSourceKeysFlag(fs, &c.keysSecret)
	if reads {
		fs.StringVar(&r.duration, "duration", settings.DefaultDuration, "lifetime of the export credentials to ask for, 15m to 1h")
		concAbout := "most objects copied at once: an upper bound, below which the number in flight adapts\n" +
			"to throughput and SlowDown (starting from 8)"
		concDefault := settings.DefaultConcurrency
		if name == "verify" {
			concAbout, concDefault = "objects compared at once", settings.DefaultVerifyConcurrency
		}
		fs.IntVar(&c.concurrency, "concurrency", concDefault, concAbout)
	}
	if copies {
		fs.IntVar(&c.taskConcurrency, "task-concurrency", settings.DefaultTaskConcurrency, "sub-partitions worked on at once")
		fs.StringVar(&r.partSize, "part-size", r.partSize, fmt.Sprintf("multipart part size for S3 destinations, %dMiB to %dMiB", settings.MinPartSizeMiB, settings.MaxPartSizeMiB))
		fs.StringVar(&c.kmsKeyID, "kms-key-id", "", "encrypt S3 destination objects with this KMS key (SSE-KMS)")
		fs.StringVar(&r.abortAfter, "abort-uploads-after", "1h", // transfer.DefaultStaleUploadAge (the test checks)
			"abort multipart uploads an interrupted run left open in the destination once they are older than this\n"+
				"(checked under each sub-partition that is complete); keep it longer than any run")
		fs.StringVar(&c.glueDatabase, "glue-database", "", "register the sub-partitions copied as partitions of this Glue database's\n"+
			"decisions and events tables (an s3:// destination; see README \"Athena\")")
		fs.BoolVar(&c.prune, "prune", false, "move stale objects (no longer at the source, for a date it still has) to\n"+
			"<dest>/_e3sync/quarantine/<run id>/, out of the table locations")
		fs.BoolVar(&c.force, "force", false, "copy every object of the planned dates again, even those up to date\n"+
			"(repairs a destination object changed in place; usually with --from/--to)")
	}
	jsonAbout := "print a machine-readable JSON summary on stdout"
	if name == "status" {
		jsonAbout = "print the status as JSON on stdout"
	}
	fs.BoolVar(&c.json, "json", false, jsonAbout)
	if reads {
		fs.BoolVar(&c.quiet, "quiet", false, "print only errors (and the --json summary)")
		fs.BoolVar(&c.verbose, "verbose", false, "log every object")
	}
}

// checkDest checks --dest (see destProblem) and sets c.dest.
func (c *config) checkDest(dest string) []string {
	if dest == "" {
		return []string{"--dest is required: s3://bucket/prefix or a local directory"}
	}
	if p := destProblem(dest); p != "" {
		return []string{p}
	}
	t, err := store.ParseTarget(dest)
	if err != nil {
		return []string{"--dest: " + err.Error()}
	}
	c.dest = t
	if t.Dir == "" {
		return nil
	}
	fi, err := os.Stat(t.Dir)
	switch {
	case err == nil && !fi.IsDir():
		return []string{fmt.Sprintf("--dest %q is a file, not a directory", dest)}
	case err == nil:
		c.destExists = true
	case !errors.Is(err, os.ErrNotExist):
		return []string{fmt.Sprintf("--dest %q: %v", dest, unwrapPathError(err))}
	case c.cmd == "verify" || c.cmd == "status":
		return []string{fmt.Sprintf("--dest %q: no such directory (nothing was synced there yet)", dest)}
	}
	return nil
}

// checkRange checks --from and --to, each on its own.
func checkRange(from, to string) []string {
	var problems []string
	ok := true
	for _, f := range []struct{ name, v string }{{"--from", from}, {"--to", to}} {
		if f.v == "" {
			continue
		}
		if _, err := export.ParseDate(f.v); err != nil {
			problems = append(problems, fmt.Sprintf("%s %q is not a date: want YYYY-MM-DD, e.g. 2024-01-31", f.name, f.v))
			ok = false
		}
	}
	if ok && from != "" && to != "" && from > to {
		problems = append(problems, fmt.Sprintf("--from %s is after --to %s", from, to))
	}
	return problems
}

// parsePartitions reads --partitions: sub-partition folder names such as
// experiment=123 or event=purchase.
func parsePartitions(s string) (ps, problems []string) {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		key, value, ok := strings.Cut(p, "=")
		if !ok || value == "" || key == "" || strings.ContainsAny(key, "/ ") || strings.Contains(value, "/") {
			problems = append(problems, fmt.Sprintf("--partitions: %q is not a sub-partition: want experiment=<id> or event=<name>, e.g. experiment=123", p))
			continue
		}
		ps = append(ps, p)
	}
	return ps, problems
}

// readEnv reads the token and the endpoints from the environment.
func (c *config) readEnv(getenv func(string) string, stderr io.Writer) []string {
	var problems []string
	c.token = getenv(envToken)
	problems = append(problems, sourceModeProblems(*c, getenv, c.cmd != "status")...)
	switch {
	case c.tokenSecret != "":
	case strings.TrimSpace(c.token) != "":
		if _, err := pat.New(c.token); err != nil {
			problems = append(problems, "$"+envToken+": "+tokenProblem(c.token, err))
		}
	}
	var old string
	if c.apiBaseURL, old = settings.Lookup(getenv, envAPI); old != "" {
		warn(stderr, "$%s is deprecated: set $%s instead", old, envAPI)
	}
	if c.apiBaseURL != "" {
		if err := optimizely.CheckBaseURL(c.apiBaseURL); err != nil {
			name := envAPI
			if old != "" {
				name = old
			}
			problems = append(problems, "$"+name+": "+err.Error())
		}
	}
	if c.sourceEndpoint, old = settings.Lookup(getenv, envSourceS3); old != "" {
		warn(stderr, "$%s is deprecated: set $%s instead", old, envSourceS3)
	}
	c.customDestEP = getenv(envDestS3) != "" || getenv(envEndpoint) != ""
	return problems
}

// tokenProblem says what is wrong with a token pat.New refused.
func tokenProblem(v string, err error) string {
	if f := strings.Fields(v); len(f) > 1 && strings.EqualFold(f[0], "bearer") {
		return `starts with "Bearer ": set the token alone (e3sync sends the Authorization header itself)`
	}
	return err.Error()
}

// warnings prints what is allowed but contradictory or has no effect.
func (c config) warnings(set map[string]bool, stderr io.Writer) {
	if c.quiet && c.verbose {
		warn(stderr, "--quiet and --verbose contradict each other: --quiet wins (errors only)")
	}
	if set["lookback"] && (c.from != "" || c.to != "") {
		warn(stderr, "--lookback has no effect with --from/--to: the range is planned exactly")
	}
	if c.dest.Dir != "" {
		for _, f := range []string{"part-size", "kms-key-id"} {
			if set[f] {
				warn(stderr, "--%s has no effect: the destination is a local directory", f)
			}
		}
	}
	if set["abort-uploads-after"] && c.staleUploadAge < minStaleUploadAge {
		warn(stderr, "--abort-uploads-after %s is shorter than an upload can take: the uploads of another run going on "+
			"at the same time would be aborted (they then fail and are copied again); keep it at %s or more", c.staleUploadAge, minStaleUploadAge)
	}
	if c.tokenSecret != "" && strings.TrimSpace(c.token) != "" {
		warn(stderr, "$%s is ignored: --token-secret is given", envToken)
	}
}

// unwrapPathError drops the path an *os.PathError repeats.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
