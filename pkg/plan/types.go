package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/e3sync/e3sync/pkg/export"
)

// ErrTypeNotInExport is wrapped when a type asked for explicitly is neither
// known nor a type= folder of the export.
var ErrTypeNotInExport = errors.New("not in the export")

// checkTypes lists the export's type= folders (one delimiter listing of the
// account root) and returns those e3sync does not sync in this run and does
// not know (neither decisions nor events), for the plan to report. A type
// requested explicitly that is neither known nor in the export is an error:
// a typo must not sync nothing in silence.
func checkTypes(ctx context.Context, src Lister, want []export.Type) (unknown []string, err error) {
	l, err := src.List(ctx, "", true)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	var have []export.Type
	for _, p := range l.Prefixes {
		name, ok := strings.CutPrefix(strings.TrimSuffix(p, "/"), "type=")
		if !ok {
			continue
		}
		t := export.Type(name)
		have = append(have, t)
		if !export.Known(t) && !slices.Contains(want, t) {
			unknown = append(unknown, name)
		}
	}
	for _, t := range want {
		if !export.Known(t) && !slices.Contains(have, t) {
			names := make([]string, len(have))
			for i, h := range have {
				names[i] = string(h)
			}
			return nil, fmt.Errorf("export type %q is %w (it has: %s)", t, ErrTypeNotInExport, strings.Join(names, ", "))
		}
	}
	return unknown, nil
}
