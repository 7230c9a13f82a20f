package optimizely

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/pat"
)

// Recognisable secrets: none may ever show up in an error or a log line.
const (
	testToken  = "pat-SECRET-123"
	testKeyID  = "AKIASECRETKEYID0001"
	testSecret = "SECRET-ACCESS-KEY-do-not-print"
	testSess   = "SESSION-TOKEN-do-not-print"
	testPath   = "s3://optimizely-events-data/v1/account_id=123"
)

var secrets = []string{testToken, testKeyID, testSecret, testSess}

func mustToken(t *testing.T, s string) pat.Token {
	t.Helper()
	tok, err := pat.New(s)
	if err != nil {
		t.Fatalf("pat.New: %v", err)
	}
	return tok
}

// credsBody is a 200 body in the API's exact shape.
func credsBody(exp time.Time, s3Path string) string {
	return fmt.Sprintf(`{"credentials":{"accessKeyId":%q,"secretAccessKey":%q,"sessionToken":%q,"expiration":%d},"s3Path":%q}`,
		testKeyID, testSecret, testSess, exp.UnixMilli(), s3Path)
}

type reply struct {
	status int
	header map[string]string
	body   string
}

// apiServer answers with replies in order, repeating the last one, and
// records what it was sent.
type apiServer struct {
	*httptest.Server
	mu       sync.Mutex
	replies  []reply
	n        atomic.Int64
	auth     []string
	query    []string
	paths    []string
	blockFor time.Duration
}

func newAPIServer(t *testing.T, replies ...reply) *apiServer {
	s := &apiServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(s.n.Add(1)) - 1
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.query = append(s.query, r.URL.RawQuery)
		s.paths = append(s.paths, r.URL.Path)
		rp := s.replies[min(i, len(s.replies)-1)]
		block := s.blockFor
		s.mu.Unlock()
		if block > 0 {
			select {
			case <-time.After(block):
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range rp.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rp.status)
		fmt.Fprint(w, rp.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// sleepRecorder is an injectable Client.Sleep that returns at once.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return ctx.Err()
}

// syncBuffer collects log output from any goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func assertNoSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s contains secret %q: %s", what, s, text)
		}
	}
}

