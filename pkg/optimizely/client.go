// Package optimizely is a client for Optimizely's Authentication API: it
// exchanges a Personal Access Token for temporary AWS credentials that can
// read the account's Experimentation Events Export, and the S3 location the
// export lives at. Provider plugs that into the AWS SDK as a
// CredentialsProvider that re-reads a rotated token once when Optimizely
// rejects the current one.
package optimizely

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/e3sync/e3sync/pkg/backoff"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/redact"
)

// Defaults for the zero values of Client's fields.
const (
	DefaultBaseURL     = "https://api.optimizely.com"
	DefaultMaxAttempts = 5
	DefaultBaseDelay   = 250 * time.Millisecond
	DefaultMaxDelay    = 20 * time.Second
	DefaultTimeout     = 30 * time.Second
	// MaxClockSkew is how much later than now plus the duration asked for
	// an expiration may lie before it is not believed (see Credentials).
	MaxClockSkew = 2 * time.Minute
)

// CredentialSource is the Source of every aws.Credentials this package returns.
const CredentialSource = "optimizely"

// ErrTokenRejected means Optimizely answered 401 or 403: the Personal Access
// Token is wrong, revoked or expired. Retrying with the same token is useless.
var ErrTokenRejected = errors.New("optimizely rejected the personal access token: " +
	"regenerate the Personal Access Token in Optimizely and update the secret that holds it")

// APIError is a response the API answered with an unexpected status.
// Message is the trimmed response body with every known secret redacted,
// at most 200 bytes.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	s := "optimizely API answered HTTP " + strconv.Itoa(e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		s += " " + t
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Grant is what one call to the Authentication API yields: credentials and
// the location they can read.
type Grant struct {
	Credentials aws.Credentials
	Location    Location
}

// String describes g without any credential value.
func (g Grant) String() string {
	return fmt.Sprintf("grant for %s expiring %s", g.Location, g.Credentials.Expires.Format(time.RFC3339))
}

// LogValue logs g without any credential value.
func (g Grant) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("location", g.Location.String()),
		slog.Time("expires", g.Credentials.Expires),
	)
}

// Client calls the Authentication API. The zero value is ready to use; it is
// safe for concurrent use once its fields are set.
type Client struct {
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// HTTPClient defaults to an http.Client with DefaultTimeout.
	HTTPClient *http.Client
	// MaxAttempts bounds the requests made by one Credentials call
	// (default DefaultMaxAttempts).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the exponential backoff with full jitter
	// between attempts; MaxDelay also caps Retry-After.
	BaseDelay, MaxDelay time.Duration
	// Logger receives one Warn line per retry (default: discard).
	Logger *slog.Logger
	// Sleep waits d or until ctx is done (default: a timer). Tests inject
	// a recorder.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock used to check expirations and Retry-After dates
	// (default time.Now).
	Now func() time.Time
	// Secrets learns the token and every secret key and session token
	// issued, and redacts them from error bodies (default: a set local to
	// each Credentials call, holding the token). Share it with the log
	// handler (redact.Handler) so that no output carries them.
	Secrets *redact.Secrets
}

// Credentials exchanges token for export credentials valid for d (zero means
// DefaultDuration; otherwise 15m..1h in whole minutes).
//
// The token is sent only to BaseURL's host, over https (plain http only to
// a loopback host, see CheckBaseURL); redirects are never followed: a 3xx
// is an error naming the status and the host it pointed to.
//
// The answer is untrusted: an expiration in the past (or one that reads as
// seconds, not milliseconds) makes the response malformed; one later than
// now + d + MaxClockSkew (say microseconds instead of milliseconds, or a
// server that ignores the duration) is not believed: the credentials are
// taken to expire at now + d, with a warning in the log.
//
// Errors: 401 and 403 wrap ErrTokenRejected and are not retried. 429, 5xx,
// transport errors and timeouts, and malformed or incomplete responses are
// retried up to MaxAttempts times with backoff; the final error says how many
// attempts were made and the last status. Redirects and other statuses
// return at once. ctx cancellation stops at once. No error or log line
// contains the token or a credential value in any form (error bodies are
// redacted with Secrets and truncated).
func (c *Client) Credentials(ctx context.Context, token pat.Token, d time.Duration) (Grant, error) {
	if token.IsZero() {
		return Grant{}, fmt.Errorf("optimizely credentials: %w", pat.ErrEmpty)
	}
	if d == 0 {
		d = DefaultDuration
	}
	if err := validDuration(d); err != nil {
		return Grant{}, fmt.Errorf("optimizely credentials: %w", err)
	}
	endpoint, err := c.endpoint(d)
	if err != nil {
		return Grant{}, err
	}
	maxAttempts := c.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	secrets := c.Secrets
	if secrets == nil {
		secrets = redact.New()
	}
	for attempt := 1; ; attempt++ {
		g, res := c.attempt(ctx, endpoint, token, d, secrets)
		if res.err == nil {
			return g, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Grant{}, fmt.Errorf("optimizely credentials: stopped after %d attempts: %w", attempt, ctxErr)
		}
		if errors.Is(res.err, ErrTokenRejected) {
			return Grant{}, res.err // already says who rejected what
		}
		if !res.retry {
			return Grant{}, fmt.Errorf("optimizely credentials: %w", res.err)
		}
		if attempt >= maxAttempts {
			return Grant{}, fmt.Errorf("optimizely credentials: gave up after %d attempts (last status %s): %w",
				attempt, res.statusText(), res.err)
		}
		delay := c.delay(attempt, res.retryAfter)
		c.logger().WarnContext(ctx, "optimizely credentials request failed; retrying",
			"attempt", attempt, "max_attempts", maxAttempts, "status", res.statusText(),
			"delay", delay, "error", res.err.Error())
		if err := c.sleep(ctx, delay); err != nil {
			return Grant{}, fmt.Errorf("optimizely credentials: stopped after %d attempts: %w", attempt, err)
		}
	}
}

