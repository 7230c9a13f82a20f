package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/store"
)

// Environment variables the CLI reads.
const (
	envToken    = "OPTIMIZELY_TOKEN"       // the Personal Access Token
	envAPI      = "E3SYNC_OPTIMIZELY_API"  // Optimizely API base URL (emulators)
	envSourceS3 = "E3SYNC_SOURCE_ENDPOINT" // S3 endpoint of the export bucket (emulators)
	envDestS3   = "AWS_ENDPOINT_URL_S3"    // destination S3 endpoint (SDK standard)
	envEndpoint = "AWS_ENDPOINT_URL"       // all services' endpoint (SDK standard)
)

// config is everything one plan or sync run needs, from flags and environment.
type config struct {
	dest            store.Target
	types           []export.Type
	from, to        string
	lookback        int
	partitions      []string
	tokenSecret     string
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

// errUsage marks errors in flags and settings (exit code 2).
var errUsage = errors.New("usage")

// parseConfig parses flags for plan and sync. Every problem is reported at
// once.
func parseConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("e3sync "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c                                         config
		dest, types, partitions, duration, partSz string
		abortAfter                                string
	)
	fs.StringVar(&dest, "dest", "", "destination: s3://bucket/prefix or a local directory (required)")
	fs.StringVar(&types, "types", "decisions,events", "export types, comma-separated")
	fs.StringVar(&c.from, "from", "", "first date to copy, YYYY-MM-DD (a backfill; with --to)")
	fs.StringVar(&c.to, "to", "", "last date to copy, YYYY-MM-DD, inclusive")
	fs.IntVar(&c.lookback, "lookback", plan.DefaultLookback, "days before today that are always re-checked for late data")
	fs.StringVar(&partitions, "partitions", "", "only these sub-partitions, comma-separated (e.g. experiment=123)")
	fs.StringVar(&c.tokenSecret, "token-secret", "", "Secrets Manager secret id or ARN holding the token (instead of $"+envToken+")")
	fs.StringVar(&duration, "duration", "1h", "lifetime of the export credentials to ask for, 15m to 1h")
	fs.IntVar(&c.concurrency, "concurrency", 64, "most objects copied at once (an upper bound: below it the number adapts to throughput and SlowDown, starting at 8)")
	fs.IntVar(&c.taskConcurrency, "task-concurrency", 8, "sub-partitions worked on at once")
	fs.StringVar(&partSz, "part-size", "8MiB", "multipart part size for S3 destinations (5MiB to 512MiB)")
	fs.StringVar(&c.kmsKeyID, "kms-key-id", "", "encrypt S3 destination objects with this KMS key (SSE-KMS)")
	fs.StringVar(&abortAfter, "abort-uploads-after", "1h", // transfer.DefaultStaleUploadAge (the test checks)
		"abort multipart uploads an interrupted run left open in the destination once they are older than this\n"+
			"(checked under each sub-partition that is complete); keep it longer than any run")
	fs.StringVar(&c.glueDatabase, "glue-database", "", "register the sub-partitions copied as partitions of this Glue database's\n"+
		"decisions and events tables (an s3:// destination; see README \"Athena\")")
	if name != "verify" {
		fs.BoolVar(&c.prune, "prune", false, "move stale objects (no longer at the source, for a date it still has) to\n"+
			"<dest>/_e3sync/quarantine/<run id>/, out of the table locations")
		fs.BoolVar(&c.force, "force", false, "copy every object of the planned dates again, even those up to date\n"+
			"(repairs a destination object changed in place; usually with --from/--to)")
	}
	fs.BoolVar(&c.json, "json", false, "print a machine-readable JSON summary on stdout")
	fs.BoolVar(&c.quiet, "quiet", false, "print only errors (and the --json summary)")
	fs.BoolVar(&c.verbose, "verbose", false, "log every object")
	fs.Usage = func() { usageFor(name, fs, stderr) }
	if err := fs.Parse(args); err != nil {
		return config{}, fmt.Errorf("%w: %v", errUsage, err)
	}

	problems := c.parseDestAndTypes(fs, dest, types)
	o := plan.Options{Types: c.types, From: c.from, To: c.to, Lookback: c.lookback}
	if len(c.types) == 0 {
		o.Types = export.AllTypes // already reported
	}
	if err := o.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	for _, p := range strings.Split(partitions, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.partitions = append(c.partitions, p)
		}
	}
	if d, err := optimizely.ParseDuration(duration); err != nil {
		problems = append(problems, "--duration: "+err.Error())
	} else {
		c.duration = d
	}
	if c.concurrency < 1 || c.concurrency > 256 {
		problems = append(problems, fmt.Sprintf("--concurrency %d: want 1 to 256", c.concurrency))
	}
	if c.taskConcurrency < 1 || c.taskConcurrency > 256 {
		problems = append(problems, fmt.Sprintf("--task-concurrency %d: want 1 to 256", c.taskConcurrency))
	}
	if n, err := parseSize(partSz); err != nil || n < 5<<20 || n > 512<<20 {
		problems = append(problems, fmt.Sprintf("--part-size %q: want 5MiB to 512MiB", partSz))
	} else {
		c.partSize = n
	}
	if d, err := time.ParseDuration(abortAfter); err != nil || d <= 0 {
		problems = append(problems, fmt.Sprintf("--abort-uploads-after %q: want a duration above zero, e.g. 1h", abortAfter))
	} else {
		c.staleUploadAge = d
	}
	problems = append(problems, glueDatabaseProblems(c.glueDatabase, c.dest)...)
	c.token = getenv(envToken)
	if c.tokenSecret == "" && strings.TrimSpace(c.token) == "" {
		problems = append(problems, "no token: set $"+envToken+" or pass --token-secret")
	}
	if c.apiBaseURL = getenv(envAPI); c.apiBaseURL != "" {
		if err := optimizely.CheckBaseURL(c.apiBaseURL); err != nil {
			problems = append(problems, "$"+envAPI+": "+err.Error())
		}
	}
	c.sourceEndpoint = getenv(envSourceS3)
	c.customDestEP = getenv(envDestS3) != "" || getenv(envEndpoint) != ""
	if len(problems) > 0 {
		return config{}, fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	return c, nil
}

// parseSize parses "8MiB", "16M", "5242880".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s || n <= 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// parseDestAndTypes checks what every command that reads a destination
// shares: no positional arguments, --dest and --types. It sets c.dest and
// c.types and returns the problems found.
func (c *config) parseDestAndTypes(fs *flag.FlagSet, dest, types string) []string {
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	if dest == "" {
		problems = append(problems, "--dest is required")
	} else if t, err := store.ParseTarget(dest); err != nil {
		problems = append(problems, err.Error())
	} else {
		c.dest = t
	}
	if ts, err := export.ParseTypes(types); err != nil {
		problems = append(problems, "--types: "+err.Error())
	} else {
		c.types = ts
	}
	return problems
}
