package plan

import (
	"testing"

	"github.com/e3sync/e3sync/pkg/export"
)

func FuzzOptionsValidate(f *testing.F) {
	f.Add("decisions", "2024-01-01", "2024-01-31", 3)
	f.Add("events", "", "", 0)
	f.Add("events", "2024-02-01", "2024-01-01", 3)
	f.Add("clicks", "2024-01-01", "", -1)
	f.Add("events", "2024-1-1", "2024-01-31", 3)
	f.Add("events", "", "2024-01-31", 3)
	f.Fuzz(func(t *testing.T, typ, from, to string, lookback int) {
		o := Options{Types: []export.Type{export.Type(typ)}, From: from, To: to, Lookback: lookback}
		if o.Validate() != nil {
			return
		}
		if _, err := export.ParseType(typ); err != nil {
			t.Errorf("Validate accepted type %q", typ)
		}
		if lookback < 0 {
			t.Errorf("Validate accepted look-back %d", lookback)
		}
		for _, d := range []string{from, to} {
			if d == "" {
				continue
			}
			if _, err := export.ParseDate(d); err != nil {
				t.Errorf("Validate accepted date %q", d)
			}
		}
		if from != "" && to != "" && from > to {
			t.Errorf("Validate accepted %s after %s", from, to)
		}
	})
}
