package pipeline

import "github.com/e3sync/e3sync/pkg/metrics"

// PutCredentialMetrics writes the credential metrics of one step of a
// Lambda: the refreshes of the export credentials since the last report
// (CredentialRefreshes, when any), and one TokenRejected when Optimizely
// rejected the token. It is the one place these two metrics are emitted.
func PutCredentialMetrics(m *metrics.Recorder, refreshes int64, tokenRejected bool) {
	var vals []metrics.Value
	if refreshes > 0 {
		vals = append(vals, metrics.Value{Name: metrics.CredentialRefreshes, Unit: metrics.Count, Value: float64(refreshes)})
	}
	if tokenRejected {
		vals = append(vals, metrics.Value{Name: metrics.TokenRejected, Unit: metrics.Count, Value: 1})
	}
	m.Put(nil, vals...)
}
