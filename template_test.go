package e3sync_test

// Tests of template.yaml (the SAM deployment) and the Makefile targets SAM builds it with.
// The template is read with the CloudFormation decoder of cfn_test.go, so assertions compare
// plain maps and slices.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/e3sync/e3sync/internal/exportseed"
	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/settings"
)

// --- alarms ---
func TestAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	stack := []any{map[string]any{"Name": metrics.DimStack, "Value": ref("AWS::StackName")}}
	typed := func(typ string) []any {
		return append(slices.Clone(stack), map[string]any{"Name": metrics.DimType, "Value": typ})
	}
	tests := []struct {
		id, namespace, metric string
		dims                  []any // nil: not checked
		missing               string
	}{
		{"FetchCredsErrorsAlarm", "AWS/Lambda", "Errors", []any{map[string]any{"Name": "FunctionName", "Value": ref("FetchCredsFunction")}}, "notBreaching"},
		{"CopierErrorsAlarm", "AWS/Lambda", "Errors", []any{map[string]any{"Name": "FunctionName", "Value": ref("CopierFunction")}}, "notBreaching"},
		{"CopyFailuresAlarm", "e3sync", metrics.ObjectsFailed, stack, "notBreaching"},
		{"DeadLetterAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", []any{map[string]any{"Name": "QueueName", "Value": getAtt("TaskDeadLetterQueue", "QueueName")}}, "notBreaching"},
		{"TokenRejectedAlarm", "e3sync", metrics.TokenRejected, stack, "notBreaching"},
		{"SourceKeysRejectedAlarm", "e3sync", metrics.SourceKeysRejected, stack, "notBreaching"},
		{"EventPublishFailuresAlarm", "e3sync", metrics.EventPublishFailures, stack, "notBreaching"},
		{"CatalogFailuresAlarm", "e3sync", metrics.CatalogFailures, stack, "notBreaching"},
		{"SchemaChangesAlarm", "e3sync", metrics.SchemaChanges, stack, "notBreaching"},
		{"UnknownExportTypesAlarm", "e3sync", metrics.UnknownExportTypes, stack, "notBreaching"},
		{"StaleObjectsAlarm", "e3sync", metrics.ObjectsStale, stack, "notBreaching"},
		// No report at all means the planner has not run: stale.
		{"StaleDecisionsAlarm", "e3sync", metrics.NewestSyncedDateAgeHours, typed("decisions"), "breaching"},
		{"StaleEventsAlarm", "e3sync", metrics.NewestSyncedDateAgeHours, typed("events"), "breaching"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			a := tpl.resource(t, tt.id, "AWS::CloudWatch::Alarm")
			if got := a["Namespace"]; got != tt.namespace {
				t.Errorf("Namespace = %v, want %s", got, tt.namespace)
			}
			if got := a["MetricName"]; got != tt.metric {
				t.Errorf("MetricName = %v, want %s", got, tt.metric)
			}
			if tt.dims != nil && !reflect.DeepEqual(a["Dimensions"], tt.dims) {
				t.Errorf("Dimensions = %v, want %v", a["Dimensions"], tt.dims)
			}
			if !slices.ContainsFunc(list(a["AlarmActions"]), func(v any) bool { return reflect.DeepEqual(v, ref("AlarmTopic")) }) {
				t.Errorf("AlarmActions = %v, want it to contain Ref AlarmTopic", a["AlarmActions"])
			}
			desc := a["AlarmDescription"]
			if s, ok := lookup(desc, "Fn::Sub").(string); ok {
				desc = s
			}
			if s, ok := desc.(string); !ok || len(strings.TrimSpace(s)) < 40 {
				t.Errorf("AlarmDescription = %v, want a sentence on what happened and what to do first", a["AlarmDescription"])
			}
			if got := a["TreatMissingData"]; got != tt.missing {
				t.Errorf("TreatMissingData = %v, want %s", got, tt.missing)
			}
		})
	}
}

// The custom-metric alarms must watch what the functions emit: the namespace
// and StackName dimension the template hands them.
func TestAlarmsWatchTheFunctionsMetrics(t *testing.T) {
	tpl := loadTemplate(t)
	env := globalEnv(tpl)
	if !reflect.DeepEqual(env[settings.EnvStackName], ref("AWS::StackName")) {
		t.Errorf("%s = %v, want Ref AWS::StackName (the alarms' StackName dimension)", settings.EnvStackName, env[settings.EnvStackName])
	}
	ns, ok := env[settings.EnvMetricsNS].(string)
	if !ok || ns == "" {
		t.Fatalf("%s = %v, want a literal namespace", settings.EnvMetricsNS, env[settings.EnvMetricsNS])
	}
	for _, id := range tpl.resourceIDs("AWS::CloudWatch::Alarm") {
		a := tpl.resource(t, id, "AWS::CloudWatch::Alarm")
		n, _ := a["Namespace"].(string)
		if strings.HasPrefix(n, "AWS/") {
			continue
		}
		if n != ns {
			t.Errorf("%s: Namespace = %q, want %s's %q", id, n, settings.EnvMetricsNS, ns)
		}
	}
}

