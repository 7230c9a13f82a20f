package fakeauth

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/testenv"
)

func TestSTSSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int32
	}{
		{0, 900},
		{3 * time.Second, 900},
		{15 * time.Minute, 900},
		{15*time.Minute + time.Millisecond, 901},
		{time.Hour, 3600},
	}
	for _, tt := range tests {
		if got := stsSeconds(tt.d); got != tt.want {
			t.Errorf("stsSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

const (
	stsTestBucket   = "optimizely-events-data"
	stsTestPrefix   = "v1/account_id=12345/"
	stsTestExporter = "exporter"
	stsTestSecret   = "exporter-secret-key"
)

// stsTestMinIO starts MinIO with the export bucket, an exporter user that may
// read all of it, and objects under two accounts and at the bucket root.
func stsTestMinIO(t *testing.T) *testenv.MinIO {
	t.Helper()
	m := testenv.MinIOForTest(t)
	ctx := t.Context()
	if err := m.CreateBucket(ctx, stsTestBucket); err != nil {
		t.Fatal(err)
	}
	if err := m.AddUser(ctx, stsTestExporter, stsTestSecret, testenv.ReadOnlyPolicy(stsTestBucket)); err != nil {
		t.Fatal(err)
	}
	root := m.S3Client(m.RootProvider())
	for _, key := range []string{
		stsTestPrefix + "type=events/date=2026-01-01/event=NULL/part-0.snappy.parquet",
		stsTestPrefix + "type=events/date=2026-01-01/_SUCCESS",
		"v1/account_id=999/type=events/date=2026-01-01/_SUCCESS",
		"README",
	} {
		_, err := root.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(stsTestBucket), Key: aws.String(key), Body: strings.NewReader("data")})
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestMinIOSTSMint shares one MinIO server between its subtests.
func TestMinIOSTSMint(t *testing.T) {
	m := stsTestMinIO(t)
	t.Run("ScopesToPrefix", func(t *testing.T) { testMinIOSTSMintScopesToPrefix(t, m) })
	t.Run("AddsTrailingSlash", func(t *testing.T) { testMinIOSTSMintAddsTrailingSlash(t, m) })
	t.Run("WrongSecret", func(t *testing.T) { testMinIOSTSMintWrongSecret(t, m) })
}

func testMinIOSTSMintScopesToPrefix(t *testing.T, m *testenv.MinIO) {
	ctx := t.Context()
	minter := &MinIOSTS{Endpoint: m.Endpoint(), AccessKey: stsTestExporter, SecretKey: stsTestSecret}
	before := time.Now()
	creds, err := minter.Mint(ctx, stsTestBucket, stsTestPrefix, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" || creds.SessionToken == "" {
		t.Fatalf("Mint() = %+v, want all of access key, secret and session token", creds)
	}
	if min := before.Add(15 * time.Minute).Add(-time.Minute); creds.Expiration.Before(min) {
		t.Errorf("Mint(3s) expires at %v, want about 15 minutes from %v", creds.Expiration, before)
	}
	c := m.S3Client(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}, nil
	}))

	lists := []struct {
		prefix, delim string
		allowed       bool
	}{
		{stsTestPrefix, "/", true},
		{stsTestPrefix, "", true},
		{stsTestPrefix + "type=events/date=2026-01-01/", "/", true},
		{"", "", false},
		{"", "/", false},
		{"v1/", "/", false},
		{"v1/account_id=12345", "/", false}, // without the trailing slash
		{"v1/account_id=999/", "/", false},
	}
	for _, l := range lists {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(stsTestBucket), Prefix: aws.String(l.prefix), Delimiter: aws.String(l.delim)})
		switch {
		case l.allowed && err != nil:
			t.Errorf("ListObjectsV2(prefix %q, delim %q) = %v, want success", l.prefix, l.delim, err)
		case l.allowed && len(out.Contents)+len(out.CommonPrefixes) == 0:
			t.Errorf("ListObjectsV2(prefix %q, delim %q) is empty, want entries", l.prefix, l.delim)
		case !l.allowed && testenv.APICode(err) != "AccessDenied":
			t.Errorf("ListObjectsV2(prefix %q, delim %q) = %v, want AccessDenied", l.prefix, l.delim, err)
		}
	}

	gets := []struct {
		key     string
		allowed bool
	}{
		{stsTestPrefix + "type=events/date=2026-01-01/event=NULL/part-0.snappy.parquet", true},
		{stsTestPrefix + "type=events/date=2026-01-01/_SUCCESS", true},
		{"v1/account_id=999/type=events/date=2026-01-01/_SUCCESS", false},
		{"README", false},
	}
	for _, g := range gets {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(stsTestBucket), Key: aws.String(g.key)})
		if err == nil {
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(b) != "data" {
				t.Errorf("GetObject(%q) = %q, want data", g.key, b)
			}
		}
		switch {
		case g.allowed && err != nil:
			t.Errorf("GetObject(%q) = %v, want success", g.key, err)
		case !g.allowed && testenv.APICode(err) != "AccessDenied":
			t.Errorf("GetObject(%q) = %v, want AccessDenied", g.key, err)
		}
	}

	for _, key := range []string{stsTestPrefix + "new", "v1/account_id=999/new", "new"} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(stsTestBucket), Key: aws.String(key), Body: strings.NewReader("x")})
		if testenv.APICode(err) != "AccessDenied" {
			t.Errorf("PutObject(%q) = %v, want AccessDenied", key, err)
		}
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(stsTestBucket), Key: aws.String(stsTestPrefix + "type=events/date=2026-01-01/_SUCCESS")})
	if testenv.APICode(err) != "AccessDenied" {
		t.Errorf("DeleteObject = %v, want AccessDenied", err)
	}
}

// A prefix without its trailing slash must not reach accounts whose id
// starts with the same digits.
func testMinIOSTSMintAddsTrailingSlash(t *testing.T, m *testenv.MinIO) {
	ctx := t.Context()
	minter := &MinIOSTS{Endpoint: m.Endpoint(), AccessKey: stsTestExporter, SecretKey: stsTestSecret}
	creds, err := minter.Mint(ctx, stsTestBucket, "v1/account_id=1234", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := m.S3Client(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}, nil
	}))
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(stsTestBucket), Key: aws.String(stsTestPrefix + "type=events/date=2026-01-01/_SUCCESS")})
	if testenv.APICode(err) != "AccessDenied" {
		t.Errorf("GetObject(account 12345) with account 1234 credentials = %v, want AccessDenied", err)
	}
}

func testMinIOSTSMintWrongSecret(t *testing.T, m *testenv.MinIO) {
	minter := &MinIOSTS{Endpoint: m.Endpoint(), AccessKey: stsTestExporter, SecretKey: "wrong"}
	if _, err := minter.Mint(t.Context(), stsTestBucket, stsTestPrefix, time.Hour); err == nil {
		t.Error("Mint() with a wrong secret = nil error, want an error")
	}
}
