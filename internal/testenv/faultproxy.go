package testenv

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Op is the S3 operation a request performs, as the fault proxy sees it
// (path-style addressing).
type Op string

// The operations a FaultRule can target.
const (
	OpAny             Op = ""
	OpList            Op = "ListObjects"
	OpGetObject       Op = "GetObject"
	OpHeadObject      Op = "HeadObject"
	OpPutObject       Op = "PutObject"
	OpCreateMultipart Op = "CreateMultipartUpload"
	OpUploadPart      Op = "UploadPart"
	OpCompleteUpload  Op = "CompleteMultipartUpload"
	OpAbortUpload     Op = "AbortMultipartUpload"
	OpOther           Op = "Other"
)

// FaultKind is what the proxy does instead of (or on top of) forwarding.
type FaultKind string

// The faults the proxy injects.
const (
	// FaultInternalError answers 500 InternalError without forwarding.
	FaultInternalError FaultKind = "500 InternalError"
	// FaultSlowDown answers 503 SlowDown without forwarding.
	FaultSlowDown FaultKind = "503 SlowDown"
	// FaultResetResponse forwards, sends the headers (with the full
	// Content-Length) and AfterBytes of the body, then resets the
	// connection (TCP RST).
	FaultResetResponse FaultKind = "reset mid-response"
	// FaultTruncateResponse is FaultResetResponse with a clean close (FIN):
	// the body ends early without a transport error.
	FaultTruncateResponse FaultKind = "truncated response"
	// FaultResetRequest reads AfterBytes of the request body and resets the
	// connection; nothing is forwarded.
	FaultResetRequest FaultKind = "reset mid-request"
	// FaultDropResponse forwards the request (it takes effect upstream) and
	// resets the connection instead of answering: the client cannot know.
	FaultDropResponse FaultKind = "response lost"
	// FaultLatency reads the request, waits Latency (or until the client
	// goes away), then forwards.
	FaultLatency FaultKind = "latency"
)

// FaultRule injects Kind into requests of Op (OpAny: all) whose key
// contains KeyContains: on every Every-th matching request (1 or 0: every
// one), or, with Fraction > 0, on that fraction of them chosen at random
// (a retried request is as likely to meet the fault again as any other,
// as at S3; every Every-th would fault a retry far more often where few
// requests are in flight), at most Times times (0: no limit).
type FaultRule struct {
	Op          Op
	Kind        FaultKind
	KeyContains string
	Every       int
	Fraction    float64
	Times       int
	AfterBytes  int64
	Latency     time.Duration

	seen, injected int
}

// FaultProxy is a reverse proxy on 127.0.0.1 in front of an S3 endpoint
// that injects faults by rule. It forwards the client's Host header, so
// SigV4 signatures made for the proxy's address verify at the target.
type FaultProxy struct {
	s3Proxy

	mu       sync.Mutex
	rules    []*FaultRule
	injected map[FaultKind]int
	requests map[Op]int
}

// NewFaultProxy starts a fault proxy to target (http://host:port) with no
// rules.
func NewFaultProxy(target string) (*FaultProxy, error) {
	sp, err := newS3Proxy("fault proxy", target)
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{s3Proxy: sp, injected: map[FaultKind]int{}, requests: map[Op]int{}}
	if err := p.start(http.HandlerFunc(p.serve)); err != nil {
		return nil, err
	}
	return p, nil
}

// SetRules replaces the rules (nil: forward everything).
func (p *FaultProxy) SetRules(rules ...FaultRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = p.rules[:0]
	for _, r := range rules {
		r := r
		p.rules = append(p.rules, &r)
	}
}

// Injected returns the faults injected so far, by kind.
func (p *FaultProxy) Injected() map[FaultKind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.injected)
}

// TotalInjected is the number of faults injected so far, latency excluded.
func (p *FaultProxy) TotalInjected() int {
	n := 0
	for k, v := range p.Injected() {
		if k != FaultLatency {
			n += v
		}
	}
	return n
}

// Requests returns the requests seen so far, by operation.
func (p *FaultProxy) Requests() map[Op]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.requests)
}

