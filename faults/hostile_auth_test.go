package faults

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/job"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// hostileAuthRow is one attack of a hostile or broken Authentication API
// (or of a source S3 that echoes credentials), run end to end: the CLI's
// wiring (one redact.Secrets shared by the Auth API client, the source S3
// client and the log handler), a real MinIO behind STS credentials scoped
// to the account prefix.
type hostileAuthRow struct {
	name string
	// tok is the PAT the run uses (default: the world's token, the only
	// one the emulator accepts; the echo rows use hostileToken).
	tok string
	// api answers the Authentication API's requests; it may call
	// f.emulate for the emulator's real answer. nil: the emulator as is.
	api func(f *authFront, w http.ResponseWriter, r *http.Request)
	// apiURL replaces the front's URL (a URL that must be refused).
	apiURL string
	// s3 answers the source's S3 requests instead of forwarding them; it
	// reports whether it did. nil: forwarded.
	s3 func(f *authFront, w http.ResponseWriter, r *http.Request) bool
	// s3RefuseAfter > 0: the source S3 refuses the first credentials
	// issued (ExpiredToken) after that many requests signed with them,
	// whatever expiration the API stated.
	s3RefuseAfter int
	// wantErr: the run fails with an error containing it (before copying
	// anything); "" with wantFailed false: the run succeeds and the
	// destination is an exact mirror.
	wantErr    string
	wantFailed bool // the run completes with failed objects
	check      func(t *testing.T, f *authFront, res authRun)
}

// hostileToken is a PAT with characters that URL and JSON escaping change,
// as real ones have (they start "2:").
const hostileToken = `2:hostile/PAT+with=escapes<&>"and'quotes`

// authFront is the hostile side: the Authentication API front, a trap that
// must never receive a request (redirect targets), the source S3 front,
// and what they saw.
type authFront struct {
	w        *world
	tok      string
	trapHits atomic.Int64 // requests that reached a redirect target
	calls    atomic.Int64 // Authentication API requests
	attacks  atomic.Int64 // hostile answers given
	expired  atomic.Int64 // ExpiredToken answers of the source S3
	trapURL  string       // http://127.0.0.1:<other port>
	trapHost string       // http://127.0.0.2:<port>: another host
	mu       sync.Mutex
	secrets  []string       // every secret key and session token issued
	issued   []string       // access key ids, in order
	used     map[string]int // access key id -> requests the source S3 saw
}

// authRun is what one run produced.
type authRun struct {
	sum     job.Summary
	err     error
	output  string // logs, the error and the JSON summary
	elapsed time.Duration
}

