package optimizely

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/redact"
)

// A hostile or misconfigured API that redirects never receives or forwards
// the token anywhere: the client does not follow, makes no second request,
// and says where the redirect pointed.
func TestClientNeverFollowsRedirects(t *testing.T) {
	var trapped atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trapped.Add(1)
		fmt.Fprint(w, credsBody(time.Now().Add(time.Hour), testPath))
	}))
	defer trap.Close()
	trapTLS := httptest.NewTLSServer(trap.Config.Handler)
	defer trapTLS.Close()

	tests := []struct {
		name, location, wantTarget string
		status                     int
	}{
		{"302 downgrade to http", strings.Replace(trapTLS.URL, "https", "http", 1) + "/v2/export/credentials", "", http.StatusFound},
		{"307 to another port", trap.URL + "/v2/export/credentials", trap.URL, http.StatusTemporaryRedirect},
		{"308 to another https port", trapTLS.URL + "/x", trapTLS.URL, http.StatusPermanentRedirect},
		{"301 to another host", "https://attacker.invalid/steal?t=1", "https://attacker.invalid", http.StatusMovedPermanently},
		{"303 relative, same host", "/v2/other", "", http.StatusSeeOther},
		{"302 without Location", "", "no Location", http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				if tt.location != "" {
					w.Header().Set("Location", tt.location)
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			hc := srv.Client()
			hc.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true // the trap's certificate too
			c := &Client{BaseURL: srv.URL, HTTPClient: hc, MaxAttempts: 3, Sleep: (&sleepRecorder{}).Sleep}
			_, err := c.Credentials(context.Background(), mustToken(t, testToken), time.Hour)
			if err == nil {
				t.Fatal("Credentials() = nil error, want the redirect refused")
			}
			want := tt.wantTarget
			if want == "" {
				u, _ := url.Parse(srv.URL)
				want = u.Host
				if tt.status == http.StatusFound {
					want = strings.Replace(trapTLS.URL, "https", "http", 1)
				}
			}
			for _, s := range []string{fmt.Sprint(tt.status), "redirect", want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if n.Load() != 1 || trapped.Load() != 0 {
				t.Errorf("requests: API %d, redirect target %d; want 1 and 0", n.Load(), trapped.Load())
			}
			assertNoSecrets(t, "error", err.Error())
		})
	}
}

func TestCheckBaseURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://api.optimizely.com", true},
		{"https://api.optimizely.com:8443/gateway/", true},
		{"http://127.0.0.1:8080", true},
		{"http://127.9.8.7", true},
		{"http://localhost:9000", true},
		{"http://LOCALHOST", true},
		{"http://[::1]:9000", true},
		{"http://api.optimizely.com", false},
		{"http://10.0.0.1:8080", false},
		{"http://localhost.attacker.example", false},
		{"http://127.0.0.1.nip.io", false},
		{"ftp://api.optimizely.com", false},
		{"https://user:hunter2-password@api.optimizely.com", false},
		{"https://api.optimizely.com/?x=1", false},
		{"https://api.optimizely.com/#f", false},
		{"api.optimizely.com", false},
		{"https://", false},
		{"", false},
	}
	for _, tt := range tests {
		err := CheckBaseURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("CheckBaseURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("CheckBaseURL(%q) = %v: shows the password", tt.url, err)
		}
	}
	// The client refuses such a URL without sending anything.
	c := &Client{BaseURL: "http://api.optimizely.com"}
	if _, err := c.Credentials(context.Background(), mustToken(t, testToken), time.Hour); err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("Credentials over http to a non-loopback host: error = %v, want one about plain http", err)
	}
}

