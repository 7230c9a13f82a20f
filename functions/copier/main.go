// Command copier is the copy Lambda: SQS-triggered (partial batch failures
// reported), or invoked directly with one task. It streams one sub-partition
// from Optimizely's bucket into the destination and completes the date.
package main

import (
	"log/slog"

	"github.com/e3sync/e3sync/pkg/clients"
	"github.com/e3sync/e3sync/pkg/settings"
)

// version is set at build time with -ldflags "-X main.version=..." (the
// Makefile's build-<LogicalId> targets); it is logged at cold start.
var version = "dev"

func main() {
	clients.StartLambda(version, func(s settings.Settings, p *clients.Pipeline, log *slog.Logger) any {
		return (&handler{s: s, p: p, log: log}).handle
	})
}
