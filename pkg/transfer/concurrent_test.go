package transfer

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/store"
)

// hookDest is a destination whose Write reads the whole body, then calls
// before(key) (which may block) and only then stores the bytes: a way to
// hold one run's upload while another run goes on.
type hookDest struct {
	Destination
	before func(key string)
}

func (d hookDest) Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	d.before(key)
	return d.Destination.Write(ctx, key, size, bytes.NewReader(data), meta)
}

// destinations are the stores the concurrency tests run against: a
// directory, and a bucket of a real MinIO server.
func destinations(t *testing.T) map[string]func(t *testing.T) Destination {
	return map[string]func(t *testing.T) Destination{
		"dir": func(t *testing.T) Destination { return newDest(t) },
		"minio": func(t *testing.T) Destination {
			m := testenv.MinIOForTest(t)
			if err := m.CreateBucket(context.Background(), "mirror"); err != nil {
				t.Fatal(err)
			}
			return store.NewS3(m.S3Client(m.RootProvider()), "mirror", "optimizely/", store.S3Options{})
		},
	}
}

// TestConcurrentRunsStaleCopy forces the worst interleaving of two runs of
// one task. Run A lists the source while the object is at version 1 and
// reads it; the source changes to version 2; run B copies version 2; A's
// upload of version 1 lands over it; A writes its manifest; B writes its
// manifest last, recording version 2 for the key. The destination now holds
// version 1 under a manifest that names version 2. A later run must still
// copy version 2: an entry is only believed for the object it describes.
// Before manifests recorded the destination ETag, the later run skipped the
// object, then and forever.
func TestConcurrentRunsStaleCopy(t *testing.T) {
	for name, newDst := range destinations(t) {
		t.Run(name, func(t *testing.T) {
			key := day + "event=purchase/part-00000.c000.snappy.parquet"
			src := newSource(t, map[string]string{key: "version-1", day + export.SuccessMarker: ""})
			dst := newDst(t)
			aRead, bCopied, aDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
			a := New(src, hookDest{dst, func(k string) {
				if k == key {
					close(aRead)
					<-bCopied
				}
			}}, Options{Attempts: 1})
			b := New(src, hookDest{dst, func(k string) {
				if k == manifestKey(purchase) {
					close(bCopied) // B's copy is stored: its manifest comes next
					<-aDone
				}
			}}, Options{Attempts: 1})

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a guard against a hang, not a measure
			defer cancel()
			var wg sync.WaitGroup
			var resA, resB Result
			var errA, errB error
			wg.Go(func() {
				defer close(aDone)
				resA, errA = a.Copy(ctx, purchase)
			})
			select {
			case <-aRead:
			case <-ctx.Done():
				t.Fatal("run A never reached its upload")
			}
			src.put(t, key, "version-2") // the same size: only the ETag tells them apart
			wg.Go(func() { resB, errB = b.Copy(ctx, purchase) })
			wg.Wait()
			if errA != nil || errB != nil || resA.Copied != 1 || resB.Copied != 1 {
				t.Fatalf("runs A, B = %+v, %v; %+v, %v; want one object copied by each", resA, errA, resB, errB)
			}
			if got := readKey(t, dst, key); got != "version-1" {
				t.Fatalf("after the interleaving the destination holds %q, want the stale version-1 (the test did not force the race)", got)
			}
			if e := readManifestFile(t, dst); e.Objects[key].SourceETag != md5ETag("version-2") {
				t.Fatalf("after the interleaving the manifest records %+v, want version 2 (the test did not force the race)", e.Objects[key])
			}
			checkBelievedEntries(t, dst)
			// B, done, would complete the date: an object of the right size
			// but the older version must keep it incomplete.
			if got, err := b.Finalize(ctx, export.Events, purchase.Date); err != nil || got != Incomplete {
				t.Errorf("Finalize() with the older copy in place = %v, %v, want %v (a false _SUCCESS)", got, err, Incomplete)
			}

			// A later run copies version 2, and the one after it skips.
			c := New(src, dst, Options{Attempts: 1})
			if r, err := c.Copy(ctx, purchase); err != nil || r.Copied != 1 {
				t.Errorf("later run = %+v, %v, want version 2 copied", r, err)
			}
			if got := readKey(t, dst, key); got != "version-2" {
				t.Errorf("after a later run the destination holds %q, want version-2", got)
			}
			if got, err := c.Finalize(ctx, export.Events, purchase.Date); err != nil || got != Completed {
				t.Errorf("Finalize() after the later run = %v, %v, want %v", got, err, Completed)
			}
			if r, err := c.Copy(ctx, purchase); err != nil || r.Skipped != 1 || r.Copied != 0 {
				t.Errorf("second later run = %+v, %v, want the object skipped", r, err)
			}
			checkBelievedEntries(t, dst)
		})
	}
}

