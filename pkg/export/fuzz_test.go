package export

import (
	"encoding/json"
	"strings"
	"testing"
)

// Seeds beyond these are in testdata/fuzz/FuzzDecodeTask.
func FuzzDecodeTask(f *testing.F) {
	for _, s := range []string{
		`{"type":"events","date":"2020-09-14","partition":"event=purchase"}`,
		`{"run_id":"r1","type":"decisions","date":"2024-02-29","partition":"experiment=123","source_complete":true,"force_before":"2024-03-01T02:03:04Z"}`,
		`{"type":"events","date":"2020-09-14","partition":""}`,
		`{"type":"events","date":"2020-09-14","partition":".."}`,
		`{"type":"events","date":"2020-09-14","partition":"../account_id=9"}`,
		`{"type":"events","date":"2020-09-14","partition":"/etc"}`,
		`{"type":"events","date":"2020-09-14/../..","partition":"x"}`,
		`{"type":"../events","date":"2020-09-14","partition":"x"}`,
		`{"type":"events","date":"2020-09-14","partition":"a\u0000b"}`,
		`{"type":"events","date":"2020-09-14","partition":"event=a\\u002f..\\u002fb"}`,
		`{"type":"events","date":"2020-09-14","partition":"x"} {}`,
		`{"type":"events","date":"2020-09-14","partition":"x","extra":1}`,
		`{"type":"events","date":"2020-09-14","partition":"x","Type":"decisions"}`,
		`{"type":"events","date":" 2020-09-14","partition":"x"}`,
		`{"type":"events","date":"2020-09-14","partition":"x","partition":"y"}`,
		`{"type":"events","date":"2020-09-14","force_before":"2999-01-01T00:00:00Z"}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := DecodeTask(data)
		if err != nil {
			if len(err.Error()) > 4*MaxTaskBytes {
				t.Errorf("DecodeTask error is %d bytes long", len(err.Error()))
			}
			return
		}
		checkTaskPrefix(t, task)
		// An accepted task round-trips through its JSON form.
		enc, err := json.Marshal(task)
		if err != nil {
			t.Fatalf("Marshal(%+v) error = %v", task, err)
		}
		back, err := DecodeTask(enc)
		if err != nil {
			t.Fatalf("DecodeTask(Marshal(%+v)) error = %v", task, err)
		}
		if back != task {
			t.Errorf("round trip = %+v, want %+v", back, task)
		}
	})
}

// checkTaskPrefix asserts the invariants of a valid task's prefix.
func checkTaskPrefix(t *testing.T, task Task) {
	t.Helper()
	p := task.Prefix()
	base := DatePrefix(task.Type, task.Date)
	if !strings.HasPrefix(p, base) || !strings.HasPrefix(p, "type=") {
		t.Errorf("%+v: Prefix() = %q, not under %q", task, p, base)
	}
	if strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") {
		t.Errorf("%+v: Prefix() = %q starts with / or does not end with /", task, p)
	}
	segs := strings.Split(strings.TrimSuffix(p, "/"), "/")
	if len(segs) < 2 || len(segs) > 3 {
		t.Errorf("%+v: Prefix() = %q has %d segments, want 2 or 3", task, p, len(segs))
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.ContainsRune(s, 0) {
			t.Errorf("%+v: Prefix() = %q has segment %q", task, p, s)
		}
	}
	if _, err := ParseDate(task.Date); err != nil {
		t.Errorf("%+v: accepted with bad date: %v", task, err)
	}
}

// FuzzTaskValidate checks the prefix invariants for tasks built field by
// field, which reaches more partitions than JSON does.
func FuzzTaskValidate(f *testing.F) {
	f.Add("events", "2020-09-14", "event=purchase")
	f.Add("decisions", "2024-02-29", "")
	f.Add("events", "2020-09-14", "..")
	f.Add("events", "2020-09-14", "a/../b")
	f.Add("events", "2020-9-14", "x")
	f.Add("events", "2020-09-14", "event=\x7f")
	f.Add("events", "2020-09-14", "event=%2F..%2F")
	f.Fuzz(func(t *testing.T, typ, date, partition string) {
		task := Task{Type: Type(typ), Date: date, Partition: partition}
		if task.Validate() != nil {
			return
		}
		checkTaskPrefix(t, task)
		if strings.Contains(partition, "/") || partition == "." || partition == ".." {
			t.Errorf("Validate accepted partition %q", partition)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2020-09-14", "2024-02-29", "2023-02-29", "0000-01-01", "9999-12-31", "2020-9-14", "2020-09-14T00:00:00Z", " 2020-09-14", "+2020-09-14", "2020-09-14\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err != nil {
			if !strings.Contains(err.Error(), "YYYY-MM-DD") {
				t.Errorf("ParseDate(%q) error %q does not name the format", s, err)
			}
			return
		}
		// An accepted date is canonical: it formats back to itself, so
		// string comparison of dates orders them correctly.
		if got := d.Format(DateLayout); got != s {
			t.Errorf("ParseDate(%q) formats back as %q", s, got)
		}
		if d.Location().String() != "UTC" {
			t.Errorf("ParseDate(%q) location = %v, want UTC", s, d.Location())
		}
		if _, ok := DateFromPrefix("date=" + s + "/"); !ok {
			t.Errorf("DateFromPrefix(date=%s/) rejected a date ParseDate accepts", s)
		}
	})
}
