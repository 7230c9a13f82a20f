package clients

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/settings"
)

// StartLambda is the main of both functions: it reads the settings from the
// environment and the function's AWS configuration, builds the pipeline
// once per container, and serves the handler newHandler returns (any
// handler lambda.Start accepts). Invalid settings stop the container with
// one log line naming every problem.
//
// Its first line, before the settings are read, is "cold start" with the
// function's name and version (the binary's main.version, stamped by the
// Makefile with -ldflags "-X main.version=...").
//
// Every line logged carries the Lambda request id and the ids logctx.With
// puts in the context (run_id; task for the copier). Metrics (EMF) go to
// stdout as JSON lines, like the logs.
func StartLambda(version string, newHandler func(s settings.Settings, p *Pipeline, log *slog.Logger) any) {
	secrets := redact.New() // learns the PAT and the export credentials; no log line carries them
	log := slog.New(redact.Handler(logctx.Handler(lambdacontext.NewLogHandler()), secrets))
	log.Info("cold start", "function", lambdacontext.FunctionName, "version", version)
	s, err := settings.Parse(os.Getenv, true)
	if err != nil {
		log.Error("invalid configuration", "error", err.Error())
		os.Exit(1)
	}
	LimitMemory(os.Getenv, s.PartSize)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("AWS configuration", "error", err.Error())
		os.Exit(1)
	}
	p := NewPipeline(cfg, s, CustomS3Endpoint(os.Getenv), os.Stdout, log, secrets)
	lambda.Start(newHandler(s, p, log))
}
