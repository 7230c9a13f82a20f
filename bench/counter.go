// Package bench measures e3sync's copy throughput, memory and request counts
// against a real MinIO on loopback, next to the machine's raw GET/PUT limit
// and rclone. `make bench` runs it; BENCHMARKS.md has the results.
package bench

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/e3sync/e3sync/internal/testenv"
)

// Request types counted by a Counter.
const (
	Get        = "GET"
	Put        = "PUT"
	UploadPart = "UploadPart"
	Head       = "HEAD"
	List       = "LIST"
	CreateMPU  = "CreateMPU"
	CompleteMP = "CompleteMPU"
	AbortMPU   = "AbortMPU"
	Other      = "other"
)

// labels are the short names of testenv's S3 operations in the tables.
var labels = map[testenv.Op]string{
	testenv.OpGetObject: Get, testenv.OpPutObject: Put, testenv.OpUploadPart: UploadPart,
	testenv.OpHeadObject: Head, testenv.OpList: List, testenv.OpCreateMultipart: CreateMPU,
	testenv.OpCompleteUpload: CompleteMP, testenv.OpAbortUpload: AbortMPU, testenv.OpOther: Other,
}

// Counter is a reverse proxy in front of an S3 endpoint that counts requests
// by type. It forwards the client's Host header, so SigV4 signatures made for
// the proxy's address verify at the target. Bodies stream through.
type Counter struct {
	URL    string
	srv    *httptest.Server
	mu     sync.Mutex
	counts map[string]int
	sent   map[attemptKey]int // GETs and PUTs by object
}

// attemptKey is one object's requests of one type.
type attemptKey struct{ kind, key string }

// NewCounter starts a counting proxy on 127.0.0.1 for target.
func NewCounter(target string) (*Counter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("counter target: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DisableCompression = true
	tr.MaxIdleConnsPerHost = 256
	c := &Counter{counts: map[string]int{}, sent: map[attemptKey]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport:     tr,
		FlushInterval: -1,
	}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, key := testenv.ClassifyS3(r)
		kind := labels[op]
		c.mu.Lock()
		c.counts[kind]++
		if kind == Get || kind == Put || kind == UploadPart {
			// One part or range: e3sync GETs a large object in ranges.
			c.sent[attemptKey{kind + r.URL.Query().Get("partNumber") + r.Header.Get("Range"), key}]++
		}
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	c.URL = c.srv.URL
	return c, nil
}

// Reset zeroes the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = map[string]int{}
	c.sent = map[attemptKey]int{}
}

// Attempts returns, for each n > 1, the number of objects one of whose GETs
// or PUTs (or one part's UploadPart) was sent n times or more since the last
// Reset, and the most times one was sent. A request sent a third time is an
// object's third attempt, by the SDK's retries or the copier's own.
func (c *Counter) Attempts() (atLeast map[int]int, most int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	worst := map[string]int{} // by object key
	for k, n := range c.sent {
		worst[k.key] = max(worst[k.key], n)
	}
	atLeast = map[int]int{}
	for _, n := range worst {
		for i := 2; i <= n; i++ {
			atLeast[i]++
		}
		most = max(most, n)
	}
	return atLeast, most
}

// Counts returns a copy of the counts since the last Reset.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Close stops the proxy.
func (c *Counter) Close() { c.srv.Close() }

// PerObject formats counts divided by n, e.g. "GET 1 PUT 1 LIST 0.002".
func PerObject(counts map[string]int, n int) string {
	order := []string{Get, Put, UploadPart, Head, List, CreateMPU, CompleteMP, AbortMPU, Other}
	var parts []string
	for _, k := range order {
		v, ok := counts[k]
		if !ok || v == 0 {
			continue
		}
		parts = append(parts, k+" "+trimFloat(float64(v)/float64(max(n, 1))))
	}
	return strings.Join(parts, " ")
}

func trimFloat(f float64) string {
	switch {
	case f == float64(int64(f)):
		return fmt.Sprintf("%d", int64(f))
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	case f >= 0.1:
		return fmt.Sprintf("%.2f", f)
	default:
		return fmt.Sprintf("%.3f", f)
	}
}
