package optimizely

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/e3sync/e3sync/pkg/pat"
)

const revokedToken = "pat-SECRET-revoked-456"

// fakeSource is a pat.Source over a mutable "secret" with a cache, like
// pat.SecretsManager: a rotation is seen only after Invalidate.
type fakeSource struct {
	mu          sync.Mutex
	secret      string
	cached      string
	reads       int
	invalidated int
}

func (s *fakeSource) Token(context.Context) (pat.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached == "" {
		s.reads++
		s.cached = s.secret
	}
	return pat.New(s.cached)
}

func (s *fakeSource) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated++
	s.cached = ""
}

func (s *fakeSource) rotate(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = secret
}

// authServer is a fake Authentication API that accepts one token and hands
// out credentials expiring after ttl at s3Path.
type authServer struct {
	*httptest.Server
	mu       sync.Mutex
	valid    string
	ttl      time.Duration
	s3Path   string
	requests atomic.Int64
	rejected atomic.Int64
}

func newAuthServer(t *testing.T, valid string) *authServer {
	s := &authServer{valid: valid, ttl: time.Hour, s3Path: testPath}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		valid, ttl, path := s.valid, s.ttl, s.s3Path
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+valid {
			s.rejected.Add(1)
			http.Error(w, `{"message":"invalid token"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, credsBody(time.Now().Add(ttl), path))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *authServer) set(ttl time.Duration, s3Path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl, s.s3Path = ttl, s3Path
}

func newProvider(srv *authServer, src pat.Source, logs *syncBuffer) *Provider {
	return &Provider{
		Client: &Client{BaseURL: srv.URL, HTTPClient: srv.Client(),
			Sleep: func(context.Context, time.Duration) error { return nil }, Logger: newLogger(logs)},
		Tokens: src,
		Logger: newLogger(logs),
	}
}

func TestProviderRotation(t *testing.T) {
	srv := newAuthServer(t, testToken)
	src := &fakeSource{secret: revokedToken}
	if _, err := src.Token(context.Background()); err != nil { // cache the revoked token
		t.Fatal(err)
	}
	src.rotate(testToken) // the secret is rotated behind the cache
	var logs syncBuffer
	p := newProvider(srv, src, &logs)

	creds, err := p.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("Retrieve() error = %v, want nil", err)
	}
	if creds.AccessKeyID != testKeyID || creds.Source != "optimizely" || !creds.CanExpire {
		t.Errorf("Retrieve() = key %q, source %q, can expire %v; want the server's credentials", creds.AccessKeyID, creds.Source, creds.CanExpire)
	}
	checks := []struct {
		name      string
		got, want int64
	}{
		{"requests", srv.requests.Load(), 2},
		{"rejected requests", srv.rejected.Load(), 1},
		{"Invalidate calls", int64(src.invalidated), 1},
		{"secret reads", int64(src.reads), 2},
		{"Refreshes()", p.Refreshes(), 1},
		{"Rejections()", p.Rejections(), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	out := logs.String()
	assertNoSecrets(t, "log output", out)
	if strings.Contains(out, revokedToken) {
		t.Errorf("log output contains the revoked token: %s", out)
	}
	if !strings.Contains(out, "refreshed") || !strings.Contains(out, "expires=") || !strings.Contains(out, `location="`+testPath+`/"`) {
		t.Errorf("log output = %q, want one refresh line with expiry and location", out)
	}
}

func TestProviderBothTokensRejected(t *testing.T) {
	srv := newAuthServer(t, "pat-SECRET-only-this-one")
	src := &fakeSource{secret: revokedToken}
	src.Token(context.Background())
	src.rotate(testToken) // rotated, but to another token Optimizely rejects too
	var logs syncBuffer
	p := newProvider(srv, src, &logs)

	_, err := p.Retrieve(context.Background())
	if !errors.Is(err, ErrTokenRejected) {
		t.Fatalf("Retrieve() error = %v, want ErrTokenRejected", err)
	}
	for _, s := range []string{testToken, revokedToken} {
		if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
			t.Errorf("error or logs contain token %q: %v\n%s", s, err, logs.String())
		}
	}
	if n := srv.requests.Load(); n != 2 {
		t.Errorf("requests = %d, want 2 (exactly one more try)", n)
	}
	if p.Rejections() != 2 || p.Refreshes() != 0 || src.invalidated != 1 {
		t.Errorf("Rejections() = %d, Refreshes() = %d, Invalidate calls = %d; want 2, 0, 1", p.Rejections(), p.Refreshes(), src.invalidated)
	}
	if _, err := p.Location(context.Background()); !errors.Is(err, ErrTokenRejected) {
		t.Errorf("Location() error = %v, want ErrTokenRejected", err)
	}
}

func TestProviderOtherErrorsNotRetriedWithNewToken(t *testing.T) {
	srv := newAuthServer(t, testToken)
	src := &fakeSource{secret: testToken}
	p := newProvider(srv, src, &syncBuffer{})
	p.Client.MaxAttempts = 2
	srv.set(-time.Minute, testPath) // expired credentials: a bad response, not a bad token
	if _, err := p.Retrieve(context.Background()); err == nil || errors.Is(err, ErrTokenRejected) {
		t.Errorf("Retrieve() error = %v, want a non-rejection error", err)
	}
	if src.invalidated != 0 || p.Rejections() != 0 {
		t.Errorf("Invalidate calls = %d, Rejections() = %d, want 0, 0", src.invalidated, p.Rejections())
	}

	empty := &fakeSource{}
	p = newProvider(srv, empty, &syncBuffer{})
	if _, err := p.Retrieve(context.Background()); !errors.Is(err, pat.ErrEmpty) {
		t.Errorf("Retrieve() with an empty secret error = %v, want pat.ErrEmpty", err)
	}
}

func TestProviderLocation(t *testing.T) {
	srv := newAuthServer(t, testToken)
	p := newProvider(srv, &fakeSource{secret: testToken}, &syncBuffer{})
	ctx := context.Background()

	want := Location{Bucket: "optimizely-events-data", Prefix: "v1/account_id=123/"}
	got, err := p.Location(ctx) // none known: retrieves
	if err != nil || got != want || srv.requests.Load() != 1 {
		t.Errorf("Location() before Retrieve = %+v, %v after %d requests, want %+v, nil after 1", got, err, srv.requests.Load(), want)
	}
	got, err = p.Location(ctx) // known: no request
	if err != nil || got != want || srv.requests.Load() != 1 {
		t.Errorf("Location() again = %+v, %v after %d requests, want %+v, nil after 1", got, err, srv.requests.Load(), want)
	}

	srv.set(time.Hour, "s3://optimizely-events-data/v1/account_id=456/")
	if _, err := p.Retrieve(ctx); err != nil {
		t.Fatal(err)
	}
	want = Location{Bucket: "optimizely-events-data", Prefix: "v1/account_id=456/"}
	if got, err := p.Location(ctx); err != nil || got != want {
		t.Errorf("Location() after Retrieve = %+v, %v, want %+v, nil", got, err, want)
	}
}

func TestNewCredentialsCache(t *testing.T) {
	srv := newAuthServer(t, testToken)
	p := newProvider(srv, &fakeSource{secret: testToken}, &syncBuffer{})
	cache := NewCredentialsCache(p)
	ctx := context.Background()

	steps := []struct {
		ttl          time.Duration // of credentials the server hands out from now on
		wantRequests int64         // after one more cache.Retrieve
	}{
		{2 * time.Minute, 1}, // first retrieve
		{2 * time.Minute, 1}, // cached: the window is 30 s for 2-minute credentials, not 5 minutes
		{time.Hour, 1},       // still cached
	}
	for i, s := range steps {
		srv.set(s.ttl, testPath)
		creds, err := cache.Retrieve(ctx)
		if err != nil {
			t.Fatalf("step %d: Retrieve() error = %v", i, err)
		}
		if creds.AccessKeyID != testKeyID || !creds.CanExpire {
			t.Errorf("step %d: Retrieve() = key %q, can expire %v, want the server's expiring credentials", i, creds.AccessKeyID, creds.CanExpire)
		}
		if n := srv.requests.Load(); n != s.wantRequests {
			t.Errorf("step %d (ttl %v): requests = %d, want %d", i, s.ttl, n, s.wantRequests)
		}
	}
	// Invalidate forces a refresh: now 1-second credentials, used for
	// about 0.75 s each, then refreshed once by the many callers.
	cache.Invalidate()
	srv.set(time.Second, testPath)
	if _, err := cache.Retrieve(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // only a "did not hang" guard
	calls := 0
	for srv.requests.Load() < 4 && time.Now().Before(deadline) {
		if _, err := cache.Retrieve(ctx); err != nil {
			t.Fatal(err)
		}
		calls++
	}
	if n := srv.requests.Load(); n != 4 || int64(calls) < 10*n {
		t.Errorf("%d Retrieve calls over 1-second credentials made %d requests: want 4 requests and many more calls (no refresh storm)", calls, n)
	}
	if got := p.Refreshes(); got != 4 {
		t.Errorf("Refreshes() = %d, want 4", got)
	}
	var _ aws.CredentialsProvider = cache
}

// The refresh window: min(ExpiryWindow, lifetime/4), jitter kept in
// proportion (dur is the cache's -(window - jitter)).
func TestAdjustExpiresBy(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	p := &Provider{Client: &Client{Now: func() time.Time { return now }}}
	tests := []struct {
		lifetime, dur, wantWindow time.Duration
	}{
		{time.Hour, -ExpiryWindow, ExpiryWindow},                   // long-lived: the full window
		{time.Hour, -ExpiryWindow * 9 / 10, ExpiryWindow * 9 / 10}, // jitter kept
		{4 * ExpiryWindow, -ExpiryWindow, ExpiryWindow},            // the boundary
		{15 * time.Minute, -ExpiryWindow, 15 * time.Minute / 4},    // shortest the API issues
		{2 * time.Second, -ExpiryWindow, 500 * time.Millisecond},   // short: a quarter
		{2 * time.Second, -ExpiryWindow * 9 / 10, 450 * time.Millisecond},
	}
	for _, tt := range tests {
		in := aws.Credentials{CanExpire: true, Expires: now.Add(tt.lifetime)}
		got, err := p.AdjustExpiresBy(in, tt.dur)
		if err != nil || in.Expires.Sub(got.Expires) != tt.wantWindow {
			t.Errorf("AdjustExpiresBy(lifetime %v, %v) = window %v, %v; want %v", tt.lifetime, tt.dur, in.Expires.Sub(got.Expires), err, tt.wantWindow)
		}
	}
	static := aws.Credentials{Expires: now}
	if got, _ := p.AdjustExpiresBy(static, -ExpiryWindow); got != static {
		t.Errorf("AdjustExpiresBy(non-expiring) changed it: %+v", got)
	}
}

func TestProviderConcurrent(t *testing.T) {
	srv := newAuthServer(t, testToken)
	p := newProvider(srv, &fakeSource{secret: testToken}, &syncBuffer{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := p.Retrieve(context.Background()); err != nil {
				t.Errorf("Retrieve() error = %v", err)
			}
			if _, err := p.Location(context.Background()); err != nil {
				t.Errorf("Location() error = %v", err)
			}
		})
	}
	wg.Wait()
	if got := p.Refreshes(); got != srv.requests.Load() || got < 16 {
		t.Errorf("Refreshes() = %d, requests = %d, want equal and at least 16", got, srv.requests.Load())
	}
}
