package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// VisibilityQueue is the part of *sqs.Client that delays a failed task's
// next attempt.
type VisibilityQueue interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

var _ VisibilityQueue = (*sqs.Client)(nil)

// RetryDelay is how long a task that failed on its receiveCount-th receive
// waits before SQS delivers it again, from a back-off schedule (one delay
// per attempt; the last one repeats):
//
//	receiveCount              | delay
//	< 1 (unknown)             | schedule[0]
//	1 .. len(schedule)        | schedule[receiveCount-1]
//	> len(schedule)           | schedule[len(schedule)-1]
//	any, schedule empty       | 0 (no back-off: the queue's visibility timeout applies)
func RetryDelay(schedule []time.Duration, receiveCount int) time.Duration {
	switch {
	case len(schedule) == 0:
		return 0
	case receiveCount < 1:
		return schedule[0]
	case receiveCount > len(schedule):
		return schedule[len(schedule)-1]
	default:
		return schedule[receiveCount-1]
	}
}

// retryCallTimeout bounds the ChangeMessageVisibility call.
const retryCallTimeout = 10 * time.Second

// DelayRetry makes a failed message visible again after delay instead of
// the queue's visibility timeout, so a failing task is retried within
// minutes and reaches the dead-letter queue (after the redrive policy's
// maxReceiveCount receives) within about an hour. A zero delay or an empty
// receipt handle (a message not received from SQS) changes nothing. An
// error leaves the message under the queue's own visibility timeout: it is
// retried later, not lost.
func DelayRetry(ctx context.Context, q VisibilityQueue, queueURL, receiptHandle string, delay time.Duration) error {
	if delay <= 0 || receiptHandle == "" {
		return nil
	}
	if q == nil || queueURL == "" {
		return errors.New("delay retry: no task queue")
	}
	ctx, cancel := context.WithTimeout(ctx, retryCallTimeout)
	defer cancel()
	_, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(queueURL),
		ReceiptHandle:     aws.String(receiptHandle),
		VisibilityTimeout: int32(delay / time.Second),
	})
	if err != nil {
		return fmt.Errorf("delay retry by %v: %w", delay, err)
	}
	return nil
}
