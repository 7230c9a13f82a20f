package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// Drift is how a schema differs from the one it is compared with: columns
// matched by name (Parquet readers match columns by name, not position).
type Drift struct {
	Added   []Column `json:"added,omitempty"`
	Removed []Column `json:"removed,omitempty"`
	Retyped []Retype `json:"retyped,omitempty"`
}

// Retype is a column whose type changed.
type Retype struct {
	Name string `json:"name"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// Changes counts the changed columns.
func (d Drift) Changes() int { return len(d.Added) + len(d.Removed) + len(d.Retyped) }

// String lists the changes by column name, e.g.
// "added: country string; removed: session_id; retyped: revenue bigint -> double".
func (d Drift) String() string {
	var parts []string
	if len(d.Added) > 0 {
		s := make([]string, len(d.Added))
		for i, c := range d.Added {
			s[i] = c.Name + " " + c.Type
		}
		parts = append(parts, "added: "+strings.Join(s, ", "))
	}
	if len(d.Removed) > 0 {
		s := make([]string, len(d.Removed))
		for i, c := range d.Removed {
			s[i] = c.Name
		}
		parts = append(parts, "removed: "+strings.Join(s, ", "))
	}
	if len(d.Retyped) > 0 {
		s := make([]string, len(d.Retyped))
		for i, r := range d.Retyped {
			s[i] = r.Name + " " + r.Old + " -> " + r.New
		}
		parts = append(parts, "retyped: "+strings.Join(s, ", "))
	}
	return strings.Join(parts, "; ")
}

// Diff compares the columns now with the columns before (names compared
// case-insensitively, as Glue and Athena do), in the order of each list.
func Diff(before, now []Column) Drift {
	var d Drift
	old := map[string]Column{}
	for _, c := range before {
		old[strings.ToLower(c.Name)] = c
	}
	seen := map[string]bool{}
	for _, c := range now {
		k := strings.ToLower(c.Name)
		seen[k] = true
		o, ok := old[k]
		switch {
		case !ok:
			d.Added = append(d.Added, c)
		case o.Type != c.Type:
			d.Retyped = append(d.Retyped, Retype{Name: c.Name, Old: o.Type, New: c.Type})
		}
	}
	for _, c := range before {
		if !seen[strings.ToLower(c.Name)] {
			d.Removed = append(d.Removed, c)
		}
	}
	return d
}

// SchemaRoot is where the schema of each completed date is recorded, under
// the destination root, beside the copy manifests (transfer.StateRoot):
// SchemaRoot + "type=events/date=2024-01-05.json".
const SchemaRoot = "_e3sync/state/schemas/"

// schemaRecord is one recorded schema.
type schemaRecord struct {
	Version int      `json:"version"`
	Type    string   `json:"type"`
	Date    string   `json:"date"`
	Key     string   `json:"key"` // the file it was read from
	Columns []Column `json:"columns"`
}

func schemaKey(t export.Type, date string) string {
	return SchemaRoot + export.TypePrefix(t) + "date=" + date + ".json"
}

// Store is the destination as the schema check uses it.
type Store interface {
	Opener
	List(ctx context.Context, prefix string, delim bool) (store.Listing, error)
	Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error)
}

// previousSchema returns the newest schema recorded for a date before date,
// if any.
func previousSchema(ctx context.Context, s Store, t export.Type, date string) (schemaRecord, bool, error) {
	l, err := s.List(ctx, SchemaRoot+export.TypePrefix(t), false)
	if err != nil {
		return schemaRecord{}, false, fmt.Errorf("list recorded schemas: %w", err)
	}
	mine := schemaKey(t, date)
	for i := len(l.Objects) - 1; i >= 0; i-- {
		k := l.Objects[i].Key
		if k >= mine || !strings.HasSuffix(k, ".json") {
			continue
		}
		rec, err := readSchema(ctx, s, k)
		if err != nil {
			return schemaRecord{}, false, err
		}
		return rec, true, nil
	}
	return schemaRecord{}, false, nil
}

func readSchema(ctx context.Context, s Store, key string) (schemaRecord, error) {
	rc, err := s.Open(ctx, key)
	if err != nil {
		return schemaRecord{}, fmt.Errorf("read recorded schema: %w", err)
	}
	defer rc.Close()
	var rec schemaRecord
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&rec); err != nil || rec.Version != 1 {
		return schemaRecord{}, fmt.Errorf("recorded schema %s is not readable: %v", key, err)
	}
	return rec, nil
}

func writeSchema(ctx context.Context, s Store, rec schemaRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := s.Write(ctx, schemaKey(export.Type(rec.Type), rec.Date), int64(len(data)), bytes.NewReader(data), nil); err != nil {
		return fmt.Errorf("record schema: %w", err)
	}
	return nil
}
