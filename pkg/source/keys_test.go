package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/e3sync/e3sync/pkg/redact"
)

const (
	keyID     = "AKIAEXAMPLE1"
	secretKey = "SECRET-key-abc/123+xyz"
	account   = "12345"
	secretID  = "e3sync/source-keys"
)

func keysJSON(id, secret, account string) string {
	b, _ := json.Marshal(map[string]string{"access_key_id": id, "secret_access_key": secret, "account_id": account})
	return string(b)
}

// fakeSecrets is a hand-written GetSecretValueAPI holding one value.
type fakeSecrets struct {
	mu      sync.Mutex
	value   string
	created time.Time
	err     error
	calls   atomic.Int64
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}
	if !f.created.IsZero() {
		out.CreatedDate = aws.Time(f.created)
	}
	return out, nil
}

func (f *fakeSecrets) set(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value = v
}

func TestKeysSecretValues(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr string // "" for valid keys
	}{
		{"valid", keysJSON(keyID, secretKey, account), ""},
		{"white space around values", keysJSON(" "+keyID+"\n", "\t"+secretKey, " "+account+" "), ""},
		{"extra fields ignored", `{"access_key_id":"` + keyID + `","secret_access_key":"` + secretKey + `","account_id":"` + account + `","note":"rotated"}`, ""},
		{"plain text", secretKey, "not a JSON object"},
		{"broken JSON", `{"access_key_id":"` + keyID + `","secret_access_key":"` + secretKey, "not a JSON object"},
		{"number account id", `{"access_key_id":"` + keyID + `","secret_access_key":"` + secretKey + `","account_id":12345}`, "not a JSON object"},
		{"no account id", `{"access_key_id":"` + keyID + `","secret_access_key":"` + secretKey + `"}`, `no "account_id" field`},
		{"no keys", `{"account_id":"1"}`, `no "access_key_id", "secret_access_key" field`},
		{"empty secret key", keysJSON(keyID, " ", account), "secret access key is empty"},
		{"secret key with space", keysJSON(keyID, "SECRET key", account), "secret access key contains white space"},
		{"account id not digits", keysJSON(keyID, secretKey, "acme"), `account id "acme" is not 1 to 20 digits`},
		{"account id path", keysJSON(keyID, secretKey, "1/../2"), "is not 1 to 20 digits"},
		{"empty", "", "not a JSON object"},
	}
	for _, tt := range tests {
		s := &KeysSecret{Client: &fakeSecrets{value: tt.value}, SecretID: secretID}
		k, err := s.ReadKeys(context.Background())
		if tt.wantErr == "" {
			if err != nil || k.AccessKeyID != keyID || k.secret != secretKey || k.AccountID != account {
				t.Errorf("%s: ReadKeys() = %v (secret ok: %v), %v; want %s, the secret, %s", tt.name, k, k.secret == secretKey, err, keyID, account)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), secretID) {
			t.Errorf("%s: ReadKeys() error = %v, want one naming the secret and %q", tt.name, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: ReadKeys() error = %q quotes the secret key", tt.name, err)
		}
	}
}

// ChangedAt is the creation time of the version last read (the rotation
// reminder's age), zero before the first read.
func TestKeysSecretChangedAt(t *testing.T) {
	v1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := &fakeSecrets{value: keysJSON(keyID, secretKey, account), created: v1}
	s := &KeysSecret{Client: f, SecretID: secretID}
	if got := s.ChangedAt(); !got.IsZero() {
		t.Errorf("ChangedAt() before any read = %v, want zero", got)
	}
	if _, err := s.ReadKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.ChangedAt(); !got.Equal(v1) {
		t.Errorf("ChangedAt() = %v, want %v", got, v1)
	}
}

func TestKeysSecretAPIErrors(t *testing.T) {
	notFound := &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	s := &KeysSecret{Client: &fakeSecrets{err: notFound}, SecretID: secretID}
	_, err := s.ReadKeys(context.Background())
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), `secret "`+secretID+`" not found`) {
		t.Errorf("ReadKeys() of a missing secret = %v, want ResourceNotFoundException naming the secret", err)
	}
}

func TestKeysNeverPrint(t *testing.T) {
	k, err := NewKeys(keyID, secretKey, account)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "keys", k)
	js, _ := json.Marshal(struct{ K Keys }{k})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", k), "%+v": fmt.Sprintf("%+v", struct{ K Keys }{k}), "%#v": fmt.Sprintf("%#v", k),
		"%s": fmt.Sprintf("%s", k), "json": string(js), "slog": logs.String(),
	} {
		if strings.Contains(out, secretKey) || !strings.Contains(out, redact.Marker) || !strings.Contains(out, keyID) {
			t.Errorf("%s of Keys = %q, want the key id and account, the secret key redacted", name, out)
		}
	}
}

func TestKeysFromEnv(t *testing.T) {
	env := map[string]string{EnvAccessKeyID: keyID, EnvSecretAccessKey: secretKey, EnvAccountID: account}
	getenv := KeysFromEnv(func(k string) string { return env[k] })
	if k, err := getenv.ReadKeys(context.Background()); err != nil || k.AccessKeyID != keyID || k.AccountID != account || k.secret != secretKey {
		t.Errorf("ReadKeys() = %v, %v; want the keys from the environment", k, err)
	}
	env[EnvSecretAccessKey] = ""
	env[EnvAccountID] = "x1"
	_, err := getenv.ReadKeys(context.Background())
	if err == nil || !strings.Contains(err.Error(), EnvSecretAccessKey) || !strings.Contains(err.Error(), "secret access key is empty") ||
		!strings.Contains(err.Error(), "account id") {
		t.Errorf("ReadKeys() with no secret key and a bad account = %v, want both problems, naming the variables", err)
	}
}

