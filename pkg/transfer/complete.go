package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// copiedVersions reports whether every data object of the source date
// listing srcL is in the destination (dstL) as the version the source lists,
// not only with the same size: a run of the same task going on at the same
// time can have landed an older copy of the same size (see manifest). An
// object counts as that version when a manifest entry believed for it (see
// manifest.entry) records the source ETag, else when its own metadata does
// (one HEAD). Finalize calls it once sizes already match, so the manifests
// of the date (one GET per sub-partition) are read only when the date looks
// complete.
func (e *Engine) copiedVersions(ctx context.Context, t export.Type, date string, srcL, dstL store.Listing) (bool, error) {
	prefix := export.DatePrefix(t, date)
	have := make(map[string]store.Object, len(dstL.Objects))
	for _, o := range dstL.Objects {
		have[o.Key] = o
	}
	manifests := map[string]manifest{} // by partition ("" for the date's own files)
	for _, o := range srcL.Objects {
		if o.Key == export.SuccessKey(t, date) || strings.HasSuffix(o.Key, "/") {
			continue
		}
		dst, ok := have[o.Key]
		if !ok {
			return false, nil
		}
		partition, _, nested := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if !nested {
			partition = ""
		}
		m, ok := manifests[partition]
		if !ok {
			var err error
			if m, err = readManifest(ctx, e.dst, export.Task{Type: t, Date: date, Partition: partition}); err != nil {
				return false, err
			}
			manifests[partition] = m
		}
		if entry, ok := m.entry(o, &dst); ok && entry.SourceETag == o.ETag {
			continue
		}
		info, err := e.dst.Head(ctx, o.Key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("check %s: %w", o.Key, err)
		}
		if action, _ := DecideChecked(o, info.Metadata); action != Skip || info.Size != o.Size {
			e.opts.Logger.DebugContext(ctx, "date not complete yet: an object is not the source's version", "type", t, "date", date, "key", o.Key)
			return false, nil
		}
	}
	return true, nil
}
