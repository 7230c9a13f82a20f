// Command fetchcreds is the planning Lambda: on the daily schedule (or a
// backfill request) it exchanges the PAT for export credentials, plans the
// dates that need work, and sends one copy task per sub-partition to SQS.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/settings"
)

func main() {
	// Every line carries the Lambda request id and the ids logctx.With puts
	// in the context (run_id; task for the copier).
	log := slog.New(logctx.Handler(lambdacontext.NewLogHandler()))
	ctx := context.Background()
	s, err := settings.Parse(os.Getenv, true)
	if err != nil {
		log.Error("invalid configuration", "error", err.Error())
		os.Exit(1)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("AWS configuration", "error", err.Error())
		os.Exit(1)
	}
	h := &handler{s: s, p: clients.NewPipeline(cfg, s, clients.CustomS3Endpoint(os.Getenv), os.Stdout, log), log: log}
	lambda.Start(h.handle)
}