// result is the outcome of one attempt.
type result struct {
	status     int // 0 when no response arrived
	err        error
	retry      bool
	retryAfter time.Duration // < 0 when absent
}

func (r result) statusText() string {
	if r.status == 0 {
		return "none (no response)"
	}
	return strconv.Itoa(r.status) + " " + http.StatusText(r.status)
}

// maxBody bounds how much of a response is read.
const maxBody = 1 << 20

func (c *Client) attempt(ctx context.Context, endpoint string, token pat.Token, d time.Duration, secrets *redact.Secrets) (Grant, result) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return Grant{}, result{err: fmt.Errorf("build request: %w", err)}
	}
	bearer := token.Reveal()
	secrets.Add(bearer)
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "e3sync")

	resp, err := c.httpClient().Do(req)
	if err != nil {
		// *url.Error repeats the URL; keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return Grant{}, result{err: secrets.Error(fmt.Errorf("request failed: %w", err)), retry: true, retryAfter: -1}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	res := result{status: resp.StatusCode, retryAfter: -1}
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		res.err, res.retry = secrets.Error(fmt.Errorf("read response: %w", err)), true
		return Grant{}, res
	}

	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		g, err := c.parse(ctx, body, d)
		if err != nil {
			res.err, res.retry = err, true
			return Grant{}, res
		}
		secrets.Add(g.Credentials.SecretAccessKey)
		secrets.Add(g.Credentials.SessionToken)
		return g, res
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		res.err = fmt.Errorf("%w: %w", ErrTokenRejected, newAPIError(code, body, secrets))
	case code >= 300 && code < 400:
		res.err = fmt.Errorf("optimizely API answered HTTP %d %s redirecting to %s: refused, redirects are never followed "+
			"(the token goes to the configured API host only); check the API URL",
			code, http.StatusText(code), redirectTarget(req.URL, resp.Header.Get("Location"), secrets))
	case code == http.StatusTooManyRequests || code >= 500:
		res.err, res.retry = newAPIError(code, body, secrets), true
		res.retryAfter = c.parseRetryAfter(resp.Header.Get("Retry-After"))
	default:
		res.err = newAPIError(code, body, secrets)
	}
	return Grant{}, res
}

// maxMessage bounds the response text an APIError keeps.
const maxMessage = 200

// newAPIError keeps at most maxMessage bytes of printable body, with every
// known secret redacted should the server echo one, in any form.
func newAPIError(code int, body []byte, secrets *redact.Secrets) *APIError {
	msg := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, secrets.String(string(body)))
	msg = secrets.String(strings.Join(strings.Fields(msg), " "))
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "")
	}
	return &APIError{StatusCode: code, Message: msg}
}

// redirectTarget names where a redirect pointed: scheme and host only (a
// relative Location stays on from's host), or "no Location".
func redirectTarget(from *url.URL, location string, secrets *redact.Secrets) string {
	if location == "" {
		return "no Location"
	}
	to, err := from.Parse(location)
	if err != nil || to.Host == "" {
		return "an unreadable Location"
	}
	target := to.Scheme + "://" + to.Host
	if len(target) > 100 {
		target = strings.ToValidUTF8(target[:100], "") + "…"
	}
	return strconv.Quote(secrets.String(target))
}

// response is the API's JSON. Fields are pointers or json.Number so a
// missing field can be told from an empty one.
type response struct {
	Credentials *struct {
		AccessKeyID     string      `json:"accessKeyId"`
		SecretAccessKey string      `json:"secretAccessKey"`
		SessionToken    string      `json:"sessionToken"`
		Expiration      json.Number `json:"expiration"`
	} `json:"credentials"`
	S3Path string `json:"s3Path"`
}

