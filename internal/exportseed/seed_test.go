package exportseed

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/e3sync/e3sync/internal/memorys3"
)

const (
	fixtureDir = "../../../shared/fixtures/optimizely-labs-sample"
	testBucket = "test-bucket"
)

// startMemory starts an in-memory S3 server with the test bucket.
func startMemory(t *testing.T) (*memorys3.Server, *s3.Client) {
	t.Helper()
	return memorys3.ForTest(t, testBucket)
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func openParquet(t *testing.T, data []byte) *parquet.File {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("parquet.OpenFile() error = %v", err)
	}
	return f
}

func TestSeedSchemaMatchesFixtures(t *testing.T) {
	if _, err := os.Stat(fixtureDir); err != nil {
		t.Skipf("fixtures not available: %v", err)
	}
	tests := []struct {
		glob string
		want *parquet.Schema
	}{
		{"type=decisions/date=*/experiment=*/*.parquet", DecisionSchema()},
		{"type=events/date=*/event=*/*.parquet", EventSchema()},
	}
	for _, tt := range tests {
		files, err := filepath.Glob(filepath.Join(fixtureDir, tt.glob))
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixture files match %s (%v)", tt.glob, err)
		}
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			got := openParquet(t, data).Schema()
			if got.String() != tt.want.String() {
				t.Errorf("schema of %s =\n%s\nGo structs give\n%s", name, got, tt.want)
			}
			if !parquet.EqualNodes(got, tt.want) {
				t.Errorf("schema of %s: parquet.EqualNodes with the Go structs' schema = false", name)
			}
		}
	}
}

var seedNow = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

func listAll(t *testing.T, c *s3.Client, prefix string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListObjectsV2() error = %v", err)
		}
		for _, o := range page.Contents {
			got[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	return got
}

func getBytes(t *testing.T, c *s3.Client, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject(%q) error = %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject(%q) read error = %v", key, err)
	}
	return b
}

