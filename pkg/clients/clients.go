// Package clients builds the AWS clients and object stores e3sync uses, from
// already-validated settings. The CLI and both Lambdas wire through it, so
// the source is always read the same way: Optimizely's bucket, with
// temporary credentials from the Authentication API, refreshed before they
// expire.
package clients

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// ExportRegion is the region of Optimizely's export bucket.
const ExportRegion = "us-east-1"

// MaxIdleConnsPerHost is raised well above net/http's default of 2 (and the
// SDK's 10) so that many objects in flight reuse connections.
const MaxIdleConnsPerHost = 128

// HTTPClient returns c tuned for S3 traffic: a new client when c is nil,
// and the SDK's buildable client (which carries AWS_CA_BUNDLE and proxy
// settings) with more idle connections per host and the timeouts t (zero:
// DefaultTimeouts), frozen so that the S3 client keeps them. Any other
// client is used as it is.
func HTTPClient(c aws.HTTPClient, t Timeouts) aws.HTTPClient {
	tune := func(tr *http.Transport) {
		tr.MaxIdleConns = 2 * MaxIdleConnsPerHost
		tr.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	}
	switch b := c.(type) {
	case nil:
		return awshttp.NewBuildableClient().WithTransportOptions(tune, t.orDefault().transport).Freeze()
	case *awshttp.BuildableClient:
		return b.WithTransportOptions(tune, t.orDefault().transport).Freeze()
	default:
		return c
	}
}

// Retryer is the SDK's standard retryer without the client-side retry token
// bucket, which runs dry under many concurrent requests and then turns one
// throttled request into a failed copy.
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.RateLimiter = ratelimit.None
		o.MaxAttempts = 5
	})
}

// SourceConfig says how to reach the export.
type SourceConfig struct {
	Tokens     pat.Source
	APIBaseURL string        // Optimizely API; "" for the real one
	Endpoint   string        // S3 endpoint override for the export bucket (emulators); "" for AWS
	Duration   time.Duration // credential lifetime to ask for; 0 for 1h
	Timeouts   Timeouts      // for S3 requests; zero for DefaultTimeouts
	Logger     *slog.Logger
	// Secrets learns the token and the export credentials and redacts them
	// from Authentication API and source S3 errors; pass the set the
	// logger's redact.Handler uses. nil: a set of this source's own.
	Secrets *redact.Secrets
}

// Source is the export, ready to read.
type Source struct {
	Store    *store.S3
	Provider *optimizely.Provider
	Location optimizely.Location
}

// NewSource exchanges the token for credentials once (to learn the account's
// location) and returns the store over the account prefix. Credentials are
// refreshed by the returned client before they expire.
func NewSource(ctx context.Context, c SourceConfig) (*Source, error) {
	if c.Duration == 0 {
		c.Duration = optimizely.DefaultDuration
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Secrets == nil {
		c.Secrets = redact.New()
	}
	p := &optimizely.Provider{
		Client:   &optimizely.Client{BaseURL: c.APIBaseURL, Logger: c.Logger, Secrets: c.Secrets},
		Tokens:   c.Tokens,
		Duration: c.Duration,
		Logger:   c.Logger,
	}
	creds := optimizely.NewCredentialsCache(p)
	if _, err := creds.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("export credentials: %w", err)
	}
	loc, err := p.Location(ctx)
	if err != nil {
		return nil, fmt.Errorf("export location: %w", err)
	}
	client := s3.New(s3.Options{
		Region:      ExportRegion,
		Credentials: creds,
		HTTPClient:  HTTPClient(nil, c.Timeouts),
		Retryer:     Retryer(),
	}, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.UsePathStyle = true
		}
	}, func(o *s3.Options) {
		// Credentials S3 refuses early are replaced and the request retried
		// once; S3 errors echoing a secret are redacted; SlowDown and 503
		// answers lower the copy engine's objects in flight.
		o.APIOptions = append(o.APIOptions, optimizely.RefreshOnExpiredToken(creds, c.Logger), redact.Middleware(c.Secrets),
			noteThrottles(transfer.Throttled))
	})
	return &Source{
		Store:    store.NewS3(client, loc.Bucket, loc.Prefix, store.S3Options{BodyGrace: c.Timeouts.orDefault().Idle}),
		Provider: p,
		Location: loc,
	}, nil
}

// NewDestinationS3 returns the destination bucket store, signed with the
// identity in cfg (the default AWS credential chain: the customer's own, not
// Optimizely's), its requests bounded by DefaultTimeouts. A custom endpoint
// (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) implies path-style addressing, as
// S3-compatible servers expect. optFns come last (tests set other timeouts
// with them).
func NewDestinationS3(cfg aws.Config, t store.Target, customEndpoint bool, opts store.S3Options, optFns ...func(*s3.Options)) *store.S3 {
	client := s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.HTTPClient = HTTPClient(o.HTTPClient, DefaultTimeouts)
		o.Retryer = Retryer()
		o.UsePathStyle = o.UsePathStyle || customEndpoint
		o.APIOptions = append(o.APIOptions, redact.Middleware(nil)) // an error echoing the session token
		o.APIOptions = append(o.APIOptions, noteThrottles(transfer.Throttled))
	}}, optFns...)...)
	return store.NewS3(store.NewBucketClient(client, t), t.Bucket, t.Prefix, opts) // its region found, refusals named
}

// LazySource makes the Source on first use and keeps it; a failed attempt
// (say, a rejected token) is retried on the next call. Lambdas use it so
// that a cold start never fails in the init phase, where errors are hard to
// see, and a fixed secret is picked up by the next invocation.
type LazySource struct {
	Config SourceConfig
	mu     sync.Mutex
	src    *Source
}

// Get returns the source, making it if needed.
func (l *LazySource) Get(ctx context.Context) (*Source, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.src != nil {
		return l.src, nil
	}
	src, err := NewSource(ctx, l.Config)
	if err != nil {
		return nil, err
	}
	l.src = src
	return src, nil
}
