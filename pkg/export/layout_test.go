package export

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseType(t *testing.T) {
	tests := []struct {
		in   string
		want Type
		ok   bool
	}{
		{"decisions", Decisions, true},
		{"events", Events, true},
		{"", "", false},
		{"Events", "", false},
		{" events", "", false},
		{"event", "event", true}, // another type= folder: the planner checks the export has it
		{"decisions-rerun", "decisions-rerun", true},
		{"../events", "", false},
		{"type=events", "", false},
		{"-x", "", false},
		{"a b", "", false},
	}
	for _, tt := range tests {
		got, err := ParseType(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseType(%q) = %q, %v, want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "decisions, events") {
			t.Errorf("ParseType(%q) error = %q, want it to list the known types", tt.in, err)
		}
	}
}

func TestParseTypes(t *testing.T) {
	tests := []struct {
		in   string
		want []Type
		ok   bool
	}{
		{"decisions", []Type{Decisions}, true},
		{"decisions,events", []Type{Decisions, Events}, true},
		{"events,decisions", []Type{Events, Decisions}, true}, // order kept
		{"events,events", []Type{Events}, true},               // duplicates removed
		{"events,decisions,events", []Type{Events, Decisions}, true},
		{" events , decisions ", []Type{Events, Decisions}, true}, // spaces trimmed
		{"events,,decisions,", []Type{Events, Decisions}, true},   // empty items skipped
		{"events,decisions-rerun", []Type{Events, "decisions-rerun"}, true},
		{"events,bo/gus", nil, false},
		{"Bogus", nil, false},
		{"", nil, false},
		{" ", nil, false},
		{",,", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseTypes(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("ParseTypes(%q) = %v, %v, want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2020-09-14", time.Date(2020, 9, 14, 0, 0, 0, 0, time.UTC), true},
		{"2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"2023-02-29", time.Time{}, false},
		{"2020-9-14", time.Time{}, false},
		{"2020-09-14T00:00:00Z", time.Time{}, false},
		{"20200914", time.Time{}, false},
		{"2020/09/14", time.Time{}, false},
		{"2020-13-01", time.Time{}, false},
		{" 2020-09-14", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseDate(%q) = %v, %v, want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err == nil && got.Location() != time.UTC {
			t.Errorf("ParseDate(%q).Location() = %v, want UTC", tt.in, got.Location())
		}
		if err != nil && !strings.Contains(err.Error(), "\""+tt.in+"\"") {
			t.Errorf("ParseDate(%q) error = %q, want it to quote the value", tt.in, err)
		}
	}
}

func TestDateFromPrefix(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"date=2020-09-14/", "2020-09-14", true},
		{"date=2020-09-14", "2020-09-14", true},
		{"date=2020-02-30/", "", false},
		{"date=/", "", false},
		{"date=latest/", "", false},
		{"dt=2020-09-14/", "", false},
		{"type=events/date=2020-09-14/", "", false},
		{"_temporary/", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := DateFromPrefix(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("DateFromPrefix(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"TypePrefix(events)", TypePrefix(Events), "type=events/"},
		{"DatePrefix(decisions, 2020-09-14)", DatePrefix(Decisions, "2020-09-14"), "type=decisions/date=2020-09-14/"},
		{"SuccessKey(events, 2020-09-14)", SuccessKey(Events, "2020-09-14"), "type=events/date=2020-09-14/_SUCCESS"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}
