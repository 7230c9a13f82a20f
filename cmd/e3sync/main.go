// Command e3sync keeps a bucket or directory in sync with an Optimizely
// Experimentation Events Export, on one machine: the same library the
// Lambdas use, with no AWS deployment.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/logging"

	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/job"
	"github.com/e3sync/e3sync/pkg/memlimit"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // the run finished but some objects or tasks failed
	exitUsage    = 2 // bad flags or settings
	exitRejected = 3 // Optimizely rejected the Personal Access Token
	// exitRefused = 4: the destination refused (refused.go)
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := notifyInterrupt(context.Background(), os.Stderr)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "plan", "sync":
		err = runSync(ctx, cmd, rest, getenv, stdout, stderr)
	case "verify":
		err = runVerify(ctx, rest, getenv, stdout, stderr)
	case "catalog":
		err = runCatalog(ctx, rest, getenv, stdout, stderr)
	case "status":
		err = runStatus(ctx, rest, getenv, stdout, stderr)
	case "demo":
		err = runDemo(ctx, rest, stdout, stderr)
	case "version", "--version":
		err = runVersion(rest, stdout)
	case "help", "-h", "--help":
		return runHelp(ctx, rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "e3sync: unknown command %q\n\n", cmd)
		usage(stderr)
		return exitUsage
	}
	return exitCode(ctx, err, stderr)
}

// runHelp prints the general usage, or with a command name that command's
// (the same as 'e3sync CMD -h').
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stdout)
		return exitOK
	case len(args) > 1:
		fmt.Fprintf(stderr, "e3sync help: want one command name, got %q\n", strings.Join(args, " "))
		return exitUsage
	}
	if _, ok := commands[args[0]]; !ok {
		fmt.Fprintf(stderr, "e3sync help: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return run(ctx, []string{args[0], "-h"}, func(string) string { return "" }, stdout, stderr)
}

func runVersion(args []string, stdout io.Writer) error {
	fs := newFlagSet("version")
	problems, err := parseFlags(fs, "version", args, stdout)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return usageErr("version", problems...)
	}
	fmt.Fprintln(stdout, "e3sync", version)
	return nil
}

// errRunFailed means the run completed with failures already reported in
// its summary.
var errRunFailed = errors.New("some objects could not be copied")

func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	var ue *usageError
	var intr *interruption
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(context.Cause(ctx), &intr):
		return intr.report(err, stderr)
	case errors.As(err, &ue):
		ue.print(stderr, err.Error())
		return exitUsage
	case errors.Is(err, optimizely.ErrTokenRejected):
		fmt.Fprintln(stderr, "e3sync:", err)
		return exitRejected
	case errors.Is(err, source.ErrKeysRejected):
		fmt.Fprintln(stderr, "e3sync:", err)
		return exitKeysRejected
	case errors.Is(err, errRunFailed):
		return exitFailed
	case store.Refused(err) != nil:
		return refusedExit(err, stderr)
	default:
		fmt.Fprintln(stderr, "e3sync:", err)
		return exitFailed
	}
}

func runSync(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	c, err := parseConfig(cmd, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	secrets := redact.New()
	defer func() { err = secrets.Error(explainRejection(c, err)) }()
	bar := newProgress(stderr, c.quiet || c.json || barOff(getenv), cmd == "plan")
	log := newLogger(bar.logWriter(stderr), c.quiet, c.verbose, secrets)
	memlimit.Set(getenv, c.partSize)
	src, dst, err := connect(ctx, c, getenv, log, secrets)
	if err != nil {
		return err
	}
	glue, err := glueCatalog(ctx, c.glueDatabase, dst, log)
	if err != nil {
		return err
	}
	return runJob(ctx, src, dst, jobSettings{
		glue: glue, progress: bar,
		dryRun: cmd == "plan", json: c.json, quiet: c.quiet, concurrency: c.concurrency,
		taskConcurrency: c.taskConcurrency, staleUploadAge: c.staleUploadAge, log: log, secrets: secrets,
		prune: c.prune, force: c.force,
		options: plan.Options{Types: c.types, From: c.from, To: c.to, Lookback: c.lookback, Partitions: c.partitions},
	}, stdout, stderr)
}

// jobSettings are what runJob needs beyond the two stores; the demo uses it
// too.
type jobSettings struct {
	options         plan.Options
	dryRun          bool
	json, quiet     bool
	concurrency     int
	taskConcurrency int
	staleUploadAge  time.Duration // 0: transfer.DefaultStaleUploadAge
	prune, force    bool          // --prune, --force
	log             *slog.Logger
	secrets         *redact.Secrets // redacted from the summary's errors
	glue            *catalog.Glue   // nil: no partition registration
	progress        *progress       // the bar, and where log lines go
}

func runJob(ctx context.Context, src transfer.Source, dst transfer.Destination, s jobSettings, stdout, stderr io.Writer) error {
	bar := s.progress
	eng := transfer.New(src, dst, transfer.Options{
		Concurrency: s.concurrency, DryRun: s.dryRun, Logger: s.log, Progress: bar.bytes, Planned: bar.planned,
		StaleUploadAge: s.staleUploadAge, Prune: s.prune,
	})
	s.options.Now = time.Now().UTC()
	if s.force {
		s.options.ForceBefore = s.options.Now
	}
	s.options.RunID = newRunID(s.options.Now)
	j := &job.Job{Source: src, Dest: dst, Engine: eng, TaskConcurrency: s.taskConcurrency, DryRun: s.dryRun, Logger: s.log, Progress: bar}
	j.Catalog = &catalog.Keeper{Dest: dst, Glue: s.glue}
	sum, err := j.Run(ctx, s.options)
	bar.finish()
	for i, e := range sum.Errors {
		sum.Errors[i] = s.secrets.String(e)
	}
	if ctx.Err() != nil {
		if s.json {
			printJSON(stdout, sum)
		}
		return &interruptedRun{objects: sum.ObjectsCopied}
	}
	if err != nil {
		return err
	}
	if o := s.options; (o.From != "" || o.To != "") && len(sum.Dates) == 0 {
		s.log.Warn("the export has no dates in the range asked for: nothing to do", "from", o.From, "to", o.To, "types", fmt.Sprint(o.Types))
	}
	if s.json {
		if err := printJSON(stdout, sum); err != nil {
			return err
		}
	} else if !s.quiet {
		printSummary(stdout, sum, dst)
	}
	if sum.Failed() {
		if !s.json {
			// Each error was logged when it happened (level ERROR, shown
			// even with --quiet); with --json they are in "errors".
			fmt.Fprintf(stderr, "%s; the lines with level=ERROR above say what failed\n", plural(len(sum.Errors), "error", "errors"))
		}
		return errRunFailed
	}
	return nil
}

// connect makes the source (the PAT exchanged for export credentials, or
// static source keys) and the destination the configuration names.
func connect(ctx context.Context, c config, getenv func(string) string, log *slog.Logger, secrets *redact.Secrets) (*store.S3, transfer.Destination, error) {
	sc, err := sourceConfig(ctx, c, getenv, log)
	if err != nil {
		return nil, nil, err
	}
	sc.APIBaseURL, sc.Endpoint, sc.Duration, sc.Logger, sc.Secrets = c.apiBaseURL, c.sourceEndpoint, c.duration, log, secrets
	src, err := source.Open(ctx, sc)
	if err != nil {
		return nil, nil, err
	}
	dst, err := destination(ctx, c, log)
	if err != nil {
		return nil, nil, err
	}
	return src.Store, dst, nil
}

func tokenSource(ctx context.Context, c config, getenv func(string) string, log *slog.Logger) (pat.Source, error) {
	if c.tokenSecret == "" {
		return pat.FromEnv(getenv, envToken), nil
	}
	cfg, err := awsConfig(ctx, log)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for Secrets Manager: %w", err)
	}
	return &pat.SecretsManager{Client: secretsmanager.NewFromConfig(cfg), SecretID: c.tokenSecret}, nil
}

