// Package clients tunes the AWS SDK clients e3sync makes for S3 traffic: an
// HTTP client with more idle connections and a time bound on every request
// (Timeouts), a retryer that does not run dry under many concurrent
// requests, and the destination bucket's store. The source's client is
// made by package source with the same HTTP client and retryer.
package clients

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/store"
)

// MaxIdleConnsPerHost is raised well above net/http's default of 2 (and the
// SDK's 10) so that many objects in flight reuse connections.
const MaxIdleConnsPerHost = 128

// UploadWriteBuffer is the write buffer of the destination's connections
// (net/http's default is 4 KiB). A PUT whose headers and body fit in it is
// sent from the buffer in one write; past the buffer, net/http copies the
// body into the connection through a 32 KiB buffer it allocates for every
// request, which for small objects is a quarter of the bytes the copier
// allocates (BENCHMARKS.md, "CPU per small object"). It costs 64 KiB per
// destination connection: at most a few MiB with the objects and parts in
// flight the engine allows.
const UploadWriteBuffer = 64 << 10

// ForUploads is the HTTPClient option for a client that sends object bodies
// (the destination's): see UploadWriteBuffer.
func ForUploads(tr *http.Transport) { tr.WriteBufferSize = UploadWriteBuffer }

// HTTPClient returns c tuned for S3 traffic: a new client when c is nil,
// and the SDK's buildable client (which carries AWS_CA_BUNDLE and proxy
// settings) with more idle connections per host, the timeouts t (zero:
// DefaultTimeouts) and the options opts (ForUploads), frozen so that the S3
// client keeps them. Any other client is used as it is.
func HTTPClient(c aws.HTTPClient, t Timeouts, opts ...func(*http.Transport)) aws.HTTPClient {
	tune := func(tr *http.Transport) {
		tr.MaxIdleConns = 2 * MaxIdleConnsPerHost
		tr.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	}
	opts = append([]func(*http.Transport){tune, t.OrDefault().transport}, opts...)
	switch b := c.(type) {
	case nil:
		return awshttp.NewBuildableClient().WithTransportOptions(opts...).Freeze()
	case *awshttp.BuildableClient:
		return b.WithTransportOptions(opts...).Freeze()
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

// NewDestinationS3 returns the destination bucket store, signed with the
// identity in cfg (the default AWS credential chain: the customer's own, not
// Optimizely's), its requests bounded by DefaultTimeouts. A custom endpoint
// (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) implies path-style addressing, as
// S3-compatible servers expect. optFns come last (tests set other timeouts
// with them).
func NewDestinationS3(cfg aws.Config, t store.Target, customEndpoint bool, opts store.S3Options, optFns ...func(*s3.Options)) *store.S3 {
	client := s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.HTTPClient = HTTPClient(o.HTTPClient, DefaultTimeouts, ForUploads)
		o.Retryer = Retryer()
		o.UsePathStyle = o.UsePathStyle || customEndpoint
		o.APIOptions = append(o.APIOptions, redact.Middleware(nil)) // an error echoing the session token
		o.APIOptions = append(o.APIOptions, NoteThrottles)          // SlowDown and 503 lower the objects in flight
	}}, optFns...)...)
	return store.NewS3(store.NewBucketClient(client, t), t.Bucket, t.Prefix, opts) // its region found, refusals named
}

// CustomS3Endpoint reports whether the environment points S3 at a custom
// endpoint (the SDK's AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).
func CustomS3Endpoint(getenv func(string) string) bool {
	return getenv("AWS_ENDPOINT_URL_S3") != "" || getenv("AWS_ENDPOINT_URL") != ""
}
