package testenv

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassifyS3(t *testing.T) {
	for _, tt := range []struct {
		method, target string
		header         string
		op             Op
		key            string
	}{
		{"GET", "/b?list-type=2&prefix=x%2F", "", OpList, ""},
		{"GET", "/b/", "", OpList, ""},
		{"GET", "/b/type=events/date=2024-01-01/a", "", OpGetObject, "type=events/date=2024-01-01/a"},
		{"HEAD", "/b/k", "", OpHeadObject, "k"},
		{"PUT", "/b/k", "", OpPutObject, "k"},
		{"PUT", "/b/k?partNumber=2&uploadId=u", "", OpUploadPart, "k"},
		{"PUT", "/b/k", "X-Amz-Copy-Source", OpOther, "k"},
		{"POST", "/b/k?uploads", "", OpCreateMultipart, "k"},
		{"POST", "/b/k?uploadId=u", "", OpCompleteUpload, "k"},
		{"DELETE", "/b/k?uploadId=u", "", OpAbortUpload, "k"},
		{"DELETE", "/b/k", "", OpOther, "k"},
	} {
		r, _ := http.NewRequest(tt.method, "http://127.0.0.1"+tt.target, nil)
		if tt.header != "" {
			r.Header.Set(tt.header, "x")
		}
		if op, key := ClassifyS3(r); op != tt.op || key != tt.key {
			t.Errorf("ClassifyS3(%s %s) = %s, %q; want %s, %q", tt.method, tt.target, op, key, tt.op, tt.key)
		}
	}
}

// Against a plain upstream: every fault does what it says, and is counted.
func TestFaultProxy(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 10_000)
	var puts atomic.Int64
	up := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			io.Copy(io.Discard, r.Body)
			puts.Add(1)
			return
		}
		w.Header().Set("Content-Length", "100000")
		w.Write(body)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(l)
	defer up.Close()
	p, err := NewFaultProxy("http://" + l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	get := func() (int, int, error) {
		resp, err := client.Get(p.URL + "/b/k")
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, len(b), err
	}
	put := func() error {
		req, _ := http.NewRequest("PUT", p.URL+"/b/k", bytes.NewReader(body))
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return io.ErrUnexpectedEOF
			}
		}
		return err
	}

	if code, n, err := get(); code != 200 || n != len(body) || err != nil {
		t.Fatalf("no rules: GET = %d, %d bytes, %v", code, n, err)
	}
	p.SetRules(FaultRule{Op: OpGetObject, Kind: FaultInternalError, Times: 1})
	if code, _, _ := get(); code != 500 {
		t.Errorf("500 rule: status %d", code)
	}
	if code, _, _ := get(); code != 200 {
		t.Errorf("after Times: status %d, want 200", code)
	}
	p.SetRules(FaultRule{Op: OpGetObject, Kind: FaultSlowDown, Every: 2})
	if c1, _, _ := get(); c1 != 200 {
		t.Errorf("Every 2, first: %d", c1)
	}
	if c2, _, _ := get(); c2 != 503 {
		t.Errorf("Every 2, second: %d", c2)
	}
	p.SetRules(FaultRule{Op: OpGetObject, Kind: FaultResetResponse, AfterBytes: 1000})
	if _, n, err := get(); err == nil || n != 1000 {
		t.Errorf("reset: read %d bytes, error %v; want 1000 and an error", n, err)
	}
	p.SetRules(FaultRule{Op: OpGetObject, Kind: FaultTruncateResponse, AfterBytes: 5000})
	if _, n, err := get(); err != io.ErrUnexpectedEOF || n != 5000 {
		t.Errorf("truncate: read %d bytes, error %v; want 5000 and unexpected EOF", n, err)
	}
	p.SetRules(FaultRule{Op: OpPutObject, Kind: FaultResetRequest, AfterBytes: 4096})
	if err := put(); err == nil || puts.Load() != 0 {
		t.Errorf("reset request: error %v, upstream PUTs %d; want an error and none", err, puts.Load())
	}
	p.SetRules(FaultRule{Op: OpPutObject, Kind: FaultDropResponse})
	if err := put(); err == nil || puts.Load() != 1 {
		t.Errorf("drop response: error %v, upstream PUTs %d; want an error and 1", err, puts.Load())
	}
	p.SetRules(FaultRule{Kind: FaultLatency, Latency: time.Millisecond, KeyContains: "k"})
	if code, n, err := get(); code != 200 || n != len(body) || err != nil {
		t.Errorf("latency: %d, %d, %v", code, n, err)
	}
	p.SetRules(FaultRule{Op: OpGetObject, Kind: FaultTruncateResponse, AfterBytes: 1 << 30})
	get() // body shorter than AfterBytes: no fault
	want := map[FaultKind]int{FaultInternalError: 1, FaultSlowDown: 1, FaultResetResponse: 1, FaultTruncateResponse: 1, FaultResetRequest: 1, FaultDropResponse: 1, FaultLatency: 1}
	got := p.Injected()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Injected()[%s] = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if p.TotalInjected() != 6 || !strings.Contains(p.URL, "127.0.0.1") {
		t.Errorf("TotalInjected() = %d, URL %s", p.TotalInjected(), p.URL)
	}
}
