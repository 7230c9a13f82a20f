package main

import (
	"time"

	"github.com/e3sync/e3sync/pkg/metrics"
)

// putTokenAge emits the age in days of the source secret's version (the
// PAT's or the static keys'), i.e. the time since it was last put
// (TokenAgeDays), for the optional rotation reminder. Nothing before the
// secret has been read.
func (h *handler) putTokenAge(now time.Time) {
	if h.secret == nil {
		return
	}
	changed := h.secret.ChangedAt()
	if changed.IsZero() {
		return
	}
	h.planner.Metrics.Put(nil, metrics.Value{Name: metrics.TokenAgeDays, Unit: metrics.None, Value: now.Sub(changed).Hours() / 24})
}
