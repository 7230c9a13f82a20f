package pat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestTokenNeverPrints(t *testing.T) {
	tok, err := New(tokenText)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", tok, "ptr", &tok)
	js, _ := json.Marshal(struct{ T Token }{tok})
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", tok),
		"%+v":  fmt.Sprintf("%+v", struct{ T Token }{tok}),
		"%#v":  fmt.Sprintf("%#v", tok),
		"%s":   fmt.Sprintf("%s", tok),
		"json": string(js),
		"slog": logs.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, tokenText) || !strings.Contains(out, "REDACTED") {
			t.Errorf("%s of a Token = %q, want it redacted", name, out)
		}
	}
	if tok.Reveal() != tokenText {
		t.Errorf("Reveal() = %q, want %q", tok.Reveal(), tokenText)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{tokenText, tokenText, true},
		{"\t" + tokenText + " \n", tokenText, true},
		{"", "", false},
		{"   ", "", false},
		{"a b", "", false},
	}
	for _, tt := range tests {
		got, err := New(tt.in)
		if (err == nil) != tt.ok || got.Reveal() != tt.want {
			t.Errorf("New(%q) = %q, %v, want %q, ok=%v", tt.in, got.Reveal(), err, tt.want, tt.ok)
		}
	}
}