// An API that echoes the token in its error bodies, in any encoding, has
// the echo redacted; the rest of the body is kept, at most 200 bytes.
func TestClientRedactsEchoedToken(t *testing.T) {
	const tok = "2:hostile-Echo/Token+value=0123456789abcdef"
	bearer := "Bearer " + tok
	jsonTok, _ := json.Marshal(tok)
	echoes := map[string]string{
		"raw":              tok,
		"URL-encoded":      url.QueryEscape(tok),
		"base64":           base64.StdEncoding.EncodeToString([]byte(tok)),
		"base64url Bearer": base64.RawURLEncoding.EncodeToString([]byte(bearer)),
		"JSON-escaped":     string(jsonTok[1 : len(jsonTok)-1]),
		"partial (14)":     tok[5:19],
	}
	for name, echo := range echoes {
		for _, status := range []int{400, 401, 500} {
			srv := newAPIServer(t, reply{status: status, body: `{"message":"bad header ` + echo + `"}`})
			var logs syncBuffer
			secrets := redact.New()
			c := &Client{BaseURL: srv.URL, HTTPClient: srv.Client(), MaxAttempts: 2, Sleep: (&sleepRecorder{}).Sleep,
				Logger: newLogger(&logs), Secrets: secrets}
			_, err := c.Credentials(context.Background(), mustToken(t, tok), time.Hour)
			if err == nil {
				t.Fatalf("%s %d: want an error", name, status)
			}
			out := err.Error() + logs.String()
			forms := redact.Forms(tok) // the echo's own "Bearer " prefix may stay
			if !strings.Contains(name, "Bearer") {
				forms = append(forms, echo)
			}
			for _, f := range forms {
				for i := 0; i+redact.Window <= len(f); i++ {
					if strings.Contains(out, f[i:i+redact.Window]) {
						t.Errorf("%s %d: output holds %q of a form of the token: %s", name, status, f[i:i+redact.Window], out)
						break
					}
				}
			}
			if !strings.Contains(err.Error(), "bad header ") || !strings.Contains(err.Error(), redact.Marker) {
				t.Errorf("%s %d: error %q lacks the redacted body", name, status, err)
			}
		}
	}
}

// Absurd expirations: in the past (or in seconds) is a malformed answer,
// retried; beyond the duration asked for (microseconds instead of
// milliseconds, a server ignoring duration) is clamped with a warning.
func TestClientExpirationSanity(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	body := func(ms int64) reply {
		return reply{status: 200, body: fmt.Sprintf(`{"credentials":{"accessKeyId":%q,"secretAccessKey":%q,"sessionToken":%q,"expiration":%d},"s3Path":%q}`,
			testKeyID, testSecret, testSess, ms, testPath)}
	}
	d := 30 * time.Minute
	tests := []struct {
		name        string
		ms          int64
		wantExpires time.Time // zero: an error
		wantInErr   string
		wantWarn    bool
	}{
		{"as asked", now.Add(d).UnixMilli(), now.Add(d), "", false},
		{"within clock skew", now.Add(d + MaxClockSkew).UnixMilli(), now.Add(d + MaxClockSkew), "", false},
		{"beyond the duration", now.Add(d + MaxClockSkew + time.Second).UnixMilli(), now.Add(d), "", true},
		{"microseconds, not milliseconds", now.Add(d).UnixMicro(), now.Add(d), "", true},
		{"a year off", now.AddDate(1, 0, 0).UnixMilli(), now.Add(d), "", true},
		{"in the past", now.Add(-time.Second).UnixMilli(), time.Time{}, "not in the future", false},
		{"now", now.UnixMilli(), time.Time{}, "not in the future", false},
		{"seconds, not milliseconds", now.Add(d).Unix(), time.Time{}, "seconds, not milliseconds", false},
		{"negative", -1, time.Time{}, "not in the future", false},
	}
	for _, tt := range tests {
		srv := newAPIServer(t, body(tt.ms))
		var logs syncBuffer
		c := &Client{BaseURL: srv.URL, HTTPClient: srv.Client(), MaxAttempts: 2, Sleep: (&sleepRecorder{}).Sleep,
			Logger: newLogger(&logs), Now: func() time.Time { return now }}
		g, err := c.Credentials(context.Background(), mustToken(t, testToken), d)
		switch {
		case tt.wantExpires.IsZero():
			if err == nil || !strings.Contains(err.Error(), tt.wantInErr) || srv.n.Load() != 2 {
				t.Errorf("%s: error = %v after %d requests, want %q after 2 (retried)", tt.name, err, srv.n.Load(), tt.wantInErr)
			}
		case err != nil:
			t.Errorf("%s: error = %v, want credentials", tt.name, err)
		case !g.Credentials.Expires.Equal(tt.wantExpires):
			t.Errorf("%s: expires %v, want %v", tt.name, g.Credentials.Expires, tt.wantExpires)
		}
		if warned := strings.Contains(logs.String(), "not believed"); warned != tt.wantWarn {
			t.Errorf("%s: warning logged = %v, want %v:\n%s", tt.name, warned, tt.wantWarn, logs.String())
		}
		assertNoSecrets(t, "log", logs.String())
	}
}
