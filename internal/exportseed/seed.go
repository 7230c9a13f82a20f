package exportseed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
)

// PutObjectAPI is the S3 call Seed and UploadDir make; *s3.Client satisfies it.
type PutObjectAPI interface {
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Spec describes a generated export.
type Spec struct {
	// Now fixes the dates: the Dates days ending yesterday (UTC). Zero means
	// time.Now().
	Now time.Time
	// Dates is the number of processing dates; 0 means 4.
	Dates int
	// LargeObjectBytes is the minimum size of the one large events file
	// (event=video play, part-00000), written on the date whose day number
	// since 1970-01-01 is a multiple of Dates, so exactly one date of any
	// Dates consecutive days has it. 0 means 24 MiB; negative means none.
	LargeObjectBytes int64
	// Seed makes the content deterministic: the same Seed and date always
	// give byte-identical objects for that date, whatever Now is.
	Seed int64
}

// Object is one object written by Seed or UploadDir.
type Object struct {
	Key  string
	Size int64
}

// Report lists what was written, in order.
type Report struct {
	Objects    []Object
	TotalBytes int64
}

func (r *Report) add(key string, size int64) {
	r.Objects = append(r.Objects, Object{Key: key, Size: size})
	r.TotalBytes += size
}

// Experiment ids, event partition values and how many part files each
// sub-partition has on every date. The event partition values are the
// directory names Spark writes (it percent-encodes ':' but not ' ', ';', '(').
var (
	seedExperiments = []seedExperiment{
		{campaign: "18811053836", id: "18786493712", variations: []string{"18802093142", "18818611832"}, parts: 1},
		{campaign: "18805683213", id: "18809464474", variations: []string{"18821642160", "18803874034", "18811000120"}, parts: 2},
		{campaign: "19120340077", id: "19133500112", variations: []string{"19117961043", "19130480271"}, parts: 1},
	}
	seedEvents = []seedEvent{
		{partition: "add_to_cart", name: "add_to_cart", parts: 1},
		{partition: "purchase", name: "purchase", parts: 2},
		{partition: "NULL", name: "", parts: 1},
		{partition: "video play", name: "video play", parts: 2},
		{partition: "checkout%3Astart", name: "checkout:start", parts: 1},
		{partition: "promo;code(2)", name: "promo;code(2)", parts: 1},
	}
)

const largeEventPartition = "video play"

type seedExperiment struct {
	campaign, id string
	variations   []string
	parts        int
}

type seedEvent struct {
	partition string
	name      string // "" is a null event_name (partition NULL)
	parts     int
}

// Seed writes a realistic Optimizely export under accountPrefix (which ends
// with "/") in bucket: for each of spec.Dates processing dates,
// type=decisions/date=D/experiment=<id>/part-0000N-<uuid>.c000.snappy.parquet
// for 3 experiments, type=events/date=D/event=<name>/part-0000N-<uuid>... for
// 6 event names (NULL, spaces, %3A, ';', '(' included), and a zero-byte
// type=<t>/date=D/_SUCCESS on every date but the newest. Files are real
// Snappy Parquet with the export's schema and 50-2000 rows, plus one large
// events file. Seeding again with a later Now adds the new dates and the
// _SUCCESS of the previously newest date; objects of earlier dates are
// rewritten with the same bytes.
func Seed(ctx context.Context, c PutObjectAPI, bucket, accountPrefix string, spec Spec) (Report, error) {
	if spec.Now.IsZero() {
		spec.Now = time.Now()
	}
	if spec.Dates <= 0 {
		spec.Dates = 4
	}
	if spec.LargeObjectBytes == 0 {
		spec.LargeObjectBytes = 24 << 20
	}
	account := accountID(accountPrefix)
	today := spec.Now.UTC().Truncate(24 * time.Hour)
	var rep Report
	for i := spec.Dates; i >= 1; i-- {
		day := today.AddDate(0, 0, -i)
		files, err := seedDate(spec, account, day)
		if err != nil {
			return rep, err
		}
		for _, f := range files {
			if err := put(ctx, c, bucket, accountPrefix+f.key, f.body); err != nil {
				return rep, err
			}
			rep.add(accountPrefix+f.key, int64(len(f.body)))
		}
		if i == 1 {
			continue // the newest date is not complete yet
		}
		for _, typ := range []string{"decisions", "events"} {
			key := fmt.Sprintf("%stype=%s/date=%s/_SUCCESS", accountPrefix, typ, day.Format(time.DateOnly))
			if err := put(ctx, c, bucket, key, nil); err != nil {
				return rep, err
			}
			rep.add(key, 0)
		}
	}
	return rep, nil
}

// UploadDir uploads every regular file under dir byte for byte, with key
// prefix + the file's path relative to dir (with "/" separators).
func UploadDir(ctx context.Context, c PutObjectAPI, bucket, prefix, dir string) (Report, error) {
	var rep Report
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		key := prefix + filepath.ToSlash(rel)
		if err := put(ctx, c, bucket, key, body); err != nil {
			return err
		}
		rep.add(key, int64(len(body)))
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("upload %s: %w", dir, err)
	}
	return rep, nil
}

