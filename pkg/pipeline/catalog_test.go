package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/internal/gluetables"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// The copier registers each sub-partition it copies, and when a date
// completes checks its schema against the table: a file of another schema
// is counted (SchemaChanges) and its new columns are added to the table.
// A catalog that fails is counted (CatalogFailures) and never fails a task.
func TestCopierCatalog(t *testing.T) {
	moto := testenv.MotoForTest(t)
	gc := moto.Glue()
	const location = "s3://lake/optimizely/"
	gluetables.Create(t, gc, "db", location)
	ev, dec := fixture.Sample(t, "events"), fixture.Sample(t, "decisions")

	root, src, dst := newDirs(t)
	writeFile(t, root, "type=events/date=2024-03-01/event=add to cart/part-0.parquet", ev)
	writeFile(t, root, "type=events/date=2024-03-01/event=a%3Ab/part-0.parquet", ev)
	writeFile(t, root, "type=events/date=2024-03-01/_SUCCESS", nil)
	// Optimizely writes the next day with another schema (here: the decisions one).
	writeFile(t, root, "type=events/date=2024-03-02/event=NULL/part-0.parquet", dec)
	writeFile(t, root, "type=events/date=2024-03-02/_SUCCESS", nil)

	var emf, logs bytes.Buffer
	newCopier := func(db string) *Copier {
		return &Copier{Engine: transfer.New(src, dst, transfer.Options{}), Queue: &fakeQueue{}, QueueURL: "url",
			Metrics: metrics.New(&emf, "e3sync", "stack"), Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			Catalog: &catalog.Keeper{Dest: dst, Glue: &catalog.Glue{Client: gc, Database: db, Location: location}}}
	}
	c := newCopier("db")
	ctx := context.Background()
	for _, task := range []export.Task{
		{Type: export.Events, Date: "2024-03-01", Partition: "event=add to cart", SourceComplete: true},
		{Type: export.Events, Date: "2024-03-01", Partition: "event=a%3Ab", SourceComplete: true},
		{Type: export.Events, Date: "2024-03-02", Partition: "event=NULL", SourceComplete: true},
	} {
		if _, err := c.Run(ctx, task); err != nil {
			t.Fatalf("Run(%s) error = %v", task, err)
		}
	}
	got := map[string]string{}
	out, err := gc.GetPartitions(ctx, &glue.GetPartitionsInput{DatabaseName: aws.String("db"), TableName: aws.String("events")})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range out.Partitions {
		got[strings.Join(p.Values, "|")] = aws.ToString(p.StorageDescriptor.Location)
	}
	want := map[string]string{
		"2024-03-01|add to cart": location + "type=events/date=2024-03-01/event=add to cart/",
		"2024-03-01|a%3Ab":       location + "type=events/date=2024-03-01/event=a%3Ab/",
		"2024-03-02|NULL":        location + "type=events/date=2024-03-02/event=NULL/",
	}
	if len(got) != len(want) {
		t.Errorf("partitions = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("partition %s at %q, want %q", k, got[k], v)
		}
	}
	m := emfValues(t, &emf)
	if m[metrics.SchemaChanges] == 0 || m[metrics.CatalogFailures] != 0 {
		t.Errorf("metrics = %v, want SchemaChanges for 2024-03-02 and no CatalogFailures", m)
	}
	if !strings.Contains(logs.String(), `"msg":"export schema changed"`) || !strings.Contains(logs.String(), "added: campaign_id string") {
		t.Errorf("logs do not name the changed columns:\n%s", logs.String())
	}
	cols, err := c.Catalog.Glue.TableColumns(ctx, export.Events)
	if err != nil || !strings.Contains(catalog.Drift{Added: cols}.String(), "campaign_id string") {
		t.Errorf("events table columns = %v, %v, want campaign_id added", cols, err)
	}

	// A catalog that fails (no such database): counted, logged, the task succeeds.
	emf.Reset()
	logs.Reset()
	writeFile(t, root, "type=events/date=2024-03-03/event=b/part-0.parquet", ev)
	outcome, err := newCopier("missing").Run(ctx, export.Task{Type: export.Events, Date: "2024-03-03", Partition: "event=b"})
	if err != nil || outcome.Result.Copied != 1 {
		t.Fatalf("Run() with a failing catalog = %+v, %v, want the object copied and no error", outcome, err)
	}
	if m := emfValues(t, &emf); m[metrics.CatalogFailures] != 1 {
		t.Errorf("CatalogFailures = %v, want 1", m[metrics.CatalogFailures])
	}
	if !strings.Contains(logs.String(), "partition not registered in the Glue catalog") {
		t.Errorf("logs = %s, want the registration failure", logs.String())
	}
}

// The planner reports type= folders it does not sync (UnknownExportTypes, a
// warning naming them), syncs one named in a backfill, and rejects a type the
// export does not have as a bad request.
func TestPlannerUnknownTypes(t *testing.T) {
	root, src, dst := newDirs(t)
	writeFile(t, root, "type=decisions/date=2024-03-01/experiment=1/part-0.parquet", []byte("x"))
	writeFile(t, root, "type=decisions-rerun/date=2024-03-01/experiment=1/part-0.parquet", []byte("x"))
	var emf, logs bytes.Buffer
	q := &fakeQueue{}
	p := &Planner{Source: src, Dest: dst, Queue: q, QueueURL: "url", Types: export.AllTypes, Lookback: 3, MaxBackfillDays: 400,
		Now: func() time.Time { return now }, Metrics: metrics.New(&emf, "e3sync", "stack"), Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	if _, err := p.Run(context.Background(), "run", Request{}); err != nil {
		t.Fatal(err)
	}
	if m := emfValues(t, &emf); m[metrics.UnknownExportTypes] != 1 {
		t.Errorf("UnknownExportTypes = %v, want 1", m[metrics.UnknownExportTypes])
	}
	if !strings.Contains(logs.String(), `"unknown_types":["decisions-rerun"]`) {
		t.Errorf("logs = %s, want a warning naming decisions-rerun", logs.String())
	}
	sum, err := p.Run(context.Background(), "run", Request{From: "2024-03-01", To: "2024-03-01", Types: []string{"decisions-rerun"}})
	if err != nil || sum.TasksEnqueued != 1 || !strings.Contains(q.bodies[len(q.bodies)-1], `"type":"decisions-rerun"`) {
		t.Errorf("backfill of decisions-rerun = %+v, %v, want its one task enqueued", sum, err)
	}
	if _, err := p.Run(context.Background(), "run", Request{From: "2024-03-01", Types: []string{"clicks"}}); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), `"clicks" is not in the export`) {
		t.Errorf("backfill of clicks = %v, want a bad request naming it", err)
	}
}