func hostileAuthRows() []hostileAuthRow {
	redirect := func(status int, to func(f *authFront) string) func(*authFront, http.ResponseWriter, *http.Request) {
		return func(f *authFront, w http.ResponseWriter, r *http.Request) {
			f.attacks.Add(1)
			w.Header().Set("Location", to(f)+r.URL.RequestURI())
			w.WriteHeader(status)
		}
	}
	echo := func(status int, encode func(string) string) func(*authFront, http.ResponseWriter, *http.Request) {
		return func(f *authFront, w http.ResponseWriter, r *http.Request) {
			f.attacks.Add(1)
			tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"code":"BAD","message":"token %s is not valid; request %s"}`, encode(tok), r.URL.RequestURI())
		}
	}
	expiration := func(rewrite func(now time.Time) int64) func(*authFront, http.ResponseWriter, *http.Request) {
		return func(f *authFront, w http.ResponseWriter, r *http.Request) {
			f.attacks.Add(1)
			f.emulate(w, r, func(ms *int64) { *ms = rewrite(time.Now()) })
		}
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte("Bearer " + s)) }
	jsonEsc := func(s string) string {
		b, _ := json.Marshal("Authorization: Bearer " + s)
		return string(b[1 : len(b)-1])
	}
	const shortLifetime = 400 * time.Millisecond
	return []hostileAuthRow{
		{name: "redirect 302 to http on another port", wantErr: "redirects are never followed",
			api: redirect(http.StatusFound, func(f *authFront) string { return f.trapURL })},
		{name: "redirect 307 to another host", wantErr: "redirects are never followed",
			api: redirect(http.StatusTemporaryRedirect, func(f *authFront) string { return f.trapHost })},
		{name: "redirect 308 to https elsewhere", wantErr: "redirects are never followed",
			api: redirect(http.StatusPermanentRedirect, func(*authFront) string { return "https://attacker.invalid" })},
		{name: "http API URL, not loopback", apiURL: "http://api.optimizely.invalid", wantErr: "plain http"},
		{name: "401 echoing the token raw", tok: hostileToken, wantErr: "optimizely rejected the personal access token",
			api: echo(http.StatusUnauthorized, func(s string) string { return s })},
		{name: "400 echoing the token URL-encoded", tok: hostileToken, wantErr: "HTTP 400",
			api: echo(http.StatusBadRequest, url.QueryEscape)},
		{name: "500 echoing base64 of Bearer <token>", tok: hostileToken, wantErr: "gave up after 5 attempts",
			api: echo(http.StatusInternalServerError, b64)},
		{name: "403 echoing the header JSON-escaped", tok: hostileToken, wantErr: "optimizely rejected the personal access token",
			api: echo(http.StatusForbidden, jsonEsc)},
		{name: "400 echoing 14 characters of the token", tok: hostileToken, wantErr: "HTTP 400",
			api: echo(http.StatusBadRequest, func(s string) string { return "…" + s[3:17] + "…" })},
		{name: "expiration in the past", wantErr: "not in the future",
			api: expiration(func(now time.Time) int64 { return now.Add(-time.Hour).UnixMilli() })},
		{name: "expiration in seconds, not ms", wantErr: "seconds, not milliseconds",
			api: expiration(func(now time.Time) int64 { return now.Add(time.Hour).Unix() })},
		{name: "expiration in µs, not ms (far future)",
			api: expiration(func(now time.Time) int64 { return now.Add(time.Hour).UnixMicro() }),
			check: func(t *testing.T, f *authFront, res authRun) {
				if !strings.Contains(res.output, "not believed") {
					t.Errorf("no warning that the expiration was not believed:\n%.2000s", res.output)
				}
			}},
		{name: fmt.Sprintf("very short lifetime (%v)", shortLifetime),
			api: expiration(func(now time.Time) int64 { return now.Add(shortLifetime).UnixMilli() }),
			check: func(t *testing.T, f *authFront, res authRun) {
				// Credentials are used for three quarters of their life less
				// the time the answer takes to arrive: a refresh every 150 ms
				// at the very most. A refresh storm makes one per request.
				limit := 2 + int64(res.elapsed/(150*time.Millisecond))
				if n := f.calls.Load(); n > limit {
					t.Errorf("%d Authentication API calls in %v, want at most %d: a refresh storm", n, res.elapsed, limit)
				}
			}},
		{name: "S3 says ExpiredToken mid-run (credentials stated to last 1 h)", s3RefuseAfter: 8,
			check: func(t *testing.T, f *authFront, res authRun) {
				t.Logf("%d ExpiredToken answers, %d Authentication API calls", f.expired.Load(), f.calls.Load())
				if f.expired.Load() == 0 || f.calls.Load() < 2 {
					t.Errorf("ExpiredToken answers %d, Authentication API calls %d: want credentials refused and replaced", f.expired.Load(), f.calls.Load())
				}
				if !strings.Contains(res.output, "fetching new ones and retrying once") {
					t.Errorf("no warning about the refused credentials:\n%.2000s", res.output)
				}
			}},
		{name: "S3 error echoing the session token", wantFailed: true,
			s3: func(f *authFront, w http.ResponseWriter, r *http.Request) bool {
				if op, _ := testenv.ClassifyS3(r); op != testenv.OpGetObject || !strings.HasPrefix(r.URL.Path, "/"+srcBucket+"/") {
					return false
				}
				f.attacks.Add(1)
				tok := r.Header.Get("X-Amz-Security-Token")
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>token %s (%s, %s) denied</Message></Error>`,
					tok, url.QueryEscape(tok), base64.StdEncoding.EncodeToString([]byte(tok)))
				return true
			}},
	}
}

