// Package source opens Optimizely's export for reading, in one of its two
// access modes: a Personal Access Token exchanged for temporary credentials
// with the Authentication API (optimizely.Provider), or static access keys
// with the Optimizely account id (KeysProvider), the keys Optimizely issues
// to customers of its other data exports. Either way the credentials are
// cached and re-read in time (expiry, rotation), every secret is learned by
// the redaction set, and the store reads only the account's prefix.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/store"
)

// Region is the region of Optimizely's export bucket.
const Region = "us-east-1"

// Config says how to reach the export. Exactly one of Tokens and Keys is set.
type Config struct {
	// Tokens is the Personal Access Token (PAT mode).
	Tokens pat.Source
	// Keys reads the static access keys and account id (keys mode).
	Keys KeysReader
	// KeysTTL is how long keys are used before they are read again
	// (zero: DefaultKeysTTL).
	KeysTTL    time.Duration
	APIBaseURL string           // Optimizely API; "" for the real one (PAT mode)
	Endpoint   string           // S3 endpoint override for the export bucket (emulators); "" for AWS
	Duration   time.Duration    // credential lifetime to ask for; 0 for 1h (PAT mode)
	Timeouts   clients.Timeouts // for S3 requests; zero for DefaultTimeouts
	Logger     *slog.Logger
	// Secrets learns the token, the keys and the export credentials and
	// redacts them from Authentication API and source S3 errors; pass the
	// set the logger's redact.Handler uses. nil: a set of this source's own.
	Secrets *redact.Secrets
}

// ErrNoMode and ErrTwoModes are Open's answers to a Config with neither or
// both of Tokens and Keys.
var (
	ErrNoMode   = errors.New("source: neither a personal access token nor access keys configured")
	ErrTwoModes = errors.New("source: both a personal access token and access keys configured; use one")
)

// RefreshCounter counts the credential refreshes of a source: token
// exchanges, or reads of the keys.
type RefreshCounter interface {
	Refreshes() int64
}

// Source is the export, ready to read.
type Source struct {
	Store    *store.S3
	Location optimizely.Location
	// Credentials counts refreshes (*optimizely.Provider or *KeysProvider).
	Credentials RefreshCounter
}

// Open gets credentials once (to learn the account's location; with keys,
// to check with one listing that S3 accepts them) and returns the store
// over the account prefix. Credentials are refreshed by the returned
// store's client before they expire or after a rotation.
//
// Errors wrap optimizely.ErrTokenRejected when Optimizely rejects the token
// and ErrKeysRejected when S3 rejects the keys.
func Open(ctx context.Context, c Config) (*Source, error) {
	c.Logger = logctx.OrDiscard(c.Logger)
	if c.Secrets == nil {
		c.Secrets = redact.New()
	}
	var (
		a   access
		err error
	)
	switch {
	case c.Tokens == nil && c.Keys == nil:
		return nil, ErrNoMode
	case c.Tokens != nil && c.Keys != nil:
		return nil, ErrTwoModes
	case c.Tokens != nil:
		a, err = tokenAccess(ctx, c)
	default:
		a, err = keysAccess(ctx, c)
	}
	if err != nil {
		return nil, err
	}
	client := s3.New(s3.Options{
		Region:      Region,
		Credentials: a.creds,
		HTTPClient:  clients.HTTPClient(nil, c.Timeouts),
		Retryer:     clients.Retryer(),
	}, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.UsePathStyle = true
		}
	}, a.guard, func(o *s3.Options) {
		// S3 errors echoing a secret are redacted.
		o.APIOptions = append(o.APIOptions, redact.Middleware(c.Secrets), clients.NoteThrottles) // SlowDown lowers the engine's objects in flight
	})
	if c.Keys != nil {
		// The keys have been read, not used: one listing of the prefix
		// tells now, with a clear error, whether S3 accepts them there.
		if _, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket: aws.String(a.loc.Bucket), Prefix: aws.String(a.loc.Prefix), MaxKeys: aws.Int32(1),
		}); err != nil {
			return nil, fmt.Errorf("list %s with the source access keys: %w", a.loc, err)
		}
	}
	return &Source{
		Store:       store.NewS3(client, a.loc.Bucket, a.loc.Prefix, store.S3Options{BodyGrace: c.Timeouts.OrDefault().Idle}),
		Location:    a.loc,
		Credentials: a.counter,
	}, nil
}

