package export

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestTaskPrefixString(t *testing.T) {
	tests := []struct {
		task       Task
		wantPrefix string
		wantString string
	}{
		{Task{Type: Events, Date: "2020-09-14", Partition: "event=purchase"}, "type=events/date=2020-09-14/event=purchase/", "events/2020-09-14/event=purchase"},
		{Task{Type: Events, Date: "2020-09-14", Partition: "event=add to cart"}, "type=events/date=2020-09-14/event=add to cart/", "events/2020-09-14/event=add to cart"},
		{Task{Type: Decisions, Date: "2021-01-01", Partition: "experiment=123"}, "type=decisions/date=2021-01-01/experiment=123/", "decisions/2021-01-01/experiment=123"},
		{Task{Type: Decisions, Date: "2021-01-01"}, "type=decisions/date=2021-01-01/", "decisions/2021-01-01"},
	}
	for _, tt := range tests {
		if got := tt.task.Prefix(); got != tt.wantPrefix {
			t.Errorf("%#v.Prefix() = %q, want %q", tt.task, got, tt.wantPrefix)
		}
		if got := tt.task.String(); got != tt.wantString {
			t.Errorf("%#v.String() = %q, want %q", tt.task, got, tt.wantString)
		}
	}
}

func TestTaskValidate(t *testing.T) {
	ok := func(p string) Task { return Task{Type: Events, Date: "2020-09-14", Partition: p} }
	tests := []struct {
		name string
		task Task
		ok   bool
	}{
		{"date level", ok(""), true},
		{"plain", ok("event=purchase"), true},
		{"spaces", ok("event=add to cart"), true},
		{"NULL", ok("experiment=NULL"), true},
		{"percent-encoded colon", ok("event=a%3Ab"), true},
		{"semicolon", ok("event=a;b"), true},
		{"parenthesis", ok("event=buy (1)"), true},
		{"unicode", ok("event=café"), true},
		{"1024 bytes", ok(strings.Repeat("p", 1024)), true},
		{"newline (keys are opaque bytes)", ok("a\nb"), true},
		{"tab", ok("a\tb"), true},
		{"DEL", ok("a\x7fb"), true},
		{"run id", Task{RunID: "r1", Type: Decisions, Date: "2024-02-29", Partition: "experiment=1", SourceComplete: true}, true},

		{"dot dot", ok(".."), false},
		{"dot", ok("."), false},
		{"slash", ok("a/b"), false},
		{"leading slash", ok("/etc"), false},
		{"trailing slash", ok("a/"), false},
		{"escape", ok("../../x"), false},
		{"NUL", ok("a\x00b"), false},
		{"1025 bytes", ok(strings.Repeat("p", 1025)), false},
		{"bad date", Task{Type: Events, Date: "2020-02-30", Partition: "p"}, false},
		{"empty date", Task{Type: Events, Partition: "p"}, false},
		{"another type= folder", Task{Type: "decisions-rerun", Date: "2020-09-14", Partition: "p"}, true},
		{"type with a slash", Task{Type: "../events", Date: "2020-09-14", Partition: "p"}, false},
		{"type in capitals", Task{Type: "Events", Date: "2020-09-14", Partition: "p"}, false},
		{"empty type", Task{Date: "2020-09-14"}, false},

		{"force_before now", Task{Type: Events, Date: "2020-09-14", ForceBefore: time.Now()}, true},
		{"force_before within the clock skew", Task{Type: Events, Date: "2020-09-14", ForceBefore: time.Now().Add(MaxClockSkew - time.Minute)}, true},
		{"force_before beyond the clock skew", Task{Type: Events, Date: "2020-09-14", ForceBefore: time.Now().Add(MaxClockSkew + time.Minute)}, false},
		{"force_before years ahead", Task{Type: Events, Date: "2020-09-14", ForceBefore: time.Now().AddDate(30, 0, 0)}, false},
	}
	for _, tt := range tests {
		err := tt.task.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%s) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidTask) {
			t.Errorf("Validate(%s) = %v, want it to wrap ErrInvalidTask", tt.name, err)
		}
	}
}

// TestTaskValidateReportsAll checks that every problem is named in one error.
func TestTaskValidateReportsAll(t *testing.T) {
	err := Task{Type: "bo/gus", Date: "yesterday", Partition: ".."}.Validate()
	if err == nil {
		t.Fatalf("Validate() = nil, want error")
	}
	for _, want := range []string{`"bo/gus"`, `"yesterday"`, `".."`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to mention %s", err, want)
		}
	}
}

func TestDecodeTaskFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/task.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTask(data)
	want := Task{RunID: "r-2024-01-02", Type: Events, Date: "2024-01-02", Partition: "event=add to cart", SourceComplete: true}
	if err != nil || got != want {
		t.Errorf("DecodeTask(testdata/task.json) = %#v, %v, want %#v, nil", got, err, want)
	}
}

