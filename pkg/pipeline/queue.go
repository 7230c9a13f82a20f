package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/e3sync/e3sync/pkg/backoff"
	"github.com/e3sync/e3sync/pkg/export"
)

// Queue is the part of *sqs.Client the stages use.
type Queue interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// sendAttempts is how often a failed batch entry is sent again, and
// sendBackoff the wait before each next attempt.
const sendAttempts = 5

var sendBackoff = backoff.Exponential{Base: 200 * time.Millisecond}

// SendTasks sends tasks to the queue, ten per SendMessageBatch call. Entries
// a call reports as failed are sent again (up to sendAttempts times, with
// backoff); nothing is dropped silently: the error says how many were not
// sent. It returns the number sent.
func SendTasks(ctx context.Context, q Queue, url string, tasks []export.Task) (int, error) {
	sent := 0
	for start := 0; start < len(tasks); start += 10 {
		batch := tasks[start:min(start+10, len(tasks))]
		pending := map[string]types.SendMessageBatchRequestEntry{}
		for i, t := range batch {
			body, err := json.Marshal(t)
			if err != nil {
				return sent, err
			}
			id := strconv.Itoa(i)
			pending[id] = types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(string(body))}
		}
		var lastErr string
		for attempt := 1; len(pending) > 0 && attempt <= sendAttempts; attempt++ {
			if err := backoff.Sleep(ctx, sendBackoff.Delay(attempt)); err != nil {
				return sent, err
			}
			entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
			for _, e := range pending {
				entries = append(entries, e)
			}
			out, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
			if err != nil {
				lastErr = err.Error()
				continue
			}
			for _, ok := range out.Successful {
				if _, was := pending[aws.ToString(ok.Id)]; was {
					delete(pending, aws.ToString(ok.Id))
					sent++
				}
			}
			var reasons []string
			for _, f := range out.Failed {
				reasons = append(reasons, aws.ToString(f.Code)+": "+aws.ToString(f.Message))
			}
			lastErr = strings.Join(reasons, "; ")
		}
		if len(pending) > 0 {
			return sent, fmt.Errorf("enqueue: %d of %d tasks not sent after %d attempts (last: %s)", len(tasks)-sent, len(tasks), sendAttempts, lastErr)
		}
	}
	return sent, nil
}