func TestClientCredentials(t *testing.T) {
	future := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	ok := reply{status: 200, body: credsBody(future, testPath)}
	wantLoc := Location{Bucket: "optimizely-events-data", Prefix: "v1/account_id=123/"}
	longBody := strings.Repeat("x", 1000)

	tests := []struct {
		name       string
		replies    []reply
		maxDelay   time.Duration
		wantN      int64           // requests made
		wantErr    error           // errors.Is target, nil for none
		wantInErr  []string        // substrings of the error
		wantSleeps []time.Duration // exact delays, when the server dictates them
		wantAPI    int             // status of an *APIError in the chain, 0 for none
	}{
		{name: "success", replies: []reply{ok}, wantN: 1},
		{name: "success trailing slash", replies: []reply{{status: 200, body: credsBody(future, testPath+"/")}}, wantN: 1},
		{name: "401 not retried", replies: []reply{{status: 401, body: `{"message":"Unauthorized"}`}, ok},
			wantN: 1, wantErr: ErrTokenRejected, wantInErr: []string{"regenerate the Personal Access Token", "401"}, wantAPI: 401},
		{name: "403 not retried", replies: []reply{{status: 403, body: "forbidden"}, ok},
			wantN: 1, wantErr: ErrTokenRejected, wantInErr: []string{"update the secret", "403"}, wantAPI: 403},
		{name: "401 echoing the token", replies: []reply{{status: 401, body: "bad token " + testToken}},
			wantN: 1, wantErr: ErrTokenRejected, wantAPI: 401},
		{name: "429 Retry-After seconds then success",
			replies: []reply{{status: 429, header: map[string]string{"Retry-After": "1"}}, ok},
			wantN:   2, wantSleeps: []time.Duration{time.Second}},
		{name: "429 Retry-After capped at MaxDelay",
			replies:  []reply{{status: 429, header: map[string]string{"Retry-After": "3600"}}, ok},
			maxDelay: 2 * time.Second, wantN: 2, wantSleeps: []time.Duration{2 * time.Second}},
		{name: "503 Retry-After HTTP date in the past then success",
			replies: []reply{{status: 503, header: map[string]string{"Retry-After": "Mon, 02 Jan 2006 15:04:05 GMT"}}, ok},
			wantN:   2, wantSleeps: []time.Duration{0}},
		{name: "500 until give up", replies: []reply{{status: 500, body: "boom"}},
			wantN: 4, wantInErr: []string{"4 attempts", "500", "boom"}, wantAPI: 500},
		{name: "malformed JSON then success", replies: []reply{{status: 200, body: `{"credentials":{"accessKeyId":"` + testKeyID}, ok}, wantN: 2},
		{name: "malformed JSON until give up", replies: []reply{{status: 200, body: `{"credentials":{"accessKeyId":"` + testKeyID}},
			wantN: 4, wantInErr: []string{"malformed JSON", "4 attempts", "200"}},
		{name: "missing sessionToken",
			replies: []reply{{status: 200, body: fmt.Sprintf(`{"credentials":{"accessKeyId":%q,"secretAccessKey":%q,"expiration":%d},"s3Path":%q}`, testKeyID, testSecret, future.UnixMilli(), testPath)}},
			wantN:   4, wantInErr: []string{"credentials.sessionToken"}},
		{name: "missing credentials", replies: []reply{{status: 200, body: `{"s3Path":"` + testPath + `"}`}},
			wantN: 4, wantInErr: []string{"missing field credentials"}},
		{name: "missing s3Path", replies: []reply{{status: 200, body: credsBody(future, "")}},
			wantN: 4, wantInErr: []string{"s3Path"}},
		{name: "bad s3Path", replies: []reply{{status: 200, body: credsBody(future, "https://x/y")}},
			wantN: 4, wantInErr: []string{"s3Path", "scheme"}},
		{name: "expiration as wrong type", replies: []reply{{status: 200, body: fmt.Sprintf(`{"credentials":{"accessKeyId":%q,"secretAccessKey":%q,"sessionToken":%q,"expiration":%q},"s3Path":%q}`, testKeyID, testSecret, testSess, testSecret, testPath)}},
			wantN: 4, wantInErr: []string{"malformed JSON"}},
		{name: "expired expiration", replies: []reply{{status: 200, body: credsBody(time.Now().Add(-time.Minute), testPath)}},
			wantN: 4, wantInErr: []string{"credentials.expiration", "not in the future"}},
		{name: "404 not retried, body trimmed", replies: []reply{{status: 404, body: "  " + longBody + "  "}},
			wantN: 1, wantAPI: 404},
		{name: "400 not retried", replies: []reply{{status: 400, body: "bad duration"}},
			wantN: 1, wantInErr: []string{"400", "bad duration"}, wantAPI: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t, tt.replies...)
			var sleeps sleepRecorder
			var logs syncBuffer
			c := &Client{
				BaseURL:     srv.URL,
				HTTPClient:  srv.Client(),
				MaxAttempts: 4,
				BaseDelay:   100 * time.Millisecond,
				MaxDelay:    tt.maxDelay,
				Logger:      newLogger(&logs),
				Sleep:       sleeps.Sleep,
			}
			g, err := c.Credentials(context.Background(), mustToken(t, testToken), time.Hour)

			if n := srv.n.Load(); n != tt.wantN {
				t.Errorf("requests = %d, want %d", n, tt.wantN)
			}
			for i := range srv.auth {
				if srv.auth[i] != "Bearer "+testToken || srv.query[i] != "duration=1h" || srv.paths[i] != "/v2/export/credentials" {
					t.Errorf("request %d: Authorization ok=%v, query %q, path %q; want the Bearer token, duration=1h, /v2/export/credentials",
						i, srv.auth[i] == "Bearer "+testToken, srv.query[i], srv.paths[i])
				}
			}
			if len(sleeps.delays) != int(tt.wantN)-1 {
				t.Errorf("sleeps = %v, want %d", sleeps.delays, tt.wantN-1)
			}
			if tt.wantSleeps != nil && fmt.Sprint(sleeps.delays) != fmt.Sprint(tt.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", sleeps.delays, tt.wantSleeps)
			}
			assertNoSecrets(t, "log output", logs.String())

			wantOK := tt.wantErr == nil && tt.wantInErr == nil && tt.wantAPI == 0
			if wantOK {
				if err != nil {
					t.Fatalf("Credentials() error = %v, want nil", err)
				}
				cr := g.Credentials
				if cr.AccessKeyID != testKeyID || cr.SecretAccessKey != testSecret || cr.SessionToken != testSess ||
					!cr.CanExpire || !cr.Expires.Equal(future) || cr.Source != "optimizely" {
					t.Errorf("Credentials() = %v (source %q, can expire %v, expires %v), want the server's credentials expiring %v",
						g, cr.Source, cr.CanExpire, cr.Expires, future)
				}
				if g.Location != wantLoc {
					t.Errorf("Credentials() location = %+v, want %+v", g.Location, wantLoc)
				}
				assertNoSecrets(t, "Grant.String()", g.String())
				return
			}
			if err == nil {
				t.Fatalf("Credentials() = %v, nil, want error", g)
			}
			assertNoSecrets(t, "error", err.Error())
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Credentials() error = %v, want errors.Is %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && errors.Is(err, ErrTokenRejected) {
				t.Errorf("Credentials() error = %v, want not ErrTokenRejected", err)
			}
			for _, s := range tt.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Credentials() error = %q, want it to contain %q", err, s)
				}
			}
			var apiErr *APIError
			switch {
			case tt.wantAPI == 0 && errors.As(err, &apiErr):
				t.Errorf("Credentials() error = %v, want no *APIError", err)
			case tt.wantAPI != 0 && !errors.As(err, &apiErr):
				t.Errorf("Credentials() error = %v, want an *APIError", err)
			case tt.wantAPI != 0:
				if apiErr.StatusCode != tt.wantAPI || len(apiErr.Message) > 200 || strings.HasPrefix(apiErr.Message, " ") {
					t.Errorf("APIError = {%d, %q (%d bytes)}, want status %d and a trimmed message of at most 200 bytes",
						apiErr.StatusCode, apiErr.Message, len(apiErr.Message), tt.wantAPI)
				}
			}
		})
	}
}

func TestClientBackoffIsBoundedFullJitter(t *testing.T) {
	srv := newAPIServer(t, reply{status: 502})
	var sleeps sleepRecorder
	c := &Client{BaseURL: srv.URL, HTTPClient: srv.Client(), MaxAttempts: 6,
		BaseDelay: 100 * time.Millisecond, MaxDelay: 400 * time.Millisecond, Sleep: sleeps.Sleep}
	if _, err := c.Credentials(context.Background(), mustToken(t, testToken), 0); err == nil {
		t.Fatal("Credentials() error = nil, want error")
	}
	ceilings := []time.Duration{100, 200, 400, 400, 400}
	if len(sleeps.delays) != len(ceilings) {
		t.Fatalf("sleeps = %v, want %d of them", sleeps.delays, len(ceilings))
	}
	for i, d := range sleeps.delays {
		if c := ceilings[i] * time.Millisecond; d < 0 || d > c {
			t.Errorf("sleep %d = %v, want within [0, %v]", i+1, d, c)
		}
	}
	if srv.query[0] != "duration=1h" {
		t.Errorf("query = %q, want duration=1h (the default)", srv.query[0])
	}
}

func TestClientDurationQuery(t *testing.T) {
	tests := []struct {
		d     time.Duration
		query string
	}{
		{0, "duration=1h"},
		{time.Hour, "duration=1h"},
		{45 * time.Minute, "duration=45m"},
		{15 * time.Minute, "duration=15m"},
	}
	for _, tt := range tests {
		srv := newAPIServer(t, reply{status: 200, body: credsBody(time.Now().Add(time.Hour), testPath)})
		c := &Client{BaseURL: srv.URL + "/", HTTPClient: srv.Client()}
		if _, err := c.Credentials(context.Background(), mustToken(t, testToken), tt.d); err != nil {
			t.Errorf("Credentials(%v) error = %v", tt.d, err)
			continue
		}
		if srv.query[0] != tt.query || srv.paths[0] != "/v2/export/credentials" {
			t.Errorf("Credentials(%v) sent %s?%s, want /v2/export/credentials?%s", tt.d, srv.paths[0], srv.query[0], tt.query)
		}
	}
}