func put(ctx context.Context, c PutObjectAPI, bucket, key string, body []byte) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

// accountID is the value of the account_id= path element of prefix, or a
// made-up id.
func accountID(prefix string) string {
	for _, part := range strings.Split(prefix, "/") {
		if id, ok := strings.CutPrefix(part, "account_id="); ok && id != "" {
			return id
		}
	}
	return "596780373"
}

type seedFile struct {
	key  string // relative to the account prefix
	body []byte
}

// seedDate generates one date's Parquet files. Each file has its own random
// source derived from (spec.Seed, date, key), so files do not depend on each
// other or on Now.
func seedDate(spec Spec, account string, day time.Time) ([]seedFile, error) {
	date := day.Format(time.DateOnly)
	dayNumber := day.Unix() / 86400
	large := spec.LargeObjectBytes > 0 && dayNumber%int64(spec.Dates) == 0
	var files []seedFile
	var gens []func() ([]byte, error)
	for _, typ := range []string{"decisions", "events"} {
		jobUUID := seedUUID(newRand(spec.Seed, date, typ)) // Spark: one uuid per write job
		var subs []string
		var parts []int
		if typ == "decisions" {
			for _, e := range seedExperiments {
				subs, parts = append(subs, "experiment="+e.id), append(parts, e.parts)
			}
		} else {
			for _, e := range seedEvents {
				subs, parts = append(subs, "event="+e.partition), append(parts, e.parts)
			}
		}
		for i, sub := range subs {
			for part := range parts[i] {
				key := fmt.Sprintf("type=%s/date=%s/%s/part-%05d-%s.c000.snappy.parquet", typ, date, sub, part, jobUUID)
				g := &rowGen{r: newRand(spec.Seed, key), account: account, day: day}
				var gen func() ([]byte, error)
				switch {
				case typ == "decisions":
					gen = func() ([]byte, error) {
						return writeParquet(DecisionSchema(), g.rowCount(), func(rows []parquet.Row) []parquet.Row {
							d := g.decision(seedExperiments[i])
							return append(rows, decisionRowSchema.Deconstruct(nil, &d))
						})
					}
				case large && seedEvents[i].partition == largeEventPartition && part == 0:
					gen = func() ([]byte, error) {
						return writeLargeParquet(EventSchema(), spec.LargeObjectBytes, g.r, g.eventRowFunc(seedEvents[i]))
					}
				default:
					gen = func() ([]byte, error) {
						return writeParquet(EventSchema(), g.rowCount(), g.eventRowFunc(seedEvents[i]))
					}
				}
				files = append(files, seedFile{key: key})
				gens = append(gens, gen)
			}
		}
	}
	// Files are independent: generate them in parallel.
	errs := make([]error, len(files))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, gen := range gens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			files[i].body, errs[i] = gen()
			if errs[i] != nil {
				errs[i] = fmt.Errorf("generate %s: %w", files[i].key, errs[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return files, nil
}

// newRand returns a random source seeded from seed and the given strings.
func newRand(seed int64, parts ...string) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprint(h, seed)
	for _, p := range parts {
		h.Write([]byte{0})
		io.WriteString(h, p)
	}
	return rand.New(rand.NewSource(int64(h.Sum64())))
}

// seedUUID returns a random version 4 UUID drawn from r.
func seedUUID(r *rand.Rand) string {
	var b [16]byte
	r.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// rowsPerGroup bounds the row groups of large files.
const rowsPerGroup = 20_000

// writeParquet writes a Snappy Parquet file with schema s and n rows from
// next.
func writeParquet(s *parquet.Schema, n int, next func([]parquet.Row) []parquet.Row) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, s, parquet.Compression(&parquet.Snappy))
	rows := make([]parquet.Row, 0, n)
	for len(rows) < n {
		rows = next(rows)
	}
	if _, err := w.WriteRows(rows); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeLargeParquet writes a Snappy Parquet file with schema s of at least
// minBytes, in row groups of up to rowsPerGroup rows. Drawing rows is the
// slow part, so it draws one group of rows from next and repeats them with
// a fresh uuid (column 0) from r in every later group.
func writeLargeParquet(s *parquet.Schema, minBytes int64, r *rand.Rand, next func([]parquet.Row) []parquet.Row) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, s, parquet.Compression(&parquet.Snappy))
	baseRows := int(min(max(minBytes/250, 2001), rowsPerGroup))
	base := make([]parquet.Row, 0, baseRows)
	for len(base) < baseRows {
		base = next(base)
	}
	group := make([]parquet.Row, len(base))
	for written, rows := 0, base; int64(buf.Len()) < minBytes; {
		if _, err := w.WriteRows(rows); err != nil {
			return nil, err
		}
		if err := w.Flush(); err != nil {
			return nil, err
		}
		written += len(rows)
		// Size the next group to end just past minBytes.
		perRow := max(int64(buf.Len())/int64(written), 1)
		n := min(int64(len(base)), (minBytes-int64(buf.Len()))/perRow*101/100+64)
		rows = group[:max(n, 1)]
		for i := range rows {
			rows[i] = append(rows[i][:0], base[i]...)
			rows[i][0] = parquet.ValueOf(seedUUID(r)).Level(0, 1, 0)
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// rowGen draws plausible rows for one file.
type rowGen struct {
	r       *rand.Rand
	account string
	day     time.Time
}

var (
	seedBrowsers   = []string{"chrome", "safari", "firefox", "edge"}
	seedUserAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"python-requests/2.31.0",
	}
	seedReferers = []string{"https://www.example.com/", "https://www.google.com/", "https://shop.example.com/cart"}
	seedProducts = []struct{ name, price, sku, category string }{
		{"iphone", "999.99", "123", "electronics"},
		{"phone case", "39.95", "789", "accessories"},
		{"headphones", "149.00", "456", "electronics"},
		{"charger", "19.99", "321", "accessories"},
	}
)

func (g *rowGen) rowCount() int { return 50 + g.r.Intn(1951) }

func (g *rowGen) pick(xs []string) string { return xs[g.r.Intn(len(xs))] }

// common draws the fields every row has.
func (g *rowGen) common() (uuid string, ts, processed time.Time, visitor, session string, attrs []*Attribute) {
	uuid = seedUUID(g.r)
	ts = g.day.Add(time.Duration(g.r.Int63n(int64(23*time.Hour + 50*time.Minute))))
	processed = ts.Add(time.Duration(1 + g.r.Int63n(int64(10*time.Minute)))).Truncate(time.Millisecond)
	ts = ts.Truncate(time.Millisecond)
	visitor = fmt.Sprintf("user_%d", g.r.Intn(5000))
	session = fmt.Sprint(int32(g.r.Uint32()))
	attrs = []*Attribute{
		{ID: aws.String("$opt_bot_filtering"), Name: aws.String("$opt_bot_filtering"), Type: aws.String("custom"), Value: aws.String("false")},
		{ID: aws.String("$opt_enrich_decisions"), Name: aws.String("$opt_enrich_decisions"), Type: aws.String("custom"), Value: aws.String("true")},
		{Name: aws.String("attribution/captured"), Type: aws.String("metadata"), Value: aws.String("true")},
		{ID: aws.String("18802134986"), Name: aws.String("browser"), Type: aws.String("custom"), Value: aws.String(g.pick(seedBrowsers))},
	}
	if g.r.Intn(3) == 0 {
		attrs = append(attrs, nil) // real files have null list elements too
	}
	return
}

func (g *rowGen) ip() string {
	return fmt.Sprintf("%d.%d.%d.%d", 1+g.r.Intn(223), g.r.Intn(256), g.r.Intn(256), 1+g.r.Intn(254))
}

func (g *rowGen) referer() *string {
	if g.r.Intn(2) == 0 {
		return nil
	}
	return aws.String(g.pick(seedReferers))
}

func (g *rowGen) decision(e seedExperiment) Decision {
	uuid, ts, processed, visitor, session, attrs := g.common()
	return Decision{
		UUID: &uuid, Timestamp: &ts, ProcessTimestamp: &processed,
		VisitorID: &visitor, SessionID: &session, AccountID: &g.account,
		CampaignID: aws.String(e.campaign), ExperimentID: aws.String(e.id),
		VariationID: aws.String(g.pick(e.variations)),
		Attributes:  attrs,
		UserIP:      aws.String(g.ip()), UserAgent: aws.String(g.pick(seedUserAgents)), Referer: g.referer(),
		IsHoldback: aws.Bool(g.r.Intn(50) == 0),
		Revision:   aws.String("99"), ClientEngine: aws.String("js"), ClientVersion: aws.String("0.188.1"),
	}
}

// eventRowFunc returns a row source for writeParquet that draws events of e.
func (g *rowGen) eventRowFunc(e seedEvent) func([]parquet.Row) []parquet.Row {
	return func(rows []parquet.Row) []parquet.Row {
		ev := g.event(e)
		tags := ev.Tags
		ev.Tags = nil
		return append(rows, withTags(eventRowSchema.Deconstruct(nil, &ev), tags))
	}
}

func (g *rowGen) event(e seedEvent) Event {
	uuid, ts, processed, visitor, session, attrs := g.common()
	ev := Event{
		UUID: &uuid, Timestamp: &ts, ProcessTimestamp: &processed,
		VisitorID: &visitor, SessionID: &session, AccountID: &g.account,
		EntityID:   aws.String(fmt.Sprint(15000000000 + g.r.Int63n(5000000000))),
		Attributes: attrs,
		UserIP:     aws.String(g.ip()), UserAgent: aws.String(g.pick(seedUserAgents)), Referer: g.referer(),
		Revenue: aws.Int64(0), Quantity: aws.Int64(0),
		Revision: aws.String("99"), ClientEngine: aws.String("js"), ClientVersion: aws.String("0.188.1"),
	}
	for _, x := range seedExperiments {
		if g.r.Intn(3) != 0 {
			ev.Experiments = append(ev.Experiments, &EventExperiment{
				CampaignID: aws.String(x.campaign), ExperimentID: aws.String(x.id),
				VariationID: aws.String(g.pick(x.variations)), IsHoldback: aws.Bool(false),
			})
		}
	}
	if e.name != "" {
		ev.EventName = aws.String(e.name)
	}
	switch e.partition {
	case "add_to_cart", "purchase":
		p := seedProducts[g.r.Intn(len(seedProducts))]
		ev.Tags = map[string]string{"product": p.name, "price": p.price, "sku": p.sku, "category": p.category}
		if e.partition == "purchase" {
			cents := int64(100 + g.r.Intn(200000))
			ev.Revenue, ev.Quantity = aws.Int64(cents), nil
			ev.Tags["revenue"] = fmt.Sprint(cents)
		}
	case "video play":
		ev.Value = aws.Float64(float64(g.r.Intn(36000)) / 10)                              // seconds watched
		ev.Tags = map[string]string{"video_id": fmt.Sprint(g.r.Intn(300)), "autoplay": ""} // "" is written as null
	case "checkout%3Astart":
		ev.Quantity = aws.Int64(int64(1 + g.r.Intn(5)))
	}
	return ev
}

// withTags sets the tags column of a row deconstructed with no tags to
// tags, written in key order, "" values as null. parquet-go v0.32.0 cannot
// deconstruct a map whose values are optional (Schema.Deconstruct panics in
// deconstructFuncOfMap: "reflect.Value.Convert: value of type string cannot be
// converted to type *string"), and would write a Go map in random order.
func withTags(row parquet.Row, tags map[string]string) parquet.Row {
	if len(tags) == 0 {
		return row
	}
	keys := slices.Sorted(maps.Keys(tags))
	out := make(parquet.Row, 0, len(row)+2*len(keys))
	for _, v := range row {
		switch v.Column() {
		case tagsKeyColumn.ColumnIndex:
			for i, k := range keys {
				out = append(out, parquet.ValueOf(k).Level(min(i, 1), tagsKeyColumn.MaxDefinitionLevel, tagsKeyColumn.ColumnIndex))
			}
		case tagsValueColumn.ColumnIndex:
			for i, k := range keys {
				val, def := parquet.ValueOf(tags[k]), tagsValueColumn.MaxDefinitionLevel
				if tags[k] == "" {
					val, def = parquet.NullValue(), def-1
				}
				out = append(out, val.Level(min(i, 1), def, tagsValueColumn.ColumnIndex))
			}
		default:
			out = append(out, v)
		}
	}
	return out
}

// Rows are made with the schemas of the Go types themselves; the files are
// written with the spark_schema wrappers, which have the same columns.
var (
	decisionRowSchema = parquet.SchemaOf(Decision{})
	eventRowSchema    = parquet.SchemaOf(Event{})

	tagsKeyColumn, _   = eventRowSchema.Lookup("tags", "key_value", "key")
	tagsValueColumn, _ = eventRowSchema.Lookup("tags", "key_value", "value")
)
