package redact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

const pat = "2:Xy9+aB/cD=eFgHiJkLmNoPqRsTuVwXyZ_0123456789<&>"

// Every form of the token an upstream might echo is redacted, inside other
// text, and nothing of 12 or more of its characters survives.
func TestStringRedactsEveryForm(t *testing.T) {
	s := New(pat)
	bearer := "Bearer " + pat
	jsonEsc, _ := json.Marshal(pat)
	tests := []struct{ name, echo string }{
		{"raw", pat},
		{"query-escaped", url.QueryEscape(pat)},
		{"path-escaped", url.PathEscape(pat)},
		{"lower-case hex escapes", strings.NewReplacer("%3A", "%3a", "%2B", "%2b", "%2F", "%2f", "%3D", "%3d").Replace(url.QueryEscape(pat))},
		{"JSON-escaped", string(jsonEsc[1 : len(jsonEsc)-1])},
		{"slash-escaped JSON", strings.ReplaceAll(pat, "/", `\/`)},
		{"base64 std", base64.StdEncoding.EncodeToString([]byte(pat))},
		{"base64 std unpadded", base64.RawStdEncoding.EncodeToString([]byte(pat))},
		{"base64 url", base64.URLEncoding.EncodeToString([]byte(pat))},
		{"base64 url unpadded", base64.RawURLEncoding.EncodeToString([]byte(pat))},
		{"base64 std of Bearer", base64.StdEncoding.EncodeToString([]byte(bearer))},
		{"base64 url unpadded of Bearer", base64.RawURLEncoding.EncodeToString([]byte(bearer))},
		{"base64 of a header block", base64.StdEncoding.EncodeToString([]byte("GET / HTTP/1.1\r\nAuthorization: " + bearer + "\r\n"))},
		{"prefix 12", pat[:12]},
		{"middle 20", pat[10:30]},
		{"suffix 15", pat[len(pat)-15:]},
		{"two fragments", pat[:14] + " and " + pat[20:40]},
	}
	for _, tt := range tests {
		text := `{"error":"bad token ` + tt.echo + `","code":401}`
		got := s.String(text)
		if !strings.Contains(got, Marker) {
			t.Errorf("%s: String(%q) = %q, want a %s", tt.name, text, got, Marker)
		}
		for _, f := range append(Forms(pat), tt.echo) {
			if strings.Contains(tt.echo, pat[:4]) || f != tt.echo { // the echo itself only where it is the token's text
				if leak := longestShared(got, f); leak >= Window {
					t.Errorf("%s: String(%q) = %q keeps %d characters of %q", tt.name, text, got, leak, f)
				}
			}
		}
		if !strings.HasPrefix(got, `{"error":"bad token `) || !strings.HasSuffix(got, `","code":401}`) {
			t.Errorf("%s: String(%q) = %q, want the surrounding text kept", tt.name, text, got)
		}
	}
}

// longestShared is the length of the longest substring of a also in b.
func longestShared(a, b string) int {
	best := 0
	for i := range a {
		for j := i + best + 1; j <= len(a); j++ {
			if !strings.Contains(b, a[i:j]) {
				break
			}
			best = j - i
		}
	}
	return best
}

func TestStringKeepsOtherText(t *testing.T) {
	s := New(pat, "secretAccessKey0123456789abcdefghijklmnop")
	for _, text := range []string{
		"", "short", "copy type=events/date=2024-01-01/event=purchase/part-00000.c000.snappy.parquet: 503 SlowDown",
		pat[:Window-1] + " is only 11 characters of it",
	} {
		if got := s.String(text); got != text {
			t.Errorf("String(%q) = %q, want it unchanged", text, got)
		}
	}
	var nilSet *Secrets
	nilSet.Add(pat)
	if got := nilSet.String(pat); got != pat {
		t.Errorf("nil set: String = %q, want unchanged", got)
	}
}

func TestShortSecretRedactedWhole(t *testing.T) {
	s := New("tiny-pat")
	if got := s.String("token=tiny-pat; b64=" + base64.StdEncoding.EncodeToString([]byte("tiny-pat"))); strings.Contains(got, "tiny-pat") || strings.Contains(got, "dGlueS1wYXQ") {
		t.Errorf("String = %q, want the short token and its base64 redacted", got)
	}
}

func TestOldestSecretForgotten(t *testing.T) {
	s := New()
	secret := func(i int) string { h := sha256.Sum256([]byte{byte(i)}); return hex.EncodeToString(h[:15]) }
	for i := 0; i <= MaxSecrets; i++ {
		s.Add(secret(i))
	}
	if s.Len() != MaxSecrets {
		t.Fatalf("Len = %d, want %d", s.Len(), MaxSecrets)
	}
	first, last := secret(0), secret(MaxSecrets)
	if got := s.String(first); got != first {
		t.Errorf("oldest secret still redacted after %d newer ones: %q", MaxSecrets, got)
	}
	if got := s.String(last); got != Marker {
		t.Errorf("newest secret: String = %q, want %q", got, Marker)
	}
	// Adding one again makes it the newest: the token, added at every
	// exchange, outlives many grants.
	s.Add(secret(1))
	for i := MaxSecrets + 1; i < 2*MaxSecrets-1; i++ {
		s.Add(secret(i))
	}
	if got := s.String(secret(1)); got != Marker {
		t.Errorf("secret added again: String = %q, want %q", got, Marker)
	}
	if got := s.String(secret(2)); got != secret(2) {
		t.Errorf("secret not added again: String = %q, want it forgotten", got)
	}
}

