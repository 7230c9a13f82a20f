package pipeline

import (
	"errors"

	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/source"
)

// PutCredentialMetrics writes the credential metrics of one step of a
// Lambda: the refreshes of the source credentials since the last report
// (CredentialRefreshes, when any), and, when err says the source refused
// its credentials, one TokenRejected (Optimizely rejected the Personal
// Access Token) or one SourceKeysRejected (the export's S3 rejected the
// static source keys). It is the one place these metrics are emitted.
func PutCredentialMetrics(m *metrics.Recorder, refreshes int64, err error) {
	var vals []metrics.Value
	if refreshes > 0 {
		vals = append(vals, metrics.Value{Name: metrics.CredentialRefreshes, Unit: metrics.Count, Value: float64(refreshes)})
	}
	switch {
	case errors.Is(err, optimizely.ErrTokenRejected):
		vals = append(vals, metrics.Value{Name: metrics.TokenRejected, Unit: metrics.Count, Value: 1})
	case errors.Is(err, source.ErrKeysRejected):
		vals = append(vals, metrics.Value{Name: metrics.SourceKeysRejected, Unit: metrics.Count, Value: 1})
	}
	m.Put(nil, vals...)
}
