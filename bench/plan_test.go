package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/store"
)

// BenchmarkPlan plans a full year of both export types, 50 sub-partitions
// per date (36,500 prefixes, one tiny object each, plus _SUCCESS) against a
// local MinIO, into an empty destination. It reports the LIST calls per
// plan, which grow with prefixes (one per date) and not with objects.
func BenchmarkPlan(b *testing.B) {
	const (
		days     = 365
		perDate  = 50
		srcB     = "export"
		dstB     = "mirror"
		acct     = "v1/account_id=12345/"
		firstDay = "2024-01-01"
	)
	ctx := context.Background()
	m := testenv.MinIOForTest(b)
	for _, bk := range []string{srcB, dstB} {
		if err := m.CreateBucket(ctx, bk); err != nil {
			b.Fatal(err)
		}
	}
	root := m.S3Client(m.RootProvider())
	first, _ := time.Parse(time.DateOnly, firstDay)
	types := []export.Type{export.Decisions, export.Events}
	keys := make(chan string, 1024)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var seedErr error
	start := time.Now()
	for range 64 {
		wg.Go(func() {
			for k := range keys {
				_, err := root.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srcB), Key: aws.String(acct + k), Body: strings.NewReader("x")})
				if err != nil {
					mu.Lock()
					seedErr = err
					mu.Unlock()
				}
			}
		})
	}
	for _, t := range types {
		part := "experiment="
		if t == export.Events {
			part = "event="
		}
		for d := range days {
			date := first.AddDate(0, 0, d).Format(time.DateOnly)
			for p := range perDate {
				keys <- fmt.Sprintf("%s%s%d/part-00000.snappy.parquet", export.DatePrefix(t, date), part, p)
			}
			keys <- export.SuccessKey(t, date)
		}
	}
	close(keys)
	wg.Wait()
	if seedErr != nil {
		b.Fatal(seedErr)
	}
	b.Logf("seeded %d objects in %.1fs", len(types)*days*(perDate+1), time.Since(start).Seconds())

	counter, err := NewCounter(m.Endpoint())
	if err != nil {
		b.Fatal(err)
	}
	defer counter.Close()
	client := testenv.NewS3Client(counter.URL, m.RootProvider())
	src := store.NewS3(client, srcB, acct, store.S3Options{})
	dst := store.NewS3(client, dstB, "optimizely/", store.S3Options{})
	opts := plan.Options{Types: types, Now: first.AddDate(0, 0, days+10)}
	b.ResetTimer()
	for b.Loop() {
		counter.Reset()
		p, err := plan.Make(ctx, src, dst, opts)
		if err != nil {
			b.Fatal(err)
		}
		if want := len(types) * days * perDate; len(p.Tasks) != want {
			b.Fatalf("plan has %d tasks, want %d", len(p.Tasks), want)
		}
	}
	b.ReportMetric(float64(counter.Counts()[List]), "LIST/op")
}
