// Package testworld is the MinIO world the integration tests run e3sync in:
// Optimizely's bucket, readable only through STS credentials scoped to one
// account prefix and handed out by an emulated Authentication API for a PAT,
// and the customer's bucket, written by another user. The CLI tests, the
// Lambda tests and the fault matrix all start theirs here.
package testworld

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/fakeauth"
	"github.com/e3sync/e3sync/internal/testenv"
)

// The buckets and the two MinIO users.
const (
	SourceBucket   = "optimizely-events-data"
	DestBucket     = "customer-lake"
	ExporterKey    = "exporter" // Optimizely's side: reads SourceBucket, mints the scoped credentials
	ExporterSecret = "exporter-secret-key"
	CustomerKey    = "customer" // the customer's side: reads and writes DestBucket
	CustomerSecret = "customer-secret-key"
)

// Options shape a World.
type Options struct {
	Token         string // the PAT the Authentication API accepts
	AccountPrefix string // e.g. "v1/account_id=12345/"
	// Lifetime, when > 0, is the advertised lifetime of minted credentials,
	// enforced by an expiry proxy that SourceEndpoint then points to.
	Lifetime time.Duration
	// TrailingSlash makes the Authentication API answer s3Path with a
	// trailing slash (Optimizely answers both ways).
	TrailingSlash bool
	// ExtraBuckets are created too (e.g. one the scoped credentials must
	// not reach).
	ExtraBuckets []string
}

// World is a running world; everything stops when the test ends.
type World struct {
	Options
	MinIO *testenv.MinIO
	Root  *s3.Client // MinIO's root user: seeds and inspects both buckets
	API   *fakeauth.API
	// APIURL is the Authentication API's base URL.
	APIURL string
	// SourceEndpoint is the S3 endpoint e3sync reads the export through.
	SourceEndpoint string
	// Minted records every credential the API handed out, so that tests can
	// assert that none of them is ever printed.
	Minted *fakeauth.RecordingMinter
}

// New starts a world for t.
func New(t testing.TB, o Options) *World {
	t.Helper()
	ctx := context.Background()
	m := testenv.MinIOForTest(t)
	w := &World{Options: o, MinIO: m, Root: m.S3Client(m.RootProvider()), SourceEndpoint: m.Endpoint()}
	for _, b := range append([]string{SourceBucket, DestBucket}, o.ExtraBuckets...) {
		if err := m.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddUser(ctx, ExporterKey, ExporterSecret, testenv.ReadOnlyPolicy(SourceBucket)); err != nil {
		t.Fatal(err)
	}
	if err := m.AddUser(ctx, CustomerKey, CustomerSecret, testenv.ReadWritePolicy(DestBucket)); err != nil {
		t.Fatal(err)
	}
	w.Minted = &fakeauth.RecordingMinter{Minter: &fakeauth.MinIOSTS{Endpoint: m.Endpoint(), AccessKey: ExporterKey, SecretKey: ExporterSecret}}
	w.API = fakeauth.New(fakeauth.Options{
		Tokens:             []string{o.Token},
		Minter:             w.Minted,
		Bucket:             SourceBucket,
		Prefix:             o.AccountPrefix,
		AdvertisedLifetime: o.Lifetime,
		TrailingSlash:      o.TrailingSlash,
	})
	var stop func()
	w.APIURL, stop = w.API.Start()
	t.Cleanup(stop)
	if o.Lifetime > 0 {
		proxy, err := testenv.NewExpiryProxy(m.Endpoint(), w.API.Expiry)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(proxy.Close)
		w.SourceEndpoint = proxy.URL
	}
	return w
}

// Put writes one export object, key relative to the account prefix.
func (w *World) Put(t testing.TB, key string, body []byte) {
	t.Helper()
	_, err := w.Root.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(SourceBucket), Key: aws.String(w.AccountPrefix + key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("seed %s: %v", key, err)
	}
}

// Secrets are the values no output may ever contain: the PAT, the users'
// secret keys and every credential minted so far.
func (w *World) Secrets() []string {
	return append(w.Minted.Values(), w.Token, ExporterSecret, CustomerSecret)
}