func TestSeedLayout(t *testing.T) {
	_, c := startMemory(t)
	ctx := context.Background()
	const prefix = "v1/account_id=123/"
	spec := Spec{Now: seedNow, Dates: 4, LargeObjectBytes: 1 << 20, Seed: 7}
	rep, err := Seed(ctx, c, testBucket, prefix, spec)
	if err != nil {
		t.Fatalf("Seed() error = %v", err)
	}

	listed := listAll(t, c, "")
	var total int64
	reported := map[string]int64{}
	for _, o := range rep.Objects {
		reported[o.Key] = o.Size
		total += o.Size
	}
	if len(reported) != len(rep.Objects) {
		t.Errorf("Report lists %d objects, %d distinct keys", len(rep.Objects), len(reported))
	}
	if total != rep.TotalBytes {
		t.Errorf("Report.TotalBytes = %d, sum of sizes %d", rep.TotalBytes, total)
	}
	if fmt.Sprint(listed) != fmt.Sprint(reported) {
		t.Errorf("listed objects differ from Report:\nlisted   %v\nreported %v", listed, reported)
	}

	dates := []string{"2025-03-10", "2025-03-11", "2025-03-12", "2025-03-13"}
	var want []string // sub-partitions and _SUCCESS, with part counts
	for i, d := range dates {
		for _, e := range seedExperiments {
			want = append(want, fmt.Sprintf("type=decisions/date=%s/experiment=%s/ x%d", d, e.id, e.parts))
		}
		for _, e := range seedEvents {
			want = append(want, fmt.Sprintf("type=events/date=%s/event=%s/ x%d", d, e.partition, e.parts))
		}
		if i < len(dates)-1 {
			want = append(want, "type=decisions/date="+d+"/_SUCCESS", "type=events/date="+d+"/_SUCCESS")
		}
	}
	counts := map[string]int{}
	var got []string
	var large []string
	for key, size := range listed {
		rel, ok := strings.CutPrefix(key, prefix)
		if !ok {
			t.Errorf("key %q is outside %q", key, prefix)
			continue
		}
		if strings.HasSuffix(rel, "/_SUCCESS") {
			got = append(got, rel)
			if size != 0 {
				t.Errorf("%s size = %d, want 0", key, size)
			}
			continue
		}
		dir, file := rel[:strings.LastIndex(rel, "/")+1], rel[strings.LastIndex(rel, "/")+1:]
		if !strings.HasPrefix(file, "part-0000") || !strings.HasSuffix(file, ".c000.snappy.parquet") || len(file) != len("part-00000-")+36+len(".c000.snappy.parquet") {
			t.Errorf("file name %q is not Spark's part-NNNNN-<uuid>.c000.snappy.parquet", file)
		}
		counts[dir]++
		if size >= spec.LargeObjectBytes {
			large = append(large, key)
		} else if size < 5_000 || size > 500_000 {
			t.Errorf("%s size = %d, want 5 KB..500 KB", key, size)
		}
	}
	for dir, n := range counts {
		got = append(got, fmt.Sprintf("%s x%d", dir, n))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("layout =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// One large file, a real Parquet file with many rows.
	if len(large) != 1 || !strings.Contains(large[0], "/event=video play/part-00000-") {
		t.Fatalf("large objects = %q, want one event=video play part-00000", large)
	}
	lf := openParquet(t, getBytes(t, c, large[0]))
	if lf.NumRows() <= 2000 || len(lf.RowGroups()) < 2 {
		t.Errorf("large object: %d rows in %d row groups, want > 2000 rows in several groups", lf.NumRows(), len(lf.RowGroups()))
	}

	// Open a few objects and read every row back.
	for _, key := range []string{
		prefix + "type=decisions/date=2025-03-12/experiment=18809464474/",
		prefix + "type=events/date=2025-03-13/event=purchase/",
		prefix + "type=events/date=2025-03-10/event=NULL/",
		prefix + "type=events/date=2025-03-11/event=checkout%3Astart/",
	} {
		for k := range listed {
			if !strings.HasPrefix(k, key) {
				continue
			}
			data := getBytes(t, c, k)
			f := openParquet(t, data)
			if f.NumRows() < 50 || f.NumRows() > 2000 {
				t.Errorf("%s has %d rows, want 50..2000", k, f.NumRows())
			}
			if strings.Contains(k, "type=decisions/") {
				checkRows[Decision](t, k, data, f.Schema(), DecisionSchema(), func(d Decision) string {
					if aws.ToString(d.ExperimentID) != "18809464474" || aws.ToString(d.AccountID) != "123" {
						return fmt.Sprintf("experiment %s account %s", aws.ToString(d.ExperimentID), aws.ToString(d.AccountID))
					}
					return checkTime(*d.Timestamp, "2025-03-12")
				})
				continue
			}
			checkRows[Event](t, k, data, f.Schema(), EventSchema(), func(e Event) string {
				date := k[strings.Index(k, "date=")+5:][:10]
				switch {
				case strings.Contains(k, "event=NULL/") && e.EventName != nil:
					return "event_name = " + *e.EventName + ", want null"
				case strings.Contains(k, "event=checkout%3Astart/") && aws.ToString(e.EventName) != "checkout:start":
					return "event_name = " + aws.ToString(e.EventName)
				case strings.Contains(k, "event=purchase/") && (aws.ToInt64(e.Revenue) <= 0 || e.Tags["revenue"] == ""):
					return "purchase without revenue"
				}
				return checkTime(*e.Timestamp, date)
			})
		}
	}
}

func checkTime(ts time.Time, date string) string {
	if got := ts.UTC().Format(time.DateOnly); got != date {
		return fmt.Sprintf("timestamp %v is not on %s", ts, date)
	}
	return ""
}

// checkRows reads every row of data as T and reports rows that check
// objects to.
func checkRows[T any](t *testing.T, key string, data []byte, got, want *parquet.Schema, check func(T) string) {
	t.Helper()
	if got.String() != want.String() {
		t.Errorf("%s schema =\n%s\nwant\n%s", key, got, want)
	}
	rows, err := parquet.Read[T](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("parquet.Read(%s) error = %v", key, err)
	}
	for i, r := range rows {
		if msg := check(r); msg != "" {
			t.Errorf("%s row %d: %s", key, i, msg)
			return
		}
	}
}

func TestSeedDeterministic(t *testing.T) {
	spec := Spec{Now: seedNow, Dates: 2, LargeObjectBytes: 512 << 10, Seed: 3}
	a, b := &recordingPutter{}, &recordingPutter{}
	ctx := context.Background()
	if _, err := Seed(ctx, a, "b", "p/", spec); err != nil {
		t.Fatal(err)
	}
	if _, err := Seed(ctx, b, "b", "p/", spec); err != nil {
		t.Fatal(err)
	}
	if len(a.objects) == 0 || !slices.Equal(a.keys, b.keys) {
		t.Fatalf("two Seed() runs wrote different keys:\n%q\n%q", a.keys, b.keys)
	}
	for _, k := range a.keys {
		if !bytes.Equal(a.objects[k], b.objects[k]) {
			t.Errorf("two Seed() runs wrote different bytes for %s", k)
		}
	}

	other := &recordingPutter{}
	spec.Seed, spec.Dates = 4, 1
	if _, err := Seed(ctx, other, "b", "p/", spec); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a.keys, other.keys) {
		t.Errorf("Seed 3 and Seed 4 wrote the same keys")
	}
}

// A later Now adds the new date and completes the previous newest date,
// and leaves every existing object as it was.
func TestSeedLaterNowAddsDate(t *testing.T) {
	_, c := startMemory(t)
	ctx := context.Background()
	const prefix = "v1/account_id=9/"
	spec := Spec{Now: seedNow, Dates: 3, LargeObjectBytes: 512 << 10, Seed: 11}
	if _, err := Seed(ctx, c, testBucket, prefix, spec); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for k := range listAll(t, c, prefix) {
		before[k] = getBytes(t, c, k)
	}
	spec.Now = seedNow.Add(24 * time.Hour)
	rep, err := Seed(ctx, c, testBucket, prefix, spec)
	if err != nil {
		t.Fatal(err)
	}
	after := listAll(t, c, prefix)
	for k, data := range before {
		if got := getBytes(t, c, k); !bytes.Equal(got, data) {
			t.Errorf("%s changed after seeding a later Now", k)
		}
	}
	var added []string
	for k := range after {
		if _, ok := before[k]; !ok {
			added = append(added, strings.TrimPrefix(k, prefix))
		}
	}
	newDate, prevNewest := 0, 0
	for _, k := range added {
		switch {
		case strings.Contains(k, "/date=2025-03-14/") && !strings.HasSuffix(k, "_SUCCESS"):
			newDate++
		case k == "type=decisions/date=2025-03-13/_SUCCESS" || k == "type=events/date=2025-03-13/_SUCCESS":
			prevNewest++
		default:
			t.Errorf("unexpected new object %s", k)
		}
	}
	if newDate == 0 || prevNewest != 2 {
		t.Errorf("added %d objects for 2025-03-14 and %d _SUCCESS for 2025-03-13, want some and 2:\n%s", newDate, prevNewest, strings.Join(added, "\n"))
	}
	for _, o := range rep.Objects {
		if _, ok := after[o.Key]; !ok || strings.Contains(o.Key, "/date=2025-03-11/") {
			t.Errorf("second Report lists %s, want only keys of 2025-03-12..14", o.Key)
		}
	}
}

func TestUploadDir(t *testing.T) {
	_, c := startMemory(t)
	ctx := context.Background()
	dir := t.TempDir()
	files := map[string][]byte{
		"type=events/date=2024-01-02/_SUCCESS":                         {},
		"type=events/date=2024-01-02/event=video play/part-00000.c000": randomBytes(10_000, 5),
		"type=events/date=2024-01-02/event=NULL/part-00000.c000":       randomBytes(1, 6),
		"type=events/date=2024-01-02/event=a%3Ab;c(2)/part-00000.c000": randomBytes(70_000, 7),
	}
	for rel, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const prefix = "v1/account_id=5/"
	rep, err := UploadDir(ctx, c, testBucket, prefix, dir)
	if err != nil {
		t.Fatalf("UploadDir() error = %v", err)
	}
	if len(rep.Objects) != len(files) || rep.TotalBytes != 80_001 {
		t.Errorf("UploadDir() report = %d objects, %d bytes, want %d, 80001", len(rep.Objects), rep.TotalBytes, len(files))
	}
	listed := listAll(t, c, "")
	if len(listed) != len(files) {
		t.Errorf("bucket has %d objects, want %d", len(listed), len(files))
	}
	for rel, data := range files {
		if got := getBytes(t, c, prefix+rel); !bytes.Equal(got, data) {
			t.Errorf("%s: uploaded bytes differ", rel)
		}
	}
}

func TestUploadDirFixtures(t *testing.T) {
	if _, err := os.Stat(fixtureDir); err != nil {
		t.Skipf("fixtures not available: %v", err)
	}
	_, c := startMemory(t)
	rep, err := UploadDir(context.Background(), c, testBucket, "v1/account_id=596780373/", fixtureDir)
	if err != nil {
		t.Fatalf("UploadDir() error = %v", err)
	}
	for _, o := range rep.Objects {
		rel := strings.TrimPrefix(o.Key, "v1/account_id=596780373/")
		want, err := os.ReadFile(filepath.Join(fixtureDir, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		if got := getBytes(t, c, o.Key); !bytes.Equal(got, want) {
			t.Errorf("%s: uploaded bytes differ from the fixture", o.Key)
		}
	}
}

// recordingPutter keeps what PutObject was given.
type recordingPutter struct {
	keys    []string
	objects map[string][]byte
}

func (r *recordingPutter) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	data, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	if r.objects == nil {
		r.objects = map[string][]byte{}
	}
	r.keys = append(r.keys, aws.ToString(in.Key))
	r.objects[aws.ToString(in.Key)] = data
	return &s3.PutObjectOutput{}, nil
}