func TestClientRejectsBadInputWithoutRequest(t *testing.T) {
	srv := newAPIServer(t, reply{status: 200})
	tests := []struct {
		name string
		tok  pat.Token
		d    time.Duration
	}{
		{"zero token", pat.Token{}, time.Hour},
		{"too short", mustToken(t, testToken), 14 * time.Minute},
		{"too long", mustToken(t, testToken), 2 * time.Hour},
		{"not whole minutes", mustToken(t, testToken), 30*time.Minute + time.Second},
	}
	for _, tt := range tests {
		c := &Client{BaseURL: srv.URL, HTTPClient: srv.Client()}
		if _, err := c.Credentials(context.Background(), tt.tok, tt.d); err == nil {
			t.Errorf("Credentials(%s) error = nil, want error", tt.name)
		}
	}
	if n := srv.n.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestClientTimeout(t *testing.T) {
	srv := newAPIServer(t, reply{status: 200, body: credsBody(time.Now().Add(time.Hour), testPath)})
	srv.blockFor = 5 * time.Second
	var sleeps sleepRecorder
	var logs syncBuffer
	hc := srv.Client()
	hc.Timeout = 50 * time.Millisecond
	c := &Client{BaseURL: srv.URL, HTTPClient: hc, MaxAttempts: 3, Sleep: sleeps.Sleep, Logger: newLogger(&logs)}
	start := time.Now()
	_, err := c.Credentials(context.Background(), mustToken(t, testToken), time.Hour)
	if err == nil {
		t.Fatal("Credentials() error = nil, want timeout error")
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Credentials() took %v, want about 3 × 50ms", elapsed)
	}
	if n := srv.n.Load(); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
	for _, s := range []string{"3 attempts", "no response"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Credentials() error = %q, want it to contain %q", err, s)
		}
	}
	if strings.Contains(err.Error(), srv.URL) {
		t.Errorf("Credentials() error = %q, want no URL", err)
	}
	assertNoSecrets(t, "error", err.Error())
	assertNoSecrets(t, "log output", logs.String())
}

func TestClientContextCancel(t *testing.T) {
	t.Run("during request", func(t *testing.T) {
		srv := newAPIServer(t, reply{status: 200, body: credsBody(time.Now().Add(time.Hour), testPath)})
		srv.blockFor = 5 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		c := &Client{BaseURL: srv.URL, HTTPClient: srv.Client()}
		start := time.Now()
		_, err := c.Credentials(ctx, mustToken(t, testToken), time.Hour)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Credentials() error = %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("Credentials() took %v, want it to stop at the deadline", elapsed)
		}
		if n := srv.n.Load(); n != 1 {
			t.Errorf("requests = %d, want 1", n)
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		srv := newAPIServer(t, reply{status: 503, header: map[string]string{"Retry-After": "30"}})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		c := &Client{BaseURL: srv.URL, HTTPClient: srv.Client(), MaxDelay: time.Minute} // real sleep
		start := time.Now()
		_, err := c.Credentials(ctx, mustToken(t, testToken), time.Hour)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Credentials() error = %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("Credentials() took %v, want it to stop on cancel", elapsed)
		}
		if n := srv.n.Load(); n != 1 {
			t.Errorf("requests = %d, want 1", n)
		}
	})
}
