package pat

import (
	"context"
	"fmt"
)

// FromEnv returns a Source that reads the environment variable name through
// getenv on every Token call (so it is only as fresh as the process
// environment). Errors name the variable, never its value. Invalidate does
// nothing.
func FromEnv(getenv func(string) string, name string) Source {
	return envSource{getenv: getenv, name: name}
}

type envSource struct {
	getenv func(string) string
	name   string
}

func (s envSource) Token(context.Context) (Token, error) {
	t, err := New(s.getenv(s.name))
	if err != nil {
		return Token{}, fmt.Errorf("environment variable %s: %w", s.name, err)
	}
	return t, nil
}

func (envSource) Invalidate() {}

// Static returns a Source that always yields t, e.g. for a token given on
// the command line. Invalidate does nothing.
func Static(t Token) Source { return staticSource{t} }

type staticSource struct{ t Token }

func (s staticSource) Token(context.Context) (Token, error) {
	if s.t.IsZero() {
		return Token{}, ErrEmpty
	}
	return s.t, nil
}

func (staticSource) Invalidate() {}
