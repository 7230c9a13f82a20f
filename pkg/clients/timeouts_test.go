package clients

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/pkg/store"
)

// small are timeouts short enough for tests, with room for a loaded
// machine's scheduling delays.
var small = Timeouts{Connect: 2 * time.Second, TLSHandshake: 2 * time.Second, ResponseHeader: time.Second, Idle: time.Second}

// hangingServer accepts connections on 127.0.0.1, reads what they send and
// never answers. It returns its URL and a count of connections accepted.
func hangingServer(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conns = append(conns, c)
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String(), &accepted
}

func testClient(endpoint string, t Timeouts) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		HTTPClient:  HTTPClient(nil, t), Retryer: Retryer(),
	})
}

// An endpoint that accepts connections and never answers fails the request
// after the SDK's 5 attempts, each ended by the response header timeout,
// with an error naming the endpoint.
func TestHungEndpointFailsAfterRetries(t *testing.T) {
	t.Parallel()
	url, accepted := hangingServer(t)
	c := testClient(url, small)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("b")})
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("hung endpoint failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") || !strings.Contains(err.Error(), strings.TrimPrefix(url, "http://")) {
			t.Errorf("ListObjectsV2 = %v, want a response header timeout naming %s", err, url)
		}
		if !strings.Contains(err.Error(), "attempts, 5") {
			t.Errorf("ListObjectsV2 = %v, want 5 attempts", err)
		}
		if n := accepted.Load(); n != 5 {
			t.Errorf("%d connections accepted, want one per attempt (5)", n)
		}
	case <-time.After(2 * time.Minute): // only a "did not hang" guard
		t.Fatal("ListObjectsV2 against a hung endpoint did not return")
	}
}

// A body that stops flowing fails the read with an idle timeout naming the
// endpoint; one that flows slowly, with pauses shorter than the idle
// timeout, is read whole even though it takes many times the idle timeout.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "20")
		w.WriteHeader(http.StatusOK)
		for i := range 20 {
			w.Write([]byte{'x'})
			w.(http.Flusher).Flush()
			pause := 150 * time.Millisecond // slow: 3 s in all, 3 × the idle timeout
			if r.URL.Path == "/b/stalls" && i == 9 {
				pause = time.Minute
			}
			select {
			case <-time.After(pause):
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer srv.Close()
	c := testClient(srv.URL, small)
	get := func(key string) ([]byte, error) {
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
	if b, err := get("slow"); err != nil || len(b) != 20 {
		t.Errorf("slow body: %d bytes, %v; want all 20", len(b), err)
	}
	start := time.Now()
	b, err := get("stalls")
	var ite *IdleTimeoutError
	if !errors.As(err, &ite) || !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
		t.Errorf("stalled body: %d bytes, %v; want an idle timeout naming the endpoint", len(b), err)
	}
	if d := time.Since(start); d > 30*time.Second { // "did not hang" guard
		t.Errorf("stalled body failed only after %v", d)
	}
}

// The destination client gets DefaultTimeouts (and optFns can set others).
func TestDestinationClientTimeouts(t *testing.T) {
	t.Parallel()
	var hc aws.HTTPClient
	NewDestinationS3(aws.Config{Region: "us-east-1"}, store.Target{Bucket: "b"}, false, store.S3Options{}, func(o *s3.Options) { hc = o.HTTPClient })
	c, ok := hc.(*http.Client)
	if !ok {
		t.Fatalf("HTTP client is %T, want a frozen *http.Client", hc)
	}
	// The SDK wraps the *http.Transport in an unexported redirect guard.
	tr := reflect.Indirect(reflect.ValueOf(c.Transport))
	if tr.Kind() == reflect.Struct && tr.Type() != reflect.TypeOf(http.Transport{}) {
		tr = reflect.Indirect(tr.FieldByName("tr").Elem())
	}
	if !tr.IsValid() || tr.Type() != reflect.TypeOf(http.Transport{}) {
		t.Fatalf("transport of %T not found", c.Transport)
	}
	if got := time.Duration(tr.FieldByName("ResponseHeaderTimeout").Int()); got != DefaultTimeouts.ResponseHeader {
		t.Errorf("ResponseHeaderTimeout = %v, want %v", got, DefaultTimeouts.ResponseHeader)
	}
	if got := time.Duration(tr.FieldByName("TLSHandshakeTimeout").Int()); got != DefaultTimeouts.TLSHandshake {
		t.Errorf("TLSHandshakeTimeout = %v, want %v", got, DefaultTimeouts.TLSHandshake)
	}

	url, _ := hangingServer(t)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), BaseEndpoint: aws.String(url)}
	dst := NewDestinationS3(cfg, store.Target{Bucket: "b", Prefix: "p/"}, true, store.S3Options{}, func(o *s3.Options) { o.HTTPClient = HTTPClient(nil, small) })
	start := time.Now()
	_, err := dst.Write(context.Background(), "k", 1, strings.NewReader("x"), nil)
	t.Logf("hung destination failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Errorf("Write() = %v, want a response header timeout", err)
	}
}

