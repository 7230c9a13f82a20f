package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/parquet-go/parquet-go"

	"github.com/e3sync/e3sync/internal/exportseed"
	"github.com/e3sync/e3sync/internal/memorys3"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/notify"
	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/pipeline"
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

type noRefresh struct{}

func (noRefresh) Refreshes() int64 { return 0 }

// visibility records the retry delays the handler asks SQS for.
type visibility struct {
	mu     sync.Mutex
	delays map[string]int32 // receipt handle -> seconds
}

func (v *visibility) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.delays[aws.ToString(in.ReceiptHandle)] = in.VisibilityTimeout
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// eventBus is an EventBridge endpoint on loopback that accepts PutEvents
// and keeps the details.
type eventBus struct {
	mu      sync.Mutex
	details []notify.DateSynced
}

func (b *eventBus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct{ Entries []struct{ Detail string } }
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	for _, e := range in.Entries {
		var d notify.DateSynced
		json.Unmarshal([]byte(e.Detail), &d)
		b.details = append(b.details, d)
	}
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fmt.Fprint(w, `{"FailedEntryCount":0,"Entries":[{"EventId":"1"}]}`)
}

// The handler, as main wires it, for each sample event in ../testdata:
// the outcome (or batch item failures), the retry delays, the metrics and
// the completion event. Only the opened export (an in-memory S3 holding
// account 777's prefix) and SQS's visibility calls are the test's; the
// destination (the in-memory S3) and EventBridge (a loopback endpoint) are
// reached through the SDK's default configuration, as in Lambda.
func TestHandlerEvents(t *testing.T) {
	ctx := context.Background()
	mem, client := memorys3.ForTest(t, source.ExportBucket, "customer-lake")
	loc := source.AccountLocation("777")
	var pq bytes.Buffer
	if err := parquet.NewWriter(&pq, exportseed.EventSchema()).Close(); err != nil { // no rows: the schema is what the catalog reads
		t.Fatal(err)
	}
	for key, body := range map[string][]byte{
		"type=events/date=2024-01-15/event=purchase/part-00000.c000.snappy.parquet": pq.Bytes(),
		"type=events/date=2024-01-15/_SUCCESS":                                      nil,
	} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Prefix + key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	export := &source.Source{Store: store.NewS3(client, loc.Bucket, loc.Prefix, store.S3Options{}), Location: loc, Credentials: noRefresh{}}
	bus := &eventBus{}
	eb := httptest.NewServer(bus)
	t.Cleanup(eb.Close)
	testenv.IsolateAWS(t, map[string]string{
		"AWS_ACCESS_KEY_ID": "customer", "AWS_SECRET_ACCESS_KEY": "customer-secret",
		"AWS_ENDPOINT_URL_S3": mem.URL(), "AWS_ENDPOINT_URL_EVENTBRIDGE": eb.URL,
	})

	keysRejected := fmt.Errorf("list s3://optimizely-events-data/v1/account_id=777/ with the source access keys: %w", source.ErrKeysRejected)
	tokenRejected := fmt.Errorf("export credentials: %w", optimizely.ErrTokenRejected)
	tests := []struct {
		event     string // in ../testdata
		sourceErr error  // opening the export fails with it
		wantErr   string // direct invocation: "" for success
		// direct invocation: the outcome
		copied    int
		completed string
		// SQS event: the message ids reported failed, and the delays asked
		// for (receipt handle -> seconds)
		failures []string
		delays   map[string]int32
		metrics  []string // emitted (the others listed below must not be)
	}{
		{event: "copier-task.json", copied: 1, completed: "completed",
			metrics: []string{metrics.ObjectsCopied, metrics.DatesCompleted}},
		// The second record's body has a field a task does not: it fails
		// alone, on its second attempt (a retry), and waits 120 s.
		{event: "copier-sqs-event.json", failures: []string{"7f3c9b1e-task-bad"}, delays: map[string]int32{"AQEB-task-bad": 120},
			metrics: []string{metrics.ObjectsCopied, metrics.DatesCompleted, metrics.TasksFailed, metrics.TaskRetries}},
		{event: "copier-task.json", sourceErr: keysRejected, wantErr: "rejected the Optimizely source access keys",
			metrics: []string{metrics.TasksFailed, metrics.SourceKeysRejected}},
		{event: "copier-sqs-event.json", sourceErr: tokenRejected,
			failures: []string{"0e6d6e4a-task-ok", "7f3c9b1e-task-bad"}, delays: map[string]int32{"AQEB-task-ok": 60, "AQEB-task-bad": 120},
			metrics: []string{metrics.TasksFailed, metrics.TaskRetries, metrics.TokenRejected}},
	}
	for i, tt := range tests {
		name := tt.event
		if tt.sourceErr != nil {
			name += " with " + tt.sourceErr.Error()
		}
		t.Run(name, func(t *testing.T) {
			prefix := fmt.Sprintf("case-%d/", i)
			env := map[string]string{
				"SOURCE_KEYS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:e3sync/keys-AbCdEf",
				"DEST_BUCKET":            "customer-lake",
				"DEST_PREFIX":            prefix,
				"TASK_QUEUE_URL":         "https://sqs.us-east-1.amazonaws.com/123456789012/e3sync-tasks",
				"AWS_ENDPOINT_URL_S3":    mem.URL(),
			}
			var emf bytes.Buffer
			h, err := newHandler(ctx, func(k string) string { return env[k] }, &emf, slog.New(slog.DiscardHandler), redact.New())
			if err != nil {
				t.Fatalf("newHandler = %v", err)
			}
			vis := &visibility{delays: map[string]int32{}}
			h.source, h.queue = fakeSource{export, tt.sourceErr}, vis
			bus.mu.Lock()
			bus.details = nil
			bus.mu.Unlock()
			raw, err := os.ReadFile("../testdata/" + tt.event)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // a Lambda deadline, far away
			defer cancel()
			got, err := h.handle(ctx, raw)

			if resp, ok := got.(events.SQSEventResponse); ok {
				var ids []string
				for _, f := range resp.BatchItemFailures {
					ids = append(ids, f.ItemIdentifier)
				}
				if err != nil || !slices.Equal(ids, tt.failures) {
					t.Errorf("handle(SQS event) = failures %v, %v; want %v, nil", ids, err, tt.failures)
				}
				if !maps.Equal(vis.delays, tt.delays) {
					t.Errorf("retry delays %v, want %v", vis.delays, tt.delays)
				}
			} else {
				out, _ := got.(pipeline.Outcome)
				switch {
				case tt.wantErr != "":
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, tt.sourceErr) {
						t.Errorf("handle(task) error = %v, want the source's, %q", err, tt.wantErr)
					}
				case err != nil || out.Result.Copied != tt.copied || out.Completion != tt.completed:
					t.Errorf("handle(task) = copied %d, date %q, %v; want %d, %q, nil", out.Result.Copied, out.Completion, err, tt.copied, tt.completed)
				}
			}
			if tt.completed != "" || tt.sourceErr == nil {
				bus.mu.Lock()
				details := bus.details
				bus.mu.Unlock()
				if len(details) != 1 || details[0].AccountID != "777" || details[0].Destination != "s3://customer-lake/"+prefix+"type=events/date=2024-01-15/" {
					t.Errorf("completion events %+v, want one for account 777's date in s3://customer-lake/%s", details, prefix)
				}
			}
			for _, m := range []string{metrics.ObjectsCopied, metrics.DatesCompleted, metrics.TasksFailed, metrics.TaskRetries, metrics.SourceKeysRejected, metrics.TokenRejected} {
				if got, want := strings.Contains(emf.String(), `"`+m+`"`), slices.Contains(tt.metrics, m); got != want {
					t.Errorf("metric %s emitted: %v, want %v", m, got, want)
				}
			}
		})
	}
}
