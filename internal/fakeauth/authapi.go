package fakeauth

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CredentialsPath is the path of Optimizely's export credentials endpoint.
const CredentialsPath = "/v2/export/credentials"

// Options configure an API.
type Options struct {
	Tokens []string // valid bearer tokens (Personal Access Tokens)
	Minter Minter   // makes the credentials
	Bucket string   // e.g. "optimizely-events-data"
	Prefix string   // account prefix, e.g. "v1/account_id=12345/"

	// AdvertisedLifetime, when > 0, sets the response's expiration to now +
	// AdvertisedLifetime, whatever the minted credentials' real lifetime
	// (MinIO's is at least 15 minutes). Pair it with an expiry proxy fed by
	// API.Expiry to make the credentials really stop working then.
	AdvertisedLifetime time.Duration

	// TrailingSlash makes s3Path end with "/", as Optimizely's sometimes does.
	TrailingSlash bool

	Now func() time.Time // clock; nil means time.Now
}

// API is a fake Optimizely Authentication API serving
// GET /v2/export/credentials?duration=... in Optimizely's exact JSON shape.
// It is safe for concurrent use.
type API struct {
	opts Options

	mu     sync.Mutex
	tokens map[string]bool      // token -> valid (false once revoked)
	expiry map[string]time.Time // issued access key id -> advertised expiration

	requests atomic.Int64
	issued   atomic.Int64

	faultMu  sync.Mutex
	faults   []Fault // answered next, one per request
	plan     FaultPlan
	planSeen int   // requests since SetFaults
	holdFrom int64 // plan.Hold starts once this many credentials were issued
	injected int
}

// Fault is a failure the API answers instead of credentials.
type Fault string

// The faults InjectFaults can queue.
const (
	Unauthorized    Fault = "401 (revoked token)"
	Forbidden       Fault = "403"
	TooManyRequests Fault = "429 Retry-After: 1"
	ServerError     Fault = "500"
	Malformed       Fault = "200 with malformed JSON"
	Slow            Fault = "slow (2 s), then credentials"
)

// InjectFaults makes the next requests fail, one fault per request, in
// order; later requests are served normally.
func (a *API) InjectFaults(faults ...Fault) {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	a.faults = append(a.faults, faults...)
}

// FaultPlan is what the API answers beyond the queued faults, until the
// next SetFaults.
type FaultPlan struct {
	// Hold is answered to every request once HoldAfter more credentials
	// have been issued: a token revoked (Unauthorized) mid-copy, an
	// outage.
	Hold      Fault
	HoldAfter int64
	// Every > 0: every Every-th request answers EveryFault.
	Every      int
	EveryFault Fault
}

// SetFaults replaces the fault plan; SetFaults(FaultPlan{}) ends it.
func (a *API) SetFaults(p FaultPlan) {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	a.plan, a.planSeen, a.holdFrom = p, 0, a.issued.Load()+p.HoldAfter
}

// SetLifetime sets the advertised lifetime of the credentials issued from
// now on (see Options.AdvertisedLifetime; 0: their real one).
func (a *API) SetLifetime(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.opts.AdvertisedLifetime = d
}

// ClearFaults drops the faults queued and not yet answered, and returns how
// many there were.
func (a *API) ClearFaults() int {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	n := len(a.faults)
	a.faults = nil
	return n
}

// FaultsInjected is the number of faults answered so far.
func (a *API) FaultsInjected() int {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	return a.injected
}

// fault answers the next queued fault, if any, and reports whether the
// request is done.
func (a *API) fault(w http.ResponseWriter, r *http.Request) bool {
	a.faultMu.Lock()
	a.planSeen++
	var f Fault
	switch p := a.plan; {
	case p.Hold != "" && a.issued.Load() >= a.holdFrom:
		f = p.Hold
	case len(a.faults) > 0:
		f = a.faults[0]
		a.faults = a.faults[1:]
	case p.Every > 0 && a.planSeen%p.Every == 0:
		f = p.EveryFault
	default:
		a.faultMu.Unlock()
		return false
	}
	a.injected++
	a.faultMu.Unlock()
	switch f {
	case Unauthorized:
		writeAuthError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Invalid or revoked token.")
	case Forbidden:
		writeAuthError(w, http.StatusForbidden, "FORBIDDEN", "You do not have permission to perform this action.")
	case TooManyRequests:
		w.Header().Set("Retry-After", "1")
		writeAuthError(w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "Rate limit exceeded")
	case ServerError:
		writeAuthError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "Internal error")
	case Malformed:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"credentials":{"accessKeyId":"AKIA`))
	case Slow:
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
			return true
		}
		return false
	}
	return true
}