func TestDecodeTaskRoundTrip(t *testing.T) {
	tasks := []Task{
		{Type: Events, Date: "2020-09-14"},
		{RunID: "r1", Type: Decisions, Date: "2021-12-31", Partition: "experiment=NULL", SourceComplete: true},
		{Type: Events, Date: "2020-09-14", Partition: `event=a%3Ab;c (d) "quoted" \ back`},
		{Type: Events, Date: "2020-09-14", Partition: "event=café <&>"},
	}
	for _, want := range tasks {
		data, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTask(data)
		if err != nil || got != want {
			t.Errorf("DecodeTask(%s) = %#v, %v, want %#v, nil", data, got, err, want)
		}
	}
}

func TestDecodeTaskRejects(t *testing.T) {
	big := `{"type":"events","date":"2020-09-14","partition":"` + strings.Repeat("p", MaxTaskBytes) + `"}`
	tests := []struct {
		name string
		in   string
	}{
		{"unknown field", `{"type":"events","date":"2020-09-14","partition":"p","token":"secret"}`},
		{"trailing object", `{"type":"events","date":"2020-09-14"}{"type":"events","date":"2020-09-15"}`},
		{"trailing garbage", `{"type":"events","date":"2020-09-14"} x`},
		{"trailing brace", `{"type":"events","date":"2020-09-14"}}`},
		{"trailing bracket", `{"type":"events","date":"2020-09-14"}]`},
		{"oversized", big},
		{"empty", ``},
		{"null", `null`},
		{"array", `[]`},
		{"wrong field type", `{"type":"events","date":"2020-09-14","source_complete":"yes"}`},
		{"truncated", `{"type":"events","date":"2020-09-14"`},
		{"invalid task", `{"type":"events","date":"2020-09-14","partition":"../x"}`},
		{"invalid type", `{"type":"type=events/x","date":"2020-09-14"}`},
		{"negative stalls", `{"type":"events","date":"2020-09-14","stalls":-1}`},
		{"bad force_before", `{"type":"events","date":"2020-09-14","force_before":"yesterday"}`},
		{"force_before in the future", `{"type":"events","date":"2020-09-14","force_before":"` + time.Now().Add(MaxClockSkew+time.Minute).UTC().Format(time.RFC3339) + `"}`},
		{"force_before microseconds as seconds", `{"type":"events","date":"2020-09-14","force_before":"56000-01-01T00:00:00Z"}`},
		{"field name in another case", `{"Type":"events","date":"2020-09-14"}`},
		{"field name in upper case", `{"type":"events","DATE":"2020-09-14"}`},
		{"duplicate field", `{"type":"events","date":"2020-09-14","type":"decisions"}`},
		{"duplicate field, same value", `{"type":"events","date":"2020-09-14","date":"2020-09-14"}`},
		{"duplicate field, escaped name", `{"type":"events","date":"2020-09-14","partition":"a","p\u0061rtition":"b"}`},
	}
	for _, tt := range tests {
		got, err := DecodeTask([]byte(tt.in))
		if err == nil {
			t.Errorf("DecodeTask(%s) = %#v, nil, want error", tt.name, got)
			continue
		}
		if !errors.Is(err, ErrInvalidTask) {
			t.Errorf("DecodeTask(%s) = %v, want it to wrap ErrInvalidTask", tt.name, err)
		}
	}
}

// TestDecodeTaskSizeLimit checks the bound itself: a message of exactly
// MaxTaskBytes is parsed, one byte more is refused before parsing.
func TestDecodeTaskSizeLimit(t *testing.T) {
	frame := `{"type":"events","date":"2020-09-14","partition":""}`
	pad := MaxTaskBytes - len(frame)
	at := `{"type":"events","date":"2020-09-14","partition":"` + strings.Repeat("p", 1) + `"}` + strings.Repeat(" ", pad-1)
	if len(at) != MaxTaskBytes {
		t.Fatalf("test message is %d bytes, want %d", len(at), MaxTaskBytes)
	}
	if _, err := DecodeTask([]byte(at)); err != nil {
		t.Errorf("DecodeTask(%d bytes) = %v, want nil", len(at), err)
	}
	over := at + " "
	_, err := DecodeTask([]byte(over))
	if err == nil || !errors.Is(err, ErrInvalidTask) || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("DecodeTask(%d bytes) = %v, want ErrInvalidTask naming the size", len(over), err)
	}
}

// TestDecodeTaskNamesTheProblem checks that strict-input errors name the
// field and the rule it broke.
func TestDecodeTaskNamesTheProblem(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		in   string
		want string
	}{
		{`{"Type":"events","date":"2020-09-14"}`, `unknown field "Type": field names are case-sensitive, did you mean "type"?`},
		{`{"type":"events","date":"2020-09-14","Source_Complete":true}`, `unknown field "Source_Complete": field names are case-sensitive, did you mean "source_complete"?`},
		{`{"type":"events","date":"2020-09-14","type":"decisions"}`, `duplicate field "type"`},
		{`{"type":"events","date":"2020-09-14","token":"x"}`, `unknown field "token"`},
		{`{"type":"events","date":"2020-09-14","force_before":"` + future + `"}`, "force_before " + future + " is in the future"},
	}
	for _, tt := range tests {
		_, err := DecodeTask([]byte(tt.in))
		if err == nil || !errors.Is(err, ErrInvalidTask) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeTask(%s) = %v, want ErrInvalidTask containing %q", tt.in, err, tt.want)
		}
	}
}
