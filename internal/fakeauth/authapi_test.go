package fakeauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/testenv"
)

// authTestMinter issues numbered fake credentials valid for max(d, 15m) and
// records the durations it was asked for.
type authTestMinter struct {
	mu        sync.Mutex
	durations []time.Duration
	prefixes  []string
	now       time.Time
}

func (m *authTestMinter) Mint(_ context.Context, bucket, prefix string, d time.Duration) (Credentials, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.durations = append(m.durations, d)
	m.prefixes = append(m.prefixes, prefix)
	n := len(m.durations)
	return Credentials{
		AccessKeyID:     fmt.Sprintf("AKID%d", n),
		SecretAccessKey: fmt.Sprintf("secret%d", n),
		SessionToken:    fmt.Sprintf("token%d", n),
		Expiration:      m.now.Add(max(d, 15*time.Minute)),
	}, nil
}

var authTestNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newAuthTestAPI(opts Options) (*API, *authTestMinter) {
	m := &authTestMinter{now: authTestNow}
	if opts.Tokens == nil {
		opts.Tokens = []string{"good-token"}
	}
	opts.Minter = m
	if opts.Bucket == "" {
		opts.Bucket = "optimizely-events-data"
	}
	if opts.Prefix == "" {
		opts.Prefix = "v1/account_id=12345/"
	}
	opts.Now = func() time.Time { return authTestNow }
	return New(opts), m
}

// authTestGet serves one request and returns the status and decoded body.
func authTestGet(t *testing.T, a *API, query, authorization string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://api.optimizely.test"+CredentialsPath+query, nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return w.Code, body
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestAuthAPICredentialsShape(t *testing.T) {
	tests := []struct {
		name          string
		prefix        string
		trailingSlash bool
		wantS3Path    string
	}{
		{"no trailing slash", "v1/account_id=12345/", false, "s3://optimizely-events-data/v1/account_id=12345"},
		{"trailing slash", "v1/account_id=12345/", true, "s3://optimizely-events-data/v1/account_id=12345/"},
		{"prefix without slash", "v1/account_id=12345", false, "s3://optimizely-events-data/v1/account_id=12345"},
	}
	for _, tt := range tests {
		a, m := newAuthTestAPI(Options{Prefix: tt.prefix, TrailingSlash: tt.trailingSlash})
		code, body := authTestGet(t, a, "?duration=1h", "Bearer good-token")
		if code != http.StatusOK {
			t.Fatalf("%s: status %d, body %v", tt.name, code, body)
		}
		if got, want := sortedKeys(body), []string{"credentials", "s3Path"}; !slices.Equal(got, want) {
			t.Errorf("%s: keys %v, want %v", tt.name, got, want)
		}
		creds, _ := body["credentials"].(map[string]any)
		if got, want := sortedKeys(creds), []string{"accessKeyId", "expiration", "secretAccessKey", "sessionToken"}; !slices.Equal(got, want) {
			t.Errorf("%s: credentials keys %v, want %v", tt.name, got, want)
		}
		if creds["accessKeyId"] != "AKID1" || creds["secretAccessKey"] != "secret1" || creds["sessionToken"] != "token1" {
			t.Errorf("%s: credentials %v, want the minted AKID1/secret1/token1", tt.name, creds)
		}
		if exp, ok := creds["expiration"].(float64); !ok || int64(exp) != authTestNow.Add(time.Hour).UnixMilli() {
			t.Errorf("%s: expiration %v (%T), want %d (unix ms)", tt.name, creds["expiration"], creds["expiration"], authTestNow.Add(time.Hour).UnixMilli())
		}
		if body["s3Path"] != tt.wantS3Path {
			t.Errorf("%s: s3Path %v, want %q", tt.name, body["s3Path"], tt.wantS3Path)
		}
		if want := []string{"v1/account_id=12345/"}; !slices.Equal(m.prefixes, want) {
			t.Errorf("%s: minted for prefixes %q, want %q", tt.name, m.prefixes, want)
		}
	}
}

func TestAuthAPIUnauthorized(t *testing.T) {
	a, m := newAuthTestAPI(Options{})
	for _, auth := range []string{"", "good-token", "Basic good-token", "Bearer", "Bearer ", "Bearer wrong-token", "Bearer good-token-2"} {
		code, body := authTestGet(t, a, "", auth)
		if code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, code)
		}
		if got, want := sortedKeys(body), []string{"code", "message"}; !slices.Equal(got, want) || body["code"] != "UNAUTHORIZED" {
			t.Errorf("Authorization %q: body %v, want code UNAUTHORIZED and a message", auth, body)
		}
	}
	if len(m.durations) != 0 || a.Issued() != 0 {
		t.Errorf("minted %d, issued %d for unauthorized requests, want 0", len(m.durations), a.Issued())
	}
	if a.Requests() != 7 {
		t.Errorf("Requests() = %d, want 7", a.Requests())
	}
	if code, _ := authTestGet(t, a, "", "bearer good-token"); code != http.StatusOK {
		t.Errorf("lower-case bearer scheme: status %d, want 200", code)
	}
}

