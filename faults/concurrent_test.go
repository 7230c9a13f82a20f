package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// TestConcurrentStaleCopy forces, through the proxy and MinIO, the worst
// interleaving of two runs of one task while the source rewrites an object
// (same size, new bytes): run A reads version 1; the source changes; run B
// copies version 2 and is held before its manifest; A's version 1 lands over
// B's copy and A writes its manifest; then B's manifest records version 2.
// The date must not be completed meanwhile, and the next scheduled sync must
// leave the destination exact: no object is kept older than what its
// manifest records. Each forced interleaving counts
// as one fault; the soak repeats it until it has forced soakFaults.
func TestConcurrentStaleCopy(t *testing.T) {
	const name = "concurrent runs, older copy lands last"
	w := newWorld(t, 1)
	record(runStaleCopy(t, w, name))
	rounds := soakRounds()
	for i := 1; i <= rounds && !t.Failed(); i++ {
		soak := fmt.Sprintf("soak %d: %s", i, name)
		record(repeat(t, soak, soakShare(rounds), func() row { return runStaleCopy(t, w, soak) }))
	}
}

// heldDest holds Write of one key: it reads the whole body (so the source
// read is over), then calls before and only then stores the bytes.
type heldDest struct {
	transfer.Destination
	before func(key string)
}

func (d heldDest) Write(ctx context.Context, key string, size int64, r io.Reader, meta map[string]string) (string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	d.before(key)
	return d.Destination.Write(ctx, key, size, bytes.NewReader(data), meta)
}

func runStaleCopy(t *testing.T, w *world, name string) row {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a guard against a hang, not a measure
	defer cancel()
	prefix := w.newPrefix("concurrent stale copy")
	task := export.Task{Type: export.Events, Date: fromDate, Partition: "event=purchase", SourceComplete: true}
	key := task.Prefix() + "part-00000.c000.snappy.parquet"
	src, err := w.source(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The date's other sub-partitions are copied already: only the task
	// below stands between the date and its _SUCCESS.
	p, err := plan.Make(ctx, src.Store, w.dest(prefix), plan.Options{Types: []export.Type{task.Type}, From: task.Date, To: task.Date})
	if err != nil {
		t.Fatal(err)
	}
	plain := transfer.New(src.Store, w.dest(prefix), transfer.Options{})
	for _, other := range p.Tasks {
		if other.Partition != task.Partition {
			if _, err := plain.Copy(ctx, other); err != nil {
				t.Fatalf("copy %s: %v", other, err)
			}
		}
	}
	aRead, bCopied, aDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	manifest := transfer.StateRoot + task.Prefix() + "_manifest.json"
	a := transfer.New(src.Store, heldDest{w.dest(prefix), func(k string) {
		if k == key {
			close(aRead)
			<-bCopied
		}
	}}, transfer.Options{Attempts: 1})
	b := transfer.New(src.Store, heldDest{w.dest(prefix), func(k string) {
		if k == manifest {
			close(bCopied)
			<-aDone
		}
	}}, transfer.Options{Attempts: 1})

	res := row{name: name, injected: 1, runs: 3}
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() {
		defer close(aDone)
		_, errA = a.Copy(ctx, task)
	})
	select {
	case <-aRead:
	case <-ctx.Done():
		t.Fatal("run A never reached its upload")
	}
	w.put(key, int(w.sizes[key])) // version 2: new bytes, the same size
	wg.Go(func() { _, errB = b.Copy(ctx, task) })
	wg.Wait()
	for _, err := range []error{errA, errB} {
		if err != nil {
			res.failedRuns++
			t.Errorf("concurrent run: %v", err)
		}
	}
	// B, done, completes the date as the copier does: with the older copy
	// in place (the right size) it must not.
	falseSuccess := 0
	if c, err := b.Finalize(ctx, task.Type, task.Date); err != nil || c != transfer.Incomplete {
		falseSuccess++
		t.Errorf("Finalize() with the older copy in place = %v, %v, want %v", c, err, transfer.Incomplete)
	}

	// The next scheduled run: the whole job, as the CLI runs it.
	if _, err := w.sync(ctx, prefix); err != nil {
		res.failedRuns++
		t.Errorf("sync after the concurrent runs: %v", err)
	}
	d := newDamage()
	var mu sync.Mutex
	w.final(t, prefix, d, &mu, &res)
	res.falseSuccess += falseSuccess
	for _, df := range w.differences(t, prefix) {
		if df.Key != "type=events/date="+toDate+"/"+export.SuccessMarker {
			t.Errorf("difference after the concurrent runs and a sync: %v", df)
		}
	}
	if !t.Failed() {
		w.remove(prefix)
	}
	return res
}
