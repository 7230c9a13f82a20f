package pipeline

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/pkg/metrics"
)

func TestPutCredentialMetrics(t *testing.T) {
	tests := []struct {
		refreshes int64
		rejected  bool
		want      map[string]float64 // metric values on the line; nil: no line
	}{
		{0, false, nil},
		{-1, false, nil},
		{2, false, map[string]float64{metrics.CredentialRefreshes: 2}},
		{0, true, map[string]float64{metrics.TokenRejected: 1}},
		{3, true, map[string]float64{metrics.CredentialRefreshes: 3, metrics.TokenRejected: 1}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		PutCredentialMetrics(metrics.New(&buf, "e3sync", "s"), tt.refreshes, tt.rejected)
		if tt.want == nil {
			if buf.Len() != 0 {
				t.Errorf("PutCredentialMetrics(%d, %v) wrote %q, want nothing", tt.refreshes, tt.rejected, buf.String())
			}
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil || strings.Count(buf.String(), "\n") != 1 {
			t.Fatalf("PutCredentialMetrics(%d, %v) wrote %q, want one JSON line (%v)", tt.refreshes, tt.rejected, buf.String(), err)
		}
		got := map[string]float64{}
		for _, name := range []string{metrics.CredentialRefreshes, metrics.TokenRejected} {
			if v, ok := line[name].(float64); ok {
				got[name] = v
			}
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("PutCredentialMetrics(%d, %v) values = %v, want %v", tt.refreshes, tt.rejected, got, tt.want)
		}
	}
}
