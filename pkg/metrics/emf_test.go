package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The exact shape CloudWatch's Embedded Metric Format expects
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
// a root "_aws" member with an integer millisecond Timestamp and a
// CloudWatchMetrics array of directives {Namespace, Dimensions: [[names]],
// Metrics: [{Name, Unit}]}; every dimension and metric named there is a
// root member holding its value.
func TestPutLineShape(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, "e3sync", "prod-stack")
	r.now = func() time.Time { return time.UnixMilli(1704103200123) }
	if err := r.Put(map[string]string{DimType: "events"},
		Value{Name: NewestSyncedDateAgeHours, Unit: None, Value: 30.5},
		Value{Name: BytesCopied, Unit: Bytes, Value: 1024},
	); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "}\n") || strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("output %q, want exactly one JSON line", buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"StackName":                "prod-stack",
		"Type":                     "events",
		"NewestSyncedDateAgeHours": 30.5,
		"BytesCopied":              1024.0,
		"_aws": map[string]any{
			"Timestamp": 1704103200123.0,
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "e3sync",
				"Dimensions": []any{[]any{"StackName", "Type"}},
				"Metrics": []any{
					map[string]any{"Name": "NewestSyncedDateAgeHours", "Unit": "None"},
					map[string]any{"Name": "BytesCopied", "Unit": "Bytes"},
				},
			}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EMF line =\n%v\nwant\n%v", got, want)
	}
	// Timestamp must be a JSON integer, not a float in exponent form.
	if !strings.Contains(buf.String(), `"Timestamp":1704103200123`) {
		t.Errorf("Timestamp not an integer: %s", buf.String())
	}
}

func TestPutDimensions(t *testing.T) {
	tests := []struct {
		extra map[string]string
		want  []any
	}{
		{nil, []any{"StackName"}},
		{map[string]string{"Type": "decisions"}, []any{"StackName", "Type"}},
		{map[string]string{"Zeta": "z", "Alpha": "a"}, []any{"StackName", "Alpha", "Zeta"}}, // sorted: stable lines
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := New(&buf, "ns", "s").Put(tt.extra, Value{Name: ObjectsCopied, Unit: Count, Value: 1}); err != nil {
			t.Fatal(err)
		}
		var line struct {
			AWS struct {
				CloudWatchMetrics []struct{ Dimensions [][]any } `json:"CloudWatchMetrics"`
			} `json:"_aws"`
		}
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if got := line.AWS.CloudWatchMetrics[0].Dimensions; len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
			t.Errorf("Put(%v) dimensions = %v, want [%v]", tt.extra, got, tt.want)
		}
	}
}

func TestPutNothing(t *testing.T) {
	var buf bytes.Buffer
	if err := New(&buf, "ns", "s").Put(nil); err != nil || buf.Len() != 0 {
		t.Errorf("Put with no values = %v, wrote %q; want nothing", err, buf.String())
	}
	var nilRecorder *Recorder
	if err := nilRecorder.Put(nil, Value{Name: ObjectsCopied, Unit: Count, Value: 1}); err != nil {
		t.Errorf("nil Recorder Put = %v, want nil (metrics off)", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestPutWriteError(t *testing.T) {
	if err := New(failingWriter{}, "ns", "s").Put(nil, Value{Name: ObjectsCopied, Unit: Count, Value: 1}); err == nil {
		t.Error("Put on a failing writer = nil, want the error")
	}
}

// Concurrent Puts never interleave inside a line.
func TestPutConcurrent(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, "ns", "s")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Put(nil, Value{Name: ObjectsCopied, Unit: Count, Value: float64(i)})
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("invalid line %q", l)
		}
	}
}
