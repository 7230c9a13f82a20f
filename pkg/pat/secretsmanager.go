package pat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// DefaultSecretTTL is how long SecretsManager keeps a token by default.
const DefaultSecretTTL = 5 * time.Minute

// GetSecretValueAPI is the part of *secretsmanager.Client SecretsManager uses.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ GetSecretValueAPI = (*secretsmanager.Client)(nil)

// SecretsManager is a Source that reads the token from an AWS Secrets
// Manager secret and caches it for TTL, so a rotated token is picked up
// within TTL, or at once after Invalidate.
//
// The secret holds the token either as plain text or as a JSON object with
// a "token" field, in SecretString or SecretBinary; surrounding white space
// is ignored. Errors name the secret id and the problem, never its value.
//
// Set the exported fields before first use; do not copy after first use.
// Concurrent callers that find no cached token share one fetch.
type SecretsManager struct {
	Client   GetSecretValueAPI
	SecretID string
	// TTL defaults to DefaultSecretTTL.
	TTL time.Duration
	// Now defaults to time.Now.
	Now func() time.Time

	mu        sync.Mutex
	token     Token
	fetchedAt time.Time
	gen       uint64 // bumped by Invalidate
	inflight  *fetch
	changedAt time.Time // CreatedDate of the secret version last read
}

// fetch is one GetSecretValue call that callers wait on.
type fetch struct {
	done chan struct{}
	tok  Token
	err  error
}

// Token returns the cached token, or fetches the secret when the cache is
// empty or older than TTL.
func (s *SecretsManager) Token(ctx context.Context) (Token, error) {
	for {
		s.mu.Lock()
		if !s.token.IsZero() && s.now().Sub(s.fetchedAt) < s.ttl() {
			t := s.token
			s.mu.Unlock()
			return t, nil
		}
		f := s.inflight
		if f == nil {
			f = &fetch{done: make(chan struct{})}
			s.inflight = f
			gen := s.gen
			s.mu.Unlock()
			f.tok, f.err = s.fetch(ctx)
			s.mu.Lock()
			if s.inflight == f {
				s.inflight = nil
			}
			if f.err == nil && s.gen == gen {
				s.token, s.fetchedAt = f.tok, s.now()
			}
			s.mu.Unlock()
			close(f.done)
			return f.tok, f.err
		}
		s.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return Token{}, fmt.Errorf("secret %q: %w", s.SecretID, ctx.Err())
		}
		// The fetch we waited on was cut short by its caller's context,
		// not ours: try again.
		if isContextErr(f.err) && ctx.Err() == nil {
			continue
		}
		return f.tok, f.err
	}
}

// ChangedAt is when the secret was last changed, as far as the last read
// tells: the creation time of the version it returned (put-secret-value
// makes a new version). Zero before the first read or if Secrets Manager
// did not say.
func (s *SecretsManager) ChangedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changedAt
}

// Invalidate drops the cached token; the next Token call reads the secret.
func (s *SecretsManager) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token, s.fetchedAt = Token{}, time.Time{}
	s.gen++
	s.inflight = nil
}

func (s *SecretsManager) fetch(ctx context.Context) (Token, error) {
	if s.Client == nil || s.SecretID == "" {
		return Token{}, errors.New("secrets manager token source: client and secret id are required")
	}
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.SecretID)})
	if err != nil {
		return Token{}, DescribeSecretError(s.SecretID, err)
	}
	if out.CreatedDate != nil {
		s.mu.Lock()
		s.changedAt = *out.CreatedDate
		s.mu.Unlock()
	}
	var raw []byte
	switch {
	case out.SecretString != nil:
		raw = []byte(*out.SecretString)
	case out.SecretBinary != nil:
		raw = out.SecretBinary
	}
	return parseSecret(s.SecretID, raw)
}

// parseSecret reads a plain or JSON secret. JSON errors are not wrapped:
// their text can quote the secret.
func parseSecret(id string, raw []byte) (Token, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return Token{}, fmt.Errorf("secret %q: %w", id, ErrEmpty)
	}
	if raw[0] == '{' {
		var v struct {
			Token *string `json:"token"`
		}
		if json.Unmarshal(raw, &v) != nil {
			return Token{}, fmt.Errorf(`secret %q: value starts with "{" but is not a JSON object with a string "token" field`, id)
		}
		if v.Token == nil {
			return Token{}, fmt.Errorf(`secret %q: JSON object has no "token" field`, id)
		}
		raw = []byte(*v.Token)
	}
	t, err := New(string(raw))
	if err != nil {
		return Token{}, fmt.Errorf("secret %q: %w", id, err)
	}
	return t, nil
}

// DescribeSecretError wraps an error of GetSecretValue for secret id with
// what it means: not found, access denied (and the permissions needed), or
// a failed call.
func DescribeSecretError(id string, err error) error {
	var notFound *types.ResourceNotFoundException
	var apiErr smithy.APIError
	switch {
	case isContextErr(err):
		return fmt.Errorf("secret %q: %w", id, err)
	case errors.As(err, &notFound):
		return fmt.Errorf("secret %q not found: %w", id, err)
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException":
		return fmt.Errorf("access denied to secret %q (needs secretsmanager:GetSecretValue, and kms:Decrypt for a customer-managed key): %w", id, err)
	default:
		return fmt.Errorf("get secret %q: %w", id, err)
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (s *SecretsManager) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultSecretTTL
}

func (s *SecretsManager) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
