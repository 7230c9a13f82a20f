package optimizely_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/e3sync/e3sync/internal/fakeauth"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/pat"
)

// rotatingSource holds a token until Invalidate, then reads the next one.
type rotatingSource struct {
	mu     sync.Mutex
	tokens []string
}

func (s *rotatingSource) Token(context.Context) (pat.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pat.New(s.tokens[0])
}

func (s *rotatingSource) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tokens) > 1 {
		s.tokens = s.tokens[1:]
	}
}

// TestAgainstEmulator checks the client and provider against the project's
// fake Authentication API, which the end-to-end tests use.
func TestAgainstEmulator(t *testing.T) {
	api := fakeauth.New(fakeauth.Options{
		Tokens:        []string{"pat-old", "pat-new"},
		Minter:        fakeauth.StaticMinter{AccessKeyID: "AKID", SecretAccessKey: "SECRET"},
		Bucket:        "optimizely-events-data",
		Prefix:        "v1/account_id=12345/",
		TrailingSlash: true,
	})
	url, stop := api.Start()
	defer stop()
	api.Revoke("pat-old")

	p := &optimizely.Provider{
		Client:   &optimizely.Client{BaseURL: url},
		Tokens:   &rotatingSource{tokens: []string{"pat-old", "pat-new"}},
		Duration: 45 * time.Minute,
	}
	creds, err := optimizely.NewCredentialsCache(p).Retrieve(context.Background())
	if err != nil {
		t.Fatalf("Retrieve() error = %v", err)
	}
	if creds.AccessKeyID != "AKID" || creds.SessionToken == "" || time.Until(creds.Expires) > 45*time.Minute {
		t.Errorf("Retrieve() = key %q, session token set %v, expires in %v; want AKID, true, at most 45m",
			creds.AccessKeyID, creds.SessionToken != "", time.Until(creds.Expires))
	}
	want := optimizely.Location{Bucket: "optimizely-events-data", Prefix: "v1/account_id=12345/"}
	if loc, err := p.Location(context.Background()); err != nil || loc != want {
		t.Errorf("Location() = %+v, %v, want %+v, nil", loc, err, want)
	}
	if p.Rejections() != 1 || p.Refreshes() != 1 {
		t.Errorf("Rejections() = %d, Refreshes() = %d, want 1, 1", p.Rejections(), p.Refreshes())
	}

	api.Revoke("pat-new")
	if _, err := p.Retrieve(context.Background()); !errors.Is(err, optimizely.ErrTokenRejected) {
		t.Errorf("Retrieve() with every token revoked error = %v, want ErrTokenRejected", err)
	}
}
