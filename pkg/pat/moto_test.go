package pat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// startMoto runs moto_server on a free loopback port for the test, or skips
// the test when moto_server is not installed.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSecretsManagerWithRealClient drives the source with the real SDK
// client against moto_server: the interface, rotation, and error mapping.
func TestSecretsManagerWithRealClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server")
	}
	endpoint := startMoto(t)
	client := secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, nil
		}),
	})
	ctx := context.Background()
	if _, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(secretID), SecretString: aws.String(`{"token":"` + tokenText + `"}`),
	}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}

	s := &SecretsManager{Client: client, SecretID: secretID}
	if got, err := s.Token(ctx); err != nil || got.Reveal() != tokenText {
		t.Fatalf("Token() = %q, %v, want %q, nil", got.Reveal(), err, tokenText)
	}
	if _, err := client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(secretID), SecretString: aws.String("pat-rotated-789"),
	}); err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
	if got, _ := s.Token(ctx); got.Reveal() != tokenText {
		t.Errorf("Token() within TTL after rotation = %q, want the cached %q", got.Reveal(), tokenText)
	}
	s.Invalidate()
	if got, err := s.Token(ctx); err != nil || got.Reveal() != "pat-rotated-789" {
		t.Errorf("Token() after Invalidate = %q, %v, want the rotated token", got.Reveal(), err)
	}

	missing := &SecretsManager{Client: client, SecretID: "e3sync/no-such-secret"}
	_, err := missing.Token(ctx)
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), `"e3sync/no-such-secret" not found`) {
		t.Errorf("Token() for a missing secret error = %v, want ResourceNotFoundException naming the secret", err)
	}
}