// ClassifyS3 returns the operation and object key of a path-style S3
// request ("" key for bucket-level requests).
func ClassifyS3(r *http.Request) (Op, string) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	_, key, _ := strings.Cut(path, "/")
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		if key == "" {
			return OpList, ""
		}
		if q.Has("uploadId") { // ListParts
			return OpOther, key
		}
		return OpGetObject, key
	case http.MethodHead:
		if key == "" {
			return OpOther, ""
		}
		return OpHeadObject, key
	case http.MethodPut:
		if q.Has("uploadId") && q.Has("partNumber") {
			return OpUploadPart, key
		}
		if key != "" && r.Header.Get("X-Amz-Copy-Source") == "" {
			return OpPutObject, key
		}
	case http.MethodPost:
		if q.Has("uploads") {
			return OpCreateMultipart, key
		}
		if q.Has("uploadId") {
			return OpCompleteUpload, key
		}
	case http.MethodDelete:
		if q.Has("uploadId") {
			return OpAbortUpload, key
		}
	}
	return OpOther, key
}

// pick returns the rule to apply to a request, if any, and counts it.
func (p *FaultProxy) pick(op Op, key string) *FaultRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[op]++
	for _, r := range p.rules {
		if r.Op != OpAny && r.Op != op || !strings.Contains(key, r.KeyContains) {
			continue
		}
		r.seen++
		if r.Times > 0 && r.injected >= r.Times {
			continue
		}
		if r.Every > 1 && r.seen%r.Every != 0 || r.Fraction > 0 && rand.Float64() >= r.Fraction {
			continue
		}
		r.injected++
		p.injected[r.Kind]++
		c := *r
		return &c
	}
	return nil
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	op, key := ClassifyS3(r)
	rule := p.pick(op, key)
	if rule == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch rule.Kind {
	case FaultInternalError:
		s3Error(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	case FaultSlowDown:
		s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	case FaultLatency:
		// Read the body first: only then does the server notice a client
		// that goes away (and cancel r's context) while the request waits.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		select {
		case <-time.After(rule.Latency):
		case <-r.Context().Done():
			return
		}
		p.rp.ServeHTTP(w, r)
	case FaultResetRequest:
		io.CopyN(io.Discard, r.Body, rule.AfterBytes)
		hangUp(w, true)
	case FaultDropResponse:
		p.cut(w, r, rule, &cutWriter{w: w, after: 0, reset: true, onHeader: true})
	case FaultResetResponse, FaultTruncateResponse:
		p.cut(w, r, rule, &cutWriter{w: w, after: rule.AfterBytes, reset: rule.Kind == FaultResetResponse})
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// cut forwards through cw; a response that ended before the cut (a body
// shorter than AfterBytes, an error status) is not counted as a fault.
func (p *FaultProxy) cut(w http.ResponseWriter, r *http.Request, rule *FaultRule, cw *cutWriter) {
	defer func() {
		if !cw.cut {
			p.mu.Lock()
			p.injected[rule.Kind]--
			p.mu.Unlock()
		}
	}()
	p.rp.ServeHTTP(cw, r)
}

func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Connection", "close") // the request body may be unread
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
	}
}

// hangUp takes the connection from the server and closes it, with a TCP
// RST when reset is set.
func hangUp(w http.ResponseWriter, reset bool) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if buf != nil {
		buf.Flush()
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		tc.SetLinger(0)
	}
	conn.Close()
}

// cutWriter passes the response through until after body bytes are
// written (or, with onHeader, before anything is), then hangs up.
type cutWriter struct {
	w        http.ResponseWriter
	after    int64
	n        int64
	reset    bool
	onHeader bool
	cut      bool
}

func (c *cutWriter) Header() http.Header { return c.w.Header() }

func (c *cutWriter) WriteHeader(status int) {
	if c.cut {
		return
	}
	if c.onHeader {
		c.cut = true
		hangUp(c.w, c.reset)
		return
	}
	c.w.WriteHeader(status)
	http.NewResponseController(c.w).Flush()
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if c.cut {
		return 0, io.ErrClosedPipe
	}
	if rest := c.after - c.n; int64(len(b)) >= rest {
		n, _ := c.w.Write(b[:rest])
		c.n += int64(n)
		http.NewResponseController(c.w).Flush()
		c.cut = true
		hangUp(c.w, c.reset)
		return n, io.ErrClosedPipe
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *cutWriter) Flush() {
	if !c.cut {
		http.NewResponseController(c.w).Flush()
	}
}
