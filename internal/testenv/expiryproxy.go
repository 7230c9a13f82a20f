package testenv

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// expiredTokenXML is S3's answer to a request signed with expired temporary
// credentials (status 400).
const expiredTokenXML = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
	`<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>`

// NewExpiryProxy starts, on 127.0.0.1, a reverse proxy to the S3 endpoint
// target that refuses requests signed with credentials past their advertised
// expiry, as S3 does: 400 with an ExpiredToken error. expiry returns the
// advertised expiry of an access key id, and false for keys it does not know
// (which are forwarded). MinIO's shortest STS lifetime is 15 minutes; with the
// proxy, tests can have credentials that really stop working after seconds.
//
// Bodies stream both ways. The proxy forwards the client's Host header, so
// requests signed for the proxy's address verify at the target. Close the
// returned server when done.
func NewExpiryProxy(target string, expiry func(accessKeyID string) (time.Time, bool)) (*httptest.Server, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("expiry proxy target: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("expiry proxy target %q: want http://host:port", target)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil               // loopback only, never through an HTTP proxy
	transport.DisableCompression = true // never add Accept-Encoding: gzip and decompress bodies
	transport.MaxIdleConnsPerHost = 64
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
			http.Error(w, "expiry proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if akid := AccessKeyID(r); akid != "" {
			if exp, ok := expiry(akid); ok && !time.Now().Before(exp) {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusBadRequest)
				if r.Method != http.MethodHead {
					_, _ = w.Write([]byte(expiredTokenXML))
				}
				return
			}
		}
		rp.ServeHTTP(w, r)
	})
	return httptest.NewServer(h), nil
}

// AccessKeyID returns the access key id a SigV4 request is signed with, from
// its Authorization header (Credential=AKID/...) or, for a presigned URL, its
// X-Amz-Credential query parameter; "" when there is none.
func AccessKeyID(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, rest, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return ""
		}
		akid, _, _ := strings.Cut(rest, "/")
		return strings.TrimSpace(akid)
	}
	cred := r.URL.Query().Get("X-Amz-Credential")
	akid, _, _ := strings.Cut(cred, "/")
	return akid
}
