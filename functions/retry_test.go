package functions_test

// A failing task through the Lambda Runtime API harness, against moto's
// SQS: every failure is counted (TasksFailed, parsed from the EMF lines),
// each retry is delayed by the back-off for its attempt (the message comes
// back after the delay, not after the queue's hour-long visibility
// timeout), and after maxReceiveCount receives the task is in the
// dead-letter queue.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/runlog"
)

// emfTotals sums every metric value of the EMF lines in logs, by name.
func emfTotals(t *testing.T, logs string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["_aws"] == nil {
			continue
		}
		var doc struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("EMF line %s: %v", line, err)
		}
		for _, d := range doc.AWS.CloudWatchMetrics {
			for _, mt := range d.Metrics {
				v, ok := m[mt.Name].(float64)
				if !ok {
					t.Errorf("EMF line names %s but holds no number for it: %s", mt.Name, line)
				}
				out[mt.Name] += v
			}
		}
	}
	return out
}

// logLines returns the JSON log lines (not EMF) whose message is msg.
func logLines(logs, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestFailingTaskBacksOffAndReachesTheDeadLetterQueue(t *testing.T) {
	ctx := context.Background()
	w := testworld.New(t, testworld.Options{Token: pat, AccountPrefix: acct})
	moto := testenv.MotoForTest(t)
	creds := credentials.NewStaticCredentialsProvider("customer", "customer-secret-key", "")
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(moto.Endpoint())})
	// The token was revoked: every task fails at the credential exchange.
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("e3sync/pat"), SecretString: aws.String("pat-REVOKED-0000")})
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.New(sqs.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(moto.Endpoint())})
	queueArn := func(url string) string {
		a, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatal(err)
		}
		return a.Attributes[string(types.QueueAttributeNameQueueArn)]
	}
	dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("e3sync-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	const maxReceives = 3
	tq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("e3sync-tasks"), Attributes: map[string]string{
		// As in the template: far longer than any back-off, so a message
		// that comes back early did so because the copier delayed it.
		"VisibilityTimeout": "5400",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, queueArn(aws.ToString(dlq.QueueUrl)), maxReceives),
	}})
	if err != nil {
		t.Fatal(err)
	}
	taskURL, taskArn := aws.ToString(tq.QueueUrl), queueArn(aws.ToString(tq.QueueUrl))
	backoff := []time.Duration{2 * time.Second, 4 * time.Second}
	copier := testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/copier"), map[string]string{
		"AWS_ACCESS_KEY_ID":                testworld.CustomerKey,
		"AWS_SECRET_ACCESS_KEY":            testworld.CustomerSecret,
		"AWS_ENDPOINT_URL_S3":              w.MinIO.Endpoint(),
		"AWS_ENDPOINT_URL_SQS":             moto.Endpoint(),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.Endpoint(),
		"AWS_ENDPOINT_URL_EVENTBRIDGE":     moto.Endpoint(),
		"AWS_LAMBDA_LOG_FORMAT":            "JSON",
		"PAT_SECRET_ARN":                   aws.ToString(sec.ARN),
		"DEST_BUCKET":                      dstBucket,
		"DEST_PREFIX":                      dstPrefix,
		"TASK_QUEUE_URL":                   taskURL,
		"OPTIMIZELY_API_URL":               w.APIURL,
		"SOURCE_S3_ENDPOINT":               w.MinIO.Endpoint(),
		"STACK_NAME":                       "e3sync-test",
		"RETRY_BACKOFF_SECONDS":            "2,4",
	})

	body := `{"run_id":"run-7","type":"events","date":"2024-01-01","partition":"event=purchase","source_complete":true}`
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(taskURL), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
	// receive polls the queue until a message is visible, for at most a
	// minute (a guard against hanging, not a speed target).
	receive := func(url string) (types.Message, bool) {
		for end := time.Now().Add(time.Minute); time.Now().Before(end); {
			r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(url), WaitTimeSeconds: 1,
				MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Messages) > 0 {
				return r.Messages[0], true
			}
		}
		return types.Message{}, false
	}
	invoke := func(m types.Message) events.SQSEventResponse {
		t.Helper()
		ev := events.SQSEvent{Records: []events.SQSMessage{{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Attributes:  map[string]string{"ApproximateReceiveCount": m.Attributes["ApproximateReceiveCount"]},
			EventSource: "aws:sqs", EventSourceARN: taskArn, AWSRegion: "us-east-1",
		}}}
		payload, _ := json.Marshal(ev)
		res, err := copier.Invoke(ctx, payload, 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.SQSEventResponse
		if res.FunctionError || json.Unmarshal(res.Payload, &resp) != nil {
			t.Fatalf("copier: %s %s\n%s", res.ErrorType, res.Payload, copier.Logs())
		}
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != aws.ToString(m.MessageId) {
			t.Fatalf("batch item failures = %+v, want the failed message", resp.BatchItemFailures)
		}
		return resp
	}

	var failedAt time.Time // when the previous attempt's invocation started
	for attempt := 1; attempt <= maxReceives; attempt++ {
		m, ok := receive(taskURL)
		if !ok {
			t.Fatalf("attempt %d: the task did not come back within a minute (visibility not changed?)\n%s", attempt, copier.Logs())
		}
		if got := m.Attributes["ApproximateReceiveCount"]; got != fmt.Sprint(attempt) {
			t.Errorf("attempt %d: ApproximateReceiveCount = %s", attempt, got)
		}
		if attempt > 1 {
			// SQS hid it for at least the back-off of the previous attempt.
			if waited, want := time.Since(failedAt), backoff[min(attempt-2, len(backoff)-1)]; waited < want {
				t.Errorf("attempt %d came %v after the failure, before the %v back-off", attempt, waited, want)
			}
		}
		failedAt = time.Now()
		invoke(m)
	}
	// Once it is visible again, the next receive (the event source's
	// polling) moves it to the dead-letter queue instead of delivering it.
	var dead []types.Message
	for end := time.Now().Add(time.Minute); len(dead) == 0 && time.Now().Before(end); {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(taskURL), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) > 0 {
			t.Fatalf("the task was delivered a %d-th time, want it in the dead-letter queue after %d receives", maxReceives+1, maxReceives)
		}
		d, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl})
		if err != nil {
			t.Fatal(err)
		}
		dead = d.Messages
	}
	if len(dead) != 1 || aws.ToString(dead[0].Body) != body {
		t.Fatalf("dead-letter queue holds %d messages, want the task after %d failures\n%s", len(dead), maxReceives, copier.Logs())
	}

	// A failure whose visibility cannot be changed (a receipt handle SQS
	// does not know) is still reported as failed; so is a message that is
	// not a task at all (failing in decoding, before the credentials).
	invoke(types.Message{MessageId: aws.String("stale-handle"), ReceiptHandle: aws.String("no-such-receipt-handle"), Body: aws.String(body),
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	invoke(types.Message{MessageId: aws.String("poison"), Body: aws.String(`{"type":"clicks"}`)})

	logs := copier.Logs()
	totals := emfTotals(t, logs)
	for name, want := range map[string]float64{metrics.TasksFailed: maxReceives + 2, metrics.TaskRetries: maxReceives - 1, metrics.TokenRejected: maxReceives + 1} {
		if totals[name] != want {
			t.Errorf("EMF %s = %v, want %v\n%s", name, totals[name], want, logs)
		}
	}
	var delays []string
	for _, l := range logLines(logs, "retry delayed") {
		delays = append(delays, fmt.Sprintf("%v:%v", l["attempt"], l["retry_in_seconds"]))
	}
	if got, want := strings.Join(delays, " "), "1:2 2:4 3:4"; got != want {
		t.Errorf("retries delayed (attempt:seconds) = %s, want %s", got, want)
	}
	if n := len(logLines(logs, "retry not delayed; the queue's visibility timeout applies")); n != 1 {
		t.Errorf("%d warnings for the unknown receipt handle, want 1\n%s", n, logs)
	}
	for _, secret := range []string{pat, "pat-REVOKED-0000", testworld.CustomerSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("copier logs contain a secret (%.6s...)", secret)
		}
	}
	// Every invocation of the task (not the poison message, which has
	// none) left a failed-task run record for `e3sync status`, though it
	// failed before a copier existed.
	recs, err := w.Root.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(dstBucket), Prefix: aws.String(dstPrefix + runlog.Root + "run-7/")})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(recs.Contents); n != maxReceives+1 {
		t.Errorf("%d run records for run-7, want %d (one per invocation of the task)", n, maxReceives+1)
	}
}
