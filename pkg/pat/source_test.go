package pat

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

const (
	secretID  = "e3sync/optimizely-pat"
	tokenText = "pat-SECRET-123"
)

// fakeSecrets is a hand-written GetSecretValueAPI.
type fakeSecrets struct {
	mu      sync.Mutex
	out     *secretsmanager.GetSecretValueOutput
	err     error
	calls   atomic.Int64
	gotID   string
	release chan struct{} // when set, calls wait for it
}

func (f *fakeSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.gotID = aws.ToString(in.SecretId)
	out, err, release := f.out, f.err, f.release
	f.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, err
}

func (f *fakeSecrets) setString(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out, f.err = &secretsmanager.GetSecretValueOutput{SecretString: aws.String(s)}, nil
}

func TestSecretsManagerValues(t *testing.T) {
	str := func(s string) *secretsmanager.GetSecretValueOutput {
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(s)}
	}
	bin := func(s string) *secretsmanager.GetSecretValueOutput {
		return &secretsmanager.GetSecretValueOutput{SecretBinary: []byte(s)}
	}
	tests := []struct {
		name    string
		out     *secretsmanager.GetSecretValueOutput
		want    string // token; "" when an error is expected
		wantErr string // substring of the error
	}{
		{"plain", str(tokenText), tokenText, ""},
		{"plain with white space", str("\n " + tokenText + "\t\n"), tokenText, ""},
		{"JSON", str(`{"token":"` + tokenText + `"}`), tokenText, ""},
		{"JSON with white space", str(` { "token" : "  ` + tokenText + `\n" , "note":"rotated"} `), tokenText, ""},
		{"binary plain", bin(tokenText + "\n"), tokenText, ""},
		{"binary JSON", bin(`{"token":"` + tokenText + `"}`), tokenText, ""},
		{"JSON without token", str(`{"pat":"` + tokenText + `"}`), "", `no "token" field`},
		{"JSON with empty token", str(`{"token":"  "}`), "", "empty"},
		{"JSON with non-string token", str(`{"token":12345}`), "", "not a JSON object"},
		{"broken JSON", str(`{"token":"` + tokenText), "", "not a JSON object"},
		{"empty", str(""), "", "empty"},
		{"white space only", str(" \n\t"), "", "empty"},
		{"no value at all", &secretsmanager.GetSecretValueOutput{}, "", "empty"},
		{"inner white space", str("pat-SECRET 123"), "", "white space"},
	}
	for _, tt := range tests {
		f := &fakeSecrets{out: tt.out}
		s := &SecretsManager{Client: f, SecretID: secretID}
		got, err := s.Token(context.Background())
		if f.gotID != secretID {
			t.Errorf("%s: GetSecretValue(SecretId %q), want %q", tt.name, f.gotID, secretID)
		}
		if tt.wantErr == "" {
			if err != nil || got.Reveal() != tt.want {
				t.Errorf("%s: Token() = %q, %v, want %q, nil", tt.name, got.Reveal(), err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: Token() = %q, nil, want error containing %q", tt.name, got.Reveal(), tt.wantErr)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.wantErr) || !strings.Contains(msg, secretID) {
			t.Errorf("%s: Token() error = %q, want it to contain %q and the secret id", tt.name, msg, tt.wantErr)
		}
		if strings.Contains(msg, "SECRET") {
			t.Errorf("%s: Token() error = %q, want no secret value in it", tt.name, msg)
		}
	}
}

func TestSecretsManagerAPIErrors(t *testing.T) {
	notFound := &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform secretsmanager:GetSecretValue"}
	other := errors.New("connection reset")
	tests := []struct {
		name    string
		err     error
		wantMsg string
	}{
		{"not found", notFound, "not found"},
		{"access denied", denied, "access denied"},
		{"other", other, "get secret"},
		{"cancelled", context.Canceled, secretID},
	}
	for _, tt := range tests {
		f := &fakeSecrets{err: tt.err}
		s := &SecretsManager{Client: f, SecretID: secretID}
		_, err := s.Token(context.Background())
		if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), secretID) {
			t.Errorf("%s: Token() error = %v, want it to contain %q and %q", tt.name, err, tt.wantMsg, secretID)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: Token() error = %v, want it to wrap %v", tt.name, err, tt.err)
		}
		// A failed fetch is not cached.
		s.Token(context.Background())
		if n := f.calls.Load(); n != 2 {
			t.Errorf("%s: calls after two failing Token() = %d, want 2", tt.name, n)
		}
	}
}

