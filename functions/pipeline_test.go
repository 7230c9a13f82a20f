// Package functions_test runs both Lambdas as real bootstrap processes under
// a Lambda Runtime API server: fetchcreds plans into SQS (moto), copier
// copies from Optimizely's bucket (MinIO, STS credentials scoped to the
// account prefix, from a fake Authentication API) into the customer's bucket
// (MinIO, another user). Secrets Manager (moto) holds the PAT.
package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/e3sync/e3sync/internal/fakeauth"
	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/internal/gluetables"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/pipeline"
	"github.com/e3sync/e3sync/pkg/store"
)

const (
	srcBucket = testworld.SourceBucket
	acct      = "v1/account_id=777/"
	dstBucket = testworld.DestBucket
	dstPrefix = "e3/"
	pat       = "pat-LAMBDA-secret-token-42"
)

type stack struct {
	t         *testing.T
	root      *s3.Client
	queue     *sqs.Client
	queueURL  string
	fetch     *testenv.Lambda
	copier    *testenv.Lambda
	sentinels []string          // values that must never appear in logs or messages
	env       map[string]string // the functions' environment
	api       *fakeauth.API
	minted    *fakeauth.RecordingMinter // every credential handed out: never to appear either
	glue      *glue.Client              // moto's, holding the stack's tables
	minio     *testenv.MinIO
}

const glueDatabase = "optimizely_export"

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	w := testworld.New(t, testworld.Options{Token: pat, AccountPrefix: acct})
	m := w.MinIO
	moto := testenv.MotoForTest(t)

	motoCreds := credentials.NewStaticCredentialsProvider("customer", "customer-secret-key", "")
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", Credentials: motoCreds, BaseEndpoint: aws.String(moto.Endpoint())})
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("e3sync/pat"), SecretString: aws.String(`{"token":"` + pat + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.New(sqs.Options{Region: "us-east-1", Credentials: motoCreds, BaseEndpoint: aws.String(moto.Endpoint())})
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("e3sync-tasks")})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"AWS_ACCESS_KEY_ID":                testworld.CustomerKey,
		"AWS_SECRET_ACCESS_KEY":            testworld.CustomerSecret,
		"AWS_ENDPOINT_URL_S3":              m.Endpoint(),
		"AWS_ENDPOINT_URL_SQS":             moto.Endpoint(),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.Endpoint(),
		"AWS_ENDPOINT_URL_EVENTBRIDGE":     moto.Endpoint(),
		"AWS_LAMBDA_LOG_FORMAT":            "JSON",
		"PAT_SECRET_ARN":                   aws.ToString(sec.ARN),
		"DEST_BUCKET":                      dstBucket,
		"DEST_PREFIX":                      dstPrefix,
		"TASK_QUEUE_URL":                   aws.ToString(qo.QueueUrl),
		"OPTIMIZELY_API_URL":               w.APIURL,
		"SOURCE_S3_ENDPOINT":               m.Endpoint(),
		"STACK_NAME":                       "e3sync-test",
	}
	// The stack's Glue tables (CreateAthenaTables=true): the copier registers partitions.
	gluetables.Create(t, moto.Glue(), glueDatabase, "s3://"+dstBucket+"/"+dstPrefix)
	env["GLUE_DATABASE"] = glueDatabase
	env["AWS_ENDPOINT_URL_GLUE"] = moto.Endpoint()
	return &stack{
		t: t, root: w.Root, queue: q, queueURL: aws.ToString(qo.QueueUrl), glue: moto.Glue(),
		fetch:     testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/fetchcreds"), env),
		copier:    testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/copier"), env),
		sentinels: []string{pat, testworld.ExporterSecret, testworld.CustomerSecret}, env: env,
		api: w.API, minted: w.Minted, minio: m,
	}
}

func (s *stack) put(key string, size int, seed int64) {
	s.t.Helper()
	b := make([]byte, size)
	rand.New(rand.NewSource(seed)).Read(b)
	if _, err := s.root.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(acct + key), Body: bytes.NewReader(b)}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) invoke(l *testenv.Lambda, payload []byte) testenv.Result {
	s.t.Helper()
	res, err := l.Invoke(context.Background(), payload, 2*time.Minute)
	if err != nil {
		s.t.Fatalf("invoke: %v", err)
	}
	return res
}

// drain receives every message in the queue (deleting them).
func (s *stack) drain() []sqsMessage {
	s.t.Helper()
	var out []sqsMessage
	for {
		r, err := s.queue.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL), MaxNumberOfMessages: 10})
		if err != nil {
			s.t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			out = append(out, sqsMessage{id: aws.ToString(m.MessageId), body: aws.ToString(m.Body)})
			s.queue.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queueURL), ReceiptHandle: m.ReceiptHandle})
		}
	}
}

