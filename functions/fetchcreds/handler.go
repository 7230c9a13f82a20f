package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/e3sync/e3sync/pkg/logctx"
	"github.com/e3sync/e3sync/pkg/pipeline"
	"github.com/e3sync/e3sync/pkg/source"
)

// exportSource opens the export once and keeps it (source.Lazy).
type exportSource interface {
	Get(ctx context.Context) (*source.Source, error)
}

type handler struct {
	source exportSource
	// planner has everything but its Source, set per invocation.
	planner pipeline.Planner
	// secret is the PAT's or the source keys' secret, read for its age.
	secret source.ChangeTracker
	log    *slog.Logger

	refreshes int64 // credential refreshes already emitted (Lambda runs one invocation at a time)
}

// handle accepts an EventBridge scheduled event or a backfill request.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (pipeline.PlanSummary, error) {
	runID := runID(ctx, time.Now().UTC())
	ctx = logctx.With(ctx, "run_id", runID)
	req, err := decodeEvent(raw)
	sum := pipeline.PlanSummary{RunID: runID}
	if err == nil {
		sum, err = h.plan(ctx, runID, req)
		sum.RunID = runID // also when the planner refused the request
		h.putTokenAge(time.Now())
	}
	if err != nil {
		// The planner logs its summary line on success; this is the failure's.
		pipeline.PutCredentialMetrics(h.planner.Metrics, 0, err)
		h.log.ErrorContext(ctx, "plan failed", "tasks_enqueued", sum.TasksEnqueued, "error", err.Error())
	}
	return sum, err
}

func (h *handler) plan(ctx context.Context, runID string, req pipeline.Request) (pipeline.PlanSummary, error) {
	src, err := h.source.Get(ctx)
	if err != nil {
		return pipeline.PlanSummary{RunID: runID}, err
	}
	planner := h.planner
	planner.Source = src.Store
	sum, err := planner.Run(ctx, runID, req)
	// Refreshes since the last invocation of this container (the first
	// counts the exchange that opened the source).
	if n := src.Credentials.Refreshes(); n > h.refreshes {
		pipeline.PutCredentialMetrics(h.planner.Metrics, n-h.refreshes, nil)
		h.refreshes = n
	}
	return sum, err
}

// decodeEvent turns the invocation payload into a request: a scheduled
// EventBridge event (or an empty payload) is the default plan.
func decodeEvent(raw json.RawMessage) (pipeline.Request, error) {
	var probe map[string]json.RawMessage
	if json.Unmarshal(raw, &probe) == nil {
		if _, ok := probe["detail-type"]; ok {
			var ev events.EventBridgeEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return pipeline.Request{}, fmt.Errorf("%w: EventBridge event: %v", pipeline.ErrBadRequest, err)
			}
			if ev.DetailType != "Scheduled Event" {
				return pipeline.Request{}, fmt.Errorf("%w: unexpected EventBridge event %q from %q", pipeline.ErrBadRequest, ev.DetailType, ev.Source)
			}
			return pipeline.Request{}, nil
		}
	}
	return pipeline.DecodeRequest(raw)
}

func runID(ctx context.Context, now time.Time) string {
	id := now.Format("20060102T150405Z")
	if lc, ok := lambdacontext.FromContext(ctx); ok && len(lc.AwsRequestID) >= 8 {
		id += "-" + lc.AwsRequestID[:8]
	}
	return id
}
