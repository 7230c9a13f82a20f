package functions_test

// Both Lambdas with static source keys instead of a PAT: the keys and the
// account id in a Secrets Manager secret, a MinIO user whose policy reaches
// only that account's prefix; then the keys revoked.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/pipeline"
)

func TestLambdasWithStaticSourceKeys(t *testing.T) {
	ctx := context.Background()
	s := newStack(t) // its PAT functions are not used
	const keyID, secret = "optkeys777", "static-SECRET-key-for-777"
	if err := s.minio.AddUser(ctx, keyID, secret, testenv.PrefixReadPolicy(srcBucket, acct)); err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]),
		Credentials: credentials.NewStaticCredentialsProvider("customer", "customer-secret-key", "")})
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("e3sync/source-keys"),
		SecretString: aws.String(`{"access_key_id":"` + keyID + `","secret_access_key":"` + secret + `","account_id":"777"}`)})
	if err != nil {
		t.Fatal(err)
	}
	env := maps.Clone(s.env)
	delete(env, "PAT_SECRET_ARN")
	delete(env, "OPTIMIZELY_API_URL") // no Authentication API in keys mode
	env["SOURCE_KEYS_SECRET_ARN"] = aws.ToString(sec.ARN)
	fetch := testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/fetchcreds"), env)
	copier := testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/copier"), env)
	s.sentinels = append(s.sentinels, secret)

	date := time.Now().UTC().AddDate(0, 0, -1).Format(export.DateLayout)
	s.put("type=events/date="+date+"/event=purchase/part-00000.c000.snappy.parquet", 5_000, 1)
	s.put("type=events/date="+date+"/_SUCCESS", 0, 0)

	res := s.invoke(fetch, []byte(fmt.Sprintf(`{"from":%q,"to":%q,"types":["events"],"dry_run":true}`, date, date)))
	var sum pipeline.PlanSummary
	if err := json.Unmarshal(res.Payload, &sum); res.FunctionError || err != nil || sum.TasksPlanned != 1 {
		t.Fatalf("planner with static keys = %s (%v); want 1 task\n%s", res.Payload, err, fetch.Logs())
	}
	if !strings.Contains(fetch.Logs(), `"`+metrics.TokenAgeDays+`"`) {
		t.Errorf("planner: no %s (the keys' secret age) in its output\n%s", metrics.TokenAgeDays, fetch.Logs())
	}
	task := fmt.Sprintf(`{"run_id":"keys-1","type":"events","date":%q,"partition":"event=purchase","source_complete":true}`, date)
	res = s.invoke(copier, []byte(task))
	var out pipeline.Outcome
	if err := json.Unmarshal(res.Payload, &out); res.FunctionError || err != nil || out.Result.Copied != 1 || out.Completion != "completed" {
		t.Fatalf("copier with static keys = %s (%v); want 1 object copied, the date completed\n%s", res.Payload, err, copier.Logs())
	}

	// Revoked: the warm copier (keys cached) and a cold planner both fail
	// with the keys' error and count SourceKeysRejected.
	if err := s.minio.RemoveUser(ctx, keyID); err != nil {
		t.Fatal(err)
	}
	s.put("type=events/date="+date+"/event=purchase/part-00001.c000.snappy.parquet", 5_000, 2)
	res = s.invoke(copier, []byte(task))
	if !res.FunctionError || !strings.Contains(string(res.Payload), "rejected the Optimizely source access keys") {
		t.Errorf("copier with revoked keys = %s, want a function error naming the keys", res.Payload)
	}
	fetch2 := testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/fetchcreds"), env)
	res = s.invoke(fetch2, []byte(`{}`))
	if !res.FunctionError || !strings.Contains(string(res.Payload), "InvalidAccessKeyId") {
		t.Errorf("planner with revoked keys = %s, want a function error (InvalidAccessKeyId)", res.Payload)
	}
	for name, l := range map[string]*testenv.Lambda{"copier": copier, "planner": fetch2} {
		if !strings.Contains(l.Logs(), `"`+metrics.SourceKeysRejected+`":1`) {
			t.Errorf("%s: no %s metric in its output\n%s", name, metrics.SourceKeysRejected, l.Logs())
		}
		s.assertNoSecrets(name, l.Logs())
	}
	s.assertNoSecrets("planner", fetch.Logs())
}
