// Package pat holds Optimizely Personal Access Tokens: a Token type that never
// prints itself, and the sources a token is read from (Secrets Manager, the
// environment).
package pat

import (
	"context"
	"errors"
	"log/slog"
	"strings"
)

const redacted = "[REDACTED]"

// ErrEmpty is returned when a token source holds no token.
var ErrEmpty = errors.New("personal access token is empty")

// Token is an Optimizely Personal Access Token. Its String, GoString,
// LogValue and MarshalJSON all redact the value; only Reveal returns it, and
// Reveal is called in exactly one place: when the Authorization header is set.
type Token struct{ value string }

// New returns a Token for s with surrounding white space removed.
func New(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, ErrEmpty
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return Token{}, errors.New("personal access token contains white space")
	}
	return Token{value: s}, nil
}

// Reveal returns the secret value.
func (t Token) Reveal() string { return t.value }

// IsZero reports whether t holds no token.
func (t Token) IsZero() bool { return t.value == "" }

func (Token) String() string               { return redacted }
func (Token) GoString() string             { return redacted }
func (Token) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Token) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Source yields the current token. Invalidate drops any cached value, so the
// next Token call reads the backing store again (used after the token was
// rejected, in case it was rotated).
type Source interface {
	Token(ctx context.Context) (Token, error)
	Invalidate()
}
