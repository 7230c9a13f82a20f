package transfer

import (
	"strings"

	"github.com/e3sync/e3sync/pkg/store"
)

// checkNames returns the destination's *store.NameError for the keys and
// folders of a task's listings (source and destination), checked before
// anything of the task is copied: keys that would merge into one file or
// folder are reported, never written.
func (e *Engine) checkNames(prefix string, ls ...store.Listing) error {
	if e.names == nil {
		return nil
	}
	var keys []string
	for _, l := range ls {
		for _, o := range l.Objects {
			keys = append(keys, o.Key)
		}
		for _, p := range l.Prefixes {
			keys = append(keys, strings.TrimSuffix(p, "/")+"/")
		}
	}
	return e.names.CheckNames(prefix, keys)
}