func TestAuthAPIRevokeAndAddToken(t *testing.T) {
	a, _ := newAuthTestAPI(Options{})
	if code, _ := authTestGet(t, a, "", "Bearer good-token"); code != http.StatusOK {
		t.Fatalf("before Revoke: status %d, want 200", code)
	}
	a.Revoke("good-token")
	if code, body := authTestGet(t, a, "", "Bearer good-token"); code != http.StatusUnauthorized || body["code"] != "UNAUTHORIZED" {
		t.Errorf("after Revoke: status %d, body %v; want 401 UNAUTHORIZED", code, body)
	}
	a.AddToken("rotated-token")
	if code, _ := authTestGet(t, a, "", "Bearer rotated-token"); code != http.StatusOK {
		t.Errorf("added token: status %d, want 200", code)
	}
	if a.Issued() != 2 || a.Requests() != 3 {
		t.Errorf("Issued() = %d, Requests() = %d; want 2, 3", a.Issued(), a.Requests())
	}
}

func TestParseExportDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration // 0: invalid
	}{
		{"", time.Hour},
		{"1h", time.Hour},
		{"1H", time.Hour},
		{"60m", time.Hour},
		{"15m", 15 * time.Minute},
		{"45M", 45 * time.Minute},
		{"015m", 15 * time.Minute},
		{"14m", 0},
		{"61m", 0},
		{"2h", 0},
		{"0h", 0},
		{"h", 0},
		{"30", 0},
		{"30s", 0},
		{"900s", 0},
		{"1.5h", 0},
		{"-1h", 0},
		{"+1h", 0},
		{" 1h", 0},
		{"1h30m", 0},
		{"99999999999999999999m", 0},
	}
	for _, tt := range tests {
		got, err := parseExportDuration(tt.in)
		if tt.want == 0 && err == nil {
			t.Errorf("parseExportDuration(%q) = %v, want an error", tt.in, got)
		}
		if tt.want != 0 && (err != nil || got != tt.want) {
			t.Errorf("parseExportDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestAuthAPIDuration(t *testing.T) {
	a, m := newAuthTestAPI(Options{})
	for _, q := range []string{"?duration=2h", "?duration=10m", "?duration=30s"} {
		code, body := authTestGet(t, a, q, "Bearer good-token")
		if code != http.StatusBadRequest || body["code"] != "BAD_REQUEST" {
			t.Errorf("%s: status %d, body %v; want 400 BAD_REQUEST", q, code, body)
		}
	}
	for _, q := range []string{"", "?duration=15m", "?duration=45M", "?duration=1H"} {
		if code, body := authTestGet(t, a, q, "Bearer good-token"); code != http.StatusOK {
			t.Errorf("%s: status %d, body %v; want 200", q, code, body)
		}
	}
	want := []time.Duration{time.Hour, 15 * time.Minute, 45 * time.Minute, time.Hour}
	if !slices.Equal(m.durations, want) {
		t.Errorf("minted durations %v, want %v", m.durations, want)
	}
}

func TestAuthAPIAdvertisedLifetime(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		query    string
		want     time.Time
	}{
		{"override", 3 * time.Second, "?duration=1h", authTestNow.Add(3 * time.Second)},
		{"minted 1h", 0, "?duration=1h", authTestNow.Add(time.Hour)},
		{"minted 15m", 0, "?duration=15m", authTestNow.Add(15 * time.Minute)},
	}
	for _, tt := range tests {
		a, _ := newAuthTestAPI(Options{AdvertisedLifetime: tt.lifetime})
		_, body := authTestGet(t, a, tt.query, "Bearer good-token")
		creds := body["credentials"].(map[string]any)
		if got := int64(creds["expiration"].(float64)); got != tt.want.UnixMilli() {
			t.Errorf("%s: expiration %d, want %d", tt.name, got, tt.want.UnixMilli())
		}
		if got, ok := a.Expiry("AKID1"); !ok || !got.Equal(tt.want) {
			t.Errorf("%s: Expiry(AKID1) = %v, %v; want %v, true", tt.name, got, ok, tt.want)
		}
		if _, ok := a.Expiry("AKID-unknown"); ok {
			t.Errorf("%s: Expiry(unknown) ok, want false", tt.name)
		}
	}
}

func TestAuthAPIOtherRequests(t *testing.T) {
	a, _ := newAuthTestAPI(Options{})
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, CredentialsPath, http.StatusMethodNotAllowed},
		{http.MethodGet, "/v2/projects", http.StatusNotFound},
	} {
		r := httptest.NewRequest(tt.method, "http://api.optimizely.test"+tt.path, nil)
		r.Header.Set("Authorization", "Bearer good-token")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, w.Code, tt.want)
		}
	}
}

