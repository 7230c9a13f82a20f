package transfer

import (
	"time"

	"github.com/e3sync/e3sync/pkg/store"
)

// Action is what to do with one source object.
type Action int

// The actions Decide returns.
const (
	Skip  Action = iota // the destination already holds this version
	Copy                // copy it
	Check               // read the destination object's metadata, then skip or copy
)

func (a Action) String() string {
	return [...]string{"skip", "copy", "check"}[a]
}

// Facts are what Decide knows about one source object.
type Facts struct {
	// Dest is the destination object with the same key, nil if absent.
	Dest *store.Object
	// Recorded reports a manifest entry believed for Dest (see
	// manifest.entry): RecordedETag is the source ETag it records,
	// CopiedAt when e3sync last wrote the object (zero: found it there).
	Recorded     bool
	RecordedETag string
	CopiedAt     time.Time
	// ForceBefore is the task's (export.Task.ForceBefore): when set, every
	// object not copied since is copied again, up to date or not.
	ForceBefore time.Time
}

// Decide chooses what to do with a source object. The first row that
// matches decides:
//
//	ForceBefore | record believed   | in dest | same size | recorded ETag      | action | reason
//	set         | none              |  *      |  *        |  *                 | copy   | forced
//	set         | copied before it  |  *      |  *        |  *                 | copy   | forced
//	*           |  *                | no      |  *        |  *                 | copy   | missing
//	*           |  *                | yes     | no        |  *                 | copy   | size differs
//	*           | yes               | yes     | yes       | equals source ETag | skip   | up to date
//	*           | yes               | yes     | yes       | differs            | copy   | changed at the source
//	*           | none              | yes     | yes       |  -                 | check  | no record
//
// A check reads the destination object's metadata, then DecideChecked
// decides. Source ETags of SSE-KMS and multipart objects are not MD5s: they
// are only ever compared with a source ETag recorded earlier, never with a
// checksum of the bytes.
func Decide(src store.Object, f Facts) (Action, string) {
	switch {
	case !f.ForceBefore.IsZero() && (!f.Recorded || f.CopiedAt.Before(f.ForceBefore)):
		return Copy, "forced"
	case f.Dest == nil:
		return Copy, "missing"
	case f.Dest.Size != src.Size:
		return Copy, "size differs"
	case f.Recorded && f.RecordedETag == src.ETag:
		return Skip, "up to date"
	case f.Recorded:
		return Copy, "changed at the source"
	default:
		return Check, "no record"
	}
}

// DecideChecked finishes a Check: metadata is the destination object's user
// metadata.
//
//	metadata source ETag | action
//	equals source ETag   | skip
//	differs or absent    | copy
func DecideChecked(src store.Object, metadata map[string]string) (Action, string) {
	if etag, ok := metadata[MetaSourceETag]; ok && etag == src.ETag {
		return Skip, "up to date (metadata)"
	}
	return Copy, "no matching source ETag in metadata"
}
