package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/madmin-go/v3"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// Region is the region every client of the test servers uses.
const Region = "us-east-1"

// MinIO is a running MinIO server on 127.0.0.1, with its data in a temporary
// directory that Stop removes.
type MinIO struct {
	daemon
	host     string // 127.0.0.1:port
	user     string
	password string
	region   string // the site region; Region when not set (SiteRegion)
}

// MinIOBinary returns the MinIO server binary to run: $E3SYNC_MINIO, else
// $E3SYNC_CACHE/bin/minio (default $HOME/.cache/e3sync/bin/minio), else minio
// on PATH. The error wraps ErrNotInstalled when there is none.
func MinIOBinary() (string, error) {
	var cached string
	if d := cacheDir(); d != "" {
		cached = filepath.Join(d, "bin", "minio")
	}
	return lookBinary("minio", os.Getenv("E3SYNC_MINIO"), cached)
}

// MinIOForTest starts a MinIO server for t and stops it when t ends, after
// logging the tail of the server's output if t failed. Without a MinIO binary
// the test is skipped, or fails when CI=true.
func MinIOForTest(t testing.TB, opts ...MinIOOption) *MinIO {
	t.Helper()
	return serverForTest(t, "minio", 30*time.Second, func(ctx context.Context) (*MinIO, error) { return StartMinIO(ctx, opts...) })
}

// MinIOOption changes how StartMinIO starts the server.
type MinIOOption func(*minioSettings)

type minioSettings struct {
	region string // MINIO_SITE_REGION; "" leaves it unset
}

// SiteRegion starts the server as a site in region: it then refuses requests
// signed for any other region (AuthorizationHeaderMalformed), as S3 does for
// a bucket in another region than the client's. Without it the server
// accepts every region.
func SiteRegion(region string) MinIOOption {
	return func(s *minioSettings) { s.region = region }
}

// StartMinIO starts a MinIO server with random root credentials on free
// loopback ports and waits until it is live. ctx bounds the start only; the
// server runs until Stop.
func StartMinIO(ctx context.Context, opts ...MinIOOption) (*MinIO, error) {
	bin, err := MinIOBinary()
	if err != nil {
		return nil, err
	}
	var set minioSettings
	for _, o := range opts {
		o(&set)
	}
	return startRetrying(ctx, func(ctx context.Context) (*MinIO, error) { return startMinIO(ctx, bin, set) })
}

func startMinIO(ctx context.Context, bin string, set minioSettings) (*MinIO, error) {
	dir, err := os.MkdirTemp("", "e3sync-minio-")
	if err != nil {
		return nil, fmt.Errorf("start minio: %w", err)
	}
	apiPort, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	consolePort, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m := &MinIO{
		daemon:   daemon{dir: dir},
		host:     "127.0.0.1:" + strconv.Itoa(apiPort),
		user:     "root" + randomHex(8),
		password: randomHex(20),
		region:   Region,
	}
	if set.region != "" {
		m.region = set.region
	}
	m.endpoint = "http://" + m.host
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start minio: %w", err)
	}
	args := []string{
		"server", dataDir,
		"--address", m.host,
		"--console-address", "127.0.0.1:" + strconv.Itoa(consolePort),
		"--quiet",
	}
	env := []string{
		"MINIO_ROOT_USER=" + m.user,
		"MINIO_ROOT_PASSWORD=" + m.password,
		"MINIO_UPDATE=off",
		"MINIO_BROWSER=off",
	}
	if set.region != "" {
		env = append(env, "MINIO_SITE_REGION="+set.region)
	}
	// MINIO_* settings from the caller's environment would change the server
	// under test; leave them out.
	err = m.run(ctx, "minio", bin, args, env, []string{"MINIO_"}, "minio.log", "/minio/health/live", 20*time.Second,
		func(r *http.Response) bool { return r.StatusCode == http.StatusOK })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Endpoint is the server's S3 (and STS) endpoint, http://127.0.0.1:port.
func (m *MinIO) Endpoint() string { return m.endpoint }

// Root returns the root user's credentials.
func (m *MinIO) Root() aws.Credentials {
	return aws.Credentials{AccessKeyID: m.user, SecretAccessKey: m.password, Source: "testenv MinIO root"}
}

