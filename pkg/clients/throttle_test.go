package clients

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
)

// TestNoteThrottles checks that every SlowDown and 503 attempt is noted,
// retried ones included, and other errors are not.
func TestNoteThrottles(t *testing.T) {
	answers := []struct {
		status int
		code   string
	}{
		{503, "SlowDown"}, {503, "ServiceUnavailable"}, {500, "InternalError"}, {404, "NoSuchKey"},
	}
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[min(int(n.Add(1))-1, len(answers)-1)]
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(a.status)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + a.code + `</Code><Message>m</Message></Error>`))
	}))
	defer srv.Close()
	var noted atomic.Int32
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		HTTPClient:  HTTPClient(nil, DefaultTimeouts), Retryer: Retryer(),
		APIOptions: []func(*middleware.Stack) error{noteThrottles(func(context.Context) { noted.Add(1) })},
	})
	_, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Fatalf("GetObject: %v, want NoSuchKey after the retries", err)
	}
	if got := n.Load(); got != 4 {
		t.Errorf("attempts = %d, want 4", got)
	}
	if got := noted.Load(); got != 2 {
		t.Errorf("throttles noted = %d, want 2 (SlowDown, 503)", got)
	}
}
