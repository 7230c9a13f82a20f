package main

import (
	"testing"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/verify"
)

func TestRepairCommand(t *testing.T) {
	s3 := config{dest: store.Target{Bucket: "lake", Prefix: "optimizely/"}}
	dir := config{dest: store.Target{Dir: "/data/my export"}, tokenSecret: "prod/pat"}
	tests := []struct {
		c    config
		r    verify.Repair
		want string
	}{
		{s3, verify.Repair{Types: export.AllTypes, From: "2024-01-02", To: "2024-01-03"},
			"e3sync sync --dest s3://lake/optimizely/ --from 2024-01-02 --to 2024-01-03"},
		{s3, verify.Repair{Types: []export.Type{export.Events}, From: "2024-01-02", To: "2024-01-02", Force: true, Prune: true},
			"e3sync sync --dest s3://lake/optimizely/ --types events --from 2024-01-02 --to 2024-01-02 --force --prune"},
		{dir, verify.Repair{Types: []export.Type{export.Decisions}, From: "2024-01-02", To: "2024-01-02", Prune: true},
			"e3sync sync --dest '/data/my export' --token-secret prod/pat --types decisions --from 2024-01-02 --to 2024-01-02 --prune"},
	}
	for _, tt := range tests {
		if got := repairCommand(tt.c, tt.r); got != tt.want {
			t.Errorf("repairCommand(%+v) =\n%s\nwant\n%s", tt.r, got, tt.want)
		}
	}
	for in, want := range map[string]string{"plain-1.2/x=y": "plain-1.2/x=y", "it's": `'it'\''s'`, "": "''", "a b": "'a b'"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
