package main

import (
	"slices"
	"strings"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/verify"
)

// repairCommand is the one e3sync command that repairs what verify found,
// for the destination and token source of c.
func repairCommand(c config, r verify.Repair) string {
	args := []string{"e3sync", "sync", "--dest", c.dest.String()}
	if c.tokenSecret != "" {
		args = append(args, "--token-secret", c.tokenSecret)
	}
	if c.keysSecret != "" {
		args = append(args, "--source-keys-secret", c.keysSecret)
	}
	if !slices.Equal(r.Types, export.AllTypes) {
		var ts []string
		for _, t := range r.Types {
			ts = append(ts, string(t))
		}
		args = append(args, "--types", strings.Join(ts, ","))
	}
	args = append(args, "--from", r.From, "--to", r.To)
	if r.Force {
		args = append(args, "--force")
	}
	if r.Prune {
		args = append(args, "--prune")
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// characters.
func shellQuote(s string) string {
	plain := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+", r))
	}) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
