package fakeauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// minSTSDuration is the shortest lifetime MinIO's (and AWS's) AssumeRole grants.
const minSTSDuration = 15 * time.Minute

// MinIOSTS mints credentials with STS AssumeRole on a MinIO server, narrowed
// by a session policy to what Optimizely's export credentials allow: list the
// bucket only under the prefix, get objects only under the prefix, nothing
// else. The effective permissions are the intersection with the user's own
// policy, so the user needs at least read access to the bucket.
type MinIOSTS struct {
	Endpoint   string       // MinIO endpoint, e.g. http://127.0.0.1:9000
	AccessKey  string       // the exporter user
	SecretKey  string       // the exporter user's secret
	HTTPClient *http.Client // optional; nil means a default client
}

// Mint implements Minter. The lifetime is d rounded up to whole seconds and
// at least 15 minutes (STS's minimum). A prefix that does not end in "/" gets
// one, so account 123 never reaches account 1234.
func (m *MinIOSTS) Mint(ctx context.Context, bucket, prefix string, d time.Duration) (Credentials, error) {
	if bucket == "" {
		return Credentials{}, errors.New("mint: empty bucket")
	}
	policy, err := sessionPolicy(bucket, prefix)
	if err != nil {
		return Credentials{}, err
	}
	opts := sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.Endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey, Source: "fakeauth.MinIOSTS"}, nil
		}),
	}
	if m.HTTPClient != nil {
		opts.HTTPClient = m.HTTPClient
	}
	out, err := sts.New(opts).AssumeRole(ctx, &sts.AssumeRoleInput{
		// MinIO ignores the role for AssumeRole by a regular user; the SDK requires one.
		RoleArn:         aws.String("arn:aws:iam::000000000000:role/optimizely-export"),
		RoleSessionName: aws.String("e3sync-emulator"),
		DurationSeconds: aws.Int32(stsSeconds(d)),
		Policy:          aws.String(policy),
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("mint: %w", err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil {
		return Credentials{}, errors.New("mint: AssumeRole returned no credentials")
	}
	creds := Credentials{
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: *c.SecretAccessKey,
		SessionToken:    aws.ToString(c.SessionToken),
	}
	if c.Expiration != nil {
		creds.Expiration = *c.Expiration
	}
	return creds, nil
}

// stsSeconds is d in whole seconds, rounded up, at least 15 minutes.
func stsSeconds(d time.Duration) int32 {
	d = max(d, minSTSDuration)
	return int32((d + time.Second - 1) / time.Second)
}

// sessionPolicy returns the session policy for read-only access under prefix
// in bucket (all of the bucket when prefix is "").
func sessionPolicy(bucket, prefix string) (string, error) {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	type statement struct {
		Effect    string
		Action    []string
		Resource  []string
		Condition map[string]map[string][]string `json:",omitempty"`
	}
	doc := struct {
		Version   string
		Statement []statement
	}{
		Version: "2012-10-17",
		Statement: []statement{
			{
				Effect:    "Allow",
				Action:    []string{"s3:ListBucket"},
				Resource:  []string{"arn:aws:s3:::" + bucket},
				Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": {prefix + "*"}}},
			},
			{
				Effect:   "Allow",
				Action:   []string{"s3:GetObject"},
				Resource: []string{"arn:aws:s3:::" + bucket + "/" + prefix + "*"},
			},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("session policy: %w", err)
	}
	return string(b), nil
}
