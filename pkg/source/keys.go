package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/pat"
	"github.com/e3sync/e3sync/pkg/redact"
)

// ExportBucket is Optimizely's export bucket, the bucket of every s3Path the
// Authentication API returns.
const ExportBucket = "optimizely-events-data"

// KeysCredentialSource is the Source of the aws.Credentials KeysProvider
// returns.
const KeysCredentialSource = "optimizely static keys"

// Keys are the static AWS access keys Optimizely issues to customers of its
// other data exports, and the Optimizely account they read. Its String,
// GoString, LogValue and MarshalJSON redact the secret key; only
// credentials() hands it to the SDK's signer.
type Keys struct {
	AccessKeyID string
	AccountID   string
	secret      string
}

// NewKeys checks and returns keys: the key id and the secret key are
// non-empty without white space, the account id is 1 to 20 digits. Errors
// name the field, never the secret key's value.
func NewKeys(accessKeyID, secretAccessKey, accountID string) (Keys, error) {
	k := Keys{
		AccessKeyID: strings.TrimSpace(accessKeyID),
		AccountID:   strings.TrimSpace(accountID),
		secret:      strings.TrimSpace(secretAccessKey),
	}
	var problems []string
	for _, f := range []struct{ name, v string }{{"access key id", k.AccessKeyID}, {"secret access key", k.secret}} {
		switch {
		case f.v == "":
			problems = append(problems, f.name+" is empty")
		case strings.ContainsAny(f.v, " \t\r\n"):
			problems = append(problems, f.name+" contains white space")
		}
	}
	if !validAccountID(k.AccountID) {
		problems = append(problems, fmt.Sprintf("account id %q is not 1 to 20 digits", k.AccountID))
	}
	if len(problems) > 0 {
		return Keys{}, errors.New(strings.Join(problems, "; "))
	}
	return k, nil
}

func validAccountID(s string) bool {
	if len(s) < 1 || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Location is the account's export prefix, as the Authentication API's
// s3Path names it: s3://optimizely-events-data/v1/account_id=<id>/.
func (k Keys) Location() optimizely.Location {
	return AccountLocation(k.AccountID)
}

// AccountLocation is the export prefix of an Optimizely account.
func AccountLocation(accountID string) optimizely.Location {
	return optimizely.Location{Bucket: ExportBucket, Prefix: "v1/account_id=" + accountID + "/"}
}

func (k Keys) credentials(expires time.Time) aws.Credentials {
	return aws.Credentials{
		AccessKeyID: k.AccessKeyID, SecretAccessKey: k.secret,
		Source: KeysCredentialSource, CanExpire: true, Expires: expires,
	}
}

func (k Keys) String() string {
	return fmt.Sprintf("Keys{AccessKeyID: %s, AccountID: %s, SecretAccessKey: %s}", k.AccessKeyID, k.AccountID, redact.Marker)
}
func (k Keys) GoString() string { return k.String() }
func (k Keys) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", k.AccessKeyID), slog.String("account_id", k.AccountID),
		slog.String("secret_access_key", redact.Marker))
}
func (k Keys) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"access_key_id": k.AccessKeyID, "account_id": k.AccountID, "secret_access_key": redact.Marker})
}

// KeysReader reads the current keys from where they are kept, uncached
// (KeysProvider caches them).
type KeysReader interface {
	ReadKeys(ctx context.Context) (Keys, error)
}

// KeysSecret reads the keys from a Secrets Manager secret holding a JSON
// object:
//
//	{"access_key_id": "AKIA…", "secret_access_key": "…", "account_id": "12345"}
//
// in SecretString or SecretBinary; other fields are ignored. Errors name the
// secret and the problem, never a value.
type KeysSecret struct {
	Client   pat.GetSecretValueAPI
	SecretID string

	mu        sync.Mutex
	changedAt time.Time // CreatedDate of the secret version last read
}

var _ KeysReader = (*KeysSecret)(nil)

// ReadKeys implements KeysReader.
func (s *KeysSecret) ReadKeys(ctx context.Context) (Keys, error) {
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.SecretID)})
	if err != nil {
		return Keys{}, pat.DescribeSecretError(s.SecretID, err)
	}
	if out.CreatedDate != nil {
		s.mu.Lock()
		s.changedAt = *out.CreatedDate
		s.mu.Unlock()
	}
	raw := out.SecretBinary
	if out.SecretString != nil {
		raw = []byte(*out.SecretString)
	}
	return parseKeysSecret(s.SecretID, raw)
}

// ChangedAt is when the keys were last put, as far as the last read tells
// (the creation time of the secret version it returned); zero before the
// first read. It feeds the rotation reminder (TokenAgeDays).
func (s *KeysSecret) ChangedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changedAt
}

