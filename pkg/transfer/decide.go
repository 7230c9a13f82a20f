package transfer

import "github.com/e3sync/e3sync/pkg/store"

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

// Decide chooses what to do with a source object, given the destination
// object with the same key (nil if absent) and the source ETag recorded when
// it was copied (recorded false if there is no record believed for this
// destination object; see manifest.entry).
//
//	in dest | same size | recorded ETag      | action | reason
//	no      |  *        |  *                 | copy   | missing
//	yes     | no        |  *                 | copy   | size differs
//	yes     | yes       | equals source ETag | skip   | up to date
//	yes     | yes       | differs            | copy   | changed at the source
//	yes     | yes       | none               | check  | no record: read metadata
//
// Source ETags of SSE-KMS and multipart objects are not MD5s: they are only
// ever compared with a source ETag recorded earlier, never with a checksum of
// the bytes.
func Decide(src store.Object, dst *store.Object, recordedETag string, recorded bool) (Action, string) {
	switch {
	case dst == nil:
		return Copy, "missing"
	case dst.Size != src.Size:
		return Copy, "size differs"
	case recorded && recordedETag == src.ETag:
		return Skip, "up to date"
	case recorded:
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
