package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/source"
)

func TestPutSourceRejected(t *testing.T) {
	tests := []struct {
		err  error
		want string // the metric emitted; "" for none
	}{
		{fmt.Errorf("export credentials: %w", optimizely.ErrTokenRejected), metrics.TokenRejected},
		{fmt.Errorf("list: %w", source.ErrKeysRejected), metrics.SourceKeysRejected},
		{errors.New("connection reset"), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		PutSourceRejected(metrics.New(&out, "e3sync", "stack"), tt.err)
		for _, name := range []string{metrics.TokenRejected, metrics.SourceKeysRejected} {
			if got := strings.Contains(out.String(), `"`+name+`"`); got != (name == tt.want) {
				t.Errorf("PutSourceRejected(%v) emitted %s: %v, want %v\n%s", tt.err, name, got, name == tt.want, out.String())
			}
		}
	}
}
