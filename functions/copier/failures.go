package main

import (
	"context"
	"path"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/pipeline"
)

// message runs the task of one SQS record and reports whether it
// succeeded. A failed task's next delivery is delayed by the back-off for
// its attempt (RETRY_BACKOFF_SECONDS) rather than the queue's visibility
// timeout; the record is reported as a batch item failure either way, so a
// failed delay never loses the task.
func (h *handler) message(ctx context.Context, m events.SQSMessage) bool {
	ctx = logctx.With(ctx, "message_id", m.MessageId)
	attempt := receiveCount(m)
	if attempt > 1 {
		h.metrics.Put(nil, metrics.Value{Name: metrics.TaskRetries, Unit: metrics.Count, Value: 1})
	}
	if _, err := h.task(ctx, []byte(m.Body)); err == nil {
		return true
	}
	h.delayRetry(ctx, m, attempt)
	return false
}

// task decodes and runs one task (an SQS message body or a direct
// invocation's payload). It is the one place a failed task is counted
// (TasksFailed), whatever step failed: decoding, the credential exchange,
// listing, copying or completing the date.
func (h *handler) task(ctx context.Context, body []byte) (pipeline.Outcome, error) {
	t, err := export.DecodeTask(body)
	var out pipeline.Outcome
	if err != nil {
		// Run never saw it: this is the task's one log line.
		h.log.ErrorContext(ctx, "task rejected", "error", err.Error())
	} else {
		out, err = h.run(ctx, t) // logs its own summary line
	}
	if err != nil {
		h.metrics.Put(nil, metrics.Value{Name: metrics.TasksFailed, Unit: metrics.Count, Value: 1})
	}
	return out, err
}

// delayRetry makes the failed message visible again after the back-off for
// its attempt. Failing that, the message keeps the queue's visibility
// timeout: retried later, not lost.
func (h *handler) delayRetry(ctx context.Context, m events.SQSMessage, attempt int) {
	if m.ReceiptHandle == "" {
		return // not received from SQS: nothing to delay
	}
	if !fromQueue(m.EventSourceARN, h.queueURL) {
		h.log.WarnContext(ctx, "retry not delayed: the message is not from the task queue", "event_source_arn", m.EventSourceARN)
		return
	}
	delay := pipeline.RetryDelay(h.retryBackoff, attempt)
	if err := pipeline.DelayRetry(ctx, h.queue, h.queueURL, m.ReceiptHandle, delay); err != nil {
		h.log.WarnContext(ctx, "retry not delayed; the queue's visibility timeout applies", "attempt", attempt, "error", err.Error())
		return
	}
	h.log.InfoContext(ctx, "retry delayed", "attempt", attempt, "retry_in_seconds", int(delay.Seconds()))
}

// receiveCount is the record's ApproximateReceiveCount: 1 on the first
// delivery, 0 when unknown.
func receiveCount(m events.SQSMessage) int {
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil {
		return 0
	}
	return n
}

// fromQueue reports whether a queue ARN (arn:aws:sqs:region:account:name)
// names the queue at url (.../account/name). An empty ARN (a hand-made
// event) is taken to be the task queue.
func fromQueue(arn, url string) bool {
	if arn == "" {
		return true
	}
	return arn[strings.LastIndex(arn, ":")+1:] == path.Base(url)
}
