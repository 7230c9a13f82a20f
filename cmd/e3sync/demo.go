package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/e3sync/e3sync/internal/exportseed"
	"github.com/e3sync/e3sync/internal/fakeauth"
	"github.com/e3sync/e3sync/internal/memorys3"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/store"
)

const (
	demoBucket  = "optimizely-events-data"
	demoAccount = "v1/account_id=10000000/"
	demoToken   = "demo-personal-access-token"
)

// runDemo runs the main job against an embedded emulated Optimizely: an
// in-process S3 server holding a realistic export and a fake Authentication
// API. It syncs into a local directory three times: the first copy, a re-run
// that copies nothing, and the day after, when a new date arrives and
// yesterday's _SUCCESS appears.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo")
	dest := fs.String("dest", "./e3sync-demo", "local directory to sync into")
	problems, err := parseFlags(fs, "demo", args, stdout)
	if err != nil {
		return err
	}
	problems = append(problems, demoDestProblems(*dest)...)
	if len(problems) > 0 {
		return usageErr("demo", problems...)
	}
	secrets := redact.New()
	bar := newProgress(stderr, false, false)
	log := newLogger(bar.logWriter(stderr), true, false, secrets)

	s3srv, err := memorys3.Start()
	if err != nil {
		return fmt.Errorf("demo: start S3 server: %w", err)
	}
	defer s3srv.Close()
	if err := s3srv.CreateBucket(demoBucket); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	api := fakeauth.New(fakeauth.Options{
		Tokens: []string{demoToken},
		Minter: fakeauth.StaticMinter{AccessKeyID: "DEMOEXPORTKEY", SecretAccessKey: "demo-export-secret"},
		Bucket: demoBucket,
		Prefix: demoAccount,
	})
	apiURL, stopAPI := api.Start()
	defer stopAPI()

	seeder := s3srv.Client(credentials.NewStaticCredentialsProvider("seed", "seed", ""))
	now := time.Now().UTC()
	seed := func(at time.Time) (exportseed.Report, error) {
		return exportseed.Seed(ctx, seeder, demoBucket, demoAccount, exportseed.Spec{Now: at, Seed: 1})
	}
	rep, err := seed(now)
	if err != nil {
		return fmt.Errorf("demo: seed: %w", err)
	}
	fmt.Fprintf(stdout, "emulated Optimizely: S3 %s, Auth API %s\n", s3srv.URL(), apiURL)
	fmt.Fprintf(stdout, "seeded s3://%s/%s: %d objects, %s\n\n", demoBucket, demoAccount, len(rep.Objects), humanBytes(rep.TotalBytes))

	src, err := source.Open(ctx, source.Config{
		Tokens: pat.Static(mustToken(demoToken)), APIBaseURL: apiURL, Endpoint: s3srv.URL(), Logger: log, Secrets: secrets,
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	dst, err := store.NewDir(*dest)
	if err != nil {
		return err
	}
	settings := jobSettings{
		options:     plan.Options{Types: export.AllTypes, Lookback: plan.DefaultLookback},
		concurrency: 8, taskConcurrency: 8, log: log, secrets: secrets, progress: bar,
	}
	step := func(title string) error {
		fmt.Fprintf(stdout, "== %s\n", title)
		err := runJob(ctx, src.Store, dst, settings, stdout, stderr)
		fmt.Fprintln(stdout)
		return err
	}
	if err := step("sync: everything new is copied, complete dates get _SUCCESS"); err != nil {
		return err
	}
	if err := step("sync again: nothing to copy"); err != nil {
		return err
	}
	if _, err := seed(now.AddDate(0, 0, 1)); err != nil {
		return fmt.Errorf("demo: seed the next day: %w", err)
	}
	if err := step("a day later: today's files arrive and yesterday's _SUCCESS appears"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "the export is mirrored in %s (run 'make demo' again: it copies nothing)\n", dst)
	return nil
}

// demoDestProblems checks demo's --dest: a local directory (the demo's
// emulated export is never copied into a real bucket).
func demoDestProblems(dest string) []string {
	if p := destProblem(dest); p != "" {
		return []string{p}
	}
	t, err := store.ParseTarget(dest)
	switch {
	case err != nil:
		return []string{"--dest: " + err.Error()}
	case t.Dir == "":
		return []string{fmt.Sprintf("--dest %q: the demo writes to a local directory only (try 'e3sync sync --dest %s' with a real token)", dest, dest)}
	}
	if fi, err := os.Stat(t.Dir); err == nil && !fi.IsDir() {
		return []string{fmt.Sprintf("--dest %q is a file, not a directory", dest)}
	}
	return nil
}

func mustToken(s string) pat.Token {
	t, err := pat.New(s)
	if err != nil {
		panic(err)
	}
	return t
}