func TestAccountLocation(t *testing.T) {
	k, _ := NewKeys(keyID, secretKey, "98765")
	if got, want := k.Location().String(), "s3://optimizely-events-data/v1/account_id=98765/"; got != want {
		t.Errorf("Location() = %s, want %s (the s3Path the Authentication API names)", got, want)
	}
	if got := k.Location().AccountID(); got != "98765" {
		t.Errorf("Location().AccountID() = %q, want 98765", got)
	}
}

// The cache uses the keys until TTL after they were read (the SDK's
// credentials cache, on the real clock), reads them again after it (a
// rotation is picked up within minutes), shares one read between concurrent
// callers, and reads at once after Invalidate. A read naming another
// account is an error: the prefix of a running source is fixed.
func TestKeysProviderCache(t *testing.T) {
	const ttl = time.Hour
	var shift atomic.Int64 // the provider's clock runs shift behind the real one
	clock := func() time.Time { return time.Now().Add(-time.Duration(shift.Load())) }
	f := &fakeSecrets{value: keysJSON(keyID, secretKey, account)}
	secrets := redact.New()
	p := &KeysProvider{Reader: &KeysSecret{Client: f, SecretID: secretID}, TTL: ttl, Secrets: secrets, Now: clock}
	cache := NewKeysCache(p)
	ctx := context.Background()
	get := func() (aws.Credentials, error) { return cache.Retrieve(ctx) }

	before := time.Now()
	c, err := get()
	if err != nil || c.AccessKeyID != keyID || c.SecretAccessKey != secretKey || f.calls.Load() != 1 {
		t.Fatalf("first Retrieve = %s, %v after %d reads; want the keys after 1", c.AccessKeyID, err, f.calls.Load())
	}
	if !c.CanExpire || c.Expires.Before(before.Add(ttl)) || c.Expires.After(time.Now().Add(ttl)) {
		t.Errorf("credentials expire at %v, want TTL (%v) after the read at %v", c.Expires, ttl, before)
	}
	if secrets.String("x "+secretKey) != "x "+redact.Marker {
		t.Errorf("the secret key was not learned by the redaction set")
	}
	// Concurrent callers within the TTL, after a rotation: no read.
	f.set(keysJSON("AKIAROTATED2", "rotated-secret", account))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { get() })
	}
	wg.Wait()
	if c, _ := get(); c.AccessKeyID != keyID || f.calls.Load() != 1 {
		t.Errorf("Retrieve within the TTL after a rotation = %s after %d reads, want the cached %s after 1", c.AccessKeyID, f.calls.Load(), keyID)
	}
	// Keys read "TTL ago" have expired: the next call reads the rotated ones.
	shift.Store(int64(ttl + time.Second))
	cache.Invalidate()
	get() // read with the clock behind: these expire at once
	shift.Store(0)
	if c, _ := get(); c.AccessKeyID != "AKIAROTATED2" || f.calls.Load() != 3 {
		t.Errorf("Retrieve after the TTL = %s after %d reads, want the rotated key after 3", c.AccessKeyID, f.calls.Load())
	}
	if c, _ := get(); c.AccessKeyID != "AKIAROTATED2" || f.calls.Load() != 3 || p.Refreshes() != 3 {
		t.Errorf("Retrieve within the new TTL = %s after %d reads (%d refreshes), want the cached key after 3", c.AccessKeyID, f.calls.Load(), p.Refreshes())
	}
	f.set(keysJSON(keyID, secretKey, "999"))
	cache.Invalidate()
	if _, err := get(); err == nil || !strings.Contains(err.Error(), "account id changed from 12345 to 999") {
		t.Errorf("Retrieve after the account changed = %v, want an error naming both accounts", err)
	}
	if loc, err := p.Location(ctx); err != nil || loc.Prefix != "v1/account_id=12345/" {
		t.Errorf("Location() = %v, %v; want the first account's prefix", loc, err)
	}
}

func TestOpenNeedsExactlyOneMode(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, Config{}); !errors.Is(err, ErrNoMode) {
		t.Errorf("Open(no mode) = %v, want ErrNoMode", err)
	}
	c, _ := FromSecretsManager(&fakeSecrets{}, "pat-arn", "keys-arn", 0)
	if _, err := Open(ctx, c); !errors.Is(err, ErrTwoModes) {
		t.Errorf("Open(both modes) = %v, want ErrTwoModes", err)
	}
	c, secret := FromSecretsManager(&fakeSecrets{}, "", "keys-arn", time.Minute)
	if c.Tokens != nil || c.Keys == nil || c.KeysTTL != time.Minute || secret != any(c.Keys) {
		t.Errorf("FromSecretsManager(keys only) = %+v, %v; want keys mode, its secret tracked", c, secret)
	}
	c, secret = FromSecretsManager(&fakeSecrets{}, "pat-arn", "", time.Minute)
	if c.Tokens == nil || c.Keys != nil || secret == nil || secret != any(c.Tokens) {
		t.Errorf("FromSecretsManager(PAT only) = %+v, %v; want PAT mode, its secret tracked", c, secret)
	}
}