// NewestSyncedDateAgeHours arrives once per planner run (daily): with missing
// data breaching, the alarm must look back over more than a day or it fires
// between runs.
func TestStalenessAlarmsSpanADailyRun(t *testing.T) {
	tpl := loadTemplate(t)
	for _, id := range []string{"StaleDecisionsAlarm", "StaleEventsAlarm"} {
		a := tpl.resource(t, id, "AWS::CloudWatch::Alarm")
		period, _ := toInt(a["Period"])
		n, _ := toInt(a["EvaluationPeriods"])
		m := n
		if v, ok := toInt(a["DatapointsToAlarm"]); ok {
			m = v
		}
		if period != 3600 {
			t.Errorf("%s: Period = %d, want 3600", id, period)
		}
		if window := time.Duration(period*m) * time.Second; window <= 24*time.Hour {
			t.Errorf("%s: alarms after %v of breaching or missing data, want more than a day", id, window)
		}
		if got := a["Threshold"]; !reflect.DeepEqual(got, ref("StalenessThresholdHours")) {
			t.Errorf("%s: Threshold = %v, want Ref StalenessThresholdHours", id, got)
		}
		if got := a["Statistic"]; got != "Maximum" {
			t.Errorf("%s: Statistic = %v, want Maximum", id, got)
		}
	}
}

func TestAlarmEmailSubscriptionIsConditional(t *testing.T) {
	tpl := loadTemplate(t)
	tpl.resource(t, "AlarmTopic", "AWS::SNS::Topic")
	ids := tpl.resourceIDs("AWS::SNS::Subscription")
	if len(ids) != 1 {
		t.Fatalf("SNS subscriptions = %v, want one", ids)
	}
	r := tpl.section("Resources")[ids[0]].(map[string]any)
	if r["Condition"] != "HasAlarmEmail" {
		t.Errorf("%s: Condition = %v, want HasAlarmEmail", ids[0], r["Condition"])
	}
	s := tpl.resource(t, ids[0], "AWS::SNS::Subscription")
	if s["Protocol"] != "email" || !reflect.DeepEqual(s["Endpoint"], ref("AlarmEmail")) || !reflect.DeepEqual(s["TopicArn"], ref("AlarmTopic")) {
		t.Errorf("%s = %v, want email to Ref AlarmEmail on Ref AlarmTopic", ids[0], s)
	}
}

// --- queue and event source ---

func TestCopierSQSEventSource(t *testing.T) {
	tpl := loadTemplate(t)
	fn := tpl.resource(t, "CopierFunction", "AWS::Serverless::Function")
	var found int
	for name, e := range lookup(fn, "Events").(map[string]any) {
		if lookup(e, "Type") != "SQS" {
			continue
		}
		found++
		p, _ := lookup(e, "Properties").(map[string]any)
		if !reflect.DeepEqual(p["Queue"], getAtt("TaskQueue", "Arn")) {
			t.Errorf("event %s: Queue = %v, want GetAtt TaskQueue.Arn", name, p["Queue"])
		}
		if n, _ := toInt(p["BatchSize"]); n != 1 {
			t.Errorf("event %s: BatchSize = %v, want 1", name, p["BatchSize"])
		}
		if !slices.Contains(list(p["FunctionResponseTypes"]), any("ReportBatchItemFailures")) {
			t.Errorf("event %s: FunctionResponseTypes = %v, want ReportBatchItemFailures", name, p["FunctionResponseTypes"])
		}
		if got := lookup(p, "ScalingConfig", "MaximumConcurrency"); !reflect.DeepEqual(got, ref("CopierMaxConcurrency")) {
			t.Errorf("event %s: ScalingConfig.MaximumConcurrency = %v, want Ref CopierMaxConcurrency", name, got)
		}
	}
	if found != 1 {
		t.Fatalf("CopierFunction has %d SQS events, want 1", found)
	}
	param := tpl.section("Parameters")["CopierMaxConcurrency"]
	if min, ok := toInt(lookup(param, "MinValue")); !ok || min < 2 {
		t.Errorf("CopierMaxConcurrency MinValue = %v, want >= 2 (the SQS event source minimum)", lookup(param, "MinValue"))
	}
}