// TestHostileAuthAPI runs every hostile row once (in make test, and as rows
// of the fault table in make soak), asserting its outcome, that no secret
// in any form is in the output, that no redirect target was reached and
// that nothing was written outside the run's destination prefix.
func TestHostileAuthAPI(t *testing.T) {
	w := newWorld(t, 1)
	trap := authTrap(t, "127.0.0.1")
	trapHost := authTrap(t, "127.0.0.2")
	var lines []string
	for _, row := range hostileAuthRows() {
		t.Run(row.name, func(t *testing.T) {
			f := &authFront{w: w, tok: token, used: map[string]int{}}
			if row.tok != "" {
				f.tok = row.tok
			}
			f.trapURL, f.trapHost = trap.url(f), trapHost.url(f)
			res, outside := f.run(t, row)
			leaks := f.leaks(res.output)
			if leaks != "" {
				t.Errorf("secrets in the output: %s", leaks)
			}
			if n := f.trapHits.Load(); n != 0 {
				t.Errorf("a redirect target received %d requests", n)
			}
			if len(outside) > 0 {
				t.Errorf("written outside the destination prefix: %q", outside)
			}
			outcome := "succeeded, exact mirror"
			switch {
			case res.err != nil:
				outcome = "run refused: " + strings.TrimPrefix(res.err.Error(), "export credentials: failed to refresh cached credentials, ")
			case res.sum.Failed() && len(res.sum.Errors) > 0:
				outcome = fmt.Sprintf("%d objects failed: %s", res.sum.ObjectsFailed, res.sum.Errors[0])
			}
			lines = append(lines, fmt.Sprintf("| %s | %.160s | %d | %d | %s | %d |", row.name,
				strings.ReplaceAll(outcome, "|", "/"), f.calls.Load(), f.trapHits.Load(), orNone(leaks), len(outside)))
			record(hostileAuthTableRow(row, f, res))
		})
	}
	if testing.Verbose() || soakRounds() > 0 {
		fmt.Printf("\n| hostile Authentication API / source attack | outcome | Auth API calls | redirect target hits | secrets found in output | files written outside the prefix |\n|---|---|---|---|---|---|\n%s\n",
			strings.Join(lines, "\n"))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// hostileAuthTableRow is the fault-table row of one hostile run: a run
// that had to be refused counts as failed.
func hostileAuthTableRow(h hostileAuthRow, f *authFront, res authRun) row {
	r := row{name: "hostile auth: " + h.name, injected: int(f.attacks.Load() + f.expired.Load()), runs: 1}
	if res.err != nil || res.sum.Failed() {
		r.failedRuns = 1
	}
	return r
}

// run runs one sync of row into a fresh prefix and checks its outcome; it
// returns the run and the destination keys written outside the prefix.
func (f *authFront) run(t *testing.T, row hostileAuthRow) (authRun, []string) {
	t.Helper()
	ctx := context.Background()
	w := f.w
	before := f.bucketKeys(t)
	prefix := w.newPrefix("hostile auth")

	api := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if row.api == nil {
			f.emulate(rw, r, nil)
			return
		}
		row.api(f, rw, r)
	}))
	defer api.Close()
	apiURL := api.URL
	if row.apiURL != "" {
		apiURL = row.apiURL
	}
	srcEndpoint := f.s3Front(t, row)

	secrets := redact.New()
	var out bytes.Buffer
	var outMu sync.Mutex
	log := slog.New(redact.Handler(slog.NewTextHandler(&lockedWriter{w: &out, mu: &outMu}, &slog.HandlerOptions{Level: slog.LevelDebug}), secrets))
	start := time.Now()
	res := authRun{}
	env := map[string]string{"T": f.tok}
	src, err := source.Open(ctx, source.Config{
		Tokens: pat.FromEnv(func(k string) string { return env[k] }, "T"), APIBaseURL: apiURL, Endpoint: srcEndpoint,
		Logger: log, Secrets: secrets,
	})
	if err == nil {
		dst := w.dest(prefix)
		eng := transfer.New(src.Store, dst, transfer.Options{Concurrency: 4, Logger: log})
		j := &job.Job{Source: src.Store, Dest: dst, Engine: eng, TaskConcurrency: 4, Logger: log}
		res.sum, err = j.Run(ctx, plan.Options{Types: export.AllTypes, From: fromDate, To: toDate, RunID: "hostile"})
	}
	res.elapsed = time.Since(start)
	res.err = secrets.Error(err) // as the CLI prints it
	for i, e := range res.sum.Errors {
		res.sum.Errors[i] = secrets.String(e)
	}
	sum, _ := json.Marshal(res.sum)
	outMu.Lock()
	res.output = out.String() + "\n" + fmt.Sprint(res.err) + "\n" + string(sum)
	outMu.Unlock()

	switch {
	case row.wantErr != "":
		if res.err == nil || !strings.Contains(res.err.Error(), row.wantErr) {
			t.Errorf("run error = %v, want one containing %q", res.err, row.wantErr)
		}
		if objs, err := w.dstObjects(ctx, prefix); err != nil || len(objs) > 0 {
			t.Errorf("a refused run wrote %d objects (%v)", len(objs), err)
		}
	case row.wantFailed:
		if res.err != nil || !res.sum.Failed() || res.sum.ObjectsFailed == 0 {
			t.Errorf("run = %+v, %v; want it to finish with failed objects", res.sum, res.err)
		}
		if objs, err := w.dstObjects(ctx, prefix); err == nil {
			for k := range objs {
				if strings.HasSuffix(k, export.SuccessMarker) {
					t.Errorf("a _SUCCESS was written although objects failed: %s", k)
				}
			}
		}
	default:
		if res.err != nil || res.sum.Failed() {
			t.Errorf("run = %+v, %v; want success", res.sum.Errors, res.err)
		}
		for _, d := range w.differences(t, prefix) {
			t.Errorf("destination differs from the source: %v", d)
		}
	}
	if row.check != nil {
		row.check(t, f, res)
	}
	var outside []string
	for k := range f.bucketKeys(t) {
		if !before[k] && !strings.HasPrefix(k, prefix) {
			outside = append(outside, k)
		}
	}
	w.remove(prefix)
	return res, outside
}

