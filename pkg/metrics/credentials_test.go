package metrics

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

func TestPutCredentials(t *testing.T) {
	tests := []struct {
		refreshes int64
		rejected  bool
		want      map[string]float64 // metric values on the line; nil: no line
	}{
		{0, false, nil},
		{-1, false, nil},
		{2, false, map[string]float64{CredentialRefreshes: 2}},
		{0, true, map[string]float64{TokenRejected: 1}},
		{3, true, map[string]float64{CredentialRefreshes: 3, TokenRejected: 1}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := New(&buf, "e3sync", "s").PutCredentials(tt.refreshes, tt.rejected); err != nil {
			t.Fatal(err)
		}
		if tt.want == nil {
			if buf.Len() != 0 {
				t.Errorf("PutCredentials(%d, %v) wrote %q, want nothing", tt.refreshes, tt.rejected, buf.String())
			}
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil || strings.Count(buf.String(), "\n") != 1 {
			t.Fatalf("PutCredentials(%d, %v) wrote %q, want one JSON line (%v)", tt.refreshes, tt.rejected, buf.String(), err)
		}
		got := map[string]float64{}
		for _, name := range []string{CredentialRefreshes, TokenRejected} {
			if v, ok := line[name].(float64); ok {
				got[name] = v
			}
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("PutCredentials(%d, %v) values = %v, want %v", tt.refreshes, tt.rejected, got, tt.want)
		}
	}
}