func TestTaskQueue(t *testing.T) {
	tpl := loadTemplate(t)
	q := tpl.resource(t, "TaskQueue", "AWS::SQS::Queue")
	dlq := tpl.resource(t, "TaskDeadLetterQueue", "AWS::SQS::Queue")
	if got := lookup(q, "RedrivePolicy", "deadLetterTargetArn"); !reflect.DeepEqual(got, getAtt("TaskDeadLetterQueue", "Arn")) {
		t.Errorf("RedrivePolicy.deadLetterTargetArn = %v, want GetAtt TaskDeadLetterQueue.Arn", got)
	}
	if n, ok := toInt(lookup(q, "RedrivePolicy", "maxReceiveCount")); !ok || n < 1 {
		t.Errorf("RedrivePolicy.maxReceiveCount = %v, want a positive count", lookup(q, "RedrivePolicy", "maxReceiveCount"))
	}
	timeout, ok := toInt(tpl.resource(t, "CopierFunction", "AWS::Serverless::Function")["Timeout"])
	if !ok {
		t.Fatal("CopierFunction has no literal Timeout")
	}
	if vt, _ := toInt(q["VisibilityTimeout"]); vt < 6*timeout {
		t.Errorf("VisibilityTimeout = %d, want >= 6 x CopierFunction Timeout = %d", vt, 6*timeout)
	}
	qr, _ := toInt(q["MessageRetentionPeriod"])
	dr, _ := toInt(dlq["MessageRetentionPeriod"])
	if dr <= qr {
		t.Errorf("dead-letter retention %d s <= task queue retention %d s: moved messages keep their enqueue time and would expire early", dr, qr)
	}
	for id, p := range map[string]map[string]any{"TaskQueue": q, "TaskDeadLetterQueue": dlq} {
		if p["SqsManagedSseEnabled"] != true && p["KmsMasterKeyId"] == nil {
			t.Errorf("%s is not encrypted at rest", id)
		}
	}
}

// --- IAM ---

// statement is one policy statement and where it came from.
type statement struct {
	where string
	cond  string // condition name when it sits in a Fn::If branch
	stmt  map[string]any
}

