package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// One row per line of RetryDelay's truth table.
func TestRetryDelay(t *testing.T) {
	sched := []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute}
	tests := []struct {
		schedule []time.Duration
		count    int
		want     time.Duration
	}{
		{sched, 0, time.Minute},        // unknown receive count
		{sched, -3, time.Minute},       // unknown receive count
		{sched, 1, time.Minute},        // first attempt failed
		{sched, 2, 2 * time.Minute},    // second
		{sched, 3, 5 * time.Minute},    // last of the schedule
		{sched, 4, 5 * time.Minute},    // beyond: the last repeats
		{sched, 1000, 5 * time.Minute}, // far beyond
		{nil, 2, 0},                    // no schedule
		{[]time.Duration{}, 0, 0},      // no schedule
	}
	for _, tt := range tests {
		if got := RetryDelay(tt.schedule, tt.count); got != tt.want {
			t.Errorf("RetryDelay(%v, %d) = %v, want %v", tt.schedule, tt.count, got, tt.want)
		}
	}
}

type visibilityCall struct {
	url, handle string
	seconds     int32
}

type fakeVisibility struct {
	calls []visibilityCall
	err   error
}

func (f *fakeVisibility) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.calls = append(f.calls, visibilityCall{aws.ToString(in.QueueUrl), aws.ToString(in.ReceiptHandle), in.VisibilityTimeout})
	return &sqs.ChangeMessageVisibilityOutput{}, f.err
}

func TestDelayRetry(t *testing.T) {
	ctx := context.Background()
	q := &fakeVisibility{}
	if err := DelayRetry(ctx, q, "https://q", "rh-1", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := DelayRetry(ctx, q, "https://q", "", 5*time.Minute); err != nil {
		t.Errorf("DelayRetry without a receipt handle = %v, want nil (nothing to change)", err)
	}
	if err := DelayRetry(ctx, q, "https://q", "rh-2", 0); err != nil {
		t.Errorf("DelayRetry with no delay = %v, want nil", err)
	}
	want := []visibilityCall{{"https://q", "rh-1", 300}}
	if len(q.calls) != 1 || q.calls[0] != want[0] {
		t.Errorf("ChangeMessageVisibility calls = %+v, want %+v", q.calls, want)
	}
	if err := DelayRetry(ctx, nil, "", "rh-3", time.Minute); err == nil {
		t.Error("DelayRetry without a queue = nil, want an error")
	}
	q.err = errors.New("ReceiptHandleIsInvalid")
	if err := DelayRetry(ctx, q, "https://q", "rh-4", time.Minute); err == nil || !errors.Is(err, q.err) {
		t.Errorf("DelayRetry when SQS fails = %v, want it wrapped", err)
	}
}
