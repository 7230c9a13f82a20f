package transfer

import (
	"strings"

	"github.com/e3sync/e3sync/pkg/store"
)

// nameChecker is a Destination whose file system may take different keys
// for one name, or forbid some (*store.Dir; see store.NameRules).
type nameChecker interface {
	CheckNames(prefix string, keys []string) error
}

// checkNames returns the destination's *store.NameError for the keys and
// folders of a task's listings (source and destination), checked before
// anything of the task is copied: keys that would merge into one file or
// folder are reported, never written.
func checkNames(dst Destination, prefix string, ls ...store.Listing) error {
	c, ok := dst.(nameChecker)
	if !ok {
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
	return c.CheckNames(prefix, keys)
}
