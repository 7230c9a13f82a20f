package optimizely

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/pat"
)

// Cache settings used by NewCredentialsCache: credentials are refreshed
// between 4.5 and 5 minutes before they expire, so a long copy never runs
// into expired credentials and many containers do not refresh in lockstep.
// Credentials that live less than 4 × ExpiryWindow get a window scaled
// down to a quarter of their lifetime (see Provider.AdjustExpiresBy): they
// are used for three quarters of it, never refreshed on every request.
const (
	ExpiryWindow           = 5 * time.Minute
	ExpiryWindowJitterFrac = 0.1
)

// Provider is an aws.CredentialsProvider backed by the Authentication API.
// Each Retrieve reads a token from Tokens and exchanges it; when Optimizely
// rejects the token, Provider invalidates Tokens and tries exactly once more
// with a freshly read token, in case the secret was rotated. Wrap it with
// NewCredentialsCache: Provider itself does not cache.
//
// Set the exported fields before first use; do not copy a Provider after
// first use. It is safe for concurrent use.
type Provider struct {
	// Client defaults to a zero Client.
	Client *Client
	Tokens pat.Source
	// Duration is the lifetime asked for (zero: DefaultDuration).
	Duration time.Duration
	// Logger receives one Info line per refresh (default: discard).
	Logger *slog.Logger

	refreshes  atomic.Int64
	rejections atomic.Int64

	mu       sync.Mutex
	location Location
	known    bool
}

var _ aws.CredentialsProvider = (*Provider)(nil)

// Retrieve returns fresh export credentials. An error wraps ErrTokenRejected
// when both the cached and the freshly read token were rejected.
func (p *Provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if p.Tokens == nil {
		return aws.Credentials{}, errors.New("optimizely provider: no token source")
	}
	g, err := p.exchange(ctx)
	if errors.Is(err, ErrTokenRejected) {
		p.rejections.Add(1)
		p.logger().WarnContext(ctx, "optimizely rejected the personal access token; re-reading the token source once")
		p.Tokens.Invalidate()
		g, err = p.exchange(ctx)
		if errors.Is(err, ErrTokenRejected) {
			p.rejections.Add(1)
			return aws.Credentials{}, fmt.Errorf("after re-reading the token source: %w", err)
		}
	}
	if err != nil {
		return aws.Credentials{}, err
	}
	p.mu.Lock()
	p.location, p.known = g.Location, true
	p.mu.Unlock()
	p.refreshes.Add(1)
	p.logger().InfoContext(ctx, "optimizely export credentials refreshed",
		"expires", g.Credentials.Expires.UTC(), "location", g.Location.String())
	return g.Credentials, nil
}

func (p *Provider) exchange(ctx context.Context) (Grant, error) {
	tok, err := p.Tokens.Token(ctx)
	if err != nil {
		return Grant{}, fmt.Errorf("read personal access token: %w", err)
	}
	c := p.Client
	if c == nil {
		c = &Client{}
	}
	return c.Credentials(ctx, tok, p.Duration)
}

// Location returns the export location of the latest successful Retrieve,
// calling Retrieve first when none has succeeded yet.
func (p *Provider) Location(ctx context.Context) (Location, error) {
	p.mu.Lock()
	loc, known := p.location, p.known
	p.mu.Unlock()
	if known {
		return loc, nil
	}
	if _, err := p.Retrieve(ctx); err != nil {
		return Location{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.location, nil
}

// Refreshes counts successful Retrieve calls.
func (p *Provider) Refreshes() int64 { return p.refreshes.Load() }

// Rejections counts tokens Optimizely rejected (401 or 403), including the
// retry with a re-read token.
func (p *Provider) Rejections() int64 { return p.rejections.Load() }

func (p *Provider) logger() *slog.Logger {
	return logctx.OrDiscard(p.Logger)
}

// AdjustExpiresBy implements aws.AdjustExpiresByCredentialsCacheStrategy,
// which the SDK's credentials cache calls with dur = -(ExpiryWindow less its
// jitter) to move the expiry of new credentials forward by the refresh
// window. For credentials with less than 4 × ExpiryWindow left, the window
// is scaled down in proportion: min(ExpiryWindow, lifetime/4), jitter kept.
func (p *Provider) AdjustExpiresBy(creds aws.Credentials, dur time.Duration) (aws.Credentials, error) {
	if !creds.CanExpire {
		return creds, nil
	}
	if lifetime := creds.Expires.Sub(p.now()); lifetime > 0 && lifetime < 4*ExpiryWindow {
		dur = time.Duration(float64(dur) * float64(lifetime) / float64(4*ExpiryWindow))
	}
	creds.Expires = creds.Expires.Add(dur)
	return creds, nil
}

var _ aws.AdjustExpiresByCredentialsCacheStrategy = (*Provider)(nil)

func (p *Provider) now() time.Time {
	if p.Client != nil {
		return p.Client.now()
	}
	return time.Now()
}

// NewCredentialsCache wraps p in the SDK's credentials cache, refreshing
// ExpiryWindow (less up to ExpiryWindowJitterFrac of it) before expiry, or
// a quarter of the lifetime of short-lived credentials when p is a
// *Provider.
func NewCredentialsCache(p aws.CredentialsProvider) *aws.CredentialsCache {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = ExpiryWindow
		o.ExpiryWindowJitterFrac = ExpiryWindowJitterFrac
	})
}
