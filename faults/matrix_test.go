package faults

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/emulator"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/plan"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// row is one line of the fault table.
type row struct {
	name                                                  string
	injected, runs, failedRuns                            int
	lost, corrupted, partial, falseSuccess, orphans, seen int
}

var (
	tableMu sync.Mutex
	table   []row
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if (testing.Verbose() || soakRounds() > 0) && len(table) > 0 {
		fmt.Printf("\n| fault | injected | runs (failed) | lost | corrupted | partial | false _SUCCESS | orphaned uploads |\n|---|---|---|---|---|---|---|---|\n")
		for _, r := range table {
			fmt.Printf("| %s | %d | %d (%d) | %d | %d | %d | %d | %d |\n", r.name, r.injected, r.runs, r.failedRuns, r.lost, r.corrupted, r.partial, r.falseSuccess, r.orphans)
		}
		printTotals()
	}
	os.Exit(code)
}

type scenario struct {
	name  string
	rules []testenv.FaultRule
	auth  []emulator.AuthFault
	// clearAfter > 0: the rules hold for that many runs, each of which must
	// fail, then are removed.
	clearAfter int
}

// matrix is every scenario: faults of the request-level rules hit every
// every-th request of their kind, times at most; the multipart-level ones
// hit the first onceTimes requests of their kind.
func matrix(every, times, onceTimes int) []scenario {
	r := func(op testenv.Op, kind testenv.FaultKind, after int64) testenv.FaultRule {
		return testenv.FaultRule{Op: op, Kind: kind, Every: every, Times: times, AfterBytes: after}
	}
	once := func(op testenv.Op, kind testenv.FaultKind) testenv.FaultRule {
		// One request of this kind per multipart object: fail the first ones.
		return testenv.FaultRule{Op: op, Kind: kind, Times: onceTimes}
	}
	return []scenario{
		{name: "GET 500 InternalError", rules: []testenv.FaultRule{r(testenv.OpGetObject, testenv.FaultInternalError, 0)}},
		{name: "GET 503 SlowDown", rules: []testenv.FaultRule{r(testenv.OpGetObject, testenv.FaultSlowDown, 0)}},
		{name: "GET reset mid-body", rules: []testenv.FaultRule{r(testenv.OpGetObject, testenv.FaultResetResponse, 64<<10)}},
		{name: "GET truncated body", rules: []testenv.FaultRule{r(testenv.OpGetObject, testenv.FaultTruncateResponse, 100<<10)}},
		{name: "PUT 500 InternalError", rules: []testenv.FaultRule{r(testenv.OpPutObject, testenv.FaultInternalError, 0)}},
		{name: "PUT reset mid-body", rules: []testenv.FaultRule{r(testenv.OpPutObject, testenv.FaultResetRequest, 32<<10)}},
		{name: "PUT response lost", rules: []testenv.FaultRule{r(testenv.OpPutObject, testenv.FaultDropResponse, 0)}},
		{name: "CreateMultipartUpload 500", rules: []testenv.FaultRule{once(testenv.OpCreateMultipart, testenv.FaultInternalError)}},
		{name: "UploadPart 503 SlowDown", rules: []testenv.FaultRule{r(testenv.OpUploadPart, testenv.FaultSlowDown, 0)}},
		{name: "UploadPart reset mid-body", rules: []testenv.FaultRule{r(testenv.OpUploadPart, testenv.FaultResetRequest, 1<<20)}},
		{name: "CompleteMultipartUpload 500", rules: []testenv.FaultRule{once(testenv.OpCompleteUpload, testenv.FaultInternalError)}},
		{name: "CompleteMultipartUpload response lost", rules: []testenv.FaultRule{once(testenv.OpCompleteUpload, testenv.FaultDropResponse)}},
		{name: "LIST 503 SlowDown", rules: []testenv.FaultRule{r(testenv.OpList, testenv.FaultSlowDown, 0)}},
		{name: "latency 20ms on every request", rules: []testenv.FaultRule{{Kind: testenv.FaultLatency, Latency: 20 * time.Millisecond}}},
		{name: "Auth API 429, 500, malformed JSON, slow", auth: []emulator.AuthFault{emulator.AuthTooManyRequests, emulator.AuthServerError, emulator.AuthMalformed, emulator.AuthSlow}},
		{name: "one object's GET always truncated, then healed", clearAfter: 2, rules: []testenv.FaultRule{
			{Op: testenv.OpGetObject, Kind: testenv.FaultTruncateResponse, KeyContains: "experiment=2/part", AfterBytes: 1 << 20}}},
		{name: "everything at once", auth: []emulator.AuthFault{emulator.AuthServerError}, rules: []testenv.FaultRule{
			r(testenv.OpGetObject, testenv.FaultResetResponse, 10<<10), r(testenv.OpGetObject, testenv.FaultSlowDown, 0),
			r(testenv.OpPutObject, testenv.FaultDropResponse, 0), r(testenv.OpUploadPart, testenv.FaultResetRequest, 100<<10),
			once(testenv.OpCompleteUpload, testenv.FaultInternalError), r(testenv.OpList, testenv.FaultInternalError, 0)}},
	}
}

