package optimizely

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// S3 refusing credentials before their stated expiry: the cache is
// invalidated, new credentials fetched, and the request retried exactly
// once; other errors are not retried this way.
func TestRefreshOnExpiredToken(t *testing.T) {
	tests := []struct {
		name         string
		code         string
		failures     int64 // S3 answers code this many times, then 200
		wantErr      bool
		wantS3       int64 // GET requests S3 saw
		wantAuthCall int64 // Authentication API requests (the first Retrieve included)
	}{
		{"ExpiredToken once", "ExpiredToken", 1, false, 2, 2},
		{"InvalidToken once", "InvalidToken", 1, false, 2, 2},
		{"TokenRefreshRequired once", "TokenRefreshRequired", 1, false, 2, 2},
		{"ExpiredToken always: one retry only", "ExpiredToken", 100, true, 2, 2},
		{"AccessDenied: not a credentials problem", "AccessDenied", 1, true, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s3Requests atomic.Int64
			s3srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if s3Requests.Add(1) <= tt.failures {
					w.Header().Set("Content-Type", "application/xml")
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprintf(w, `<Error><Code>%s</Code><Message>refused</Message></Error>`, tt.code)
					return
				}
				fmt.Fprint(w, "data")
			}))
			defer s3srv.Close()
			auth := newAuthServer(t, testToken)
			var logs syncBuffer
			cache := NewCredentialsCache(newProvider(auth, &fakeSource{secret: testToken}, &logs))
			client := s3.New(s3.Options{
				Region: "us-east-1", Credentials: cache, BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true,
				APIOptions: []func(*middleware.Stack) error{RefreshOnExpiredToken(cache, newLogger(&logs))},
			})
			_, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
			var ae smithy.APIError
			switch {
			case tt.wantErr && (err == nil || !errors.As(err, &ae) || ae.ErrorCode() != tt.code):
				t.Errorf("GetObject error = %v, want %s", err, tt.code)
			case !tt.wantErr && err != nil:
				t.Errorf("GetObject error = %v, want success after one refresh", err)
			}
			if s3Requests.Load() != tt.wantS3 || auth.requests.Load() != tt.wantAuthCall {
				t.Errorf("S3 requests %d, Authentication API requests %d; want %d and %d",
					s3Requests.Load(), auth.requests.Load(), tt.wantS3, tt.wantAuthCall)
			}
			if warned := strings.Contains(logs.String(), "retrying once"); warned != (tt.wantS3 == 2) {
				t.Errorf("warning logged = %v:\n%s", warned, logs.String())
			}
		})
	}
}
