// Command fetchcreds is the planning Lambda: on the daily schedule (or a
// backfill request) it exchanges the PAT for export credentials, plans the
// dates that need work, and sends one copy task per sub-partition to SQS.
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
