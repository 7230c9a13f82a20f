package testenv

import (
	"net/http"
	"strings"
	"time"
)

// expiredTokenXML is S3's answer to a request signed with expired temporary
// credentials (status 400).
const expiredTokenXML = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
	`<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>`

// ExpiryProxy is a reverse proxy to an S3 endpoint that refuses requests
// signed with expired credentials (NewExpiryProxy).
type ExpiryProxy struct{ s3Proxy }

// NewExpiryProxy starts, on 127.0.0.1, a reverse proxy to the S3 endpoint
// target that refuses requests signed with credentials past their advertised
// expiry, as S3 does: 400 with an ExpiredToken error. expiry returns the
// advertised expiry of an access key id, and false for keys it does not know
// (which are forwarded). MinIO's shortest STS lifetime is 15 minutes; with the
// proxy, tests can have credentials that really stop working after seconds.
// Close it when done.
func NewExpiryProxy(target string, expiry func(accessKeyID string) (time.Time, bool)) (*ExpiryProxy, error) {
	sp, err := newS3Proxy("expiry proxy", target)
	if err != nil {
		return nil, err
	}
	p := &ExpiryProxy{sp}
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
		p.rp.ServeHTTP(w, r)
	})
	if err := p.start(h); err != nil {
		return nil, err
	}
	return p, nil
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