// TestConcurrentRunsMinIO runs two engines on the same task at the same
// time, again and again, against MinIO, while the source changes between
// rounds (and, in odd rounds, during them). After every round, every
// manifest entry a run would believe describes the bytes the destination
// holds; after a last quiet run the destination equals the source and a
// run after that skips every object on the manifest alone.
//
// One more object, never changed, is larger than the part size: it is
// copied as a multipart upload, whose ETag the manifest must match too.
func TestConcurrentRunsMinIO(t *testing.T) {
	m := testenv.MinIOForTest(t)
	if err := m.CreateBucket(context.Background(), "mirror"); err != nil {
		t.Fatal(err)
	}
	const partSize = 5 << 20
	dst := store.NewS3(m.S3Client(m.RootProvider()), "mirror", "optimizely/", store.S3Options{PartSize: partSize})
	const objects = 6
	keyOf := func(i int) string { return fmt.Sprintf("%sevent=purchase/part-%05d.c000.snappy.parquet", day, i) }
	src := &memSource{objects: map[string]string{}}
	for i := range objects {
		src.put(keyOf(i), fmt.Sprintf("round 00 object %d", i))
	}
	src.put(keyOf(objects), strings.Repeat("large object ", partSize/10))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a guard against a hang
	defer cancel()
	engines := []*Engine{New(src, dst, Options{Attempts: 1, Concurrency: 2}), New(src, dst, Options{Attempts: 1, Concurrency: 3})}
	for round := 1; round <= 12; round++ {
		rewrite := func() {
			for i := range objects {
				if (i+round)%3 == 0 {
					src.put(keyOf(i), fmt.Sprintf("round %02d object %d", round, i))
				}
			}
		}
		var wg sync.WaitGroup
		for _, e := range engines {
			wg.Go(func() {
				// A run may fail when the source changes under it; only
				// what it leaves behind matters here.
				e.Copy(ctx, purchase)
			})
		}
		if round%2 == 1 {
			rewrite()
		}
		wg.Wait()
		checkBelievedEntries(t, dst)
		if round%2 == 0 {
			rewrite()
		}
	}
	quiet := New(src, dst, Options{Attempts: 1})
	if _, err := quiet.Copy(ctx, purchase); err != nil {
		t.Fatalf("quiet run: %v", err)
	}
	for i := range objects + 1 {
		want := src.get(keyOf(i))
		if got := readKey(t, dst, keyOf(i)); got != want {
			t.Errorf("after a quiet run %s = %q, want %q", keyOf(i), got, want)
		}
	}
	heads := &countingDest{Destination: dst}
	if r, err := New(src, heads, Options{Attempts: 1}).Copy(ctx, purchase); err != nil || r.Skipped != objects+1 || heads.n != 0 {
		t.Errorf("run after the quiet run = %+v, %v, %d HEADs; want every object skipped on the manifest alone", r, err, heads.n)
	}
}

// countingDest counts Head calls.
type countingDest struct {
	Destination
	mu sync.Mutex
	n  int
}

func (d *countingDest) Head(ctx context.Context, key string) (store.Info, error) {
	d.mu.Lock()
	d.n++
	d.mu.Unlock()
	return d.Destination.Head(ctx, key)
}