func (s statement) actions() []string {
	var out []string
	for _, a := range list(s.stmt["Action"]) {
		if str, ok := a.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

// policyStatements collects the inline statements of every SAM function's
// Policies and of every IAM role and policy resource.
func policyStatements(t *testing.T, tpl cfnTemplate) []statement {
	t.Helper()
	var out []statement
	var addStatements func(where, cond string, v any)
	addStatements = func(where, cond string, v any) {
		for _, s := range list(v) {
			m, ok := s.(map[string]any)
			if !ok {
				t.Errorf("%s: statement %v is not a mapping", where, s)
				continue
			}
			if branches, ok := m["Fn::If"].([]any); ok && len(branches) == 3 {
				c, _ := branches[0].(string)
				for _, b := range branches[1:] {
					if !reflect.DeepEqual(b, ref("AWS::NoValue")) {
						addStatements(where, c, b)
					}
				}
				continue
			}
			out = append(out, statement{where, cond, m})
		}
	}
	addDocument := func(where string, doc any) {
		if branches, ok := lookup(doc, "Fn::If").([]any); ok && len(branches) == 3 {
			c, _ := branches[0].(string)
			for _, b := range branches[1:] {
				addStatements(where, c, lookup(b, "Statement"))
			}
			return
		}
		addStatements(where, "", lookup(doc, "Statement"))
	}
	for _, id := range tpl.resourceIDs("AWS::Serverless::Function") {
		for _, p := range list(tpl.resource(t, id, "AWS::Serverless::Function")["Policies"]) {
			if _, managed := p.(string); managed {
				t.Errorf("%s: managed policy %q; want inline least-privilege statements", id, p)
				continue
			}
			if m, ok := p.(map[string]any); ok && m["Statement"] == nil && m["Fn::If"] == nil {
				t.Errorf("%s: policy template %v; want inline statements", id, p)
				continue
			}
			addDocument(id, p)
		}
	}
	// A role a function names (Role: !GetAtt <id>.Arn) counts as that function's.
	roleOf := map[string]string{}
	for _, fn := range tpl.resourceIDs("AWS::Serverless::Function") {
		if id, ok := functionRole(tpl, fn); ok {
			roleOf[id] = fn
		}
	}
	for _, typ := range []string{"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, id := range tpl.resourceIDs(typ) {
			props := tpl.resource(t, id, typ)
			where := id
			if fn, ok := roleOf[id]; ok {
				where = fn
			}
			addDocument(where, props["PolicyDocument"])
			for _, p := range list(props["Policies"]) {
				addDocument(where, lookup(p, "PolicyDocument"))
			}
		}
	}
	return out
}

func hasActionWithPrefix(s statement, prefixes ...string) bool {
	for _, a := range s.actions() {
		for _, p := range prefixes {
			if a == "*" || strings.HasPrefix(a, p) {
				return true
			}
		}
	}
	return false
}

func TestNoWildcardResourceForS3OrSecrets(t *testing.T) {
	tpl := loadTemplate(t)
	stmts := policyStatements(t, tpl)
	if len(stmts) == 0 {
		t.Fatal("no policy statements found")
	}
	for _, s := range stmts {
		if !hasActionWithPrefix(s, "s3:", "secretsmanager:") {
			continue
		}
		for _, r := range list(s.stmt["Resource"]) {
			if str, ok := r.(string); ok && strings.Contains(str, "*") {
				t.Errorf("%s: %v on Resource %q: want a specific resource", s.where, s.actions(), str)
			}
		}
		if s.stmt["NotResource"] != nil {
			t.Errorf("%s: %v with NotResource: want Resource", s.where, s.actions())
		}
	}
}

// Each function may read the source's secret, the PAT's or the static
// keys' (a statement for each, on the condition that its parameter is set),
// and no other.
func TestGetSecretValueOnlyOnTheSourceSecret(t *testing.T) {
	tpl := loadTemplate(t)
	granted := map[string][]string{}
	for _, s := range policyStatements(t, tpl) {
		if !hasActionWithPrefix(s, "secretsmanager:") {
			continue
		}
		if got := s.actions(); !reflect.DeepEqual(got, []string{"secretsmanager:GetSecretValue"}) {
			t.Errorf("%s: Secrets Manager actions %v, want only secretsmanager:GetSecretValue", s.where, got)
		}
		param, _ := lookup(s.stmt["Resource"], "Ref").(string)
		if param != "PatSecretArn" && param != "SourceKeysSecretArn" {
			t.Errorf("%s: GetSecretValue on %v, want exactly Ref PatSecretArn or Ref SourceKeysSecretArn", s.where, s.stmt["Resource"])
		}
		granted[s.where] = append(granted[s.where], param)
	}
	for _, fn := range []string{"FetchCredsFunction", "CopierFunction"} {
		if got := granted[fn]; !slices.Equal(got, []string{"PatSecretArn", "SourceKeysSecretArn"}) {
			t.Errorf("%s reads secrets %v, want the PAT's and the source keys'", fn, got)
		}
	}
}

func TestS3LimitedToDestinationPrefix(t *testing.T) {
	tpl := loadTemplate(t)
	bucketARN := sub("arn:${AWS::Partition}:s3:::${DestinationBucket}")
	objectsARN := sub("arn:${AWS::Partition}:s3:::${DestinationBucket}/${DestinationPrefix}*")
	want := map[string][]string{
		"FetchCredsFunction": {"s3:ListBucket"},
		"CopierFunction":     {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"},
	}
	got := map[string][]string{}
	for _, s := range policyStatements(t, tpl) {
		if !hasActionWithPrefix(s, "s3:") {
			continue
		}
		acts := s.actions()
		got[s.where] = append(got[s.where], acts...)
		if slices.Contains(acts, "s3:ListBucket") {
			if len(acts) != 1 {
				t.Errorf("%s: s3:ListBucket shares a statement with %v: its bucket resource and prefix condition need their own", s.where, acts)
			}
			if !reflect.DeepEqual(s.stmt["Resource"], bucketARN) {
				t.Errorf("%s: s3:ListBucket on %v, want %v", s.where, s.stmt["Resource"], bucketARN)
			}
			if c := lookup(s.stmt, "Condition", "StringLike", "s3:prefix"); !reflect.DeepEqual(c, sub("${DestinationPrefix}*")) {
				t.Errorf("%s: s3:ListBucket condition StringLike s3:prefix = %v, want ${DestinationPrefix}*", s.where, c)
			}
			continue
		}
		if slices.Contains(acts, "s3:DeleteObject") {
			continue // TestDeleteOnlyWhenPruning
		}
		if slices.Contains(acts, "s3:ListBucketMultipartUploads") {
			// A bucket-level action with no prefix condition key in IAM: the
			// copier sees the keys of the bucket's open uploads, and aborts
			// only those under the prefix (s3:AbortMultipartUpload below).
			if len(acts) != 1 || !reflect.DeepEqual(s.stmt["Resource"], bucketARN) {
				t.Errorf("%s: %v on %v, want s3:ListBucketMultipartUploads alone on %v", s.where, acts, s.stmt["Resource"], bucketARN)
			}
			continue
		}
		if !reflect.DeepEqual(s.stmt["Resource"], objectsARN) {
			t.Errorf("%s: %v on %v, want only %v", s.where, acts, s.stmt["Resource"], objectsARN)
		}
	}
	for fn, w := range want {
		g := slices.Clone(got[fn])
		slices.Sort(g)
		if !slices.Equal(g, w) {
			t.Errorf("%s: S3 actions %v, want %v", fn, g, w)
		}
	}
}

func TestKMSOnlyWithAKey(t *testing.T) {
	tpl := loadTemplate(t)
	want := map[string][]string{
		"FetchCredsFunction": nil, // it lists only: no object is read or written
		"CopierFunction":     {"kms:Decrypt", "kms:GenerateDataKey"},
	}
	got := map[string][]string{}
	for _, s := range policyStatements(t, tpl) {
		if !hasActionWithPrefix(s, "kms:") {
			continue
		}
		if s.cond != "HasKmsKey" {
			t.Errorf("%s: %v granted without condition HasKmsKey", s.where, s.actions())
		}
		if !reflect.DeepEqual(s.stmt["Resource"], ref("DestinationKmsKeyArn")) {
			t.Errorf("%s: %v on %v, want Ref DestinationKmsKeyArn", s.where, s.actions(), s.stmt["Resource"])
		}
		got[s.where] = append(got[s.where], s.actions()...)
	}
	for fn, w := range want {
		g := slices.Clone(got[fn])
		slices.Sort(g)
		if !slices.Equal(g, w) {
			t.Errorf("%s: KMS actions %v, want %v", fn, g, w)
		}
	}
}

func TestFunctionsSendOnlyToTheTaskQueue(t *testing.T) {
	tpl := loadTemplate(t)
	senders := map[string]bool{}
	for _, s := range policyStatements(t, tpl) {
		if !slices.Contains(s.actions(), "sqs:SendMessage") {
			continue
		}
		if !reflect.DeepEqual(s.stmt["Resource"], getAtt("TaskQueue", "Arn")) {
			t.Errorf("%s: sqs:SendMessage on %v, want GetAtt TaskQueue.Arn", s.where, s.stmt["Resource"])
		}
		senders[s.where] = true
	}
	for _, fn := range []string{"FetchCredsFunction", "CopierFunction"} {
		if !senders[fn] {
			t.Errorf("%s cannot send to the task queue", fn)
		}
	}
}

// Only the copier publishes completion events, and only to the configured bus.
func TestPutEventsOnlyOnTheConfiguredBus(t *testing.T) {
	tpl := loadTemplate(t)
	bus := sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}")
	publishers := map[string]bool{}
	for _, s := range policyStatements(t, tpl) {
		if !hasActionWithPrefix(s, "events:") {
			continue
		}
		if got := s.actions(); !reflect.DeepEqual(got, []string{"events:PutEvents"}) {
			t.Errorf("%s: EventBridge actions %v, want only events:PutEvents", s.where, got)
		}
		if !reflect.DeepEqual(s.stmt["Resource"], bus) {
			t.Errorf("%s: events:PutEvents on %v, want %v", s.where, s.stmt["Resource"], bus)
		}
		publishers[s.where] = true
	}
	if !publishers["CopierFunction"] || len(publishers) != 1 {
		t.Errorf("functions allowed events:PutEvents = %v, want only CopierFunction", publishers)
	}
	if got := functionEnv(t, tpl, "CopierFunction")[settings.EnvEventBus]; !reflect.DeepEqual(got, ref("EventBusName")) {
		t.Errorf("CopierFunction %s = %v, want Ref EventBusName", settings.EnvEventBus, got)
	}
	if got := lookup(tpl.section("Parameters"), "EventBusName", "Default"); got != "default" {
		t.Errorf("EventBusName Default = %v, want default", got)
	}
}

// --- Glue / Athena ---

// exportSample is the real sample of Optimizely's export (see DESIGN.md).
var exportSample = fixture.SampleDir()

// The Glue tables' columns are the export's Parquet schema mapped by
// pkg/catalog: names, order and types, checked against internal/exportseed's schemas
// and against every file of the real sample.
func TestGlueTablesMatchExportSchema(t *testing.T) {
	tpl := loadTemplate(t)
	tables := []struct {
		id, name, sub string
		schema        *parquet.Schema
	}{
		{"DecisionsTable", "decisions", "experiment", exportseed.DecisionSchema()},
		{"EventsTable", "events", "event", exportseed.EventSchema()},
	}
	for _, tt := range tables {
		t.Run(tt.id, func(t *testing.T) {
			r := tpl.section("Resources")[tt.id].(map[string]any)
			if r["Condition"] != "CreatesAthenaTables" {
				t.Errorf("Condition = %v, want CreatesAthenaTables", r["Condition"])
			}
			props := tpl.resource(t, tt.id, "AWS::Glue::Table")
			if !reflect.DeepEqual(props["DatabaseName"], ref("AthenaDatabase")) {
				t.Errorf("DatabaseName = %v, want Ref AthenaDatabase", props["DatabaseName"])
			}
			in, _ := props["TableInput"].(map[string]any)
			if in["Name"] != tt.name || in["TableType"] != "EXTERNAL_TABLE" {
				t.Errorf("TableInput Name %v, TableType %v; want %s, EXTERNAL_TABLE", in["Name"], in["TableType"], tt.name)
			}
			var got []catalog.Column
			for _, c := range list(lookup(in, "StorageDescriptor", "Columns")) {
				name, _ := lookup(c, "Name").(string)
				typ, _ := lookup(c, "Type").(string)
				got = append(got, catalog.Column{Name: name, Type: typ})
			}
			want, err := catalog.Columns(tt.schema)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("columns differ from the %s schema (internal/exportseed):\n%s", tt.name, columnsDiff(got, want))
			}
			files, _ := filepath.Glob(filepath.Join(exportSample, "type="+tt.name, "date=*", "*=*", "*.parquet"))
			if len(files) == 0 {
				t.Logf("no real sample files of type %s in %s: checked against internal/exportseed only", tt.name, exportSample)
			}
			for _, f := range files {
				real, err := catalog.FileColumns(f)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, real) {
					t.Errorf("columns differ from %s:\n%s", f, columnsDiff(got, real))
				}
			}

			wantKeys := []any{map[string]any{"Name": "date", "Type": "string"}, map[string]any{"Name": tt.sub, "Type": "string"}}
			if !reflect.DeepEqual(in["PartitionKeys"], wantKeys) {
				t.Errorf("PartitionKeys = %v, want %v", in["PartitionKeys"], wantKeys)
			}
			loc := sub("s3://${DestinationBucket}/${DestinationPrefix}type=" + tt.name + "/")
			if got := lookup(in, "StorageDescriptor", "Location"); !reflect.DeepEqual(got, loc) {
				t.Errorf("Location = %v, want %v", got, loc)
			}
			if got := lookup(in, "StorageDescriptor", "SerdeInfo", "SerializationLibrary"); got != "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" {
				t.Errorf("SerializationLibrary = %v, want the Parquet SerDe", got)
			}
			// No partition projection: Athena ignores catalog partitions when it is on,
			// and other engines see only catalog partitions (registered by the copier).
			params, _ := in["Parameters"].(map[string]any)
			if params["classification"] != "parquet" {
				t.Errorf("Parameters[classification] = %v, want parquet", params["classification"])
			}
			for k := range params {
				if strings.HasPrefix(k, "projection.") || k == "storage.location.template" {
					t.Errorf("Parameters[%s] is set: partition projection hides the registered partitions from Athena", k)
				}
			}
		})
	}
	db := tpl.resource(t, "AthenaDatabase", "AWS::Glue::Database")
	if got := lookup(db, "DatabaseInput", "Name"); !reflect.DeepEqual(got, ref("AthenaDatabaseName")) {
		t.Errorf("AthenaDatabase name = %v, want Ref AthenaDatabaseName", got)
	}
	p := tpl.section("Parameters")["CreateAthenaTables"]
	if lookup(p, "Default") != "false" {
		t.Errorf("CreateAthenaTables Default = %v, want \"false\" (opt-in)", lookup(p, "Default"))
	}
}

