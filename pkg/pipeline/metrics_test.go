package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/source"
)

func TestPutCredentialMetrics(t *testing.T) {
	token := fmt.Errorf("export credentials: %w", optimizely.ErrTokenRejected)
	keys := fmt.Errorf("list: %w", source.ErrKeysRejected)
	tests := []struct {
		refreshes int64
		err       error
		want      map[string]float64 // metric values on the line; nil: no line
	}{
		{0, nil, nil},
		{-1, nil, nil},
		{0, errors.New("connection reset"), nil},
		{2, nil, map[string]float64{metrics.CredentialRefreshes: 2}},
		{0, token, map[string]float64{metrics.TokenRejected: 1}},
		{3, token, map[string]float64{metrics.CredentialRefreshes: 3, metrics.TokenRejected: 1}},
		{0, keys, map[string]float64{metrics.SourceKeysRejected: 1}},
		{1, keys, map[string]float64{metrics.CredentialRefreshes: 1, metrics.SourceKeysRejected: 1}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		PutCredentialMetrics(metrics.New(&buf, "e3sync", "s"), tt.refreshes, tt.err)
		if tt.want == nil {
			if buf.Len() != 0 {
				t.Errorf("PutCredentialMetrics(%d, %v) wrote %q, want nothing", tt.refreshes, tt.err, buf.String())
			}
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil || strings.Count(buf.String(), "\n") != 1 {
			t.Fatalf("PutCredentialMetrics(%d, %v) wrote %q, want one JSON line (%v)", tt.refreshes, tt.err, buf.String(), err)
		}
		got := map[string]float64{}
		for _, name := range []string{metrics.CredentialRefreshes, metrics.TokenRejected, metrics.SourceKeysRejected} {
			if v, ok := line[name].(float64); ok {
				got[name] = v
			}
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("PutCredentialMetrics(%d, %v) values = %v, want %v", tt.refreshes, tt.err, got, tt.want)
		}
	}
}
