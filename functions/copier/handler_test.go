package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// Only an event with "Records", spelt exactly so, is taken for an SQS event;
// any other payload is one task, decoded strictly.
func TestHandleRecordsSpelling(t *testing.T) {
	for _, payload := range []string{`{"records":[]}`, `{"RECORDS":[{"body":"{}"}]}`} {
		out, err := (&handler{}).handle(context.Background(), json.RawMessage(payload))
		if err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("handle(%s) = %v, %v, want the task decoder's unknown field error", payload, out, err)
		}
	}
}