// The copier registers partitions in the stack's tables only when it creates
// them, with Glue permissions on that database and its two tables only.
func TestCopierRegistersPartitionsInTheStacksTables(t *testing.T) {
	tpl := loadTemplate(t)
	want := map[string]any{"Fn::If": []any{"CreatesAthenaTables", ref("AthenaDatabaseName"), ""}}
	if got := functionEnv(t, tpl, "CopierFunction")[settings.EnvGlueDatabase]; !reflect.DeepEqual(got, want) {
		t.Errorf("CopierFunction %s = %v, want %v", settings.EnvGlueDatabase, got, want)
	}
	if got := functionEnv(t, tpl, "FetchCredsFunction")[settings.EnvGlueDatabase]; got != nil {
		t.Errorf("FetchCredsFunction %s = %v, want unset (only the copier registers)", settings.EnvGlueDatabase, got)
	}
	prefix := "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:"
	wantRes := []any{
		sub(prefix + "catalog"), sub(prefix + "database/${AthenaDatabaseName}"),
		sub(prefix + "table/${AthenaDatabaseName}/decisions"), sub(prefix + "table/${AthenaDatabaseName}/events"),
	}
	var found bool
	for _, s := range policyStatements(t, tpl) {
		if !hasActionWithPrefix(s, "glue:") {
			continue
		}
		if s.where != "CopierFunction" || s.cond != "CreatesAthenaTables" {
			t.Errorf("%s (condition %q): glue actions %v, want them only on the copier, only with CreatesAthenaTables", s.where, s.cond, s.actions())
		}
		if !reflect.DeepEqual(list(s.stmt["Resource"]), wantRes) {
			t.Errorf("%s: glue actions on %v, want %v", s.where, s.stmt["Resource"], wantRes)
		}
		for _, a := range s.actions() {
			if strings.Contains(a, "*") || strings.Contains(a, "Delete") && a != "glue:BatchDeletePartition" {
				t.Errorf("%s: glue action %s, want named partition and table actions", s.where, a)
			}
		}
		found = true
	}
	if !found {
		t.Error("no glue statement: the copier cannot register partitions")
	}
}

