// Package fakeauth stands in for Optimizely's Authentication API in tests,
// benchmarks and the demo: a server that hands out temporary S3 credentials
// in Optimizely's exact JSON shape (with injectable faults), and the minters
// that make those credentials (MinIO STS AssumeRole with a prefix-scoped
// session policy, or static keys for the in-memory S3 server of
// internal/memorys3).
package fakeauth

import (
	"context"
	"time"
)

// Credentials are temporary S3 credentials, as a Minter returns them.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// Minter issues temporary credentials that can list and read only the keys
// under prefix in bucket, valid for about d.
type Minter interface {
	Mint(ctx context.Context, bucket, prefix string, d time.Duration) (Credentials, error)
}
