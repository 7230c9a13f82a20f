package pipeline

import (
	"errors"

	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/source"
)

// PutSourceRejected counts a failure to read the export because its
// credentials were refused: TokenRejected when Optimizely rejected the
// Personal Access Token, SourceKeysRejected when the export's S3 rejected
// the static source keys; nothing for any other error. Both functions and
// the copier count through it, so each metric is emitted in one place.
func PutSourceRejected(m *metrics.Recorder, err error) {
	switch {
	case errors.Is(err, optimizely.ErrTokenRejected):
		m.Put(nil, metrics.Value{Name: metrics.TokenRejected, Unit: metrics.Count, Value: 1})
	case errors.Is(err, source.ErrKeysRejected):
		m.Put(nil, metrics.Value{Name: metrics.SourceKeysRejected, Unit: metrics.Count, Value: 1})
	}
}
