package testenv

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
)

// s3Proxy is what every test proxy in front of an S3 endpoint is built on
// (*ExpiryProxy, *FaultProxy, *HostileS3): a reverse proxy on 127.0.0.1 that
// streams bodies both ways, adds no compression, never goes through an HTTP
// proxy, and forwards the client's Host header, so that SigV4 signatures
// made for the proxy's address verify at the target.
type s3Proxy struct {
	URL string

	srv       *httptest.Server
	rp        *httputil.ReverseProxy
	transport *http.Transport
}

// newS3Proxy returns the proxy name (for its errors) to target
// (http://host:port, or https); start serves it.
func newS3Proxy(name, target string) (s3Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return s3Proxy{}, fmt.Errorf("%s target %q: want http://host:port", name, target)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil               // loopback only, never through an HTTP proxy
	transport.DisableCompression = true // never add Accept-Encoding: gzip and decompress bodies
	transport.MaxIdleConnsPerHost = 512 // the benchmark's latency cases keep hundreds of requests in flight
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// SigV4 signs the Host header: the target must see the host the
			// client signed, not its own address (SetURL clears Out.Host,
			// which would make the transport send the target's host).
			pr.Out.Host = pr.In.Host
		},
		Transport:     transport,
		FlushInterval: -1, // flush response bytes as they arrive
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, name+": "+err.Error(), http.StatusBadGateway)
		},
	}
	return s3Proxy{rp: rp, transport: transport}, nil
}

// start serves h on a free port of 127.0.0.1 and sets URL.
func (p *s3Proxy) start(h http.Handler) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	p.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	p.srv.Start()
	p.URL = p.srv.URL
	return nil
}

// Close stops the proxy, and with it every request it holds.
func (p *s3Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
	p.transport.CloseIdleConnections()
}
