package fakeauth

import (
	"context"
	"sync"
	"time"
)

// RecordingMinter remembers every credential it hands out, so that a test
// can search all output for them.
type RecordingMinter struct {
	Minter
	mu    sync.Mutex
	creds []Credentials
}

// Mint mints with the wrapped Minter and records the result.
func (r *RecordingMinter) Mint(ctx context.Context, bucket, prefix string, d time.Duration) (Credentials, error) {
	c, err := r.Minter.Mint(ctx, bucket, prefix, d)
	if err == nil {
		r.mu.Lock()
		r.creds = append(r.creds, c)
		r.mu.Unlock()
	}
	return c, err
}

// Values returns the access key ids, secret keys and session tokens minted
// so far.
func (r *RecordingMinter) Values() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.creds {
		out = append(out, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	}
	return out
}