type sqsMessage struct{ id, body string }

func sqsEvent(msgs []sqsMessage) []byte {
	var ev events.SQSEvent
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: m.id, Body: m.body, EventSource: "aws:sqs", AWSRegion: "us-east-1"})
	}
	b, _ := json.Marshal(ev)
	return b
}

func (s *stack) sums(bucket, prefix string) map[string]string {
	s.t.Helper()
	return fixture.Sums(s.t, store.NewS3(s.root, bucket, prefix, store.S3Options{}), "")
}

func (s *stack) assertNoSecrets(where, text string) {
	s.t.Helper()
	for _, v := range append(s.minted.Values(), s.sentinels...) {
		if strings.Contains(text, v) {
			s.t.Errorf("%s contains a secret (%.6s...)", where, v)
		}
	}
}

func TestPipelineThroughLambdaRuntime(t *testing.T) {
	s := newStack(t)
	d1 := time.Now().UTC().AddDate(0, 0, -2).Format(export.DateLayout)
	d2 := time.Now().UTC().AddDate(0, 0, -1).Format(export.DateLayout)
	s.put("type=decisions/date="+d1+"/experiment=1/part-00000.c000.snappy.parquet", 30_000, 1)
	s.put("type=decisions/date="+d1+"/experiment=2/part-00000.c000.snappy.parquet", 9<<20, 2) // multipart
	s.put("type=decisions/date="+d1+"/_SUCCESS", 0, 0)
	s.put("type=events/date="+d1+"/event=video play/part-00000.c000.snappy.parquet", 20_000, 3)
	s.put("type=events/date="+d1+"/event=NULL/part-00000.c000.snappy.parquet", 0, 0)
	s.put("type=events/date="+d1+"/_SUCCESS", 0, 0)
	s.put("type=events/date="+d2+"/event=purchase/part-00000.c000.snappy.parquet", 10_000, 4)

	scheduled, err := os.ReadFile("testdata/scheduled-event.json")
	if err != nil {
		t.Fatal(err)
	}
	res := s.invoke(s.fetch, scheduled)
	if res.FunctionError {
		t.Fatalf("fetchcreds: %s: %s\n%s", res.ErrorType, res.Payload, s.fetch.Logs())
	}
	var sum pipeline.PlanSummary
	if err := json.Unmarshal(res.Payload, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.TasksEnqueued != 5 || !sum.Scheduled || sum.RunID == "" {
		t.Errorf("fetchcreds summary = %+v, want 5 tasks enqueued by a scheduled run", sum)
	}
	msgs := s.drain()
	if len(msgs) != 5 {
		t.Fatalf("queue holds %d messages, want 5", len(msgs))
	}
	for _, m := range msgs {
		if _, err := export.DecodeTask([]byte(m.body)); err != nil {
			t.Errorf("message %s: %v", m.body, err)
		}
		s.assertNoSecrets("SQS message", m.body)
	}

	t.Run("copier reports only the poisoned task as failed", func(t *testing.T) {
		batch := append(msgs, sqsMessage{id: "poison", body: `{"type":"events","date":"2024-13-45","partition":"../../other"}`})
		res := s.invoke(s.copier, sqsEvent(batch))
		if res.FunctionError {
			t.Fatalf("copier: %s: %s\n%s", res.ErrorType, res.Payload, s.copier.Logs())
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(res.Payload, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "poison" {
			t.Errorf("batch item failures = %+v, want only the poisoned message\n%s", resp.BatchItemFailures, s.copier.Logs())
		}
		src, dst := s.sums(srcBucket, acct), s.sums(dstBucket, dstPrefix)
		for k, v := range src {
			if !strings.HasSuffix(k, "_SUCCESS") && dst[k] != v {
				t.Errorf("destination %q differs from the source", k)
			}
		}
		for _, k := range []string{"type=decisions/date=" + d1 + "/_SUCCESS", "type=events/date=" + d1 + "/_SUCCESS"} {
			if _, ok := dst[k]; !ok {
				t.Errorf("destination has no %s", k)
			}
		}
		if _, ok := dst["type=events/date="+d2+"/_SUCCESS"]; ok {
			t.Errorf("destination has _SUCCESS for %s, which the source has not", d2)
		}
		logs := s.copier.Logs()
		if !strings.Contains(logs, `"ObjectsCopied":`) || !strings.Contains(logs, `"Namespace":"e3sync"`) {
			t.Errorf("copier emitted no EMF metrics:\n%s", logs)
		}
	})

	t.Run("copied sub-partitions are Glue partitions", func(t *testing.T) {
		loc := "s3://" + dstBucket + "/" + dstPrefix
		want := map[string]map[string]string{
			"decisions": {
				d1 + "|1": loc + "type=decisions/date=" + d1 + "/experiment=1/",
				d1 + "|2": loc + "type=decisions/date=" + d1 + "/experiment=2/",
			},
			"events": {
				d1 + "|video play": loc + "type=events/date=" + d1 + "/event=video play/",
				d1 + "|NULL":       loc + "type=events/date=" + d1 + "/event=NULL/",
				d2 + "|purchase":   loc + "type=events/date=" + d2 + "/event=purchase/",
			},
		}
		for table, w := range want {
			out, err := s.glue.GetPartitions(context.Background(), &glue.GetPartitionsInput{DatabaseName: aws.String(glueDatabase), TableName: aws.String(table)})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, p := range out.Partitions {
				got[strings.Join(p.Values, "|")] = aws.ToString(p.StorageDescriptor.Location)
			}
			if !maps.Equal(got, w) {
				t.Errorf("%s partitions = %v, want %v\n%s", table, got, w, s.copier.Logs())
			}
		}
	})

	t.Run("the same tasks again copy nothing", func(t *testing.T) {
		before := s.sums(dstBucket, dstPrefix)
		res := s.invoke(s.copier, sqsEvent(msgs))
		var resp events.SQSEventResponse
		json.Unmarshal(res.Payload, &resp)
		if res.FunctionError || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("copier: %s %s", res.ErrorType, res.Payload)
		}
		after := s.sums(dstBucket, dstPrefix)
		for k, v := range before {
			if after[k] != v {
				t.Errorf("%s changed on a duplicate delivery", k)
			}
		}
	})

	t.Run("a task invoked directly", func(t *testing.T) {
		s.put("type=events/date="+d2+"/event=purchase/part-00001.c000.snappy.parquet", 5_000, 5)
		task := fmt.Sprintf(`{"type":"events","date":%q,"partition":"event=purchase","source_complete":false}`, d2)
		res := s.invoke(s.copier, []byte(task))
		var out pipeline.Outcome
		if res.FunctionError || json.Unmarshal(res.Payload, &out) != nil || out.Result.Copied != 1 || out.Result.Skipped != 1 {
			t.Errorf("direct task = %s %s, want 1 copied and 1 skipped", res.ErrorType, res.Payload)
		}
	})

	t.Run("backfill dry run enqueues nothing", func(t *testing.T) {
		req := fmt.Sprintf(`{"from":%q,"to":%q,"types":["decisions"],"dry_run":true}`, d1, d2)
		res := s.invoke(s.fetch, []byte(req))
		var sum pipeline.PlanSummary
		if res.FunctionError || json.Unmarshal(res.Payload, &sum) != nil {
			t.Fatalf("fetchcreds: %s %s", res.ErrorType, res.Payload)
		}
		if !sum.DryRun || sum.TasksEnqueued != 0 || len(sum.Tasks) != 2 {
			t.Errorf("dry run summary = %+v, want 2 tasks listed, none enqueued", sum)
		}
		if msgs := s.drain(); len(msgs) != 0 {
			t.Errorf("dry run enqueued %d messages", len(msgs))
		}
	})

	t.Run("bad backfill input is rejected, nothing enqueued", func(t *testing.T) {
		for _, req := range []string{
			`{"from":"2024-02-01","to":"2024-01-01"}`,
			`{"from":"2024-01-01","typo":true}`,
			`{"from":"2020-01-01","to":"2024-01-01"}`,
			`{"from":"2024-01-01","types":["clicks"]}`,
			`{"from":"2024-01-32"}`,
		} {
			res := s.invoke(s.fetch, []byte(req))
			if !res.FunctionError || !strings.Contains(string(res.Payload), "bad request") {
				t.Errorf("fetchcreds(%s) = %s, want a bad-request error", req, res.Payload)
			}
		}
		if msgs := s.drain(); len(msgs) != 0 {
			t.Errorf("bad requests enqueued %d messages", len(msgs))
		}
	})

	t.Run("the planner reports the token's age", func(t *testing.T) {
		// The secret was created by newStack moments ago: each planner
		// run that got past decoding its request reports an age of a few
		// seconds, in days.
		var ages []float64
		for _, line := range strings.Split(s.fetch.Logs(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["_aws"] != nil {
				if v, ok := m[metrics.TokenAgeDays].(float64); ok {
					ages = append(ages, v)
				}
			}
		}
		if len(ages) < 3 {
			t.Errorf("%d %s values, want one per planner run that read the secret\n%s", len(ages), metrics.TokenAgeDays, s.fetch.Logs())
		}
		for _, a := range ages {
			if a < 0 || a > 1.0/24 {
				t.Errorf("%s = %v, want the few seconds since the secret was created", metrics.TokenAgeDays, a)
			}
		}
	})

	s.assertNoSecrets("fetchcreds logs", s.fetch.Logs())
	s.assertNoSecrets("copier logs", s.copier.Logs())
}
