package clients

import (
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/notify"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/settings"
	"github.com/e3sync/e3sync/pkg/store"
)

// CustomS3Endpoint reports whether the environment points S3 at a custom
// endpoint (the SDK's AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).
func CustomS3Endpoint(getenv func(string) string) bool {
	return getenv("AWS_ENDPOINT_URL_S3") != "" || getenv("AWS_ENDPOINT_URL") != ""
}

// Pipeline is what both Lambdas are built from, once per container.
type Pipeline struct {
	Source  *LazySource
	Dest    *store.S3
	Queue   *sqs.Client
	Events  *notify.EventBridge // completion events (the copier)
	Metrics *metrics.Recorder
	Catalog *catalog.Keeper // Glue partitions and schema checks (the copier)
	// Tokens is the PAT's secret, also read for its age (TokenAgeDays).
	Tokens *pat.SecretsManager
}

// NewPipeline builds the clients from the settings and the function's own
// AWS identity (cfg). Nothing is called yet: the source is made on first use.
// secrets learns the PAT and the export credentials (share it with log's
// redact.Handler).
func NewPipeline(cfg aws.Config, s settings.Settings, customS3 bool, metricsOut io.Writer, log *slog.Logger, secrets *redact.Secrets) *Pipeline {
	tokens := &pat.SecretsManager{Client: secretsmanager.NewFromConfig(cfg), SecretID: s.PATSecret, TTL: s.SecretTTL}
	dest := NewDestinationS3(cfg, s.Dest, customS3, store.S3Options{PartSize: s.PartSize, KMSKeyID: s.KMSKeyID})
	return &Pipeline{
		Source: &LazySource{Config: SourceConfig{
			Tokens: tokens, APIBaseURL: s.APIURL, Endpoint: s.SourceEndpoint, Duration: s.Duration, Logger: log, Secrets: secrets,
		}},
		Dest:    dest,
		Queue:   sqs.NewFromConfig(cfg),
		Events:  &notify.EventBridge{Client: eventbridge.NewFromConfig(cfg), Bus: s.EventBus},
		Metrics: metrics.New(metricsOut, s.MetricsNS, s.StackName),
		Catalog: NewKeeper(cfg, dest, s.GlueDatabase),
		Tokens:  tokens,
	}
}
