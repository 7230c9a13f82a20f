package functions_test

// The copier Lambda announcing a completed date on EventBridge (moto), with
// a rule forwarding e3sync's events to an SQS queue the test reads, as a
// downstream consumer would; and its log lines carrying run_id and task.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/notify"
)

func TestCopierPublishesDateSyncedEvent(t *testing.T) {
	ctx := context.Background()
	w := testworld.New(t, testworld.Options{Token: pat, AccountPrefix: acct})
	m, apiURL := w.MinIO, w.APIURL
	moto := testenv.MotoForTest(t)

	creds := credentials.NewStaticCredentialsProvider("customer", "customer-secret-key", "")
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(moto.Endpoint())})
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("e3sync/pat"), SecretString: aws.String(pat)})
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.New(sqs.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(moto.Endpoint())})
	tasks, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("e3sync-tasks")})
	if err != nil {
		t.Fatal(err)
	}
	// Downstream: bus "analytics", rule on e3sync's events, target a queue.
	eb := eventbridge.New(eventbridge.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(moto.Endpoint())})
	syncedURL := moto.RouteEventsToQueue(t, eb, q, "analytics", `{"source":["e3sync"],"detail-type":["Export Date Synced"]}`, "synced-dates")

	copier := testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/copier"), map[string]string{
		"AWS_ACCESS_KEY_ID":                "customer",
		"AWS_SECRET_ACCESS_KEY":            "customer-secret-key",
		"AWS_ENDPOINT_URL_S3":              m.Endpoint(),
		"AWS_ENDPOINT_URL_SQS":             moto.Endpoint(),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.Endpoint(),
		"AWS_ENDPOINT_URL_EVENTBRIDGE":     moto.Endpoint(),
		"AWS_LAMBDA_LOG_FORMAT":            "JSON",
		"PAT_SECRET_ARN":                   aws.ToString(sec.ARN),
		"DEST_BUCKET":                      dstBucket,
		"DEST_PREFIX":                      dstPrefix,
		"TASK_QUEUE_URL":                   aws.ToString(tasks.QueueUrl),
		"OPTIMIZELY_API_URL":               apiURL,
		"SOURCE_S3_ENDPOINT":               m.Endpoint(),
		"STACK_NAME":                       "e3sync-test",
		"EVENT_BUS_NAME":                   "analytics",
	})
	s := &stack{t: t, root: m.S3Client(m.RootProvider())}
	date := time.Now().UTC().AddDate(0, 0, -1).Format(export.DateLayout)
	s.put("type=events/date="+date+"/event=purchase/part-00000.c000.snappy.parquet", 10_000, 1)
	s.put("type=events/date="+date+"/event=purchase/part-00001.c000.snappy.parquet", 2_000, 2)
	s.put("type=events/date="+date+"/_SUCCESS", 0, 0)

	task := fmt.Sprintf(`{"run_id":"run-42","type":"events","date":%q,"partition":"event=purchase","source_complete":true}`, date)
	res, err := copier.Invoke(ctx, []byte(task), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.FunctionError {
		t.Fatalf("copier: %s %s\n%s", res.ErrorType, res.Payload, copier.Logs())
	}
	r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(syncedURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 1 {
		t.Fatalf("downstream queue got %d events, want 1\n%s", len(r.Messages), copier.Logs())
	}
	var ev struct {
		Source     string            `json:"source"`
		DetailType string            `json:"detail-type"`
		Detail     notify.DateSynced `json:"detail"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(r.Messages[0].Body)), &ev); err != nil {
		t.Fatal(err)
	}
	want := notify.DateSynced{AccountID: "777", Type: "events", Date: date, Objects: 2, Bytes: 12_000,
		Destination: "s3://" + dstBucket + "/" + dstPrefix + "type=events/date=" + date + "/", RunID: "run-42"}
	if ev.Source != "e3sync" || ev.DetailType != "Export Date Synced" || ev.Detail != want {
		t.Errorf("event = %+v, want e3sync / Export Date Synced / %+v", ev, want)
	}

	// Logs: every line of the task (the copier's, the engine's, the
	// credential provider's) carries run_id and task; one summary line;
	// EMF metrics for refreshes; no secret anywhere.
	var summaries int
	var emf []string
	for _, line := range strings.Split(strings.TrimSpace(copier.Logs()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue // the runtime's own lines
		}
		if _, ok := m["_aws"]; ok {
			emf = append(emf, line)
			continue
		}
		if _, ok := m["message"]; !ok || m["message"] == "cold start" {
			continue // the container's first line comes before any task
		}
		if m["run_id"] != "run-42" || m["task"] != "events/"+date+"/event=purchase" {
			t.Errorf("log line without run_id and task: %s", line)
		}
		if m["message"] == "task done" {
			summaries++
		}
	}
	if summaries != 1 {
		t.Errorf("%d task summary lines, want 1\n%s", summaries, copier.Logs())
	}
	if all := strings.Join(emf, "\n"); !strings.Contains(all, `"CredentialRefreshes":1`) || strings.Contains(all, "EventPublishFailures") {
		t.Errorf("EMF lines = %s, want CredentialRefreshes 1 and no EventPublishFailures", all)
	}
	for _, secret := range []string{pat, "exporter-secret-key"} {
		if strings.Contains(copier.Logs(), secret) {
			t.Errorf("copier logs contain a secret (%.6s...)", secret)
		}
	}
}
