// Package metrics writes CloudWatch metrics in Embedded Metric Format: one
// JSON log line per flush, which CloudWatch Logs turns into metrics. No
// PutMetricData calls, so nothing on the hot path waits for CloudWatch.
package metrics

import (
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"
)

// Metric names; template.yaml's alarms watch these.
const (
	TasksEnqueued  = "TasksEnqueued"
	ObjectsCopied  = "ObjectsCopied"
	ObjectsSkipped = "ObjectsSkipped"
	ObjectsFailed  = "ObjectsFailed"
	BytesCopied    = "BytesCopied"
	DatesCompleted = "DatesCompleted"
	Continuations  = "Continuations"
	TokenRejected  = "TokenRejected"
	// SourceKeysRejected counts failures because the export's S3 refused
	// the static source keys (package source, ErrKeysRejected).
	SourceKeysRejected  = "SourceKeysRejected"
	CredentialRefreshes = "CredentialRefreshes"
	// EventPublishFailures counts completion events that could not be sent
	// to EventBridge after retries (the date itself is complete).
	EventPublishFailures = "EventPublishFailures"
	// StaleUploadsAborted counts multipart uploads left by a killed run and
	// aborted once their task was copied.
	StaleUploadsAborted = "StaleUploadsAborted"
	// ObjectsStale counts destination objects the source no longer lists
	// for a date it still has; ObjectsPruned those moved to quarantine. The
	// stale objects alarm watches the difference: stale objects left in
	// place.
	ObjectsStale  = "ObjectsStale"
	ObjectsPruned = "ObjectsPruned"
	// NewestSyncedDateAgeHours is, per export type, the age in hours of the
	// newest date that is complete in the destination (measured from the end
	// of that day, UTC). The staleness alarm watches it.
	NewestSyncedDateAgeHours = "NewestSyncedDateAgeHours"
	// CatalogFailures counts Glue catalog or schema-check calls that failed
	// (partitions not registered, a schema not read); the copy itself
	// succeeded.
	CatalogFailures = "CatalogFailures"
	// SchemaChanges counts columns added, removed or retyped in the export's
	// Parquet schema, per completed date.
	SchemaChanges = "SchemaChanges"
	// UnknownExportTypes counts type= folders in the export that e3sync does
	// not sync (neither decisions nor events), per planner run.
	UnknownExportTypes = "UnknownExportTypes"
)

// Dimension names.
const (
	DimStack = "StackName"
	DimType  = "Type"
)

// Units.
const (
	Count = "Count"
	Bytes = "Bytes"
	None  = "None"
)

// Recorder collects values and writes them as EMF lines. Safe for concurrent use.
type Recorder struct {
	mu        sync.Mutex
	w         io.Writer
	namespace string
	stack     string
	now       func() time.Time
}

// New returns a recorder writing to w (stdout in a Lambda).
func New(w io.Writer, namespace, stack string) *Recorder {
	return &Recorder{w: w, namespace: namespace, stack: stack, now: time.Now}
}

// Value is one metric value.
type Value struct {
	Name  string
	Unit  string
	Value float64
}

// Put writes one EMF line holding values, with the stack dimension plus the
// given extra dimensions (e.g. Type).
func (r *Recorder) Put(extra map[string]string, values ...Value) error {
	if r == nil || len(values) == 0 {
		return nil
	}
	dims := []string{DimStack}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dims = append(dims, keys...)

	type metricDef struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	defs := make([]metricDef, len(values))
	line := map[string]any{DimStack: r.stack}
	for k, v := range extra {
		line[k] = v
	}
	for i, v := range values {
		defs[i] = metricDef{v.Name, v.Unit}
		line[v.Name] = v.Value
	}
	line["_aws"] = map[string]any{
		"Timestamp": r.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  r.namespace,
			"Dimensions": [][]string{dims},
			"Metrics":    defs,
		}},
	}
	data, err := json.Marshal(line)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err = r.w.Write(append(data, '\n'))
	return err
}
