package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/notify"
)

var sample = notify.DateSynced{
	AccountID: "12345", Type: "events", Date: "2024-01-01", Objects: 3, Bytes: 12345,
	Destination: "s3://lake/optimizely/type=events/date=2024-01-01/", RunID: "20240102T063000Z-abcd1234",
}

// fakeBus answers each PutEvents call with the next scripted answer.
type fakeBus struct {
	answers []func(*eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error)
	inputs  []*eventbridge.PutEventsInput
}

func (f *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.inputs = append(f.inputs, in)
	a := f.answers[min(len(f.inputs), len(f.answers))-1]
	return a(in)
}

func ok(*eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
	return &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{{EventId: aws.String("id-1")}}}, nil
}
func callFails(*eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
	return nil, errors.New("connection reset")
}
func entryFails(*eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
	return &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []ebtypes.PutEventsResultEntry{{
		ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again"),
	}}}, nil
}

func TestPublishDateSyncedRetries(t *testing.T) {
	type answer = func(*eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error)
	tests := []struct {
		name    string
		answers []answer
		calls   int
		errText string // "" for success
	}{
		{"first call succeeds", []answer{ok}, 1, ""},
		{"call error, then success", []answer{callFails, ok}, 2, ""},
		{"failed entry, then success", []answer{entryFails, ok}, 2, ""},
		{"every attempt fails", []answer{callFails, entryFails, entryFails}, 3, "InternalFailure: try again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeBus{answers: tt.answers}
			p := &notify.EventBridge{Client: f, Backoff: time.Millisecond}
			err := p.PublishDateSynced(context.Background(), sample)
			if len(f.inputs) != tt.calls {
				t.Errorf("PutEvents calls = %d, want %d", len(f.inputs), tt.calls)
			}
			switch {
			case tt.errText == "" && err != nil:
				t.Errorf("PublishDateSynced = %v, want nil", err)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Errorf("PublishDateSynced = %v, want an error containing %q", err, tt.errText)
			}
			e := f.inputs[0].Entries[0]
			if aws.ToString(e.EventBusName) != "default" || aws.ToString(e.Source) != "e3sync" || aws.ToString(e.DetailType) != "Export Date Synced" {
				t.Errorf("entry = bus %q source %q detail-type %q, want default, e3sync, Export Date Synced",
					aws.ToString(e.EventBusName), aws.ToString(e.Source), aws.ToString(e.DetailType))
			}
		})
	}
}

func TestDetailJSON(t *testing.T) {
	f := &fakeBus{answers: []func(*eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error){ok}}
	if err := (&notify.EventBridge{Client: f, Bus: "analytics"}).PublishDateSynced(context.Background(), sample); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(f.inputs[0].Entries[0].Detail)), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"account_id": "12345", "type": "events", "date": "2024-01-01", "objects": 3.0, "bytes": 12345.0,
		"destination": "s3://lake/optimizely/type=events/date=2024-01-01/", "run_id": "20240102T063000Z-abcd1234",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("detail = %v, want %v", got, want)
	}
	if b := aws.ToString(f.inputs[0].Entries[0].EventBusName); b != "analytics" {
		t.Errorf("EventBusName = %q, want analytics", b)
	}
}

func TestPublishStopsWhenContextEnds(t *testing.T) {
	f := &fakeBus{answers: []func(*eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error){callFails}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := (&notify.EventBridge{Client: f, Backoff: time.Hour}).PublishDateSynced(ctx, sample)
	if !errors.Is(err, context.Canceled) || len(f.inputs) != 1 {
		t.Errorf("PublishDateSynced = %v after %d calls, want context.Canceled after 1", err, len(f.inputs))
	}
}

// Against moto's EventBridge: a rule on the bus matching e3sync's events
// forwards them to an SQS queue, where the test reads the event as a
// consumer would see it.
func TestPublishToMoto(t *testing.T) {
	moto := testenv.MotoForTest(t)
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	eb := eventbridge.New(eventbridge.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(moto.Endpoint())})
	q := sqs.New(sqs.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(moto.Endpoint())})

	queueURL := moto.RouteEventsToQueue(t, eb, q, "analytics", `{"source":["e3sync"],"detail-type":["Export Date Synced"]}`, "synced-dates")

	if err := (&notify.EventBridge{Client: eb, Bus: "analytics"}).PublishDateSynced(ctx, sample); err != nil {
		t.Fatal(err)
	}
	r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 1 {
		t.Fatalf("queue got %d messages, want 1 event", len(r.Messages))
	}
	var ev struct {
		Source     string            `json:"source"`
		DetailType string            `json:"detail-type"`
		Detail     notify.DateSynced `json:"detail"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(r.Messages[0].Body)), &ev); err != nil {
		t.Fatalf("event %s: %v", aws.ToString(r.Messages[0].Body), err)
	}
	if ev.Source != notify.Source || ev.DetailType != notify.DetailDateSync || ev.Detail != sample {
		t.Errorf("event = %+v, want source e3sync, detail-type Export Date Synced, detail %+v", ev, sample)
	}
}
