package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// StateRoot is the folder, under the destination root, where e3sync keeps a
// manifest per sub-partition: the source ETag and size each object had when
// it was copied. It sits beside the type= folders, so Athena tables and Spark
// readers over type=... never see it (and they skip "_" names anyway).
const StateRoot = "_e3sync/state/"

const manifestName = "_manifest.json"

// manifestVersion 2 added DestETag. A manifest of another version reads as
// empty: its entries say nothing about which destination object they
// describe, so the first run after an upgrade reads each object's metadata
// once (one HEAD per object) and writes a version 2 manifest.
const manifestVersion = 2

// manifest records, per key relative to the destination root, what was
// copied. It lets a re-run decide with one LIST per side and no HEAD per
// object. It is an index of the metadata on the objects themselves: losing
// it costs one HEAD per object, never a wrong skip.
//
// # Concurrent runs
//
// Two runs of the same task can overlap: the CLI and the copier Lambda, or
// two copiers when a message becomes visible again while its first copier
// still runs. Neither the objects nor the manifest are locked, so any
// interleaving is possible, among them: run A lists the source (version 1 of
// an object), run B lists it later (version 2), copies it and writes its
// manifest; A's copy of version 1 then lands over B's, and either manifest
// may be written last. A manifest that only recorded "source ETag 2" for the
// key would then describe an object that holds version 1, and every later
// run would skip it: an older copy kept forever. A process killed between
// its upload and its manifest write (a Lambda timeout, SIGKILL) makes the
// same gap without any concurrency, so no ordering of manifest writes
// (conditional writes, re-read and merge) can close it.
//
// The scheme: an entry is a fact about one destination object, not about a
// key. Besides the source ETag it records the destination ETag of the object
// it describes (DestETag: what Write returned for our own copy, or what Head
// returned together with the metadata it read). A run believes an entry only
// while the destination listing shows that same ETag for the key (see
// entry); an object written since, by anyone, has another ETag (S3 gives
// each write its own, Dir its own modification time), so its entry is not
// believed and the object's own metadata (x-amz-meta-e3sync-source-etag,
// written atomically with its bytes) decides, at the cost of one HEAD. The
// manifest is then only ever a cache of the objects' metadata, right or
// unused under any interleaving, with any writer winning the manifest write:
// a lost entry costs a HEAD, never a skip of an object that is not the one
// recorded.
type manifest struct {
	Version int                      `json:"version"`
	Objects map[string]manifestEntry `json:"objects"`
}

type manifestEntry struct {
	Size       int64  `json:"size"`
	SourceETag string `json:"source_etag"`
	// DestETag is the destination ETag of the object this entry describes;
	// the entry is believed only for that object.
	DestETag string `json:"dest_etag"`
	// CopiedAt is when e3sync last wrote the object (zero if it found the
	// object already there); export.Task.ForceBefore compares with it.
	CopiedAt time.Time `json:"copied_at,omitzero"`
}

// entry returns the entry to decide src on, given the destination object
// with the same key (nil if absent); ok is false if there is none to
// believe.
//
//	entry for key | entry size = src size | entry DestETag = listed dst ETag | believed
//	no            |  *                    |  *                               | no
//	yes           | no                    |  *                               | no
//	yes           | yes                   | no, or either is empty, no dst   | no
//	yes           | yes                   | yes                              | yes
func (m manifest) entry(src store.Object, dst *store.Object) (manifestEntry, bool) {
	e, ok := m.Objects[src.Key]
	if !ok || e.Size != src.Size || dst == nil || !sameETag(e.DestETag, dst.ETag) {
		return manifestEntry{}, false
	}
	return e, true
}

// sameETag reports whether two ETags of the destination name the same
// object: equal and not empty (a store that reports no ETag can not tell
// two writes apart). Quotes are not significant.
func sameETag(a, b string) bool {
	a, b = strings.Trim(a, `"`), strings.Trim(b, `"`)
	return a != "" && a == b
}

func manifestKey(t export.Task) string { return StateRoot + t.Prefix() + manifestName }

// readManifest returns the task's manifest, or an empty one if there is none
// or it cannot be read as one. Any read error other than a cancelled
// context also gives an empty manifest: it is only an index (S3 may answer a
// missing key with 403 AccessDenied when listing is granted only under a
// prefix), and an empty one costs a HEAD per object, never a wrong skip.
func readManifest(ctx context.Context, dst Destination, t export.Task) (manifest, error) {
	m := manifest{Version: manifestVersion, Objects: map[string]manifestEntry{}}
	rc, err := dst.Open(ctx, manifestKey(t))
	if err != nil {
		if ctx.Err() != nil {
			return m, fmt.Errorf("read manifest: %w", err)
		}
		return m, nil
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		if ctx.Err() != nil {
			return m, fmt.Errorf("read manifest: %w", err)
		}
		return m, nil
	}
	var got manifest
	if json.Unmarshal(data, &got) != nil || got.Version != manifestVersion || got.Objects == nil {
		return m, nil
	}
	return got, nil
}

func writeManifest(ctx context.Context, dst Destination, t export.Task, m manifest) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := dst.Write(ctx, manifestKey(t), int64(len(data)), bytes.NewReader(data), nil); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}
