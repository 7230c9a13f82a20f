package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/pipeline"
	"github.com/e3sync/e3sync/pkg/runlog"
	"github.com/e3sync/e3sync/pkg/source"
)

// exportSource opens the export once and keeps it (source.Lazy).
type exportSource interface {
	Get(ctx context.Context) (*source.Source, error)
}

type handler struct {
	source exportSource
	// newCopier makes the copier over an opened source (once per container).
	newCopier    func(*source.Source) *pipeline.Copier
	runs         runlog.Writer // a task that fails before the copier runs is recorded here
	queue        pipeline.VisibilityQueue
	queueURL     string
	retryBackoff []time.Duration // RETRY_BACKOFF_SECONDS
	metrics      *metrics.Recorder
	log          *slog.Logger

	mu     sync.Mutex
	copier *pipeline.Copier // made on first use, kept while the container is warm
}

// handle accepts an SQS event (tasks in the message bodies; failures
// reported per message) or one task invoked directly.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (any, error) {
	// An SQS event has "Records", spelt exactly so (a map, not a struct:
	// encoding/json would match "records" too).
	var probe map[string]json.RawMessage
	if json.Unmarshal(raw, &probe) == nil && probe["Records"] != nil {
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return h.handleSQS(ctx, ev), nil
	}
	return h.task(ctx, raw)
}

func (h *handler) handleSQS(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, m := range ev.Records {
		if !h.message(ctx, m) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp
}

func (h *handler) run(ctx context.Context, t export.Task) (pipeline.Outcome, error) {
	// Every line of the task carries its ids, including the credential
	// exchange a cold container makes first.
	ctx = logctx.With(ctx, "run_id", t.RunID, "task", t.String())
	c, err := h.getCopier(ctx)
	if err != nil {
		pipeline.PutCredentialMetrics(h.metrics, 0, err)
		h.log.ErrorContext(ctx, "task failed", "error", err.Error())
		pipeline.RecordTask(ctx, h.runs, h.log, t, pipeline.Outcome{Task: t}, err)
		return pipeline.Outcome{Task: t}, err
	}
	return c.Run(ctx, t)
}

func (h *handler) getCopier(ctx context.Context) (*pipeline.Copier, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.copier != nil {
		return h.copier, nil
	}
	src, err := h.source.Get(ctx)
	if err != nil {
		return nil, err
	}
	h.copier = h.newCopier(src)
	return h.copier, nil
}