// authTestFetch gets credentials from a running API over HTTP, as a
// client of Optimizely's API would.
func authTestFetch(t *testing.T, baseURL, token string) (creds Credentials, s3Path string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, baseURL+CredentialsPath+"?duration=15m", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET credentials: %d %s", resp.StatusCode, b)
	}
	var body credentialsResponse
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	c := body.Credentials
	return Credentials{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, time.UnixMilli(c.Expiration)}, body.S3Path
}

// End to end: the API mints real MinIO STS credentials and advertises a
// 2 second lifetime, and the expiry proxy makes them stop working then.
func TestAuthAPIWithMinIOAndExpiryProxy(t *testing.T) {
	m := stsTestMinIO(t) // bucket, exporter user, objects under stsTestPrefix
	api := New(Options{
		Tokens:             []string{"pat-1"},
		Minter:             &MinIOSTS{Endpoint: m.Endpoint(), AccessKey: stsTestExporter, SecretKey: stsTestSecret},
		Bucket:             stsTestBucket,
		Prefix:             stsTestPrefix,
		AdvertisedLifetime: 2 * time.Second,
	})
	apiURL, stop := api.Start()
	defer stop()
	proxy, err := testenv.NewExpiryProxy(m.Endpoint(), api.Expiry)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	creds, s3Path := authTestFetch(t, apiURL, "pat-1")
	if want := "s3://" + stsTestBucket + "/" + strings.TrimSuffix(stsTestPrefix, "/"); s3Path != want {
		t.Errorf("s3Path = %q, want %q", s3Path, want)
	}
	if left := time.Until(creds.Expiration); left <= 0 || left > 3*time.Second {
		t.Fatalf("advertised expiration in %v, want about 2s", left)
	}
	c := testenv.NewS3Client(proxy.URL, testenv.StaticCredentials(aws.Credentials{
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken,
	}))
	key := stsTestPrefix + "type=events/date=2026-01-01/_SUCCESS"
	if _, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(stsTestBucket), Prefix: aws.String(stsTestPrefix), Delimiter: aws.String("/")}); err != nil {
		t.Fatalf("ListObjectsV2 before expiry: %v", err)
	}
	if _, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(stsTestBucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("HeadObject before expiry: %v", err)
	}

	time.Sleep(time.Until(creds.Expiration) + 100*time.Millisecond)
	_, err = c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(stsTestBucket), Key: aws.String(key)})
	if code := testenv.APICode(err); code != "ExpiredToken" {
		t.Errorf("GetObject after the advertised expiry = %v, want ExpiredToken", err)
	}
	// The same credentials still work at MinIO itself: only the proxy enforces
	// the advertised lifetime.
	direct := m.S3Client(testenv.StaticCredentials(aws.Credentials{
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken,
	}))
	if _, err := direct.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(stsTestBucket), Key: aws.String(key)}); err != nil {
		t.Errorf("HeadObject at MinIO directly = %v, want success", err)
	}

	// Fresh credentials work again; a revoked token gets none.
	fresh, _ := authTestFetch(t, apiURL, "pat-1")
	c2 := testenv.NewS3Client(proxy.URL, testenv.StaticCredentials(aws.Credentials{
		AccessKeyID: fresh.AccessKeyID, SecretAccessKey: fresh.SecretAccessKey, SessionToken: fresh.SessionToken,
	}))
	if _, err := c2.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(stsTestBucket), Key: aws.String(key)}); err != nil {
		t.Errorf("HeadObject with fresh credentials = %v, want success", err)
	}
	api.Revoke("pat-1")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, apiURL+CredentialsPath, nil)
	req.Header.Set("Authorization", "Bearer pat-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET credentials with a revoked token = %d, want 401", resp.StatusCode)
	}
	if api.Issued() != 2 || api.Requests() != 3 {
		t.Errorf("Issued() = %d, Requests() = %d; want 2, 3", api.Issued(), api.Requests())
	}
}