func columnsDiff(got, want []catalog.Column) string {
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		var g, w catalog.Column
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		mark := "  "
		if g != w {
			mark = "! "
		}
		fmt.Fprintf(&b, "%s%-2d template %s %s | want %s %s\n", mark, i, g.Name, g.Type, w.Name, w.Type)
	}
	return b.String()
}

// --- functions, build and environment ---

func TestGlobals(t *testing.T) {
	tpl := loadTemplate(t)
	if got := tpl["Transform"]; got != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %v, want AWS::Serverless-2016-10-31", got)
	}
	g := lookup(tpl.section("Globals"), "Function")
	for key, want := range map[string]any{
		"Runtime":       "provided.al2023",
		"Architectures": []any{"arm64"},
		"Handler":       "bootstrap",
		"LoggingConfig": map[string]any{"LogFormat": "JSON"},
	} {
		if got := lookup(g, key); !reflect.DeepEqual(got, want) {
			t.Errorf("Globals.Function.%s = %v, want %v", key, got, want)
		}
	}
}

// functionDirs maps each function to its main package under functions/.
var functionDirs = map[string]string{
	"FetchCredsFunction": "fetchcreds",
	"CopierFunction":     "copier",
}

func TestFunctionsBuildWithMakefile(t *testing.T) {
	tpl := loadTemplate(t)
	ids := tpl.resourceIDs("AWS::Serverless::Function")
	if want := slices.Sorted(maps.Keys(functionDirs)); !slices.Equal(ids, want) {
		t.Fatalf("functions = %v, want %v", ids, want)
	}
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			r := tpl.section("Resources")[id]
			if got := lookup(r, "Metadata", "BuildMethod"); got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %v, want makefile", got)
			}
			if got := lookup(r, "Properties", "CodeUri"); got != "." {
				t.Errorf("CodeUri = %v, want . (the module root, where the Makefile is)", got)
			}
			target := "build-" + id
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `:`).Match(makefile) {
				t.Fatalf("Makefile has no %s target", target)
			}
			if _, err := exec.LookPath("make"); err != nil {
				t.Skip("make not on PATH: recipe not checked")
			}
			artifacts := t.TempDir()
			cmd := exec.Command("make", "-n", "--no-print-directory", target, "ARTIFACTS_DIR="+artifacts)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n %s: %v\n%s", target, err, out)
			}
			recipe := string(out)
			for _, want := range []string{
				"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "-tags lambda.norpc",
				"-o " + filepath.Join(artifacts, "bootstrap"),
				"./functions/" + functionDirs[id],
			} {
				if !strings.Contains(recipe, want) {
					t.Errorf("make -n %s = %q, want it to contain %q", target, recipe, want)
				}
			}
		})
	}
}

