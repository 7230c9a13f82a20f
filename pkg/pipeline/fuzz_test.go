package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
)

// FuzzDecodeRequest decodes backfill events and validates them as the
// planner does, for a fixed clock and the default limits.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `  `, `null`,
		`{"from":"2024-01-01","to":"2024-01-31","types":["decisions"],"sub_partitions":["experiment=123"],"force":false,"dry_run":true}`,
		`{"from":"2024-01-01"}`, `{"to":"2024-01-01"}`, `{"from":"2024-02-01","to":"2024-01-01"}`,
		`{"from":"0001-01-01","to":"9999-12-31"}`, `{"from":"2020-01-01","to":"2024-01-01"}`,
		`{"from":"2024-01-01","types":["clicks"]}`, `{"from":"2024-01-01","types":[]}`, `{"from":"2024-01-01","types":[""]}`,
		`{"from":"2024-01-01","sub_partitions":["../x"]}`, `{"from":"2024-01-01","sub_partitions":[""]}`,
		`{"from":"2024-01-01","sub_partitions":["a/b"]}`, `{"from":"2024-01-01","typo":true}`,
		`{"from":"2024-01-01"} {"from":"2024-01-02"}`, `{"from":"2024-01-32"}`, `{"from":2024}`,
		`{"source":"aws.events","detail-type":"Scheduled Event"}`,
		`{"From":"2024-01-01"}`, `{"from":"2024-01-01","from":"2024-01-02"}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)
	const maxDays = 400
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		// Anything decoded re-encodes and decodes to the same request.
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("DecodeRequest(Marshal(%+v)) error = %v", r, err)
		}
		if string(mustJSON(t, back)) != string(enc) {
			t.Errorf("round trip = %+v, want %+v", back, r)
		}
		o, err := r.options(export.AllTypes, 3, maxDays, now)
		if err != nil {
			if !strings.Contains(err.Error(), "bad request") {
				t.Errorf("options(%+v) error %q does not wrap ErrBadRequest", r, err)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Errorf("options(%+v) = %+v, which plan rejects: %v", r, o, err)
		}
		if len(o.Types) == 0 {
			t.Errorf("options(%+v) has no types", r)
		}
		for _, p := range o.Partitions {
			task := export.Task{Type: export.Events, Date: "2000-01-01", Partition: p}
			if p == "" || task.Validate() != nil {
				t.Errorf("options(%+v) accepted sub-partition %q", r, p)
			}
		}
		if (o.From == "") != (o.To == "") {
			t.Errorf("options(%+v) = %s..%s: want both ends or neither", r, o.From, o.To)
		}
		if o.From != "" {
			from, _ := export.ParseDate(o.From)
			to, _ := export.ParseDate(o.To)
			if from.After(to) || from.AddDate(0, 0, maxDays).Before(to) || from.AddDate(0, 0, maxDays).Equal(to) {
				t.Errorf("options(%+v) accepted %s..%s: reversed or more than %d days", r, o.From, o.To, maxDays)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
