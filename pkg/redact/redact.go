// Package redact removes known secrets — the Personal Access Token, the
// export credentials' secret key and session token — from text before it
// reaches a log line, an error, a summary or a message, in every form an
// upstream server or a library commonly echoes them in.
//
// A Secrets set is filled as secrets become known (the token when it is
// read, credentials when they are issued) and applied where untrusted text
// enters errors (Authentication API bodies, S3 error messages: Middleware,
// Error) and, as a safety net, to every log line (Handler). It costs nothing
// on the copy path: only log lines and errors are scanned.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"hash/maphash"
	"net/url"
	"strings"
	"sync"
)

// Marker replaces every redacted run of text.
const Marker = "[REDACTED]"

// Window is the length of the shortest fragment of a secret (in any of its
// forms) that is redacted: any 12 consecutive characters of one are.
const Window = 12

// MaxSecrets bounds how many secrets a set remembers; the one added (or
// added again) longest ago is forgotten first. A Lambda container that
// refreshes credentials for days keeps the token (added again at every
// exchange) and the last 7 grants, and its memory stays bounded (about 3 MiB
// measured with 1,200-character session tokens).
const MaxSecrets = 16

// Secrets is a set of secrets to redact. The zero value and nil are empty
// sets; nil ignores Add. It is safe for concurrent use.
type Secrets struct {
	mu      sync.RWMutex
	entries []entry           // oldest first
	windows map[uint64]uint16 // hash of a Window-long fragment -> entries holding it
	short   []string          // forms shorter than Window, matched whole
}

type entry struct {
	secret  string
	windows []uint64
	short   []string
}

var seed = maphash.MakeSeed()

// New returns a set holding secrets.
func New(secrets ...string) *Secrets {
	s := &Secrets{}
	for _, v := range secrets {
		s.Add(v)
	}
	return s
}

// Add remembers secret (an empty one is ignored; adding one again is cheap
// and makes it the newest). From then on every form Forms lists is
// redacted, and so is every fragment of Window characters of those forms.
func (s *Secrets) Add(secret string) {
	if s == nil || secret == "" {
		return
	}
	s.mu.RLock()
	i := s.index(secret)
	newest := i >= 0 && i == len(s.entries)-1
	s.mu.RUnlock()
	if newest {
		return
	}
	if i >= 0 {
		s.mu.Lock()
		if i = s.index(secret); i >= 0 {
			e := s.entries[i]
			s.entries = append(append(s.entries[:i:i], s.entries[i+1:]...), e)
		}
		s.mu.Unlock()
		return
	}
	e := entry{secret: secret}
	seen := map[uint64]bool{}
	for _, f := range Forms(secret) {
		if len(f) < Window {
			e.short = append(e.short, f)
			continue
		}
		for i := 0; i+Window <= len(f); i++ {
			if h := maphash.String(seed, f[i:i+Window]); !seen[h] {
				seen[h] = true
				e.windows = append(e.windows, h)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index(secret) >= 0 {
		return
	}
	if s.windows == nil {
		s.windows = map[uint64]uint16{}
	}
	if len(s.entries) == MaxSecrets {
		s.forget(s.entries[0])
		s.entries = s.entries[1:]
	}
	s.entries = append(s.entries, e)
	for _, h := range e.windows {
		s.windows[h]++
	}
	s.rebuildShort()
}

// index is the position of secret in s.entries, or -1.
func (s *Secrets) index(secret string) int {
	for i, e := range s.entries {
		if e.secret == secret {
			return i
		}
	}
	return -1
}

func (s *Secrets) forget(e entry) {
	for _, h := range e.windows {
		if s.windows[h] <= 1 {
			delete(s.windows, h)
		} else {
			s.windows[h]--
		}
	}
}

func (s *Secrets) rebuildShort() {
	s.short = s.short[:0]
	for _, e := range s.entries {
		s.short = append(s.short, e.short...)
	}
	// Longest first, so a longer form is not left half-replaced by a
	// shorter one it contains.
	for i := 1; i < len(s.short); i++ {
		for j := i; j > 0 && len(s.short[j]) > len(s.short[j-1]); j-- {
			s.short[j], s.short[j-1] = s.short[j-1], s.short[j]
		}
	}
}

// Len is the number of secrets remembered.
func (s *Secrets) Len() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// String returns text with every known secret, in any form, and every
// fragment of Window characters of one replaced by Marker.
func (s *Secrets) String(text string) string {
	if s == nil || text == "" {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.windows) > 0 && len(text) >= Window {
		text = s.redactWindows(text)
	}
	for _, f := range s.short {
		text = strings.ReplaceAll(text, f, Marker)
	}
	return text
}

// redactWindows replaces each maximal run of text covered by known
// fragments.
func (s *Secrets) redactWindows(text string) string {
	var b strings.Builder
	last, runStart, runEnd := 0, -1, -1 // text[last:runStart] is kept
	for i := 0; i+Window <= len(text); i++ {
		if _, ok := s.windows[maphash.String(seed, text[i:i+Window])]; !ok {
			continue
		}
		switch {
		case runStart >= 0 && i <= runEnd:
			runEnd = i + Window
		default:
			if runStart >= 0 {
				b.WriteString(text[last:runStart])
				b.WriteString(Marker)
				last = runEnd
			}
			runStart, runEnd = i, i+Window
		}
	}
	if runStart < 0 {
		return text
	}
	b.WriteString(text[last:runStart])
	b.WriteString(Marker)
	b.WriteString(text[runEnd:])
	return b.String()
}

// Forms lists the ways secret is commonly echoed: as is, URL-encoded (query
// and path escaping, upper- and lower-case hex), JSON-escaped (with HTML
// escapes, and with "/" escaped as "\/"), and base64 in the standard and URL
// alphabets, with and without padding, at each of the three byte alignments
// it can have inside a longer encoded text (so that base64 of
// "Bearer <secret>" or of a header block holding it is caught too).
func Forms(secret string) []string {
	forms := []string{
		secret,
		url.QueryEscape(secret),
		url.PathEscape(secret),
		lowerHex(url.QueryEscape(secret)),
		lowerHex(url.PathEscape(secret)),
		strings.ReplaceAll(secret, "/", `\/`),
	}
	if j, err := json.Marshal(secret); err == nil {
		forms = append(forms, string(j[1:len(j)-1]))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(secret)))
		// With 1 or 2 bytes before it, the secret starts mid-group: skip
		// the first group, which also encodes those bytes.
		for _, pre := range []string{"\x00", "\x00\x00"} {
			if e := enc.EncodeToString([]byte(pre + secret)); len(e) > 4 {
				forms = append(forms, e[4:])
			}
		}
	}
	out := forms[:0]
	seen := map[string]bool{}
	for _, f := range forms {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// lowerHex lower-cases the hex digits of %XX escapes.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if b[j] >= 'A' && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
			i += 2
		}
	}
	return string(b)
}

// Error returns err with its text redacted, or err itself when its text
// holds no secret. The result unwraps to err, so errors.Is and errors.As
// still see through it (do not print what they find: print the result).
func (s *Secrets) Error(err error) error {
	if err == nil || s.Len() == 0 {
		return err
	}
	msg := err.Error()
	red := s.String(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