// parseKeysSecret reads the secret's JSON. JSON errors are not wrapped:
// their text can quote the secret.
func parseKeysSecret(id string, raw []byte) (Keys, error) {
	var v struct {
		AccessKeyID     *string `json:"access_key_id"`
		SecretAccessKey *string `json:"secret_access_key"`
		AccountID       *string `json:"account_id"`
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &v) != nil {
		return Keys{}, fmt.Errorf(`secret %q: not a JSON object with string fields "access_key_id", "secret_access_key" and "account_id"`, id)
	}
	var missing []string
	for _, f := range []struct {
		name string
		v    *string
	}{{"access_key_id", v.AccessKeyID}, {"secret_access_key", v.SecretAccessKey}, {"account_id", v.AccountID}} {
		if f.v == nil {
			missing = append(missing, strconv.Quote(f.name))
		}
	}
	if len(missing) > 0 {
		return Keys{}, fmt.Errorf("secret %q: JSON object has no %s field", id, strings.Join(missing, ", "))
	}
	k, err := NewKeys(*v.AccessKeyID, *v.SecretAccessKey, *v.AccountID)
	if err != nil {
		return Keys{}, fmt.Errorf("secret %q: %w", id, err)
	}
	return k, nil
}

// Environment variables KeysFromEnv reads.
const (
	EnvAccessKeyID     = "OPTIMIZELY_ACCESS_KEY_ID"
	EnvSecretAccessKey = "OPTIMIZELY_SECRET_ACCESS_KEY"
	EnvAccountID       = "OPTIMIZELY_ACCOUNT_ID"
)

// KeysFromEnv reads the keys from EnvAccessKeyID, EnvSecretAccessKey and
// EnvAccountID through getenv on every call. Errors name the variables,
// never the secret key's value.
type KeysFromEnv func(string) string

// ReadKeys implements KeysReader.
func (getenv KeysFromEnv) ReadKeys(context.Context) (Keys, error) {
	k, err := NewKeys(getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey), getenv(EnvAccountID))
	if err != nil {
		return Keys{}, fmt.Errorf("environment variables %s, %s, %s: %w", EnvAccessKeyID, EnvSecretAccessKey, EnvAccountID, err)
	}
	return k, nil
}

// DefaultKeysTTL is how long KeysProvider's credentials are used before the
// keys are read again.
const DefaultKeysTTL = pat.DefaultSecretTTL

// KeysProvider is an aws.CredentialsProvider over static keys. Each Retrieve
// reads the keys from Reader and returns them as credentials that "expire"
// after TTL, so that wrapped in NewKeysCache they are read again within TTL
// of a rotation (put-secret-value; no redeploy), or at once after the
// cache's Invalidate (RejectedKeys does that when S3 refuses the keys).
//
// The account is fixed by the first successful Retrieve: a later read naming
// another account is an error (the source prefix of a running sync cannot
// change under it).
type KeysProvider struct {
	Reader KeysReader
	// TTL defaults to DefaultKeysTTL.
	TTL time.Duration
	// Secrets learns every secret key read (nil: none).
	Secrets *redact.Secrets
	// Logger receives one Info line per read after the first (default: discard).
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time

	reads   atomic.Int64
	mu      sync.Mutex
	account string
}

var _ aws.CredentialsProvider = (*KeysProvider)(nil)

// Retrieve implements aws.CredentialsProvider.
func (p *KeysProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	k, err := p.Reader.ReadKeys(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("read source access keys: %w", err)
	}
	p.Secrets.Add(k.secret)
	p.mu.Lock()
	first := p.account == ""
	if first {
		p.account = k.AccountID
	}
	account := p.account
	p.mu.Unlock()
	if k.AccountID != account {
		return aws.Credentials{}, fmt.Errorf("source access keys: account id changed from %s to %s while running: start again to sync account %s", account, k.AccountID, k.AccountID)
	}
	if n := p.reads.Add(1); n > 1 && p.Logger != nil {
		p.Logger.InfoContext(ctx, "source access keys read again", "access_key_id", k.AccessKeyID, "account_id", k.AccountID)
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = DefaultKeysTTL
	}
	return k.credentials(p.now().Add(ttl)), nil
}

// Location is the export prefix of the account of the first successful
// Retrieve, which it calls when there was none.
func (p *KeysProvider) Location(ctx context.Context) (optimizely.Location, error) {
	p.mu.Lock()
	account := p.account
	p.mu.Unlock()
	if account == "" {
		if _, err := p.Retrieve(ctx); err != nil {
			return optimizely.Location{}, err
		}
		p.mu.Lock()
		account = p.account
		p.mu.Unlock()
	}
	return AccountLocation(account), nil
}

// Refreshes counts successful reads of the keys.
func (p *KeysProvider) Refreshes() int64 { return p.reads.Load() }

func (p *KeysProvider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// NewKeysCache wraps p in the SDK's credentials cache with no expiry window:
// keys are used for exactly p's TTL, one read shared by concurrent callers.
func NewKeysCache(p *KeysProvider) *aws.CredentialsCache {
	return aws.NewCredentialsCache(p)
}
