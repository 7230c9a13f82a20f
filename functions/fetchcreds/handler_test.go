package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/e3sync/e3sync/internal/memorys3"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/redact"
	"github.com/e3sync/e3sync/pkg/source"
	"github.com/e3sync/e3sync/pkg/store"
)

// fakeSource is the opened export, or the error opening it gave.
type fakeSource struct {
	src *source.Source
	err error
}

func (f fakeSource) Get(context.Context) (*source.Source, error) { return f.src, f.err }

type oneRefresh struct{}

func (oneRefresh) Refreshes() int64 { return 1 }

// fakeQueue accepts every message.
type fakeQueue struct {
	mu   sync.Mutex
	sent int
}

func (q *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		q.sent++
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(fmt.Sprint(q.sent))})
	}
	return out, nil
}

// The handler, as main wires it, for each sample event in ../testdata:
// what it plans and enqueues, the error it answers, the metrics it emits.
// Only the export (an in-memory S3 holding an account's prefix), the queue
// and the clock are the test's; the destination is the in-memory S3 too,
// reached through the SDK's default configuration like in Lambda.
func TestHandlerEvents(t *testing.T) {
	mem, client := memorys3.ForTest(t, source.ExportBucket, "customer-lake")
	loc := source.AccountLocation("777")
	for _, key := range []string{
		"type=decisions/date=2024-01-10/experiment=1/part-00000.c000.snappy.parquet",
		"type=decisions/date=2024-01-10/_SUCCESS",
		"type=events/date=2024-01-10/event=purchase/part-00000.c000.snappy.parquet",
		"type=events/date=2024-01-11/event=purchase/part-00000.c000.snappy.parquet",
	} {
		if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Prefix + key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	export := &source.Source{Store: store.NewS3(client, loc.Bucket, loc.Prefix, store.S3Options{}), Location: loc, Credentials: oneRefresh{}}
	testenv.IsolateAWS(t, map[string]string{"AWS_ACCESS_KEY_ID": "customer", "AWS_SECRET_ACCESS_KEY": "customer-secret", "AWS_ENDPOINT_URL_S3": mem.URL()})
	env := map[string]string{
		"SOURCE_KEYS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:e3sync/keys-AbCdEf",
		"DEST_BUCKET":            "customer-lake",
		"DEST_PREFIX":            "optimizely/",
		"TASK_QUEUE_URL":         "https://sqs.us-east-1.amazonaws.com/123456789012/e3sync-tasks",
		"AWS_ENDPOINT_URL_S3":    mem.URL(),
	}

	keysRejected := fmt.Errorf("list s3://optimizely-events-data/v1/account_id=777/ with the source access keys: %w", source.ErrKeysRejected)
	tokenRejected := fmt.Errorf("export credentials: %w", optimizely.ErrTokenRejected)
	tests := []struct {
		event     string // in ../testdata
		sourceErr error  // opening the export fails with it
		wantErr   string // "" for success
		planned   int
		enqueued  int
		dryRun    bool
		metrics   []string // emitted (other rejection metrics must not be)
	}{
		// Now is 2024-01-12: the look-back window holds 01-09..01-11.
		{"scheduled-event.json", nil, "", 3, 3, false, []string{metrics.TasksEnqueued, metrics.CredentialRefreshes}},
		{"backfill-event.json", nil, "", 1, 0, true, []string{metrics.CredentialRefreshes}},
		{"backfill-unknown-field.json", nil, `bad request: unknown field "dryrun"`, 0, 0, false, nil},
		{"backfill-reversed-range.json", nil, "bad request: from 2024-02-01 is after to 2024-01-01", 0, 0, false, []string{metrics.CredentialRefreshes}},
		{"eventbridge-other-event.json", nil, `unexpected EventBridge event "Object Created" from "aws.s3"`, 0, 0, false, nil},
		{"scheduled-event.json", keysRejected, "rejected the Optimizely source access keys", 0, 0, false, []string{metrics.SourceKeysRejected}},
		{"scheduled-event.json", tokenRejected, "optimizely rejected the personal access token", 0, 0, false, []string{metrics.TokenRejected}},
	}
	for _, tt := range tests {
		name := tt.event
		if tt.sourceErr != nil {
			name += " with " + tt.sourceErr.Error()
		}
		t.Run(name, func(t *testing.T) {
			var emf bytes.Buffer
			h, err := newHandler(context.Background(), func(k string) string { return env[k] }, &emf, slog.New(slog.DiscardHandler), redact.New())
			if err != nil {
				t.Fatalf("newHandler = %v", err)
			}
			q := &fakeQueue{}
			h.source, h.planner.Queue = fakeSource{export, tt.sourceErr}, q
			h.planner.Now = func() time.Time { return time.Date(2024, 1, 12, 6, 30, 0, 0, time.UTC) }
			raw, err := os.ReadFile("../testdata/" + tt.event)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := h.handle(context.Background(), raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("handle() error = %v, want %q", err, tt.wantErr)
				}
				if tt.sourceErr != nil && !errors.Is(err, tt.sourceErr) {
					t.Errorf("handle() error = %v, want it to wrap the source's", err)
				}
			} else if err != nil {
				t.Errorf("handle() error = %v", err)
			}
			if sum.RunID == "" || sum.TasksPlanned != tt.planned || sum.TasksEnqueued != tt.enqueued || q.sent != tt.enqueued || sum.DryRun != tt.dryRun {
				t.Errorf("handle() = %+v with %d sent, want run id, %d planned, %d enqueued, dry run %v", sum, q.sent, tt.planned, tt.enqueued, tt.dryRun)
			}
			if tt.dryRun && len(sum.Tasks) != tt.planned {
				t.Errorf("dry run lists %d tasks, want %d", len(sum.Tasks), tt.planned)
			}
			for _, m := range []string{metrics.TasksEnqueued, metrics.CredentialRefreshes, metrics.SourceKeysRejected, metrics.TokenRejected} {
				want := false
				for _, w := range tt.metrics {
					want = want || w == m
				}
				if got := strings.Contains(emf.String(), `"`+m+`"`); got != want {
					t.Errorf("metric %s emitted: %v, want %v\n%s", m, got, want, emf.String())
				}
			}
		})
	}
}
