package memorys3

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ForTest starts a server for the test, creates the buckets, stops the server
// when the test ends, and returns it with a client that signs with fixed
// example keys (the server checks no signature).
func ForTest(t testing.TB, buckets ...string) (*Server, *s3.Client) {
	t.Helper()
	m, err := Start()
	if err != nil {
		t.Fatalf("memorys3.Start() error = %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("memorys3: Close() = %v", err)
		}
	})
	for _, b := range buckets {
		if err := m.CreateBucket(b); err != nil {
			t.Fatalf("memorys3: CreateBucket(%q) error = %v", b, err)
		}
	}
	return m, m.Client(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""))
}