// checkBelievedEntries checks the manifest's guarantee: every entry that
// the destination listing makes a run believe describes the bytes there
// (the test source's ETags are the MD5 of the bytes).
func checkBelievedEntries(t *testing.T, dst Destination) {
	t.Helper()
	m := readManifestFile(t, dst)
	l, err := dst.List(context.Background(), purchase.Prefix(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range l.Objects {
		e, ok := m.entry(store.Object{Key: o.Key, Size: o.Size}, &o)
		if !ok {
			continue
		}
		if got := md5ETag(readKey(t, dst, o.Key)); got != e.SourceETag {
			t.Errorf("manifest entry %s = %+v is believed for the object there, whose bytes have ETag %s", o.Key, e, got)
		}
	}
}

func readManifestFile(t *testing.T, dst Destination) manifest {
	t.Helper()
	var m manifest
	if err := json.Unmarshal([]byte(readKey(t, dst, manifestKey(purchase))), &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

func readKey(t *testing.T, s Source, key string) string {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, rc); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// memSource is a source held in memory whose objects change atomically,
// read like S3 with If-Match: OpenRange fails once the object no longer has
// the listed ETag, so a copy never stores bytes under another version's
// ETag.
type memSource struct {
	mu      sync.Mutex
	objects map[string]string
}

func (s *memSource) put(key, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = data
}

func (s *memSource) get(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects[key]
}

func (s *memSource) List(ctx context.Context, prefix string, delim bool) (store.Listing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l store.Listing
	for _, k := range slices.Sorted(maps.Keys(s.objects)) {
		if strings.HasPrefix(k, prefix) && (!delim || !strings.Contains(k[len(prefix):], "/")) {
			l.Objects = append(l.Objects, store.Object{Key: k, Size: int64(len(s.objects[k])), ETag: md5ETag(s.objects[k])})
		}
	}
	return l, nil
}

func (s *memSource) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(s.get(key))), nil
}

func (s *memSource) OpenRange(ctx context.Context, key, etag string, off, n, size int64) (io.ReadCloser, error) {
	data := s.get(key)
	if md5ETag(data) != etag {
		return nil, fmt.Errorf("get %s: 412 Precondition Failed: no longer %s", key, etag)
	}
	return io.NopCloser(strings.NewReader(data[off : off+n])), nil
}

func md5ETag(s string) string { return fmt.Sprintf(`"%x"`, md5.Sum([]byte(s))) }

// TestCopyManifestVersion1 checks the upgrade: a manifest written before
// entries named their destination object is not believed (its entries could
// describe an object overwritten since); the first run reads each object's
// metadata and writes a version 2 manifest that the next run decides on
// alone.
func TestCopyManifestVersion1(t *testing.T) {
	src := newSource(t, exportDay())
	dst := newDest(t)
	e := New(src, dst, Options{Attempts: 1})
	if _, err := e.Copy(context.Background(), purchase); err != nil {
		t.Fatal(err)
	}
	v1 := map[string]any{"version": 1, "objects": map[string]any{}}
	for k, entry := range readManifestFile(t, dst).Objects {
		v1["objects"].(map[string]any)[k] = map[string]any{"size": entry.Size, "source_etag": entry.SourceETag}
	}
	data, err := json.Marshal(v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Write(context.Background(), manifestKey(purchase), int64(len(data)), bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	dst.heads.Store(0)
	// A Dir keeps no metadata, so every check ends in a copy.
	if r, err := e.Copy(context.Background(), purchase); err != nil || r.Copied != 3 || dst.heads.Load() != 3 {
		t.Errorf("Copy() with a version 1 manifest = %+v, %v, %d HEADs, want 3 checked and copied", r, err, dst.heads.Load())
	}
	if m := readManifestFile(t, dst); m.Version != manifestVersion || len(m.Objects) != 3 {
		t.Errorf("manifest after the run = %+v, want version %d with 3 entries", m, manifestVersion)
	}
	dst.heads.Store(0)
	if r, err := e.Copy(context.Background(), purchase); err != nil || r.Skipped != 3 || dst.heads.Load() != 0 {
		t.Errorf("next Copy() = %+v, %v, %d HEADs, want 3 skipped on the manifest alone", r, err, dst.heads.Load())
	}
}