func TestErrorRedactsAndUnwraps(t *testing.T) {
	s := New(pat)
	api := &smithy.GenericAPIError{Code: "InvalidToken", Message: "The token " + pat + " is invalid"}
	err := s.Error(fmt.Errorf("get object: %w", api))
	if strings.Contains(err.Error(), pat[:Window]) || !strings.Contains(err.Error(), "InvalidToken") {
		t.Errorf("Error() = %q, want the code kept and the token redacted", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidToken" {
		t.Errorf("errors.As through the redacted error = %v", ae)
	}
	plain := errors.New("nothing secret here")
	if got := s.Error(plain); got != plain {
		t.Errorf("Error(clean) = %v, want the same error", got)
	}
}

func TestHandlerRedactsEveryAttribute(t *testing.T) {
	s := New()
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&buf, nil), s)).With("bound", "early")
	s.Add(pat) // learned after the logger was made
	log.Info("exchanging "+pat,
		"error", fmt.Errorf("401: %s", url.QueryEscape(pat)),
		slog.Group("req", "auth", "Bearer "+pat, "b64", base64.StdEncoding.EncodeToString([]byte("Bearer "+pat))),
		"any", struct{ Header string }{Header: pat},
		"n", 42, "key", "type=events/date=2024-01-01/")
	out := buf.String()
	for _, f := range Forms(pat) {
		if len(f) >= Window && strings.Contains(out, f[:Window]) {
			t.Errorf("log line holds a form of the token (%q...): %s", f[:Window], out)
		}
	}
	for _, want := range []string{`"n":42`, `"key":"type=events/date=2024-01-01/"`, `"bound":"early"`, `Bearer [REDACTED]`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s: %s", want, out)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s := New()
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				v := fmt.Sprintf("goroutine-%d-secret-%04d-value", g, i)
				s.Add(v)
				s.Add(pat)
				s.String("x " + v + " y")
			}
			done <- true
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	// The fragment counts are those of the secrets remembered, exactly.
	want := map[uint64]uint16{}
	for _, e := range s.entries {
		for _, h := range e.windows {
			want[h]++
		}
	}
	if s.Len() != MaxSecrets || !maps.Equal(want, s.windows) {
		t.Errorf("after concurrent use: %d secrets, %d fragments counted, want %d and %d", s.Len(), len(s.windows), MaxSecrets, len(want))
	}
	if got := s.String(pat); got != Marker {
		t.Errorf("the token, added again all along, is forgotten: %q", got)
	}
}

// A typical log line (an object key and an error) against the token and
// three grants' secret keys and session tokens.
func BenchmarkString(b *testing.B) {
	s := New(pat)
	for i := 0; i < 3; i++ {
		s.Add(fmt.Sprintf("secret-access-key-%d-0123456789abcdefghijklmnopq", i))
		s.Add(strings.Repeat(fmt.Sprintf("session-token-%d-", i), 60))
	}
	line := "copy type=events/date=2024-01-01/event=purchase/part-00017-5f0c2d1e-8a4b-4c7e-9f1a-2b3c4d5e6f70.c000.snappy.parquet: get: operation error S3: GetObject, https response error StatusCode: 503, api error SlowDown: Please reduce your request rate."
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if s.String(line) != line {
			b.Fatal("changed a clean line")
		}
	}
}

// An S3 server that echoes the session token a request was signed with (in
// its error message, raw, URL-encoded and base64) gets it redacted from the
// error, even when the set knows no secret; the error code survives.
func TestMiddlewareRedactsTheRequestsToken(t *testing.T) {
	const session = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+session/token=="
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Amz-Security-Token")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<Error><Code>AccessDenied</Code><Message>token %s / %s / %s</Message></Error>`,
			tok, url.QueryEscape(tok), base64.StdEncoding.EncodeToString([]byte(tok)))
	}))
	defer srv.Close()
	for _, set := range []*Secrets{nil, New(pat)} {
		client := s3.New(s3.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret-key-never-sent", session),
			APIOptions:  []func(*middleware.Stack) error{Middleware(set)},
		})
		_, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
		var ae smithy.APIError
		if err == nil || !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
			t.Fatalf("GetObject error = %v, want AccessDenied", err)
		}
		for _, f := range Forms(session) {
			if len(f) >= Window && strings.Contains(err.Error(), f[:Window]) {
				t.Errorf("error holds the session token (%q...): %v", f[:Window], err)
			}
		}
	}
}