// emulate answers r with the emulator's answer; rewrite, if set, changes
// the expiration of a credentials answer (Unix ms). It records the
// credentials issued.
func (f *authFront) emulate(w http.ResponseWriter, r *http.Request, rewrite func(ms *int64)) {
	rec := httptest.NewRecorder()
	f.w.api.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	var resp map[string]any
	if rec.Code == http.StatusOK && json.Unmarshal(body, &resp) == nil {
		if c, ok := resp["credentials"].(map[string]any); ok {
			f.mu.Lock()
			for _, k := range []string{"secretAccessKey", "sessionToken"} {
				if v, ok := c[k].(string); ok {
					f.secrets = append(f.secrets, v)
				}
			}
			if id, ok := c["accessKeyId"].(string); ok {
				f.issued = append(f.issued, id)
			}
			f.mu.Unlock()
			if rewrite != nil {
				ms := int64(c["expiration"].(float64))
				rewrite(&ms)
				c["expiration"] = ms
				body, _ = json.Marshal(resp)
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// s3Front returns the source's S3 endpoint for row: the fault proxy (no
// rules), behind an expiry proxy or a hostile front when the row says so.
func (f *authFront) s3Front(t *testing.T, row hostileAuthRow) string {
	target := f.w.proxy.URL
	switch {
	case row.s3RefuseAfter > 0:
		p, err := testenv.NewExpiryProxy(target, func(akid string) (time.Time, bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.used[akid]++
			if len(f.issued) > 0 && akid == f.issued[0] && f.used[akid] > row.s3RefuseAfter {
				f.expired.Add(1)
				return time.Now().Add(-time.Second), true
			}
			return time.Now().Add(time.Hour), true
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p.URL
	case row.s3 != nil:
		u, _ := url.Parse(target)
		rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // SigV4 signs the host
		}}
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !row.s3(f, w, r) {
				rp.ServeHTTP(w, r)
			}
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	return target
}

// leaks lists the secrets (the PAT, every secret key and session token
// issued) of which a form — raw, URL-encoded, base64 of it or of
// "Bearer <it>", JSON-escaped — or any 12 characters are in text.
func (f *authFront) leaks(text string) string {
	f.mu.Lock()
	secrets := append([]string{f.tok}, f.secrets...)
	f.mu.Unlock()
	windows := map[string]string{}
	for _, s := range secrets {
		j, _ := json.Marshal(s)
		forms := []string{s, url.QueryEscape(s), url.PathEscape(s), string(j[1 : len(j)-1])}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			forms = append(forms, enc.EncodeToString([]byte(s)))
			forms = append(forms, enc.EncodeToString([]byte("Bearer " + s))[12:]) // past "Bearer "
		}
		for _, form := range forms {
			for i := 0; i+redact.Window <= len(form); i++ {
				windows[form[i:i+redact.Window]] = s[:4] + "…"
			}
		}
	}
	var found []string
	for i := 0; i+redact.Window <= len(text); i++ {
		if s, ok := windows[text[i:i+redact.Window]]; ok {
			found = append(found, fmt.Sprintf("%s at %q", s, text[max(0, i-40):min(len(text), i+redact.Window+10)]))
			i += redact.Window
		}
	}
	if len(found) > 3 {
		found = append(found[:3], fmt.Sprintf("and %d more", len(found)-3))
	}
	return strings.Join(found, "; ")
}

// bucketKeys lists the whole destination bucket.
func (f *authFront) bucketKeys(t *testing.T) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(f.w.root, &s3.ListObjectsV2Input{Bucket: aws.String(dstBucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", dstBucket, err)
		}
		for _, o := range page.Contents {
			keys[aws.ToString(o.Key)] = true
		}
	}
	return keys
}

// authTrapServer is a redirect target: any request it gets is a leak.
type authTrapServer struct {
	addr string
	mu   sync.Mutex
	cur  *authFront
}

func (s *authTrapServer) url(f *authFront) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = f
	return "http://" + s.addr
}

// authTrap listens on host (a loopback address) on a free port.
func authTrap(t *testing.T, host string) *authTrapServer {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("trap on %s: %v", host, err)
	}
	s := &authTrapServer{addr: l.Addr().String()}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.cur != nil {
			s.cur.trapHits.Add(1)
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return s
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
