// Package verify compares a destination with the export it mirrors, date by
// date: objects missing or extra, sizes and contents that differ (SHA-256 of
// both sides, streamed), and _SUCCESS markers the destination should not
// have. It only reads.
package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// Store is what verify reads on either side; *store.S3 and *store.Dir
// satisfy it.
type Store interface {
	List(ctx context.Context, prefix string, delim bool) (store.Listing, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// Kind names a difference.
type Kind string

// The differences Compare reports.
const (
	// Missing: in the source, not in the destination (a source _SUCCESS
	// too: the date is not marked complete yet).
	Missing Kind = "missing"
	// Extra: in the destination, not in the source.
	Extra Kind = "extra"
	// SizeMismatch: both sides have the key, with different sizes.
	SizeMismatch Kind = "size_mismatch"
	// ContentMismatch: same size, different bytes (SHA-256).
	ContentMismatch Kind = "content_mismatch"
	// FalseSuccess: the destination has _SUCCESS, the source has not.
	FalseSuccess Kind = "false_success"
	// IncompleteSuccess: the destination has _SUCCESS but some object of
	// that date is missing or differs.
	IncompleteSuccess Kind = "incomplete_success"
)

// Difference is one thing that differs. Keys are relative to the roots.
type Difference struct {
	Kind         Kind   `json:"kind"`
	Key          string `json:"key"`
	SourceSize   int64  `json:"source_size"`
	DestSize     int64  `json:"dest_size"`
	SourceSHA256 string `json:"source_sha256,omitempty"`
	DestSHA256   string `json:"dest_sha256,omitempty"`
}

func (d Difference) String() string {
	switch d.Kind {
	case Missing:
		return fmt.Sprintf("missing            %s (source %d bytes)", d.Key, d.SourceSize)
	case Extra:
		return fmt.Sprintf("extra              %s (destination %d bytes)", d.Key, d.DestSize)
	case SizeMismatch:
		return fmt.Sprintf("size mismatch      %s (source %d bytes, destination %d)", d.Key, d.SourceSize, d.DestSize)
	case ContentMismatch:
		return fmt.Sprintf("content mismatch   %s (%d bytes; sha256 source %.12s…, destination %.12s…)", d.Key, d.SourceSize, d.SourceSHA256, d.DestSHA256)
	case FalseSuccess:
		return fmt.Sprintf("false _SUCCESS     %s (the source date is not complete)", d.Key)
	case IncompleteSuccess:
		return fmt.Sprintf("premature _SUCCESS %s (objects of this date are missing or differ)", d.Key)
	}
	return string(d.Kind) + " " + d.Key
}

// Options say what to compare.
type Options struct {
	Types []export.Type // default: every type
	// From and To (YYYY-MM-DD, inclusive) bound the dates; "" is open.
	From, To string
	// SkipContent compares keys and sizes only, without reading objects.
	SkipContent bool
	// Concurrency bounds the objects hashed at once (default 8).
	Concurrency int
}

// Report is what Compare found.
type Report struct {
	Dates           []string     `json:"dates"` // "type/date", in order
	ObjectsCompared int          `json:"objects_compared"`
	BytesCompared   int64        `json:"bytes_compared"` // source bytes hashed
	Differences     []Difference `json:"differences"`
	// RetainedDates ("type/date") are dates the destination has and the
	// source no longer lists (Optimizely's retention): the mirror keeps
	// them on purpose, so they are not compared and are no difference.
	RetainedDates []string `json:"retained_dates"`
}

// Identical reports whether no difference was found.
func (r Report) Identical() bool { return len(r.Differences) == 0 }

// Compare compares dst with src for the dates in range. An error means the
// comparison could not be made (a listing or read failed); differences are
// in the report.
func Compare(ctx context.Context, src, dst Store, o Options) (Report, error) {
	if len(o.Types) == 0 {
		o.Types = export.AllTypes
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	for _, d := range []string{o.From, o.To} {
		if d != "" {
			if _, err := export.ParseDate(d); err != nil {
				return Report{}, err
			}
		}
	}
	if o.From != "" && o.To != "" && o.From > o.To {
		return Report{}, fmt.Errorf("from %s is after to %s", o.From, o.To)
	}
	rep := Report{Dates: []string{}, Differences: []Difference{}, RetainedDates: []string{}}
	for _, t := range o.Types {
		dates, retained, err := datesOf(ctx, src, dst, t, o.From, o.To)
		if err != nil {
			return Report{}, err
		}
		for _, d := range retained {
			rep.RetainedDates = append(rep.RetainedDates, string(t)+"/"+d)
		}
		for _, d := range dates {
			if err := compareDate(ctx, src, dst, t, d, o, &rep); err != nil {
				return Report{}, err
			}
			rep.Dates = append(rep.Dates, string(t)+"/"+d)
		}
	}
	return rep, nil
}

// datesOf lists the date folders of type t on both sides, within range:
// the dates the source has (compared), and those only the destination has
// (retained).
func datesOf(ctx context.Context, src, dst Store, t export.Type, from, to string) (dates, retained []string, err error) {
	var sets [2]map[string]bool
	for i, s := range []struct {
		name string
		st   Store
	}{{"source", src}, {"destination", dst}} {
		l, err := s.st.List(ctx, export.TypePrefix(t), true)
		if err != nil {
			return nil, nil, fmt.Errorf("list %s dates of %s: %w", s.name, t, err)
		}
		sets[i] = map[string]bool{}
		for _, p := range l.Prefixes {
			d, ok := export.DateFromPrefix(strings.TrimPrefix(p, export.TypePrefix(t)))
			if ok && (from == "" || d >= from) && (to == "" || d <= to) {
				sets[i][d] = true
			}
		}
	}
	dates = []string{}
	for d := range sets[0] {
		dates = append(dates, d)
	}
	for d := range sets[1] {
		if !sets[0][d] {
			retained = append(retained, d)
		}
	}
	sort.Strings(dates)
	sort.Strings(retained)
	return dates, retained, nil
}

func objectsOf(l store.Listing) map[string]store.Object {
	m := make(map[string]store.Object, len(l.Objects))
	for _, o := range l.Objects {
		if !strings.HasSuffix(o.Key, "/") { // folder markers carry no data
			m[o.Key] = o
		}
	}
	return m
}

func compareDate(ctx context.Context, src, dst Store, t export.Type, date string, o Options, rep *Report) error {
	prefix := export.DatePrefix(t, date)
	success := export.SuccessKey(t, date)
	sl, err := src.List(ctx, prefix, false)
	if err != nil {
		return fmt.Errorf("list source %s: %w", prefix, err)
	}
	dl, err := dst.List(ctx, prefix, false)
	if err != nil {
		return fmt.Errorf("list destination %s: %w", prefix, err)
	}
	sm, dm := objectsOf(sl), objectsOf(dl)
	diffs, both := compareListings(sm, dm, success)
	rep.ObjectsCompared += len(both) + len(diffs)
	if !o.SkipContent {
		cd, n, err := compareContents(ctx, src, dst, both, o.Concurrency)
		if err != nil {
			return err
		}
		diffs = append(diffs, cd...)
		rep.BytesCompared += n
	}
	diffs = append(diffs, checkSuccess(sm, dm, success, diffs)...)
	sort.Slice(diffs, func(i, j int) bool {
		if diffs[i].Key != diffs[j].Key {
			return diffs[i].Key < diffs[j].Key
		}
		return diffs[i].Kind < diffs[j].Kind
	})
	rep.Differences = append(rep.Differences, diffs...)
	return nil
}

// compareListings compares the two listings of a date by key and size: the
// objects missing, of another size, or extra in the destination, and the
// data objects on both sides with the same size (their contents to compare).
func compareListings(sm, dm map[string]store.Object, success string) (diffs []Difference, both []store.Object) {
	for k, s := range sm {
		d, ok := dm[k]
		switch {
		case !ok:
			diffs = append(diffs, Difference{Kind: Missing, Key: k, SourceSize: s.Size, DestSize: -1})
		case d.Size != s.Size:
			diffs = append(diffs, Difference{Kind: SizeMismatch, Key: k, SourceSize: s.Size, DestSize: d.Size})
		case k != success:
			both = append(both, s)
		}
	}
	for k, d := range dm {
		if _, ok := sm[k]; !ok && k != success {
			diffs = append(diffs, Difference{Kind: Extra, Key: k, SourceSize: -1, DestSize: d.Size})
		}
	}
	return diffs, both
}

// checkSuccess returns the difference in the destination's _SUCCESS, if
// any: false when the source has none, incomplete when an object of the
// date is missing or differs (diffs).
func checkSuccess(sm, dm map[string]store.Object, success string, diffs []Difference) []Difference {
	_, srcDone := sm[success]
	_, dstDone := dm[success]
	if !dstDone {
		return nil
	}
	if !srcDone {
		return []Difference{{Kind: FalseSuccess, Key: success, SourceSize: -1, DestSize: dm[success].Size}}
	}
	for _, d := range diffs {
		if d.Kind == Missing || d.Kind == SizeMismatch || d.Kind == ContentMismatch {
			return []Difference{{Kind: IncompleteSuccess, Key: success, SourceSize: sm[success].Size, DestSize: dm[success].Size}}
		}
	}
	return nil
}

// compareContents hashes both sides of every object and returns those whose
// digests differ, and the source bytes hashed.
func compareContents(ctx context.Context, src, dst Store, objs []store.Object, conc int) ([]Difference, int64, error) {
	var (
		mu    sync.Mutex
		diffs []Difference
		bytes int64
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, o := range objs {
		g.Go(func() error {
			var ss, ds string
			var sn, dn int64
			hg, hctx := errgroup.WithContext(ctx)
			hg.Go(func() (err error) { ss, sn, err = Sum(hctx, src, o.Key); return err })
			hg.Go(func() (err error) { ds, dn, err = Sum(hctx, dst, o.Key); return err })
			if err := hg.Wait(); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			bytes += sn
			if ss != ds || sn != dn {
				diffs = append(diffs, Difference{Kind: ContentMismatch, Key: o.Key, SourceSize: sn, DestSize: dn, SourceSHA256: ss, DestSHA256: ds})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	return diffs, bytes, nil
}

// Sum returns the SHA-256 (hex) of the object at key and its length, read
// whole; a key deleted since it was listed gives "" and length -1.
func Sum(ctx context.Context, s Store, key string) (string, int64, error) {
	rc, err := s.Open(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return "", -1, nil // deleted since the listing: differs
	}
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
