package verify

import (
	"slices"
	"strings"

	"github.com/e3sync/e3sync/pkg/export"
)

// Repair is the one sync that repairs every difference of a report: the
// dates from From to To of Types, with Force and Prune as the differences
// need them.
type Repair struct {
	Types    []export.Type
	From, To string
	Force    bool
	Prune    bool
}

// Repairs says what sync repairs a difference of kind k, beyond copying the
// date again (a sync over the date always copies what is missing or has
// another size, and completes the date).
//
//	difference         | force | prune | why
//	missing            | no    | no    | copied (a missing _SUCCESS is written once the date is complete)
//	size_mismatch      | no    | no    | a different size is always copied
//	content_mismatch   | yes   | no    | same size: only a forced copy rewrites it
//	extra              | no    | yes   | stale: moved to quarantine, then deleted
//	false_success      | no    | yes   | withdrawn: the source date is not complete
//	incomplete_success | no    | no    | right again once the date's other differences are repaired
func Repairs(k Kind) (force, prune bool) {
	switch k {
	case ContentMismatch:
		return true, false
	case Extra, FalseSuccess:
		return false, true
	default:
		return false, false
	}
}

// Repair returns the sync that repairs every difference in r, and false
// when there is none.
func (r Report) Repair() (Repair, bool) {
	var out Repair
	for _, d := range r.Differences {
		t, date, ok := typeAndDate(d.Key)
		if !ok {
			continue // not under a type=/date= folder: Compare reports none
		}
		if !slices.Contains(out.Types, t) {
			out.Types = append(out.Types, t)
		}
		if out.From == "" || date < out.From {
			out.From = date
		}
		if date > out.To {
			out.To = date
		}
		force, prune := Repairs(d.Kind)
		out.Force = out.Force || force
		out.Prune = out.Prune || prune
	}
	slices.Sort(out.Types)
	return out, out.From != ""
}

// typeAndDate reads "type=T/date=D/..." from a key.
func typeAndDate(key string) (export.Type, string, bool) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) < 3 {
		return "", "", false
	}
	t, ok := strings.CutPrefix(parts[0], "type=")
	if !ok {
		return "", "", false
	}
	d, ok := export.DateFromPrefix(parts[1] + "/")
	return export.Type(t), d, ok
}