func destination(ctx context.Context, c config, log *slog.Logger) (transfer.Destination, error) {
	if c.dest.Dir != "" && c.cmd == "plan" && !c.destExists {
		abs, err := filepath.Abs(c.dest.Dir)
		if err != nil {
			return nil, fmt.Errorf("destination directory %q: %w", c.dest.Dir, err)
		}
		return absentDir{path: abs + string(filepath.Separator)}, nil
	}
	if c.dest.Dir != "" {
		return store.NewDir(c.dest.Dir)
	}
	cfg, err := awsConfig(ctx, log)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for the destination: %w", err)
	}
	return clients.NewDestinationS3(cfg, c.dest, c.customDestEP, store.S3Options{PartSize: c.partSize, KMSKeyID: c.kmsKeyID}), nil
}

// awsConfig loads the default AWS configuration (the destination's
// identity) with the SDK's own log lines sent to log, so that they go where
// e3sync's go (above the progress bar; SDK debug lines only with
// --verbose). A nil log keeps the SDK's default.
func awsConfig(ctx context.Context, log *slog.Logger) (aws.Config, error) {
	if log == nil {
		return awsconfig.LoadDefaultConfig(ctx)
	}
	return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "AWS SDK: "+fmt.Sprintf(format, v...))
	})))
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newLogger logs text lines to w, with every secret in secrets redacted.
func newLogger(w io.Writer, quiet, verbose bool, secrets *redact.Secrets) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case quiet:
		level = slog.LevelError
	case verbose:
		level = slog.LevelDebug
	}
	return slog.New(redact.Handler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}), secrets))
}

func newRunID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%x", now.Format("20060102T150405Z"), b)
}

func printSummary(w io.Writer, s job.Summary, dst fmt.Stringer) {
	verb := "copied"
	if s.DryRun {
		verb = "to copy"
	}
	fmt.Fprintf(w, "run %s: %s, %s\n", s.RunID, plural(len(s.Dates), "date", "dates"), plural(s.Tasks, "task", "tasks"))
	for _, d := range s.Dates {
		fmt.Fprintf(w, "  %-9s %s  %3d sub-partitions  source complete: %-5v  (%s)\n", d.Type, d.Date, d.Partitions, d.SourceComplete, d.Reason)
	}
	fmt.Fprintf(w, "objects %s: %d (%s), skipped: %d, failed: %d\n", verb, s.ObjectsCopied, humanBytes(s.BytesCopied), s.ObjectsSkipped, s.ObjectsFailed)
	if s.TasksFailed > 0 {
		fmt.Fprintf(w, "tasks failed: %d of %d (a task that failed before listing its objects counts none of them)\n", s.TasksFailed, s.Tasks)
	}
	if s.UploadsAborted > 0 {
		fmt.Fprintf(w, "stale multipart uploads aborted: %d\n", s.UploadsAborted)
	}
	printStale(w, s)
	if !s.DryRun {
		fmt.Fprintf(w, "dates completed: %d\n", s.DatesCompleted)
		for _, d := range s.CompletedDates {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	printCatalogSummary(w, s.Catalog, s.UnknownTypes)
	fmt.Fprintf(w, "destination: %s  (%.1fs)\n", dst, s.Seconds)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
