package logctx

import "log/slog"

// discard logs nothing.
var discard = slog.New(slog.DiscardHandler)

// OrDiscard returns l, or a logger that logs nothing when l is nil: the one
// default for every optional Logger field and parameter.
func OrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return discard
	}
	return l
}