// knownEnv is every variable pkg/settings reads.
var knownEnv = []string{
	settings.EnvPATSecret, settings.EnvKeysSecret, settings.EnvDestBucket, settings.EnvDestPrefix, settings.EnvDestKMSKey,
	settings.EnvTypes, settings.EnvLookback, settings.EnvMaxBackfillDays, settings.EnvTaskQueue,
	settings.EnvDuration, settings.EnvConcurrency, settings.EnvPartSizeMiB, settings.EnvMetricsNS,
	settings.EnvStackName, settings.EnvSecretTTL, settings.EnvAPIURL, settings.EnvSourceEndpoint,
	settings.EnvEventBus, settings.EnvGlueDatabase, settings.EnvPrune,
}

func globalEnv(tpl cfnTemplate) map[string]any {
	m, _ := lookup(tpl.section("Globals"), "Function", "Environment", "Variables").(map[string]any)
	return m
}

// functionEnv is a function's environment as SAM merges it: Globals, then the function's own.
func functionEnv(t *testing.T, tpl cfnTemplate, id string) map[string]any {
	t.Helper()
	env := map[string]any{}
	for k, v := range globalEnv(tpl) {
		env[k] = v
	}
	own, _ := lookup(tpl.resource(t, id, "AWS::Serverless::Function"), "Environment", "Variables").(map[string]any)
	for k, v := range own {
		env[k] = v
	}
	return env
}

func TestEnvironmentMatchesSettings(t *testing.T) {
	tpl := loadTemplate(t)
	required := []string{settings.EnvPATSecret, settings.EnvKeysSecret, settings.EnvDestBucket, settings.EnvTaskQueue}
	for _, id := range tpl.resourceIDs("AWS::Serverless::Function") {
		t.Run(id, func(t *testing.T) {
			env := functionEnv(t, tpl, id)
			for name := range env {
				if !slices.Contains(knownEnv, name) {
					t.Errorf("%s is not a variable pkg/settings reads (settings.Env*)", name)
				}
			}
			for _, name := range required {
				if v, ok := env[name]; !ok || v == nil || v == "" {
					t.Errorf("required %s is not set", name)
				}
			}
			for _, name := range []string{settings.EnvAPIURL, settings.EnvSourceEndpoint} {
				if _, ok := env[name]; ok {
					t.Errorf("%s is for tests and emulators; a deployment must use Optimizely's real endpoints", name)
				}
			}
		})
	}
	if got := functionEnv(t, tpl, "CopierFunction")[settings.EnvConcurrency]; got == nil {
		t.Errorf("CopierFunction: %s is not set", settings.EnvConcurrency)
	}
	if got := globalEnv(tpl)[settings.EnvTaskQueue]; !reflect.DeepEqual(got, ref("TaskQueue")) {
		t.Errorf("%s = %v, want Ref TaskQueue (its URL)", settings.EnvTaskQueue, got)
	}
}

func TestOutputs(t *testing.T) {
	tpl := loadTemplate(t)
	outputs := tpl.section("Outputs")
	for _, name := range []string{"TaskQueueUrl", "DeadLetterQueueUrl", "FetchCredsFunctionName", "CopierFunctionName", "AlarmTopicArn"} {
		if lookup(outputs, name, "Value") == nil {
			t.Errorf("output %s is missing or has no Value", name)
		}
	}
}

// --- cfn-lint ---

func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cfn-lint is not on PATH (required when CI=true)")
		}
		t.Skip("cfn-lint is not on PATH")
	}
	// A guard against a hang, not a measure: cfn-lint takes ~10 s of CPU, but
	// took 3.5 min of wall time on 2 cores shared by a load of 40.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, templatePath)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("cfn-lint %s: %v", templatePath, err)
	}
	if err != nil || out.Len() > 0 {
		t.Errorf("cfn-lint %s: %v\n%s", templatePath, err, out.String())
	}
}

