// Command copier is the copy Lambda: SQS-triggered (partial batch failures
// reported), or invoked directly with one task. It streams one sub-partition
// from Optimizely's bucket into the destination and completes the date.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/e3sync/e3sync/functions/internal/lambdamain"
	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/memlimit"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/notify"
	"github.com/e3sync/e3sync/pkg/pipeline"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/settings"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// version is set at build time with -ldflags "-X main.version=..." (the
// Makefile's build-<LogicalId> targets); it is logged at cold start.
var version = "dev"

// main serves the handler newHandler builds (lambdamain.Run: the logger,
// the cold start line, one build per container). Log lines carry the ids
// logctx.With puts in the context (run_id, task).
func main() {
	lambdamain.Run(version, newHandler, func(h *handler) any { return h.handle })
}

// newHandler is the wiring: the settings from the environment, the memory
// limit for the copy buffers, then the clients with the function's own AWS
// identity. Nothing is called yet: the export is opened by the first task.
func newHandler(ctx context.Context, getenv func(string) string, metricsOut io.Writer, log *slog.Logger, secrets *redact.Secrets) (*handler, error) {
	s, err := settings.Parse(getenv, true)
	if err != nil {
		return nil, err
	}
	memlimit.Set(getenv, s.PartSize)
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	src, _ := source.FromSecretsManager(secretsmanager.NewFromConfig(cfg), s.PATSecret, s.KeysSecret, s.SecretTTL)
	src.APIBaseURL, src.Endpoint, src.Duration, src.Logger, src.Secrets = s.APIURL, s.SourceEndpoint, s.Duration, log, secrets
	dest := clients.NewDestinationS3(cfg, s.Dest, clients.CustomS3Endpoint(getenv), store.S3Options{PartSize: s.PartSize, KMSKeyID: s.KMSKeyID})
	queue := sqs.NewFromConfig(cfg)
	rec := metrics.New(metricsOut, s.MetricsNS, s.StackName)
	keeper := &catalog.Keeper{Dest: dest} // schema checks always; partitions with a Glue database
	if s.GlueDatabase != "" {
		keeper.Glue = &catalog.Glue{Client: glue.NewFromConfig(cfg), Database: s.GlueDatabase, Location: dest.String()}
	}
	events := &notify.EventBridge{Client: eventbridge.NewFromConfig(cfg), Bus: s.EventBus}
	return &handler{
		source: &source.Lazy{Config: src},
		newCopier: func(src *source.Source) *pipeline.Copier {
			return &pipeline.Copier{
				Engine:   transfer.New(src.Store, dest, transfer.Options{Concurrency: s.Concurrency, Prune: s.Prune, Logger: log}),
				Queue:    queue,
				QueueURL: s.TaskQueueURL,
				Metrics:  rec,
				Logger:   log,
				Dest:     dest, Events: events, AccountID: src.Location.AccountID(),
				Credentials: src.Credentials,
				Catalog:     keeper,
				Runs:        dest,
			}
		},
		runs:         dest,
		queue:        queue,
		queueURL:     s.TaskQueueURL,
		retryBackoff: s.RetryBackoff,
		metrics:      rec,
		log:          log,
	}, nil
}
