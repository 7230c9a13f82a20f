// Package lambdamain is what the two Lambda functions' mains share: the
// logger, the cold start line, building the handler once per container, and
// serving it.
package lambdamain

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/redact"
)

// Build makes a function's handler from its environment: the wiring, called
// once per container. Its metrics (EMF) go to metricsOut; secrets learns the
// PAT, the source keys and the export credentials, so that no log line
// shows them.
type Build[H any] func(ctx context.Context, getenv func(string) string, metricsOut io.Writer, log *slog.Logger, secrets *redact.Secrets) (H, error)

// Run logs "cold start" first, builds the handler and serves handle(h).
// Invalid settings stop the container with one log line naming every
// problem. Every line carries the Lambda request id and the ids logctx.With
// puts in the context; metrics go to stdout.
func Run[H any](version string, build Build[H], handle func(H) any) {
	secrets := redact.New()
	log := slog.New(redact.Handler(logctx.Handler(lambdacontext.NewLogHandler()), secrets))
	log.Info("cold start", "function", lambdacontext.FunctionName, "version", version)
	h, err := build(context.Background(), os.Getenv, os.Stdout, log, secrets)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(handle(h))
}
