package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// Only an event with "Records", spelt exactly so, is taken for an SQS event;
// any other payload is one task, decoded strictly.
func TestHandleRecordsSpelling(t *testing.T) {
	for _, payload := range []string{`{"records":[]}`, `{"RECORDS":[{"body":"{}"}]}`} {
		// A rejected task is logged and counted (TasksFailed): a logger and a pipeline without a metrics sink.
		h := &handler{log: slog.New(slog.DiscardHandler)}
		out, err := h.handle(context.Background(), json.RawMessage(payload))
		if err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("handle(%s) = %v, %v, want the task decoder's unknown field error", payload, out, err)
		}
	}
}