const maxRuns = 6

func (w *world) runScenario(t *testing.T, sc scenario) row {
	ctx := context.Background()
	prefix := w.newPrefix(sc.name)
	w.proxy.SetRules(sc.rules...)
	defer w.proxy.SetRules()
	before := total(w.proxy.Injected())
	authBefore := w.api.FaultsInjected()
	drops := w.proxy.Injected()[testenv.FaultDropResponse]
	w.api.InjectFaults(sc.auth...)

	// An observer inspects the destination while the runs go on.
	d := newDamage()
	var mu sync.Mutex
	obsCtx, stopObs := context.WithCancel(ctx)
	obsDone := make(chan int)
	go func() {
		looks := 0
		for obsCtx.Err() == nil {
			if w.inspect(obsCtx, prefix, d, false, &mu) == nil {
				looks++
			}
		}
		obsDone <- looks
	}()

	res := row{name: sc.name}
	copied, clean := 0, false
	for res.runs < maxRuns && !clean {
		res.runs++
		if sc.clearAfter > 0 && res.runs == sc.clearAfter+1 {
			w.proxy.SetRules()
		}
		sum, err := w.sync(ctx, prefix)
		if err != nil {
			res.failedRuns++
			t.Logf("run %d failed as a whole: %v", res.runs, err)
			continue
		}
		copied += sum.ObjectsCopied
		if n := sum.ObjectsCopied + sum.ObjectsSkipped + sum.ObjectsFailed; n != len(w.src) {
			t.Errorf("run %d: copied %d + skipped %d + failed %d = %d, want %d objects accounted for",
				res.runs, sum.ObjectsCopied, sum.ObjectsSkipped, sum.ObjectsFailed, n, len(w.src))
		}
		if sum.Failed() {
			res.failedRuns++
			t.Logf("run %d reported %d failed objects, %d errors (first: %.200s)", res.runs, sum.ObjectsFailed, len(sum.Errors), sum.Errors[0])
			continue
		}
		if sum.ObjectsFailed != 0 {
			t.Errorf("run %d: %d objects failed but the run reports no error", res.runs, sum.ObjectsFailed)
		}
		// A run that reports success must have left an exact mirror.
		rep, err := w.identical(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var diffs []string
		for _, df := range rep.Differences {
			diffs = append(diffs, fmt.Sprint(df))
		}
		if len(diffs) > 0 {
			t.Errorf("run %d reported success, but the destination differs (silent failure):\n%s", res.runs, strings.Join(diffs, "\n"))
		}
		clean = true
	}
	stopObs()
	res.seen = <-obsDone
	if err := w.inspect(ctx, prefix, d, true, &mu); err != nil {
		t.Fatal(err)
	}
	res.injected = total(w.proxy.Injected()) - before + w.api.FaultsInjected() - authBefore
	res.lost, res.corrupted, res.partial, res.falseSuccess = len(d.lost), len(d.corrupted), len(d.partial), len(d.falseSuccess)
	res.orphans = len(w.openUploads(ctx, prefix))

	if !clean {
		t.Errorf("no clean run in %d runs", maxRuns)
	}
	if sc.clearAfter > 0 && res.failedRuns < sc.clearAfter {
		t.Errorf("%d runs failed while a fault was permanent, want %d: a failure went unreported", res.failedRuns, sc.clearAfter)
	}
	if len(sc.rules)+len(sc.auth) > 0 && res.injected == 0 {
		t.Errorf("no fault was injected: the scenario tests nothing")
	}
	lostResponses := w.proxy.Injected()[testenv.FaultDropResponse] - drops
	if copied > len(w.src) || copied < len(w.src)-lostResponses {
		t.Errorf("objects copied over all runs = %d, want %d (less at most %d written with a lost response)", copied, len(w.src), lostResponses)
	}
	if res.lost+res.corrupted+res.partial+res.falseSuccess+res.orphans+len(d.extra) > 0 {
		t.Errorf("damage: lost [%s] corrupted [%s] partial [%s] false _SUCCESS [%s] extra [%s] open uploads %d",
			keys(d.lost), keys(d.corrupted), keys(d.partial), keys(d.falseSuccess), keys(d.extra), res.orphans)
	}
	t.Logf("%d faults injected, %d runs (%d failed), %d observer passes", res.injected, res.runs, res.failedRuns, res.seen)
	return res
}

func total(m map[testenv.FaultKind]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func record(r row) {
	tableMu.Lock()
	defer tableMu.Unlock()
	table = append(table, r)
}

func TestFaultMatrix(t *testing.T) {
	w := newWorld(t, 1)
	for _, sc := range matrix(2, 4, 2) {
		t.Run(sc.name, func(t *testing.T) { record(w.runScenario(t, sc)) })
	}
}

// TestSoak runs the matrix again, E3SYNC_SOAK times, with more data and
// other fault rates.
func TestSoak(t *testing.T) {
	rounds := soakRounds()
	if rounds == 0 {
		t.Skip("set E3SYNC_SOAK=N (make soak) to run the long fault matrix")
	}
	for i := 1; i <= rounds; i++ {
		// More data, and more faults of each kind, every round (printTotals
		// adds them up per kind).
		scale := 4 * (2 + i%3)
		w := newWorld(t, scale)
		every, times := 2+i%3, 30+10*i
		for _, sc := range matrix(every, times, 3*scale) {
			sc.name = fmt.Sprintf("soak %d: %s", i, sc.name)
			t.Run(sc.name, func(t *testing.T) { record(w.runScenario(t, sc)) })
		}
	}
}

// The same task delivered twice at once (two copiers on the same message),
// and again later: the destination is exact, nothing is left open, and the
// late copy copies nothing.
func TestDuplicateDelivery(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 1)
	prefix := w.newPrefix("duplicate delivery")
	src, err := w.source(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(ctx, src.Store, w.dest(prefix), plan.Options{Types: export.AllTypes, From: fromDate, To: toDate})
	if err != nil {
		t.Fatal(err)
	}
	d := newDamage()
	var mu sync.Mutex
	obsCtx, stopObs := context.WithCancel(ctx)
	obsDone := make(chan struct{})
	go func() {
		for obsCtx.Err() == nil {
			w.inspect(obsCtx, prefix, d, false, &mu)
		}
		close(obsDone)
	}()
	engines := []*transfer.Engine{
		transfer.New(src.Store, w.dest(prefix), transfer.Options{Concurrency: 4}),
		transfer.New(src.Store, w.dest(prefix), transfer.Options{Concurrency: 4}),
	}
	var wg sync.WaitGroup
	var copied [2]int
	for i, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, task := range p.Tasks {
				r, err := e.Copy(ctx, task)
				if err != nil {
					t.Errorf("copier %d, task %s: %v", i, task, err)
				}
				copied[i] += r.Copied
				if task.SourceComplete {
					if _, err := e.Finalize(ctx, task.Type, task.Date); err != nil {
						t.Errorf("copier %d, finalize %s: %v", i, task, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	stopObs()
	<-obsDone
	if copied[0]+copied[1] < len(w.src) {
		t.Errorf("copied %v, want at least %d in all", copied, len(w.src))
	}
	later := transfer.New(src.Store, w.dest(prefix), transfer.Options{})
	for _, task := range p.Tasks {
		r, err := later.Copy(ctx, task)
		if err != nil || r.Copied != 0 || r.Failed != 0 {
			t.Errorf("late duplicate of %s = %+v, %v; want nothing copied", task, r, err)
		}
	}
	if err := w.inspect(ctx, prefix, d, true, &mu); err != nil {
		t.Fatal(err)
	}
	rep, err := w.identical(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, df := range rep.Differences {
		if df.Key != "type=events/date="+toDate+"/"+export.SuccessMarker {
			t.Errorf("difference after duplicate delivery: %v", df)
		}
	}
	orphans := len(w.openUploads(ctx, prefix))
	if len(d.lost)+len(d.corrupted)+len(d.partial)+len(d.falseSuccess)+orphans > 0 {
		t.Errorf("damage: lost [%s] corrupted [%s] partial [%s] false _SUCCESS [%s] open uploads %d",
			keys(d.lost), keys(d.corrupted), keys(d.partial), keys(d.falseSuccess), orphans)
	}
	record(row{name: "duplicate delivery (2 concurrent + 1 late)", runs: 3, lost: len(d.lost), corrupted: len(d.corrupted),
		partial: len(d.partial), falseSuccess: len(d.falseSuccess), orphans: orphans})
}

// printTotals prints the table again with the rows of each fault kind
// (the short matrix and every soak round) added up.
func printTotals() {
	var names []string
	sum := map[string]*row{}
	for _, r := range table {
		name := r.name
		if strings.HasPrefix(name, "soak ") {
			if _, rest, ok := strings.Cut(name, ": "); ok {
				name = rest
			}
		}
		t, ok := sum[name]
		if !ok {
			t = &row{name: name}
			sum[name] = t
			names = append(names, name)
		}
		t.injected += r.injected
		t.runs += r.runs
		t.failedRuns += r.failedRuns
		t.lost += r.lost
		t.corrupted += r.corrupted
		t.partial += r.partial
		t.falseSuccess += r.falseSuccess
		t.orphans += r.orphans
	}
	fmt.Printf("\nTotals by fault kind\n\n| fault | injected | runs (failed) | lost | corrupted | partial | false _SUCCESS | orphaned uploads |\n|---|---|---|---|---|---|---|---|\n")
	for _, n := range names {
		r := sum[n]
		fmt.Printf("| %s | %d | %d (%d) | %d | %d | %d | %d | %d |\n", r.name, r.injected, r.runs, r.failedRuns, r.lost, r.corrupted, r.partial, r.falseSuccess, r.orphans)
	}
}
