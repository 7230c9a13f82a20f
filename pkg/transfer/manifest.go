package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
)

// StateRoot is the folder, under the destination root, where e3sync keeps a
// manifest per sub-partition: the source ETag and size each object had when
// it was copied. It sits beside the type= folders, so Athena tables and Spark
// readers over type=... never see it (and they skip "_" names anyway).
const StateRoot = "_e3sync/state/"

const manifestName = "_manifest.json"

// manifest records, per key relative to the destination root, what was
// copied. It lets a re-run decide with one LIST per side and no HEAD per
// object. It is an index of the metadata on the objects themselves: losing
// it costs one HEAD per object, never a wrong skip.
type manifest struct {
	Version int                      `json:"version"`
	Objects map[string]manifestEntry `json:"objects"`
}

type manifestEntry struct {
	Size       int64  `json:"size"`
	SourceETag string `json:"source_etag"`
	// CopiedAt is when e3sync last wrote the object (zero if it found the
	// object already there); export.Task.ForceBefore compares with it.
	CopiedAt time.Time `json:"copied_at,omitzero"`
}

func manifestKey(t export.Task) string { return StateRoot + t.Prefix() + manifestName }

// readManifest returns the task's manifest, or an empty one if there is none
// or it cannot be read as one. Any read error other than a cancelled
// context also gives an empty manifest: it is only an index (S3 may answer a
// missing key with 403 AccessDenied when listing is granted only under a
// prefix), and an empty one costs a HEAD per object, never a wrong skip.
func readManifest(ctx context.Context, dst Destination, t export.Task) (manifest, error) {
	m := manifest{Version: 1, Objects: map[string]manifestEntry{}}
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
	if json.Unmarshal(data, &got) != nil || got.Version != 1 || got.Objects == nil {
		return m, nil
	}
	return got, nil
}

func writeManifest(ctx context.Context, dst Destination, t export.Task, m manifest) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := dst.Write(ctx, manifestKey(t), int64(len(data)), bytes.NewReader(data), nil); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}