// New returns an API accepting opts.Tokens.
func New(opts Options) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &API{opts: opts, tokens: map[string]bool{}, expiry: map[string]time.Time{}}
	for _, t := range opts.Tokens {
		a.tokens[t] = true
	}
	return a
}

// AddToken makes token valid, e.g. a rotated Personal Access Token.
func (a *API) AddToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[token] = true
}

// Revoke makes token invalid from now on. Credentials already issued for it
// keep working until they expire, as with Optimizely.
func (a *API) Revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[token] = false
}

// Expiry returns the expiration advertised for the credentials with
// accessKeyID, and whether this API issued them. Its signature fits
// testenv.NewExpiryProxy.
func (a *API) Expiry(accessKeyID string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.expiry[accessKeyID]
	return t, ok
}

// Requests is the number of requests served, whatever their outcome.
func (a *API) Requests() int64 { return a.requests.Load() }

// Issued is the number of credentials issued.
func (a *API) Issued() int64 { return a.issued.Load() }

// Start serves the API on 127.0.0.1 and returns its base URL (without the
// path) and a function that stops it.
func (a *API) Start() (url string, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("fakeauth: auth API listen: %v", err))
	}
	s := &httptest.Server{Listener: l, Config: &http.Server{Handler: a}}
	s.Start()
	return s.URL, s.Close
}

// credentialsResponse is the success body, field for field.
type credentialsResponse struct {
	Credentials struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		SessionToken    string `json:"sessionToken"`
		Expiration      int64  `json:"expiration"` // unix milliseconds
	} `json:"credentials"`
	S3Path string `json:"s3Path"`
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	if a.fault(w, r) {
		return
	}
	if r.URL.Path != CredentialsPath {
		writeAuthError(w, http.StatusNotFound, "NOT_FOUND", "Not found")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeAuthError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed")
		return
	}
	token, ok := authBearerToken(r)
	if !ok {
		writeAuthError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Authentication credentials were not provided.")
		return
	}
	a.mu.Lock()
	valid := a.tokens[token]
	a.mu.Unlock()
	if !valid {
		writeAuthError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Invalid or revoked token.")
		return
	}
	d, err := parseExportDuration(r.URL.Query().Get("duration"))
	if err != nil {
		writeAuthError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}

	prefix := a.opts.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	creds, err := a.opts.Minter.Mint(r.Context(), a.opts.Bucket, prefix, d)
	if err != nil {
		writeAuthError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "Could not issue credentials: "+err.Error())
		return
	}
	now := a.opts.Now()
	exp := creds.Expiration
	a.mu.Lock()
	lifetime := a.opts.AdvertisedLifetime
	a.mu.Unlock()
	switch {
	case lifetime > 0:
		exp = now.Add(lifetime)
	case exp.IsZero():
		exp = now.Add(d)
	}
	a.mu.Lock()
	a.expiry[creds.AccessKeyID] = exp
	a.mu.Unlock()
	a.issued.Add(1)

	var resp credentialsResponse
	resp.Credentials.AccessKeyID = creds.AccessKeyID
	resp.Credentials.SecretAccessKey = creds.SecretAccessKey
	resp.Credentials.SessionToken = creds.SessionToken
	resp.Credentials.Expiration = exp.UnixMilli()
	resp.S3Path = "s3://" + a.opts.Bucket + "/" + strings.TrimSuffix(prefix, "/")
	if a.opts.TrailingSlash {
		resp.S3Path += "/"
	}
	writeAuthJSON(w, http.StatusOK, resp)
}

// authBearerToken returns the token of an "Authorization: Bearer <token>" header.
func authBearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// parseExportDuration parses the duration parameter as Optimizely does: a whole
// number of hours or minutes (h, H, m, M) from 15m to 1h; "" means 1h.
func parseExportDuration(s string) (time.Duration, error) {
	if s == "" {
		return time.Hour, nil
	}
	bad := fmt.Errorf("invalid duration %q: use a value from 15m to 1h, e.g. 15m, 45M or 1h", s)
	if len(s) < 2 {
		return 0, bad
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'h', 'H':
		unit = time.Hour
	case 'm', 'M':
		unit = time.Minute
	default:
		return 0, bad
	}
	digits := s[:len(s)-1]
	if strings.TrimLeft(digits, "0123456789") != "" || len(digits) > 4 {
		return 0, bad
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return 0, bad
	}
	d := time.Duration(n) * unit
	if d < 15*time.Minute || d > time.Hour {
		return 0, bad
	}
	return d, nil
}

func writeAuthError(w http.ResponseWriter, status int, code, message string) {
	writeAuthJSON(w, status, struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message})
}

func writeAuthJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
