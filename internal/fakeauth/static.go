package fakeauth

import (
	"context"
	"fmt"
	"time"
)

// StaticMinter mints fixed keys, for servers that do not verify signatures
// (MemoryS3): the credentials it returns are not scoped to the prefix.
type StaticMinter struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Mint returns the static keys with a session token and an expiration d from now.
func (s StaticMinter) Mint(ctx context.Context, bucket, prefix string, d time.Duration) (Credentials, error) {
	if err := ctx.Err(); err != nil {
		return Credentials{}, err
	}
	now := time.Now()
	return Credentials{
		AccessKeyID:     s.AccessKeyID,
		SecretAccessKey: s.SecretAccessKey,
		SessionToken:    fmt.Sprintf("static-%d", now.UnixNano()),
		Expiration:      now.Add(d),
	}, nil
}
