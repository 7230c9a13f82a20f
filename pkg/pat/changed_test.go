package pat

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// ChangedAt is the CreatedDate of the secret version last read: zero before
// the first read, the new version's after a rotation is read.
func TestSecretsManagerChangedAt(t *testing.T) {
	ctx := context.Background()
	v1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v2 := v1.AddDate(0, 3, 0)
	f := &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{SecretString: aws.String(tokenText), CreatedDate: aws.Time(v1)}}
	s := &SecretsManager{Client: f, SecretID: secretID}
	if got := s.ChangedAt(); !got.IsZero() {
		t.Errorf("ChangedAt() before any read = %v, want zero", got)
	}
	if _, err := s.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.ChangedAt(); !got.Equal(v1) {
		t.Errorf("ChangedAt() = %v, want %v", got, v1)
	}
	f.mu.Lock()
	f.out = &secretsmanager.GetSecretValueOutput{SecretString: aws.String("pat-rotated-789"), CreatedDate: aws.Time(v2)}
	f.mu.Unlock()
	s.Invalidate()
	if _, err := s.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.ChangedAt(); !got.Equal(v2) {
		t.Errorf("ChangedAt() after rotation = %v, want %v", got, v2)
	}
}

// Secrets Manager (moto) reports the version's creation time with
// GetSecretValue: no DescribeSecret, so no extra permission.
func TestSecretsManagerChangedAtWithRealClient(t *testing.T) {
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
	before := time.Now().Add(-2 * time.Second) // moto keeps whole seconds
	if _, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretID), SecretString: aws.String(tokenText)}); err != nil {
		t.Fatal(err)
	}
	s := &SecretsManager{Client: client, SecretID: secretID}
	if _, err := s.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.ChangedAt(); got.Before(before) || got.After(time.Now().Add(2*time.Second)) {
		t.Errorf("ChangedAt() = %v, want the secret's creation time (after %v)", got, before)
	}
}
