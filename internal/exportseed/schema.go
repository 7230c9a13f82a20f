// Package exportseed writes a realistic Optimizely Events Export into an S3
// bucket, for tests, benchmarks and the demo: real Parquet files with the
// export's exact schemas, both types, several dates and sub-partitions,
// awkward event names and one multipart-sized file; or a directory of real
// files uploaded as they are.
package exportseed

import (
	"time"

	"github.com/parquet-go/parquet-go"
)

// The Go row types below reproduce, column for column, the Parquet schemas of
// real Optimizely Events Export files (written by Spark as "spark_schema",
// every column nullable). seed_test.go compares them against the real sample
// in ../shared/fixtures/optimizely-labs-sample.

// Decision is one row of a type=decisions file: a visitor bucketed into a
// variation of an experiment.
type Decision struct {
	UUID             *string      `parquet:"uuid,optional"`
	Timestamp        *time.Time   `parquet:"timestamp,optional,timestamp(millisecond)"`
	ProcessTimestamp *time.Time   `parquet:"process_timestamp,optional,timestamp(millisecond)"`
	VisitorID        *string      `parquet:"visitor_id,optional"`
	SessionID        *string      `parquet:"session_id,optional"`
	AccountID        *string      `parquet:"account_id,optional"`
	CampaignID       *string      `parquet:"campaign_id,optional"`
	ExperimentID     *string      `parquet:"experiment_id,optional"`
	VariationID      *string      `parquet:"variation_id,optional"`
	Attributes       []*Attribute `parquet:"attributes,optional,list" parquet-element:",optional"`
	UserIP           *string      `parquet:"user_ip,optional"`
	UserAgent        *string      `parquet:"user_agent,optional"`
	Referer          *string      `parquet:"referer,optional"`
	IsHoldback       *bool        `parquet:"is_holdback,optional"`
	Revision         *string      `parquet:"revision,optional"`
	ClientEngine     *string      `parquet:"client_engine,optional"`
	ClientVersion    *string      `parquet:"client_version,optional"`
}

// Event is one row of a type=events file: a conversion event with the
// experiments the visitor was in at the time.
type Event struct {
	UUID             *string            `parquet:"uuid,optional"`
	Timestamp        *time.Time         `parquet:"timestamp,optional,timestamp(millisecond)"`
	ProcessTimestamp *time.Time         `parquet:"process_timestamp,optional,timestamp(millisecond)"`
	VisitorID        *string            `parquet:"visitor_id,optional"`
	SessionID        *string            `parquet:"session_id,optional"`
	AccountID        *string            `parquet:"account_id,optional"`
	Experiments      []*EventExperiment `parquet:"experiments,optional,list" parquet-element:",optional"`
	EntityID         *string            `parquet:"entity_id,optional"`
	Attributes       []*Attribute       `parquet:"attributes,optional,list" parquet-element:",optional"`
	UserIP           *string            `parquet:"user_ip,optional"`
	UserAgent        *string            `parquet:"user_agent,optional"`
	Referer          *string            `parquet:"referer,optional"`
	EventType        *string            `parquet:"event_type,optional"`
	EventName        *string            `parquet:"event_name,optional"`
	Revenue          *int64             `parquet:"revenue,optional,int(64)"`
	Value            *float64           `parquet:"value,optional"`
	Quantity         *int64             `parquet:"quantity,optional,int(64)"`
	Tags             map[string]string  `parquet:"tags,optional" parquet-value:",optional"`
	Revision         *string            `parquet:"revision,optional"`
	ClientEngine     *string            `parquet:"client_engine,optional"`
	ClientVersion    *string            `parquet:"client_version,optional"`
}

// Attribute is a visitor attribute attached to a decision or an event.
type Attribute struct {
	ID    *string `parquet:"id,optional"`
	Name  *string `parquet:"name,optional"`
	Type  *string `parquet:"type,optional"`
	Value *string `parquet:"value,optional"`
}

// EventExperiment is an experiment a visitor was bucketed in when an event
// happened.
type EventExperiment struct {
	CampaignID   *string `parquet:"campaign_id,optional"`
	ExperimentID *string `parquet:"experiment_id,optional"`
	VariationID  *string `parquet:"variation_id,optional"`
	IsHoldback   *bool   `parquet:"is_holdback,optional"`
}

// sparkSchemaName is the root name Spark gives every Parquet schema it writes.
const sparkSchemaName = "spark_schema"

// DecisionSchema is the Parquet schema of type=decisions files.
func DecisionSchema() *parquet.Schema {
	return parquet.NewSchema(sparkSchemaName, parquet.SchemaOf(Decision{}))
}

// EventSchema is the Parquet schema of type=events files.
func EventSchema() *parquet.Schema {
	return parquet.NewSchema(sparkSchemaName, parquet.SchemaOf(Event{}))
}