// Only the copier may delete, only when PruneStaleObjects is "true" (the
// same parameter turns pruning on in its environment), and only in the table
// locations under the destination prefix: never the quarantine or the state
// under _e3sync/.
func TestDeleteOnlyWhenPruning(t *testing.T) {
	tpl := loadTemplate(t)
	tables := sub("arn:${AWS::Partition}:s3:::${DestinationBucket}/${DestinationPrefix}type=*")
	deleters := map[string]bool{}
	for _, s := range policyStatements(t, tpl) {
		if !slices.ContainsFunc(s.actions(), func(a string) bool { return a == "*" || a == "s3:*" || strings.HasPrefix(a, "s3:Delete") }) {
			continue
		}
		deleters[s.where] = true
		if got := s.actions(); !slices.Equal(got, []string{"s3:DeleteObject"}) {
			t.Errorf("%s: delete actions %v, want s3:DeleteObject alone", s.where, got)
		}
		if s.cond != "PrunesStaleObjects" {
			t.Errorf("%s: s3:DeleteObject under condition %q, want PrunesStaleObjects", s.where, s.cond)
		}
		if !reflect.DeepEqual(s.stmt["Resource"], tables) {
			t.Errorf("%s: s3:DeleteObject on %v, want %v", s.where, s.stmt["Resource"], tables)
		}
	}
	if !deleters["CopierFunction"] || len(deleters) != 1 {
		t.Errorf("functions that may delete = %v, want only CopierFunction", deleters)
	}
	cond := lookup(tpl.section("Conditions"), "PrunesStaleObjects")
	if want := map[string]any{"Fn::Equals": []any{ref("PruneStaleObjects"), "true"}}; !reflect.DeepEqual(cond, want) {
		t.Errorf("condition PrunesStaleObjects = %v, want %v", cond, want)
	}
	if got := lookup(tpl.section("Parameters"), "PruneStaleObjects", "Default"); got != "false" {
		t.Errorf("PruneStaleObjects Default = %v, want \"false\" (pruning is opt-in)", got)
	}
	if got := functionEnv(t, tpl, "CopierFunction")[settings.EnvPrune]; !reflect.DeepEqual(got, ref("PruneStaleObjects")) {
		t.Errorf("CopierFunction %s = %v, want Ref PruneStaleObjects", settings.EnvPrune, got)
	}
	if _, ok := functionEnv(t, tpl, "FetchCredsFunction")[settings.EnvPrune]; ok {
		t.Errorf("FetchCredsFunction has %s: only the copier prunes", settings.EnvPrune)
	}
}

// TestServerlessRepoMetadata checks the Serverless Application Repository
// metadata against SAR's documented limits, and that the files it names exist
// (sam package uploads them).
func TestServerlessRepoMetadata(t *testing.T) {
	tpl := loadTemplate(t)
	app, ok := lookup(tpl.section("Metadata"), "AWS::ServerlessRepo::Application").(map[string]any)
	if !ok {
		t.Fatal("no Metadata: AWS::ServerlessRepo::Application")
	}
	str := func(k string) string {
		s, _ := app[k].(string)
		return s
	}
	for _, c := range []struct {
		field   string
		pattern string
		max     int
	}{
		{"Name", `^[a-zA-Z0-9-]+$`, 140},
		{"Description", `^\S[\s\S]*$`, 256},
		{"Author", `^[a-z0-9](?:[a-z0-9]|-[a-z0-9])*$`, 127},
		{"SpdxLicenseId", `^Apache-2\.0$`, 0},
		{"SemanticVersion", `^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$`, 0},
		{"HomePageUrl", `^https://github\.com/e3sync/e3sync$`, 0},
		{"SourceCodeUrl", `^https://github\.com/e3sync/e3sync$`, 0},
		{"LicenseUrl", `^LICENSE$`, 0},
		{"ReadmeUrl", `^README\.md$`, 0},
	} {
		v := str(c.field)
		if !regexp.MustCompile(c.pattern).MatchString(v) || (c.max > 0 && len(v) > c.max) {
			t.Errorf("%s = %q; want %s (at most %d characters)", c.field, v, c.pattern, c.max)
		}
	}
	labels, _ := app["Labels"].([]any)
	if len(labels) == 0 || len(labels) > 10 {
		t.Errorf("Labels = %v; want 1 to 10", labels)
	}
	for _, l := range labels {
		if s, _ := l.(string); !regexp.MustCompile(`^[a-zA-Z0-9+\-_:/@]{1,127}$`).MatchString(s) {
			t.Errorf("label %v is not a SAR label", l)
		}
	}
	for _, f := range []string{str("LicenseUrl"), str("ReadmeUrl")} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v; sam package uploads it", f, err)
		}
	}
	if lic, err := os.ReadFile("LICENSE"); err != nil || !bytes.Contains(lic, []byte("Apache License\n                           Version 2.0, January 2004")) {
		t.Errorf("LICENSE is not the Apache License 2.0 text (%v)", err)
	}
}
