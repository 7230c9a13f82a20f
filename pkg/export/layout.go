// Package export knows the layout of Optimizely's Experimentation Events
// Export: export types, date partitions, sub-partitions, the _SUCCESS marker,
// and the copy task that names one sub-partition of one date.
//
// Keys are opaque bytes: sub-partition values are free text (NULL, spaces,
// %3A, ';', '(') and are never parsed with a strict pattern; only the
// "type=" and "date=" levels, which Optimizely controls, are.
package export

import (
	"fmt"
	"strings"
	"time"
)

// Type is an export type: the "type=" level of the layout.
type Type string

// The export types Optimizely writes.
const (
	Decisions Type = "decisions"
	Events    Type = "events"
)

// AllTypes lists every known export type, in a stable order.
var AllTypes = []Type{Decisions, Events}

// SuccessMarker is the zero-byte object Optimizely writes at the date level
// when a day is complete.
const SuccessMarker = "_SUCCESS"

// DateLayout is the format of the "date=" level.
const DateLayout = "2006-01-02"

// ParseType returns the Type named s: a known type, or the name of another
// "type=" folder of the export (say decisions-rerun), which can be synced
// explicitly when it has the usual date= layout. Such a name is lowercase
// letters, digits, '-' and '_' (so its prefix cannot leave the account
// root); whether the export has it is the planner's to check.
func ParseType(s string) (Type, error) {
	for _, t := range AllTypes {
		if string(t) == s {
			return t, nil
		}
	}
	if !validTypeName(s) {
		return "", fmt.Errorf("invalid export type %q (want one of %s, or the name of another type= folder of the export: "+
			"lowercase letters, digits, '-' and '_')", s, typeNames())
	}
	return Type(s), nil
}

// Known reports whether t is one of AllTypes.
func Known(t Type) bool {
	for _, k := range AllTypes {
		if k == t {
			return true
		}
	}
	return false
}

func validTypeName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '-' || s[0] == '_' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ParseTypes parses a comma-separated list of export types, e.g.
// "decisions,events". Duplicates are removed; order is kept.
func ParseTypes(s string) ([]Type, error) {
	var out []Type
	seen := map[Type]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		t, err := ParseType(part)
		if err != nil {
			return nil, err
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no export types in %q (want one or more of %s)", s, typeNames())
	}
	return out, nil
}

func typeNames() string {
	names := make([]string, len(AllTypes))
	for i, t := range AllTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// ParseDate parses a YYYY-MM-DD date in UTC.
func ParseDate(s string) (time.Time, error) {
	d, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid date %q: want YYYY-MM-DD", s)
	}
	return d, nil
}

// TypePrefix is the key prefix of one export type, relative to the account
// root: "type=events/".
func TypePrefix(t Type) string { return "type=" + string(t) + "/" }

// DatePrefix is the key prefix of one date of one type, relative to the
// account root: "type=events/date=2020-09-14/".
func DatePrefix(t Type, date string) string { return TypePrefix(t) + "date=" + date + "/" }

// SuccessKey is the key of a date's _SUCCESS marker, relative to the account root.
func SuccessKey(t Type, date string) string { return DatePrefix(t, date) + SuccessMarker }

// DateFromPrefix returns the date of a "date=YYYY-MM-DD/" folder name (the
// part after the type prefix), and whether it is one.
func DateFromPrefix(folder string) (string, bool) {
	d, ok := strings.CutPrefix(folder, "date=")
	if !ok {
		return "", false
	}
	d = strings.TrimSuffix(d, "/")
	if _, err := ParseDate(d); err != nil {
		return "", false
	}
	return d, true
}
