package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/e3sync/e3sync/internal/exportseed"
	"github.com/e3sync/e3sync/internal/fakeauth"
	"github.com/e3sync/e3sync/internal/memorys3"
	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/redact"
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
	fs := flag.NewFlagSet("e3sync demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dest := fs.String("dest", "./e3sync-demo", "local directory to sync into")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	secrets := redact.New()
	log := newLogger(stderr, true, false, secrets)

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

	src, err := clients.NewSource(ctx, clients.SourceConfig{
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
		concurrency: 8, taskConcurrency: 8, log: log, secrets: secrets,
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

func mustToken(s string) pat.Token {
	t, err := pat.New(s)
	if err != nil {
		panic(err)
	}
	return t
}