// access is how one mode reaches the export: cached credentials, the
// account's location, and the mode's middleware on the source's S3 client.
type access struct {
	creds   *aws.CredentialsCache
	loc     optimizely.Location
	counter RefreshCounter
	guard   func(*s3.Options)
}

// tokenAccess exchanges the PAT once, which also tells the location.
// Credentials S3 refuses early are replaced and the request retried once.
func tokenAccess(ctx context.Context, c Config) (access, error) {
	p := &optimizely.Provider{
		Client:   &optimizely.Client{BaseURL: c.APIBaseURL, Logger: c.Logger, Secrets: c.Secrets},
		Tokens:   c.Tokens,
		Duration: c.Duration,
		Logger:   c.Logger,
	}
	if p.Duration == 0 {
		p.Duration = optimizely.DefaultDuration
	}
	creds := optimizely.NewCredentialsCache(p)
	if _, err := creds.Retrieve(ctx); err != nil {
		return access{}, fmt.Errorf("export credentials: %w", err)
	}
	loc, err := p.Location(ctx)
	if err != nil {
		return access{}, fmt.Errorf("export location: %w", err)
	}
	return access{creds: creds, loc: loc, counter: p, guard: func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, optimizely.RefreshOnExpiredToken(creds, c.Logger))
	}}, nil
}

// keysAccess reads the keys once, which also tells the account. Keys S3
// refuses are read again once (a rotation), then reported.
func keysAccess(ctx context.Context, c Config) (access, error) {
	p := &KeysProvider{Reader: c.Keys, TTL: c.KeysTTL, Secrets: c.Secrets, Logger: c.Logger}
	creds := NewKeysCache(p)
	if _, err := creds.Retrieve(ctx); err != nil {
		return access{}, err
	}
	loc, err := p.Location(ctx)
	if err != nil {
		return access{}, err
	}
	return access{creds: creds, loc: loc, counter: p, guard: func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, RejectedKeys(creds, c.Logger))
	}}, nil
}

// Lazy opens the Source on first use and keeps it; a failed attempt (say, a
// rejected token) is tried again on the next call. Lambdas use it so that a
// cold start never fails in the init phase, where errors are hard to see,
// and a fixed secret is picked up by the next invocation.
type Lazy struct {
	Config Config
	mu     sync.Mutex
	src    *Source
}

// Get returns the source, opening it if needed.
func (l *Lazy) Get(ctx context.Context) (*Source, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.src != nil {
		return l.src, nil
	}
	src, err := Open(ctx, l.Config)
	if err != nil {
		return nil, err
	}
	l.src = src
	return src, nil
}

// FromSecretsManager returns a Config that reads the token from patSecret,
// or the keys from keysSecret, through client, each cached for ttl (zero:
// 5 minutes): exactly one of the two ids is set (settings.Parse checks).
// secret is the one read, for its age (the rotation reminder).
func FromSecretsManager(client pat.GetSecretValueAPI, patSecret, keysSecret string, ttl time.Duration) (c Config, secret ChangeTracker) {
	if patSecret != "" {
		tokens := &pat.SecretsManager{Client: client, SecretID: patSecret, TTL: ttl}
		c.Tokens, secret = tokens, tokens
	}
	if keysSecret != "" {
		keys := &KeysSecret{Client: client, SecretID: keysSecret}
		c.Keys, c.KeysTTL, secret = keys, ttl, keys
	}
	return c, secret
}

// ChangeTracker tells when a secret was last changed (zero: not yet read).
type ChangeTracker interface {
	ChangedAt() time.Time
}
