package clients

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
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

// TestEngineBacksOffOnSlowDown copies through a real S3 client and server
// (MinIO behind the fault proxy: 20 ms per request, every 10th PutObject
// answered 503 SlowDown): every object is copied, and the engine lowers
// its objects in flight after an interval with SlowDown answers.
func TestEngineBacksOffOnSlowDown(t *testing.T) {
	ctx := context.Background()
	m := testenv.MinIOForTest(t)
	if err := m.CreateBucket(ctx, "mirror"); err != nil {
		t.Fatal(err)
	}
	proxy, err := testenv.NewFaultProxy(m.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.SetRules(
		testenv.FaultRule{Op: testenv.OpPutObject, Kind: testenv.FaultSlowDown, Every: 10},
		testenv.FaultRule{Kind: testenv.FaultLatency, Latency: 20 * time.Millisecond},
	)
	root := t.TempDir()
	const n = 300
	for i := range n {
		p := filepath.Join(root, "type=events", "date=2024-01-01", "event=x", fmt.Sprintf("part-%05d.parquet", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: m.RootProvider(), BaseEndpoint: aws.String(proxy.URL)}
	dst := NewDestinationS3(cfg, store.Target{Bucket: "mirror"}, true, store.S3Options{})
	var trace syncBuffer
	log := slog.New(slog.NewJSONHandler(&trace, &slog.HandlerOptions{Level: slog.LevelDebug}))
	res, err := transfer.New(src, dst, transfer.Options{Logger: log}).Copy(ctx, export.Task{Type: "events", Date: "2024-01-01", Partition: "event=x"})
	if err != nil || res.Copied != n || res.Failed != 0 {
		t.Fatalf("Copy = %+v, %v; want %d copied, none failed", res, err, n)
	}
	if got := proxy.Injected()[testenv.FaultSlowDown]; got == 0 {
		t.Fatal("no SlowDown injected")
	}
	prev, backedOff := 32, false // the engine starts at 32 in flight
	for _, line := range strings.Split(trace.String(), "\n") {
		var r struct {
			Msg       string `json:"msg"`
			Limit     int    `json:"limit"`
			Throttled int    `json:"throttled"`
		}
		if json.Unmarshal([]byte(line), &r) != nil || r.Msg != "objects in flight" {
			continue
		}
		if r.Throttled > 0 && r.Limit < prev {
			backedOff = true
		}
		prev = r.Limit
	}
	if !backedOff {
		t.Errorf("no interval with SlowDown lowered the limit; trace:\n%s", trace.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