// parse validates a 200 body for credentials asked to last d. Its errors
// name fields, never values: JSON errors are not wrapped because their text
// can quote the input.
func (c *Client) parse(ctx context.Context, body []byte, d time.Duration) (Grant, error) {
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		var serr *json.SyntaxError
		if errors.As(err, &serr) {
			return Grant{}, fmt.Errorf("malformed JSON response (%d bytes, syntax error at offset %d)", len(body), serr.Offset)
		}
		var terr *json.UnmarshalTypeError
		if errors.As(err, &terr) && terr.Field != "" {
			return Grant{}, fmt.Errorf("malformed JSON response: field %s has the wrong type", terr.Field)
		}
		return Grant{}, fmt.Errorf("malformed JSON response (%d bytes)", len(body))
	}
	if r.Credentials == nil {
		return Grant{}, errors.New("incomplete response: missing field credentials")
	}
	cr := r.Credentials
	for _, f := range []struct{ name, v string }{
		{"credentials.accessKeyId", cr.AccessKeyID},
		{"credentials.secretAccessKey", cr.SecretAccessKey},
		{"credentials.sessionToken", cr.SessionToken},
		{"credentials.expiration", cr.Expiration.String()},
		{"s3Path", r.S3Path},
	} {
		if strings.TrimSpace(f.v) == "" {
			return Grant{}, fmt.Errorf("incomplete response: missing or empty field %s", f.name)
		}
	}
	ms, err := cr.Expiration.Int64()
	if err != nil {
		return Grant{}, errors.New("bad response: credentials.expiration is not whole Unix milliseconds")
	}
	expires, err := c.expiration(ctx, ms, d)
	if err != nil {
		return Grant{}, err
	}
	loc, err := ParseS3Path(r.S3Path)
	if err != nil {
		return Grant{}, fmt.Errorf("bad response: field s3Path: %w", err)
	}
	return Grant{
		Credentials: aws.Credentials{
			AccessKeyID:     cr.AccessKeyID,
			SecretAccessKey: cr.SecretAccessKey,
			SessionToken:    cr.SessionToken,
			Source:          CredentialSource,
			CanExpire:       true,
			Expires:         expires,
		},
		Location: loc,
	}, nil
}

// expiration checks the expiration ms (Unix milliseconds) of credentials
// asked to last d: one not in the future is an error; one beyond now + d +
// MaxClockSkew is clamped to now + d, with a warning.
func (c *Client) expiration(ctx context.Context, ms int64, d time.Duration) (time.Time, error) {
	now := c.now()
	expires := time.UnixMilli(ms)
	if !expires.After(now) {
		hint := ""
		if ms > 0 && ms < 1e11 { // before 1973 as milliseconds, but a plausible date as seconds
			hint = " (it looks like seconds, not milliseconds)"
		}
		return time.Time{}, fmt.Errorf("bad response: credentials.expiration %s is not in the future (now %s)%s",
			expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), hint)
	}
	if limit := now.Add(d + MaxClockSkew); expires.After(limit) {
		clamped := now.Add(d)
		c.logger().WarnContext(ctx, "optimizely credentials: expiration later than the duration asked for; not believed",
			"expiration_ms", ms, "duration", FormatDuration(d), "using", clamped.UTC())
		expires = clamped
	}
	return expires, nil
}

func (c *Client) endpoint(d time.Duration) (string, error) {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if err := CheckBaseURL(base); err != nil {
		return "", fmt.Errorf("optimizely credentials: %w", err)
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + "/v2/export/credentials")
	if err != nil {
		return "", fmt.Errorf("optimizely credentials: %w", err)
	}
	u.RawQuery = url.Values{"duration": {FormatDuration(d)}}.Encode()
	return u.String(), nil
}

// parseRetryAfter reads seconds or an HTTP date; it returns -1 when v is
// absent or unreadable.
func (c *Client) parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return -1
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(c.now()), 0)
	}
	return -1
}

// delay is the wait after attempt n (1-based): Retry-After when the server
// sent one, otherwise full jitter over BaseDelay*2^(n-1); both capped at
// MaxDelay.
func (c *Client) delay(n int, retryAfter time.Duration) time.Duration {
	base, maxDelay := c.BaseDelay, c.MaxDelay
	if base <= 0 {
		base = DefaultBaseDelay
	}
	if maxDelay <= 0 {
		maxDelay = DefaultMaxDelay
	}
	if retryAfter >= 0 {
		return min(retryAfter, maxDelay)
	}
	return backoff.Exponential{Base: base, Max: maxDelay, Jitter: true}.Delay(n + 1)
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	return backoff.Sleep(ctx, d)
}

// httpClient is HTTPClient (or one with DefaultTimeout) that never follows
// a redirect: the response to the first request is returned as it is.
func (c *Client) httpClient() *http.Client {
	hc := http.Client{Timeout: DefaultTimeout}
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

func (c *Client) logger() *slog.Logger {
	return logctx.OrDiscard(c.Logger)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
