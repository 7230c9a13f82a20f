package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if p <= 0 || p > 65535 {
		t.Errorf("FreePort() = %d, want a TCP port", p)
	}
}

func TestAccessKeyID(t *testing.T) {
	tests := []struct {
		name, auth, query, want string
	}{
		{"header", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc", "", "AKIDEXAMPLE"},
		{"header without spaces", "AWS4-HMAC-SHA256 Credential=K1/20260101/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=abc", "", "K1"},
		{"presigned", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=PRESIGNED%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abc", "PRESIGNED"},
		{"anonymous", "", "list-type=2", ""},
		{"other scheme", "Bearer token", "", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/bucket/key?"+tt.query, nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		if got := AccessKeyID(r); got != tt.want {
			t.Errorf("%s: AccessKeyID() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMinIOUsers(t *testing.T) {
	m := MinIOForTest(t)
	ctx := t.Context()
	for _, b := range []string{"source", "dest"} {
		if err := m.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddUser(ctx, "exporter", "exporter-secret", ReadOnlyPolicy("source")); err != nil {
		t.Fatal(err)
	}
	if err := m.AddUser(ctx, "customer", "customer-secret", ReadWritePolicy("dest")); err != nil {
		t.Fatal(err)
	}
	root := m.S3Client(m.RootProvider())
	if _, err := root.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("source"), Key: aws.String("a/b.txt"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	exporter := m.S3Client(StaticCredentials(aws.Credentials{AccessKeyID: "exporter", SecretAccessKey: "exporter-secret"}))
	customer := m.S3Client(StaticCredentials(aws.Credentials{AccessKeyID: "customer", SecretAccessKey: "customer-secret"}))

	if _, err := exporter.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("source"), Key: aws.String("a/b.txt")}); err != nil {
		t.Errorf("exporter GetObject(source) = %v, want success", err)
	}
	_, err := exporter.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("source"), Key: aws.String("x"), Body: strings.NewReader("x")})
	if APICode(err) != "AccessDenied" {
		t.Errorf("exporter PutObject(source) = %v, want AccessDenied", err)
	}
	if _, err := customer.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dest"), Key: aws.String("x"), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("customer PutObject(dest) = %v, want success", err)
	}
	_, err = customer.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("source"), Key: aws.String("a/b.txt")})
	if APICode(err) != "AccessDenied" {
		t.Errorf("customer GetObject(source) = %v, want AccessDenied", err)
	}
}

func TestExpiryProxyMinIO(t *testing.T) {
	m := MinIOForTest(t)
	ctx := t.Context()
	if err := m.CreateBucket(ctx, "bucket"); err != nil {
		t.Fatal(err)
	}
	root := m.Root()
	expired := aws.Credentials{AccessKeyID: "expiredkey", SecretAccessKey: "whatever"}
	proxy, err := NewExpiryProxy(m.Endpoint(), func(akid string) (time.Time, bool) {
		switch akid {
		case root.AccessKeyID:
			return time.Now().Add(time.Hour), true
		case expired.AccessKeyID:
			return time.Now().Add(-time.Second), true
		}
		return time.Time{}, false
	})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	// Signed for the proxy's host: verifies at MinIO only if MinIO sees that host.
	c := NewS3Client(proxy.URL, StaticCredentials(root))
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16) // 20 MiB
	key := "type=events/date=2026-01-01/event=a b%3A;(x)/part-0.parquet"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), Body: bytes.NewReader(big)}); err != nil {
		t.Fatalf("PutObject through proxy: %v", err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject through proxy: %v", err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || sha256.Sum256(got) != sha256.Sum256(big) {
		t.Fatalf("GetObject through proxy: %d bytes, err %v; want the %d bytes put", len(got), err, len(big))
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bucket"), Prefix: aws.String("type=events/"), Delimiter: aws.String("/")})
	if err != nil || len(list.CommonPrefixes) != 1 {
		t.Fatalf("ListObjectsV2 through proxy = %v, %v; want one common prefix", list, err)
	}

	// Presigned URL, signed for the proxy.
	ps, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(ps.URL)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n != int64(len(big)) {
		t.Errorf("presigned GET through proxy = %d, %d bytes; want 200, %d bytes", resp.StatusCode, n, len(big))
	}

	// Expired credentials never reach MinIO.
	e := NewS3Client(proxy.URL, StaticCredentials(expired))
	_, err = e.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
	if APICode(err) != "ExpiredToken" {
		t.Errorf("GetObject with expired credentials = %v, want ExpiredToken", err)
	}
	_, err = e.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bucket")})
	if APICode(err) != "ExpiredToken" {
		t.Errorf("ListObjectsV2 with expired credentials = %v, want ExpiredToken", err)
	}
	_, err = e.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("HeadObject with expired credentials = %v, want status 400", err)
	}
}

// TestExpiryProxyStreams checks that neither request nor response bodies are
// buffered: each side waits for the other to see the first half before
// sending the second, which deadlocks (and times out) if the proxy buffers.
func TestExpiryProxyStreams(t *testing.T) {
	gotFirstReq := make(chan struct{})
	gotFirstResp := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "first" {
			t.Errorf("upstream read %q, %v; want first", buf, err)
			return
		}
		close(gotFirstReq)
		rest, _ := io.ReadAll(r.Body)
		if string(rest) != "second" {
			t.Errorf("upstream read rest %q, want second", rest)
		}
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("first"))
		w.(http.Flusher).Flush()
		select {
		case <-gotFirstResp:
		case <-time.After(10 * time.Second):
			t.Error("response body was not streamed")
			return
		}
		w.Write([]byte("second"))
	}))
	defer upstream.Close()
	proxy, err := NewExpiryProxy(upstream.URL, func(string) (time.Time, bool) { return time.Time{}, false })
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("first"))
		select {
		case <-gotFirstReq:
			pw.Write([]byte("second"))
			pw.Close()
		case <-time.After(10 * time.Second):
			pw.CloseWithError(errors.New("request body was not streamed"))
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, proxy.URL+"/b/k", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("client read %q, %v; want first", buf, err)
	}
	close(gotFirstResp)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" {
		t.Errorf("client read rest %q, want second", rest)
	}
}

func TestMoto(t *testing.T) {
	m := MotoForTest(t)
	resp, err := http.Get(m.Endpoint() + "/moto-api/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Errorf("GET /moto-api/ = %d, want a working server", resp.StatusCode)
	}
}
