package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// keysS3 is an S3 endpoint that accepts one access key id and refuses every
// other with code.
type keysS3 struct {
	mu       sync.Mutex
	accepted string
	code     string
	requests map[string]int // access key id -> requests signed with it
}

func (s *keysS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	_, cred, _ := strings.Cut(auth, "Credential=")
	id, _, _ := strings.Cut(cred, "/")
	s.mu.Lock()
	s.requests[id]++
	ok := id == s.accepted
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>refused</Message></Error>`, s.code)
		return
	}
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>optimizely-events-data</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
}

// Each rejected-key code: with the keys rotated in the secret, the request
// is retried once with the keys read again and succeeds; with the same keys
// still in the secret, it fails with ErrKeysRejected after exactly one
// retry. Other errors are left alone.
func TestRejectedKeys(t *testing.T) {
	for _, code := range []string{"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "SlowDown"} {
		t.Run(code, func(t *testing.T) {
			srv := &keysS3{accepted: "AKIANEW", code: code, requests: map[string]int{}}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			f := &fakeSecrets{value: keysJSON("AKIAOLD", "old-secret", account)}
			p := &KeysProvider{Reader: &KeysSecret{Client: f, SecretID: secretID}}
			creds := NewKeysCache(p)
			client := s3.New(s3.Options{
				Region: Region, Credentials: creds, BaseEndpoint: aws.String(ts.URL), UsePathStyle: true,
				RetryMaxAttempts: 1, APIOptions: []func(*middleware.Stack) error{RejectedKeys(creds, nil)},
			})
			list := func() error {
				_, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(ExportBucket), Prefix: aws.String("v1/account_id=12345/")})
				return err
			}
			retried := code != "SlowDown"

			// The same keys in the secret: refused twice, then ErrKeysRejected.
			err := list()
			if got := errors.Is(err, ErrKeysRejected); got != retried || err == nil || !strings.Contains(err.Error(), code) {
				t.Errorf("ListObjectsV2 with refused keys = %v; want an error with %s, ErrKeysRejected: %v", err, code, retried)
			}
			wantOld, wantReads := 1, int64(1)
			if retried {
				wantOld, wantReads = 2, 2
			}
			if srv.requests["AKIAOLD"] != wantOld || f.calls.Load() != wantReads {
				t.Errorf("%d requests with the old key, %d reads of the secret; want %d, %d", srv.requests["AKIAOLD"], f.calls.Load(), wantOld, wantReads)
			}
			if !retried {
				return
			}
			// Rotated: the next refusal reads the new keys and the retry passes.
			f.set(keysJSON("AKIANEW", "new-secret", account))
			if err := list(); err != nil {
				t.Errorf("ListObjectsV2 after a rotation = %v, want the retry with the new keys to pass", err)
			}
			if srv.requests["AKIAOLD"] != 3 || srv.requests["AKIANEW"] != 1 {
				t.Errorf("requests by key = %v, want one more with the old key, then one with the new", srv.requests)
			}
		})
	}
}