// RootProvider returns the root user's credentials as a provider.
func (m *MinIO) RootProvider() aws.CredentialsProvider { return StaticCredentials(m.Root()) }

// Region is the server's region: Region unless started with SiteRegion.
func (m *MinIO) Region() string { return m.region }

// S3Client returns an S3 client for this server using creds: the server's
// region, path-style addressing, nothing read from the environment or
// ~/.aws.
func (m *MinIO) S3Client(creds aws.CredentialsProvider) *s3.Client {
	c := NewS3Client(m.endpoint, creds)
	if m.region == Region {
		return c
	}
	return s3.New(c.Options(), func(o *s3.Options) { o.Region = m.region })
}

// NewS3Client returns an S3 client for the S3 endpoint (for example an expiry
// proxy in front of MinIO) using creds: region us-east-1, path-style
// addressing, nothing read from the environment or ~/.aws.
func NewS3Client(endpoint string, creds aws.CredentialsProvider) *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  creds,
	})
}

// StaticCredentials returns a provider that always returns c.
func StaticCredentials(c aws.Credentials) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
}

// CreateBucket creates bucket name as the root user.
func (m *MinIO) CreateBucket(ctx context.Context, name string) error {
	_, err := m.S3Client(m.RootProvider()).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", name, err)
	}
	return nil
}

// AddUser creates a user with the given keys, a canned policy named after the
// user holding policyJSON, and attaches that policy to the user.
func (m *MinIO) AddUser(ctx context.Context, accessKey, secretKey, policyJSON string) error {
	adm, err := m.admin()
	if err != nil {
		return err
	}
	if err := adm.AddUser(ctx, accessKey, secretKey); err != nil {
		return fmt.Errorf("add user %q: %w", accessKey, err)
	}
	if err := adm.AddCannedPolicy(ctx, accessKey, []byte(policyJSON)); err != nil {
		return fmt.Errorf("add policy for user %q: %w", accessKey, err)
	}
	if _, err := adm.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{accessKey}, User: accessKey}); err != nil {
		return fmt.Errorf("attach policy to user %q: %w", accessKey, err)
	}
	return nil
}

// Admin returns a madmin client for this server, as the root user.
func (m *MinIO) admin() (*madmin.AdminClient, error) {
	u, err := url.Parse(m.endpoint)
	if err != nil {
		return nil, err
	}
	adm, err := madmin.NewWithOptions(u.Host, &madmin.Options{
		Creds:  miniocreds.NewStaticV4(m.user, m.password, ""),
		Secure: false,
	})
	if err != nil {
		return nil, fmt.Errorf("minio admin client: %w", err)
	}
	return adm, nil
}

// ReadOnlyPolicy returns an IAM policy that may list bucket and get its
// objects: the exporter user's policy (STS sessions narrow it further).
func ReadOnlyPolicy(bucket string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::%[1]s"]},`+
		`{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%[1]s/*"]}]}`, bucket)
}

// ReadWritePolicy returns an IAM policy that may list, read, write and delete
// in bucket, including multipart uploads: the customer user's policy.
func ReadWritePolicy(bucket string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation","s3:ListBucketMultipartUploads"],"Resource":["arn:aws:s3:::%[1]s"]},`+
		`{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],"Resource":["arn:aws:s3:::%[1]s/*"]}]}`, bucket)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.Join(errors.New("testenv: random"), err))
	}
	return hex.EncodeToString(b)
}

// RemoveUser deletes the user with accessKey (its keys stop working at once).
func (m *MinIO) RemoveUser(ctx context.Context, accessKey string) error {
	adm, err := m.admin()
	if err != nil {
		return err
	}
	if err := adm.RemoveUser(ctx, accessKey); err != nil {
		return fmt.Errorf("remove user %q: %w", accessKey, err)
	}
	return nil
}

// PrefixReadPolicy returns an IAM policy that may list bucket under prefix
// and read the objects there, and nothing else: the static keys Optimizely
// issues for one account's export prefix.
func PrefixReadPolicy(bucket, prefix string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s"],"Condition":{"StringLike":{"s3:prefix":["%[2]s*"]}}},`+
		`{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%[1]s/%[2]s*"]}]}`, bucket, prefix)
}
