package source_test

// Static source keys against real components: MinIO holds Optimizely's
// bucket with two accounts' prefixes and a user whose policy reaches only
// one of them (as the keys Optimizely issues do); moto's Secrets Manager
// holds the keys. A whole sync, a rotation in the middle of it (new user,
// put-secret-value, old user removed), then the keys revoked.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/e3sync/e3sync/internal/exportseed"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/job"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
	"github.com/e3sync/e3sync/pkg/verify"
)

const (
	ourAccount   = "12345"
	otherAccount = "999"
	keyID1       = "optkeys1"
	secret1      = "first-SECRET-key-0001"
	keyID2       = "optkeys2"
	secret2      = "second-SECRET-key-0002"
)

var seedNow = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC) // dates 2026-01-08 (complete) and 2026-01-09

func keysValue(id, secret, account string) string {
	return `{"access_key_id":"` + id + `","secret_access_key":"` + secret + `","account_id":"` + account + `"}`
}

// rotatingSource runs rotate before its at-th object read (Open or the
// engine's OpenRange): in the middle of a sync.
type rotatingSource struct {
	*store.S3
	n      atomic.Int64
	at     int64
	rotate func()
	once   sync.Once
}

func (r *rotatingSource) read() {
	if r.n.Add(1) == r.at {
		r.once.Do(r.rotate)
	}
}

func (r *rotatingSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r.read()
	return r.S3.Open(ctx, key)
}

func (r *rotatingSource) OpenRange(ctx context.Context, key, etag string, off, n, size int64) (io.ReadCloser, error) {
	r.read()
	return r.S3.OpenRange(ctx, key, etag, off, n, size)
}

func TestStaticKeysAgainstMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO and moto_server")
	}
	ctx := context.Background()
	w := testworld.New(t, testworld.Options{Token: "unused-pat", AccountPrefix: source.AccountLocation(ourAccount).Prefix})
	m := w.MinIO
	ours := source.AccountLocation(ourAccount)
	rep, err := exportseed.Seed(ctx, w.Root, testworld.SourceBucket, ours.Prefix, exportseed.Spec{Now: seedNow, Dates: 2, LargeObjectBytes: -1, Seed: 14})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exportseed.Seed(ctx, w.Root, testworld.SourceBucket, source.AccountLocation(otherAccount).Prefix, exportseed.Spec{Now: seedNow, Dates: 1, LargeObjectBytes: -1, Seed: 15}); err != nil {
		t.Fatal(err)
	}
	policy := testenv.PrefixReadPolicy(testworld.SourceBucket, ours.Prefix)
	if err := m.AddUser(ctx, keyID1, secret1, policy); err != nil {
		t.Fatal(err)
	}

	moto := testenv.MotoForTest(t)
	sm := secretsmanager.New(secretsmanager.Options{
		Region: testenv.Region, BaseEndpoint: aws.String(moto.Endpoint()),
		Credentials: testenv.StaticCredentials(aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}),
	})
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("e3sync/source-keys"), SecretString: aws.String(keysValue(keyID1, secret1, ourAccount))})
	if err != nil {
		t.Fatal(err)
	}
	put := func(v string) {
		t.Helper()
		if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: sec.ARN, SecretString: aws.String(v)}); err != nil {
			t.Fatal(err)
		}
	}

	var logs bytes.Buffer
	secrets := redact.New()
	log := slog.New(redact.Handler(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}), secrets))
	open := func() (*source.Source, error) {
		c, _ := source.FromSecretsManager(sm, "", aws.ToString(sec.ARN), time.Hour) // only a rejection re-reads within the hour
		c.Endpoint, c.Logger, c.Secrets = m.Endpoint(), log, secrets
		return source.Open(ctx, c)
	}
	dest := func(prefix string) *store.S3 {
		cfg := aws.Config{Region: testenv.Region, BaseEndpoint: aws.String(m.Endpoint()),
			Credentials: testenv.StaticCredentials(aws.Credentials{AccessKeyID: testworld.CustomerKey, SecretAccessKey: testworld.CustomerSecret})}
		return clients.NewDestinationS3(cfg, store.Target{Bucket: testworld.DestBucket, Prefix: prefix}, true, store.S3Options{})
	}
	opts := plan.Options{Types: export.AllTypes, From: "2026-01-08", To: "2026-01-09", RunID: "keys"}
	sync := func(src transfer.Source, dst *store.S3) (job.Summary, error) {
		j := &job.Job{Source: src, Dest: dst, Engine: transfer.New(src, dst, transfer.Options{Concurrency: 4, Logger: log}), TaskConcurrency: 4, Logger: log}
		return j.Run(ctx, opts)
	}

	src, err := open()
	if err != nil {
		t.Fatalf("Open with the keys = %v", err)
	}
	if src.Location != ours {
		t.Errorf("Location = %v, want %v (derived from the account id)", src.Location, ours)
	}

	// A sync, with the keys rotated after the 5th object: the new key is
	// put in the secret, then the old one removed, while objects are in
	// flight. The cached (old) keys are refused, read again, and the sync
	// carries on with the new ones: nothing fails, no restart.
	objects := 0
	for _, o := range rep.Objects {
		if !strings.HasSuffix(o.Key, export.SuccessMarker) {
			objects++
		}
	}
	rot := &rotatingSource{S3: src.Store, at: 5, rotate: func() {
		if err := m.AddUser(ctx, keyID2, secret2, policy); err != nil {
			t.Error(err)
		}
		put(keysValue(keyID2, secret2, ourAccount))
		if err := m.RemoveUser(ctx, keyID1); err != nil {
			t.Error(err)
		}
	}}
	dst := dest("rotation/")
	sum, err := sync(rot, dst)
	if err != nil || sum.Failed() || sum.ObjectsCopied != objects {
		t.Fatalf("sync with a rotation in the middle = %d copied (want %d), errors %v, %v", sum.ObjectsCopied, objects, sum.Errors, err)
	}
	if rot.n.Load() < 5 {
		t.Fatalf("the sync opened %d objects: the rotation never happened", rot.n.Load())
	}
	if n := src.Credentials.Refreshes(); n < 2 {
		t.Errorf("keys read %d times, want the rotated keys read again after the rejection", n)
	}
	if !strings.Contains(logs.String(), "refused the source access keys; reading them again") {
		t.Errorf("no warning about the refused keys in the log:\n%s", logs.String())
	}
	rootSrc := store.NewS3(w.Root, ours.Bucket, ours.Prefix, store.S3Options{})
	if r, err := verify.Compare(ctx, rootSrc, dst, verify.Options{Types: export.AllTypes, From: opts.From, To: opts.To}); err != nil || !r.Identical() || r.ObjectsCompared != objects {
		t.Errorf("verify after the rotation = %+v, %v; want %d objects identical", r, err, objects)
	}

	// The keys reach only their account's prefix: the same keys with
	// another account id are refused on that prefix, with the keys' error.
	put(keysValue(keyID2, secret2, otherAccount))
	if _, err := open(); !errors.Is(err, source.ErrKeysRejected) || !strings.Contains(err.Error(), "AccessDenied") ||
		!strings.Contains(err.Error(), "account_id="+otherAccount) {
		t.Errorf("Open with keys for another account's prefix = %v, want ErrKeysRejected (AccessDenied) naming the prefix", err)
	}
	put(keysValue(keyID2, secret2, ourAccount))

	// Revoked: the user is removed and nothing new is put. A source already
	// open fails its next listing, and a new one fails to open, each with
	// ErrKeysRejected.
	if err := m.RemoveUser(ctx, keyID2); err != nil {
		t.Fatal(err)
	}
	if _, err := sync(src.Store, dest("revoked/")); !errors.Is(err, source.ErrKeysRejected) || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
		t.Errorf("sync after the keys were revoked = %v, want ErrKeysRejected (InvalidAccessKeyId)", err)
	}
	if _, err := open(); !errors.Is(err, source.ErrKeysRejected) {
		t.Errorf("Open after the keys were revoked = %v, want ErrKeysRejected", err)
	}

	for _, s := range []string{secret1, secret2} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a secret key is in the log")
		}
	}
}
