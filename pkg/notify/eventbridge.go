// Package notify publishes e3sync's completion events to Amazon EventBridge:
// one "Export Date Synced" event each time a date becomes complete in the
// destination, so downstream jobs (Athena refreshes, dbt runs, Glue jobs)
// can start on an event instead of polling for _SUCCESS.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/e3sync/e3sync/pkg/backoff"
)

// The event's envelope. A rule matches them with the pattern
//
//	{"source": ["e3sync"], "detail-type": ["Export Date Synced"]}
const (
	Source         = "e3sync"
	DetailDateSync = "Export Date Synced"
)

// DateSynced is the event's detail: a date of one export type that is now
// complete in the destination (its _SUCCESS written last). Objects and Bytes
// count the whole date in the destination, without the _SUCCESS marker.
type DateSynced struct {
	// AccountID is the Optimizely account whose export the date belongs
	// to: with one stack per account on one bus, rules and consumers tell
	// the accounts apart by it.
	AccountID   string `json:"account_id"`
	Type        string `json:"type"`        // "decisions" or "events"
	Date        string `json:"date"`        // YYYY-MM-DD
	Objects     int    `json:"objects"`     // data objects under the date
	Bytes       int64  `json:"bytes"`       // their total size
	Destination string `json:"destination"` // s3://bucket/prefix/type=events/date=2024-01-01/
	RunID       string `json:"run_id"`      // the planner run that sent the task
}

// PutEventsAPI is the part of *eventbridge.Client the publisher uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Defaults for EventBridge.
const (
	DefaultAttempts = 3
	DefaultBackoff  = 200 * time.Millisecond
)

// EventBridge publishes events to one bus.
type EventBridge struct {
	Client PutEventsAPI
	// Bus is the event bus name or ARN; "" means "default".
	Bus string
	// Attempts is how many times a call is made when it fails or reports
	// the entry as failed (zero: DefaultAttempts). The SDK's own retries of
	// transport errors happen inside each attempt.
	Attempts int
	// Backoff is the wait before the second attempt, doubled after each
	// (zero: DefaultBackoff).
	Backoff time.Duration
}

// PublishDateSynced sends one DateSynced event, trying again on a failed
// call or a failed entry. The error says why the last attempt failed.
func (e *EventBridge) PublishDateSynced(ctx context.Context, d DateSynced) error {
	detail, err := json.Marshal(d)
	if err != nil {
		return err
	}
	bus := e.Bus
	if bus == "" {
		bus = "default"
	}
	attempts, base := e.Attempts, e.Backoff
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	if base <= 0 {
		base = DefaultBackoff
	}
	in := &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		EventBusName: aws.String(bus),
		Source:       aws.String(Source),
		DetailType:   aws.String(DetailDateSync),
		Detail:       aws.String(string(detail)),
	}}}
	pace := backoff.Exponential{Base: base}
	var last error
	for attempt := 1; attempt <= attempts; attempt++ {
		if err := backoff.Sleep(ctx, pace.Delay(attempt)); err != nil {
			return errors.Join(last, err)
		}
		out, err := e.Client.PutEvents(ctx, in)
		if err == nil {
			if err = failedEntries(out); err == nil {
				return nil
			}
		}
		last = err
	}
	return fmt.Errorf("put event %s %s/%s on bus %s: %d attempts: %w", DetailDateSync, d.Type, d.Date, bus, attempts, last)
}

// failedEntries turns a PutEvents answer that reports failed entries into an
// error.
func failedEntries(out *eventbridge.PutEventsOutput) error {
	if out == nil || out.FailedEntryCount == 0 {
		return nil
	}
	var reasons []string
	for _, e := range out.Entries {
		if e.ErrorCode != nil || e.ErrorMessage != nil {
			reasons = append(reasons, aws.ToString(e.ErrorCode)+": "+aws.ToString(e.ErrorMessage))
		}
	}
	if len(reasons) == 0 {
		reasons = []string{"no reason given"}
	}
	return fmt.Errorf("%d entries failed (%s)", out.FailedEntryCount, strings.Join(reasons, "; "))
}
