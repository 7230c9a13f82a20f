package strictjson

import (
	"strings"
	"testing"
)

type sample struct {
	Type    string   `json:"type"`
	DryRun  bool     `json:"dry_run,omitempty"`
	Names   []string `json:"names,omitempty"`
	Plain   int
	Skipped string `json:"-"`
	hidden  int
}

func TestDecode(t *testing.T) {
	tests := []struct {
		in      string
		want    sample
		wantErr string
	}{
		{`{"type":"a","dry_run":true,"names":["x"],"Plain":3}`, sample{Type: "a", DryRun: true, Names: []string{"x"}, Plain: 3}, ""},
		{`{}`, sample{}, ""},
		{`null`, sample{}, ""},
		{` {"type":"a"} `, sample{Type: "a"}, ""},
		{`{"typ\u0065":"a"}`, sample{Type: "a"}, ""}, // the same name, escaped
		{`{"Type":"a"}`, sample{}, `unknown field "Type": field names are case-sensitive, did you mean "type"?`},
		{`{"TYPE":"a"}`, sample{}, `unknown field "TYPE": field names are case-sensitive, did you mean "type"?`},
		{`{"plain":1}`, sample{}, `unknown field "plain": field names are case-sensitive, did you mean "Plain"?`},
		{`{"type":"a","type":"b"}`, sample{}, `duplicate field "type"`},
		{`{"type":"a","typ\u0065":"b"}`, sample{}, `duplicate field "type"`},
		{`{"names":[],"dry_run":false,"names":["x"]}`, sample{}, `duplicate field "names"`},
		{`{"type":"a","extra":{"type":1}}`, sample{}, `unknown field "extra"`},
		{`{"Skipped":"x"}`, sample{}, `unknown field "Skipped"`},
		{`{"-":"x"}`, sample{}, `unknown field "-"`},
		{`{"hidden":1}`, sample{}, `unknown field "hidden"`},
		{`{"type":"a"} {}`, sample{}, "trailing data"},
		{`{"type":"a"`, sample{}, "unexpected EOF"},
		{`[]`, sample{}, "cannot unmarshal array"},
		{`{"type":1}`, sample{}, "cannot unmarshal number"},
	}
	for _, tt := range tests {
		var got sample
		err := Decode([]byte(tt.in), &got)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Decode(%s) = %v, want no error", tt.in, err)
		case tt.wantErr == "" && !equal(got, tt.want):
			t.Errorf("Decode(%s) = %+v, want %+v", tt.in, got, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Decode(%s) = %v, want an error containing %q", tt.in, err, tt.wantErr)
		}
	}
}

func equal(a, b sample) bool {
	return a.Type == b.Type && a.DryRun == b.DryRun && strings.Join(a.Names, ",") == strings.Join(b.Names, ",") && a.Plain == b.Plain
}
