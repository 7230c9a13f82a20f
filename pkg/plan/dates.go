package plan

import (
	"context"

	"github.com/e3sync/e3sync/pkg/export"
)

// ListDates returns the dates under type t in l, ascending; folders that are
// not "date=YYYY-MM-DD/" are ignored. One delimiter listing.
func ListDates(ctx context.Context, l Lister, t export.Type) ([]string, error) {
	return listDates(ctx, l, t)
}