// BenchmarkIdleConn reads a loopback TCP stream through a plain connection
// and through the idle-timeout wrapper: the wrapper must cost nothing
// measurable (a clock reading per Read, a deadline update every Idle/8).
func BenchmarkIdleConn(b *testing.B) {
	for _, wrap := range []bool{false, true} {
		name := "plain"
		if wrap {
			name = "idle-timeout"
		}
		b.Run(name, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			chunk := make([]byte, 256<<10)
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			if wrap {
				c = newIdleConn(c, time.Minute)
			}
			defer c.Close()
			buf := make([]byte, 32<<10) // what net/http's body reads ask for
			const perOp = 64 << 20
			b.SetBytes(perOp)
			b.ResetTimer()
			for range b.N {
				if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, perOp), buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// nullConn reads zeros at once: the cost of a Read through the wrapper,
// without the network's.
type nullConn struct{ net.Conn }

func (nullConn) Read(p []byte) (int, error)         { return len(p), nil }
func (nullConn) SetDeadline(t time.Time) error      { return nil }
func (nullConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (nullConn) Write(p []byte) (int, error)        { return len(p), nil }
func (nullConn) SetReadDeadline(time.Time) error    { return nil }
func (nullConn) SetWriteDeadline(t time.Time) error { return nil }

// BenchmarkIdleConnRead is the wrapper's cost per Read call (net/http's
// body reads are up to 32 KiB each: tens of microseconds on a fast network).
func BenchmarkIdleConnRead(b *testing.B) {
	for _, tt := range []struct {
		name string
		c    net.Conn
	}{{"plain", nullConn{}}, {"idle-timeout", newIdleConn(nullConn{}, time.Minute)}} {
		b.Run(tt.name, func(b *testing.B) {
			buf := make([]byte, 32<<10)
			for range b.N {
				tt.c.Read(buf)
			}
		})
	}
}

// Bytes sent count as activity: a slow upload (each write waits for the
// peer) keeps a read that waits for the response alive for many times the
// idle timeout; once both directions are silent, the read fails.
func TestIdleConnWritesAreActivity(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe() // unbuffered: a write waits for the peer's read
	defer server.Close()
	c := newIdleConn(client, time.Second)
	defer c.Close()
	go func() {
		buf := make([]byte, 10)
		for range 30 { // 3 s of upload
			time.Sleep(100 * time.Millisecond)
			if _, err := io.ReadFull(server, buf); err != nil {
				return
			}
		}
	}()
	readErr := make(chan error, 1)
	go func() { // as net/http's read loop waits for the response
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	for i := range 30 {
		if _, err := c.Write(make([]byte, 10)); err != nil {
			t.Fatalf("write %d of a slow upload: %v", i, err)
		}
	}
	select {
	case err := <-readErr:
		t.Fatalf("the read failed during the upload: %v", err)
	default:
	}
	select {
	case err := <-readErr:
		var ite *IdleTimeoutError
		if !errors.As(err, &ite) {
			t.Errorf("read after the upload = %v, want an idle timeout", err)
		}
	case <-time.After(30 * time.Second): // a "did not hang" guard only
		t.Fatal("the silent connection never timed out")
	}
}

// BenchmarkHTTPGet downloads 64 MiB bodies from a loopback server through
// the tuned client, with and without the idle timeout: net/http's real read
// path, for the cost of the wrapper on a copy's GETs.
func BenchmarkHTTPGet(b *testing.B) {
	body := make([]byte, 64<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "67108864")
		w.Write(body)
	}))
	defer srv.Close()
	noIdle := DefaultTimeouts
	noIdle.Idle = 0
	for _, tt := range []struct {
		name string
		t    Timeouts
	}{{"no-idle-timeout", noIdle}, {"idle-timeout", DefaultTimeouts}} {
		b.Run(tt.name, func(b *testing.B) {
			c := HTTPClient(nil, tt.t)
			buf := make([]byte, 8<<20) // as a part is read
			b.SetBytes(int64(len(body)))
			for range b.N {
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := io.ReadFull(resp.Body, buf); err != nil {
						break
					}
				}
				resp.Body.Close()
			}
		})
	}
}
