package functions_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/settings"
)

// emfSum adds up one metric over the EMF lines in a function's logs,
// checking each line's namespace and StackName dimension.
func emfSum(t *testing.T, logs, name string) float64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			continue
		}
		v, ok := m[name].(float64)
		if !ok {
			continue
		}
		if m[metrics.DimStack] != "e3sync-test" || !strings.Contains(line, `"Namespace":"e3sync"`) {
			t.Errorf("%s emitted without namespace e3sync and StackName e3sync-test: %s", name, line)
		}
		sum += v
	}
	return sum
}

// copyAll runs every queued task through a copier and fails on a failed one.
func (s *stack) copyAll(t *testing.T, copier *testenv.Lambda) {
	t.Helper()
	msgs := s.drain()
	res := s.invoke(copier, sqsEvent(msgs))
	var resp events.SQSEventResponse
	if res.FunctionError || json.Unmarshal(res.Payload, &resp) != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("copier: %s %s\n%s", res.ErrorType, res.Payload, copier.Logs())
	}
}

// A date rewritten under new part names, through the real Lambdas: the
// copier counts the stale objects (metric ObjectsStale, which
// StaleObjectsAlarm watches) and leaves them; with PRUNE_STALE_OBJECTS=true
// (the PruneStaleObjects parameter) it quarantines and removes them.
func TestRewriteThroughLambdaRuntime(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	d := time.Now().UTC().AddDate(0, 0, -1).Format(export.DateLayout)
	prefix := "type=events/date=" + d + "/event=purchase/"
	old := []string{prefix + "part-00000-aaaa.c000.snappy.parquet", prefix + "part-00001-aaaa.c000.snappy.parquet"}
	for i, k := range old {
		s.put(k, 10_000+i, int64(i))
	}
	s.put("type=events/date="+d+"/_SUCCESS", 0, 0)
	if res := s.invoke(s.fetch, []byte(`{}`)); res.FunctionError {
		t.Fatalf("fetchcreds: %s", res.Payload)
	}
	s.copyAll(t, s.copier)

	for _, k := range old {
		if _, err := s.root.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(acct + k)}); err != nil {
			t.Fatal(err)
		}
	}
	s.put(prefix+"part-00000-bbbb.c000.snappy.parquet", 12_000, 9)
	before := s.sums(dstBucket, dstPrefix)

	// Without pruning: counted, emitted, left alone.
	if res := s.invoke(s.fetch, []byte(`{}`)); res.FunctionError {
		t.Fatalf("fetchcreds: %s", res.Payload)
	}
	msgs := s.drain()
	res := s.invoke(s.copier, sqsEvent(msgs))
	if res.FunctionError {
		t.Fatalf("copier: %s", res.Payload)
	}
	logs := s.copier.Logs()
	if got := emfSum(t, logs, metrics.ObjectsStale); got != float64(len(old)) {
		t.Errorf("ObjectsStale emitted = %v, want %d\n%s", got, len(old), logs)
	}
	if !strings.Contains(logs, `"objects_stale":2`) {
		t.Errorf("no task summary line carries objects_stale 2:\n%s", logs)
	}
	after := s.sums(dstBucket, dstPrefix)
	for _, k := range old {
		if after[k] != before[k] {
			t.Errorf("%s removed without PRUNE_STALE_OBJECTS", k)
		}
	}

	// With pruning: quarantined, removed, the date stays complete.
	env := maps.Clone(s.env)
	env[settings.EnvPrune] = "true"
	pruner := testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/copier"), env)
	if res := s.invoke(pruner, sqsEvent(msgs)); res.FunctionError {
		t.Fatalf("copier with pruning: %s", res.Payload)
	}
	if got := emfSum(t, pruner.Logs(), metrics.ObjectsPruned); got != float64(len(old)) {
		t.Errorf("ObjectsPruned emitted = %v, want %d\n%s", got, len(old), pruner.Logs())
	}
	src, dst := s.sums(srcBucket, acct), s.sums(dstBucket, dstPrefix)
	quarantined := 0
	for k, v := range dst {
		switch {
		case strings.HasPrefix(k, "_e3sync/quarantine/"):
			quarantined++
			orig := k[strings.Index(k, "type="):]
			if before[orig] != v {
				t.Errorf("quarantine %s does not hold the removed %s", k, orig)
			}
		case strings.HasPrefix(k, "_e3sync/"):
		case src[k] != v:
			t.Errorf("destination %s is not the source's", k)
		}
	}
	if quarantined != len(old) {
		t.Errorf("quarantined %d objects, want %d", quarantined, len(old))
	}
	for k := range src {
		if _, ok := dst[k]; !ok {
			t.Errorf("destination lacks %s", k)
		}
	}
	s.assertNoSecrets("copier logs", pruner.Logs())
}
