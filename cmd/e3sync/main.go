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
	"os/signal"
	"strings"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/job"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/redact"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
		fmt.Fprintln(stdout, "e3sync", version)
	case "help", "-h", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "e3sync: unknown command %q\n\n", cmd)
		usage(stderr)
		return exitUsage
	}
	return exitCode(err, stderr)
}

// errRunFailed means the run completed with failures already reported in
// its summary.
var errRunFailed = errors.New("some objects could not be copied")

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "e3sync:", strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	case errors.Is(err, optimizely.ErrTokenRejected):
		fmt.Fprintln(stderr, "e3sync:", err)
		return exitRejected
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
	c, err := parseConfig(cmd, args, getenv, stderr)
	if err != nil {
		return err
	}
	secrets := redact.New()
	defer func() { err = secrets.Error(err) }()
	log := newLogger(stderr, c.quiet, c.verbose, secrets)
	clients.LimitMemory(getenv, c.partSize)
	src, dst, err := connect(ctx, c, getenv, log, secrets)
	if err != nil {
		return err
	}
	glue, err := glueCatalog(ctx, c.glueDatabase, dst)
	if err != nil {
		return err
	}
	return runJob(ctx, src, dst, jobSettings{
		glue:   glue,
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
}

func runJob(ctx context.Context, src transfer.Source, dst transfer.Destination, s jobSettings, stdout, stderr io.Writer) error {
	bar := newProgress(stderr, s.quiet || s.json)
	eng := transfer.New(src, dst, transfer.Options{
		Concurrency: s.concurrency, DryRun: s.dryRun, Logger: s.log, Progress: bar.bytes,
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
	if err != nil {
		return err
	}
	for i, e := range sum.Errors {
		sum.Errors[i] = s.secrets.String(e)
	}
	if s.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else if !s.quiet {
		printSummary(stdout, sum, dst)
	}
	if sum.Failed() {
		if !s.json {
			// Each error was logged when it happened (level ERROR, shown
			// even with --quiet); with --json they are in "errors".
			fmt.Fprintf(stderr, "%d errors; the lines with level=ERROR above say what failed\n", len(sum.Errors))
		}
		return errRunFailed
	}
	return nil
}

// connect makes the source (the PAT exchanged for export credentials) and
// the destination the configuration names.
func connect(ctx context.Context, c config, getenv func(string) string, log *slog.Logger, secrets *redact.Secrets) (*store.S3, transfer.Destination, error) {
	tokens, err := tokenSource(ctx, c, getenv)
	if err != nil {
		return nil, nil, err
	}
	src, err := clients.NewSource(ctx, clients.SourceConfig{
		Tokens: tokens, APIBaseURL: c.apiBaseURL, Endpoint: c.sourceEndpoint, Duration: c.duration, Logger: log, Secrets: secrets,
	})
	if err != nil {
		return nil, nil, err
	}
	dst, err := destination(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return src.Store, dst, nil
}

func tokenSource(ctx context.Context, c config, getenv func(string) string) (pat.Source, error) {
	if c.tokenSecret == "" {
		return pat.FromEnv(getenv, envToken), nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for Secrets Manager: %w", err)
	}
	return &pat.SecretsManager{Client: secretsmanager.NewFromConfig(cfg), SecretID: c.tokenSecret}, nil
}

func destination(ctx context.Context, c config) (transfer.Destination, error) {
	if c.dest.Dir != "" {
		return store.NewDir(c.dest.Dir)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for the destination: %w", err)
	}
	return clients.NewDestinationS3(cfg, c.dest, c.customDestEP, store.S3Options{PartSize: c.partSize, KMSKeyID: c.kmsKeyID}), nil
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
	fmt.Fprintf(w, "run %s: %d dates, %d tasks\n", s.RunID, len(s.Dates), s.Tasks)
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
