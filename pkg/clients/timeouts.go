package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Timeouts bound every request of an S3 client (README, Limits). A request
// that runs into one fails that attempt, and the SDK's retryer tries again
// (Retryer: 5 attempts), so an endpoint that stops answering fails the
// request after at most 5 × (the timeout that fires) plus the back-off
// between attempts, with an error naming the endpoint.
type Timeouts struct {
	// Connect bounds establishing a TCP connection.
	Connect time.Duration
	// TLSHandshake bounds the TLS handshake.
	TLSHandshake time.Duration
	// ResponseHeader bounds the wait for a response's headers once the
	// request (with its body) is sent: S3 answers within seconds, even
	// CompleteMultipartUpload (it sends its headers at once, then keeps the
	// connection alive with whitespace while it works).
	ResponseHeader time.Duration
	// Idle fails a connection in use on which not one byte was received
	// or sent for this long (checked at most every Idle/8, so the
	// connection fails after between Idle and 1.125 × Idle of silence).
	// Bytes sent count as activity: a slow upload never trips it, nor does
	// a slow but flowing download.
	Idle time.Duration
}

// DefaultTimeouts are generous for slow networks and large parts (a Lambda
// with little network share uploads an 8 MiB part within seconds) and still
// fail a dead endpoint within minutes.
var DefaultTimeouts = Timeouts{
	Connect:        10 * time.Second,
	TLSHandshake:   10 * time.Second,
	ResponseHeader: time.Minute,
	Idle:           time.Minute,
}

// OrDefault is t, or DefaultTimeouts when t is zero.
func (t Timeouts) OrDefault() Timeouts {
	if t == (Timeouts{}) {
		return DefaultTimeouts
	}
	return t
}

// transport sets t's timeouts on tr: its dialer's connect timeout, TLS and
// response header timeouts, and the idle timeout on every connection.
func (t Timeouts) transport(tr *http.Transport) {
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newIdleConn(c, t.Idle), nil
	}
	tr.TLSHandshakeTimeout = t.TLSHandshake
	tr.ResponseHeaderTimeout = t.ResponseHeader
	// A pooled connection is closed before its idle deadline can fire
	// under a request that just picked it.
	tr.IdleConnTimeout = min(tr.IdleConnTimeout, t.Idle/2)
}

// idleConn fails its reads and writes once the connection has been silent
// (no byte either way) for idle: each Read or Write moves the deadline of
// both directions forward, but at most every idle/8, so that a fast stream
// pays for a clock reading per call and a deadline update every few seconds,
// not per call.
type idleConn struct {
	net.Conn
	idle, every time.Duration
	next        atomic.Int64 // unix nanoseconds after which the deadline moves again
}

func newIdleConn(c net.Conn, idle time.Duration) net.Conn {
	if idle <= 0 {
		return c
	}
	ic := &idleConn{Conn: c, idle: idle, every: idle / 8}
	ic.touch()
	return ic
}

func (c *idleConn) touch() {
	now := time.Now()
	if n := now.UnixNano(); n >= c.next.Load() {
		c.next.Store(n + int64(c.every))
		c.Conn.SetDeadline(now.Add(c.idle + c.every))
	}
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.touch()
	n, err := c.Conn.Read(p)
	return n, c.explain(err)
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.touch()
	n, err := c.Conn.Write(p)
	return n, c.explain(err)
}

func (c *idleConn) explain(err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return &IdleTimeoutError{Endpoint: c.RemoteAddr().String(), Idle: c.idle}
	}
	return err
}

// IdleTimeoutError is a connection failed by Timeouts.Idle. It is a
// timeout (net.Error), which the SDK retries.
type IdleTimeoutError struct {
	Endpoint string // host:port
	Idle     time.Duration
}

func (e *IdleTimeoutError) Error() string {
	return fmt.Sprintf("not a byte to or from %s for %v: idle timeout", e.Endpoint, e.Idle)
}
func (e *IdleTimeoutError) Timeout() bool   { return true }
func (e *IdleTimeoutError) Temporary() bool { return true }
func (e *IdleTimeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }
