// Command fetchcreds is the planning Lambda: on the daily schedule (or a
// backfill request) it opens the export (a Personal Access Token exchanged
// for export credentials, or static source keys), plans the dates that need
// work, and sends one copy task per sub-partition to SQS.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/e3sync/e3sync/functions/internal/lambdamain"
	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/pipeline"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/settings"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/store"
)

// version is set at build time with -ldflags "-X main.version=..." (the
// Makefile's build-<LogicalId> targets); it is logged at cold start.
var version = "dev"

// main serves the handler newHandler builds (lambdamain.Run: the logger,
// the cold start line, one build per container). Log lines carry the ids
// logctx.With puts in the context (run_id).
func main() {
	lambdamain.Run(version, newHandler, func(h *handler) any { return h.handle })
}

// newHandler is the wiring: the settings from the environment, then the
// clients with the function's own AWS identity. Nothing is called yet: the
// export is opened by the first invocation.
func newHandler(ctx context.Context, getenv func(string) string, metricsOut io.Writer, log *slog.Logger, secrets *redact.Secrets) (*handler, error) {
	s, err := settings.Parse(getenv, true)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	src, secret := source.FromSecretsManager(secretsmanager.NewFromConfig(cfg), s.PATSecret, s.KeysSecret, s.SecretTTL)
	src.APIBaseURL, src.Endpoint, src.Duration, src.Logger, src.Secrets = s.APIURL, s.SourceEndpoint, s.Duration, log, secrets
	dest := clients.NewDestinationS3(cfg, s.Dest, clients.CustomS3Endpoint(getenv), store.S3Options{PartSize: s.PartSize, KMSKeyID: s.KMSKeyID})
	h := &handler{
		source: &source.Lazy{Config: src},
		planner: pipeline.Planner{
			Dest: dest, Queue: sqs.NewFromConfig(cfg), QueueURL: s.TaskQueueURL,
			Types: s.Types, Lookback: s.Lookback, MaxBackfillDays: s.MaxBackfillDays,
			Metrics: metrics.New(metricsOut, s.MetricsNS, s.StackName), Logger: log,
		},
		secret: secret,
		log:    log,
	}
	return h, nil
}