func TestSecretsManagerCache(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeSecrets{}
	f.setString(tokenText)
	s := &SecretsManager{Client: f, SecretID: secretID, TTL: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()

	steps := []struct {
		name      string
		advance   time.Duration
		rotate    string // new secret value, if any
		invalid   bool   // call Invalidate first
		wantCalls int64
		want      string
	}{
		{"first call fetches", 0, "", false, 1, tokenText},
		{"within TTL: cached", 59 * time.Second, "", false, 1, tokenText},
		{"rotated within TTL: still cached", 0, "pat-new-1", false, 1, tokenText},
		{"TTL passed: fetched", time.Second, "", false, 2, "pat-new-1"},
		{"rotated, invalidated: fetched", 0, "pat-new-2", true, 3, "pat-new-2"},
		{"cached again", 30 * time.Second, "", false, 3, "pat-new-2"},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		if st.rotate != "" {
			f.setString(st.rotate)
		}
		if st.invalid {
			s.Invalidate()
		}
		got, err := s.Token(ctx)
		if err != nil || got.Reveal() != st.want || f.calls.Load() != st.wantCalls {
			t.Errorf("%s: Token() = %q, %v after %d calls, want %q, nil after %d", st.name, got.Reveal(), err, f.calls.Load(), st.want, st.wantCalls)
		}
	}
}

func TestSecretsManagerDefaultTTL(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeSecrets{}
	f.setString(tokenText)
	s := &SecretsManager{Client: f, SecretID: secretID, Now: func() time.Time { return now }}
	for _, adv := range []time.Duration{0, 4*time.Minute + 59*time.Second, time.Second} {
		now = now.Add(adv)
		s.Token(context.Background())
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("calls over 5 minutes with the default TTL = %d, want 2", n)
	}
}

func TestSecretsManagerSharesOneFetch(t *testing.T) {
	f := &fakeSecrets{release: make(chan struct{})}
	f.setString(tokenText)
	s := &SecretsManager{Client: f, SecretID: secretID}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, err := s.Token(context.Background()); err != nil || got.Reveal() != tokenText {
				t.Errorf("Token() = %q, %v, want %q, nil", got.Reveal(), err, tokenText)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(f.release)
	wg.Wait()
	if n := f.calls.Load(); n != 1 {
		t.Errorf("GetSecretValue calls = %d, want 1", n)
	}
}

func TestSecretsManagerWaiterOutlivesCancelledFetch(t *testing.T) {
	f := &fakeSecrets{release: make(chan struct{})}
	f.setString(tokenText)
	s := &SecretsManager{Client: f, SecretID: secretID}

	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error)
	go func() { _, err := s.Token(leaderCtx); leaderDone <- err }()
	for f.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	waiterDone := make(chan error)
	go func() { _, err := s.Token(context.Background()); waiterDone <- err }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Errorf("leader Token() error = %v, want context.Canceled", err)
	}
	close(f.release) // let the waiter's own fetch finish
	if err := <-waiterDone; err != nil {
		t.Errorf("waiter Token() error = %v, want nil", err)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	src := FromEnv(getenv, "OPTIMIZELY_PAT")
	tests := []struct {
		value   string
		want    string
		wantErr string
	}{
		{tokenText, tokenText, ""},
		{" " + tokenText + "\n", tokenText, ""},
		{"pat-SECRET-rotated", "pat-SECRET-rotated", ""}, // read on every call
		{"", "", "OPTIMIZELY_PAT"},
		{"pat-SECRET 123", "", "OPTIMIZELY_PAT"},
	}
	for _, tt := range tests {
		env["OPTIMIZELY_PAT"] = tt.value
		src.Invalidate()
		got, err := src.Token(context.Background())
		if tt.wantErr == "" {
			if err != nil || got.Reveal() != tt.want {
				t.Errorf("FromEnv Token() with %q = %q, %v, want %q, nil", tt.value, got.Reveal(), err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("FromEnv Token() with %q error = %v, want one naming %s without the value", tt.value, err, tt.wantErr)
		}
	}
}

func TestStatic(t *testing.T) {
	tok, _ := New(tokenText)
	if got, err := Static(tok).Token(context.Background()); err != nil || got != tok {
		t.Errorf("Static(t).Token() = %v, %v, want t, nil", got, err)
	}
	if _, err := Static(Token{}).Token(context.Background()); !errors.Is(err, ErrEmpty) {
		t.Errorf("Static(Token{}).Token() error = %v, want ErrEmpty", err)
	}
}
