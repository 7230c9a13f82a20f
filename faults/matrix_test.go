package faults

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e3sync/e3sync/internal/fakeauth"
	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/optimizely"
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
		printTable("", table)
		sums, soaked := totals()
		if len(soaked) > 0 {
			printTable("Totals by fault kind", sums)
		}
		var short []string
		for _, r := range sums {
			if soaked[r.name] && r.injected < soakFaults {
				short = append(short, fmt.Sprintf("%s (%d)", r.name, r.injected))
			}
		}
		if len(short) > 0 {
			fmt.Printf("FAIL: fewer than %d faults injected in the soak: %s\n", soakFaults, strings.Join(short, "; "))
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

type scenario struct {
	name  string
	rules []testenv.FaultRule
	// auth are queued at the Authentication API before each run while the
	// faults hold; authPlan is its fault plan meanwhile.
	auth     []fakeauth.Fault
	authPlan fakeauth.FaultPlan
	// refresh: the credentials are issued to live refreshLifetime, so the
	// source refreshes them many times during a copy and the
	// Authentication API's faults land in the middle of it.
	refresh bool
	// clearAfter > 0: the faults hold for that many runs, each of which must
	// fail (with an error wrapping or reporting wantErr, if set), then are
	// removed.
	clearAfter int
	wantErr    error
	// rerun: the faults also hit a run with nothing left to copy (they hit
	// credentials or listings), so the soak repeats the scenario as next
	// scheduled runs over the complete destination, not from an empty one.
	rerun bool
}

// refreshLifetime is the advertised lifetime of credentials in the refresh
// scenarios: they are used for three quarters of it (the refresh window
// scales down, no refresh on every request), so a copy of half a second
// still refreshes them a dozen times.
const refreshLifetime = 30 * time.Millisecond

// refreshPace holds every GET of the refresh scenarios for longer than
// credentials are used, so each GET that follows another is signed with
// credentials refreshed since: the copy refreshes several times however
// fast the machine is (credentials are needed to sign a request, not
// while its body streams).
var refreshPace = testenv.FaultRule{Op: testenv.OpGetObject, Kind: testenv.FaultLatency, Latency: refreshLifetime}

// rates are how often a matrix injects its faults: the request-level rules
// hit every every-th request of their kind, times at most; the
// multipart-level ones the first onceTimes requests of their kind; a
// permanent fault holds for failRuns runs.
type rates struct{ every, times, onceTimes, failRuns int }

// matrix is every scenario at the given rates.
func matrix(p rates) []scenario {
	r := func(op testenv.Op, kind testenv.FaultKind, after int64) []testenv.FaultRule {
		return []testenv.FaultRule{{Op: op, Kind: kind, Every: p.every, Times: p.times, AfterBytes: after}}
	}
	once := func(op testenv.Op, kind testenv.FaultKind) []testenv.FaultRule {
		// One request of this kind per multipart object: fail the first ones.
		return []testenv.FaultRule{{Op: op, Kind: kind, Times: p.onceTimes}}
	}
	// Retried Authentication API faults: all but the last of the client's
	// attempts fail, so each run still gets credentials.
	retried := func(f fakeauth.Fault) []fakeauth.Fault {
		return slices.Repeat([]fakeauth.Fault{f}, optimizely.DefaultMaxAttempts-1)
	}
	every := func(n int, f fakeauth.Fault) fakeauth.FaultPlan {
		return fakeauth.FaultPlan{Every: n, EveryFault: f}
	}
	revoked := func(f fakeauth.Fault, after int64) fakeauth.FaultPlan {
		return fakeauth.FaultPlan{Hold: f, HoldAfter: after}
	}
	rejected := optimizely.ErrTokenRejected
	return []scenario{
		{name: "GET 500 InternalError", rules: r(testenv.OpGetObject, testenv.FaultInternalError, 0)},
		{name: "GET 503 SlowDown", rules: r(testenv.OpGetObject, testenv.FaultSlowDown, 0)},
		{name: "GET reset mid-body", rules: r(testenv.OpGetObject, testenv.FaultResetResponse, 64<<10)},
		{name: "GET truncated body", rules: r(testenv.OpGetObject, testenv.FaultTruncateResponse, 100<<10)},
		{name: "PUT 500 InternalError", rules: r(testenv.OpPutObject, testenv.FaultInternalError, 0)},
		{name: "PUT 503 SlowDown", rules: r(testenv.OpPutObject, testenv.FaultSlowDown, 0)},
		{name: "PUT reset mid-body", rules: r(testenv.OpPutObject, testenv.FaultResetRequest, 32<<10)},
		{name: "PUT response lost", rules: r(testenv.OpPutObject, testenv.FaultDropResponse, 0)},
		{name: "CreateMultipartUpload 500", rules: once(testenv.OpCreateMultipart, testenv.FaultInternalError)},
		{name: "UploadPart 500 InternalError", rules: r(testenv.OpUploadPart, testenv.FaultInternalError, 0)},
		{name: "UploadPart 503 SlowDown", rules: r(testenv.OpUploadPart, testenv.FaultSlowDown, 0)},
		{name: "UploadPart reset mid-body", rules: r(testenv.OpUploadPart, testenv.FaultResetRequest, 1<<20)},
		{name: "CompleteMultipartUpload 500", rules: once(testenv.OpCompleteUpload, testenv.FaultInternalError)},
		{name: "CompleteMultipartUpload 503", rules: once(testenv.OpCompleteUpload, testenv.FaultSlowDown)},
		{name: "CompleteMultipartUpload response lost", rules: once(testenv.OpCompleteUpload, testenv.FaultDropResponse)},
		{name: "LIST 500 InternalError", rerun: true, rules: r(testenv.OpList, testenv.FaultInternalError, 0)},
		{name: "LIST 503 SlowDown", rerun: true, rules: r(testenv.OpList, testenv.FaultSlowDown, 0)},
		{name: "latency 20ms on every request", rules: []testenv.FaultRule{{Kind: testenv.FaultLatency, Latency: 20 * time.Millisecond}}},

		// The Authentication API failing when a run starts...
		{name: "Auth API 401 once, token read again", rerun: true, auth: []fakeauth.Fault{fakeauth.Unauthorized}},
		{name: "Auth API 401 revoked token, until replaced", rerun: true, authPlan: revoked(fakeauth.Unauthorized, 0),
			clearAfter: p.failRuns, wantErr: rejected},
		{name: "Auth API 403, until allowed", rerun: true, authPlan: revoked(fakeauth.Forbidden, 0),
			clearAfter: p.failRuns, wantErr: rejected},
		{name: "Auth API 429 Retry-After", rerun: true, auth: retried(fakeauth.TooManyRequests)},
		{name: "Auth API 500", rerun: true, auth: retried(fakeauth.ServerError)},
		{name: "Auth API malformed JSON", rerun: true, auth: retried(fakeauth.Malformed)},
		{name: "Auth API slow response (2 s)", rerun: true, auth: []fakeauth.Fault{fakeauth.Slow}},
		// ... and when credentials are refreshed in the middle of the copy.
		// Every third call at most: a fresh run's copy refreshes at least
		// twice (checked below), so its third call always meets a fault,
		// however fast the machine copies.
		{name: "Auth API 401 on refreshes mid-copy, token read again", refresh: true, authPlan: every(3, fakeauth.Unauthorized)},
		{name: "Auth API token revoked mid-copy, until replaced", refresh: true, authPlan: revoked(fakeauth.Unauthorized, 3),
			clearAfter: p.failRuns, wantErr: rejected},
		{name: "Auth API 403 mid-copy, until allowed", refresh: true, authPlan: revoked(fakeauth.Forbidden, 3),
			clearAfter: p.failRuns, wantErr: rejected},
		{name: "Auth API 429 on refreshes mid-copy", refresh: true, authPlan: every(3, fakeauth.TooManyRequests)},
		{name: "Auth API 500 on refreshes mid-copy", refresh: true, authPlan: every(3, fakeauth.ServerError)},
		{name: "Auth API malformed JSON on refreshes mid-copy", refresh: true, authPlan: every(3, fakeauth.Malformed)},

		{name: "one object's GET always truncated, then healed", clearAfter: p.failRuns, rules: []testenv.FaultRule{
			{Op: testenv.OpGetObject, Kind: testenv.FaultTruncateResponse, KeyContains: "experiment=2/part", AfterBytes: 1 << 20}}},
		{name: "everything at once", auth: []fakeauth.Fault{fakeauth.ServerError}, rules: slices.Concat(
			r(testenv.OpGetObject, testenv.FaultResetResponse, 10<<10), r(testenv.OpGetObject, testenv.FaultSlowDown, 0),
			r(testenv.OpPutObject, testenv.FaultDropResponse, 0), r(testenv.OpUploadPart, testenv.FaultResetRequest, 100<<10),
			once(testenv.OpCompleteUpload, testenv.FaultInternalError), r(testenv.OpList, testenv.FaultInternalError, 0))},
	}
}

// runScenario runs sc from an empty destination until a run is clean. Until
// it has injected at least atLeast faults it goes on: as next scheduled runs
// over the complete destination when sc.rerun, else from another empty one.
func (w *world) runScenario(t *testing.T, sc scenario, atLeast int) row {
	prefix := ""
	return repeat(t, sc.name, atLeast, func() row {
		fresh := prefix == "" || !sc.rerun
		if fresh {
			if prefix != "" {
				w.remove(prefix)
			}
			prefix = w.newPrefix(sc.name)
		}
		return w.syncUntilClean(t, sc, prefix, fresh)
	})
}

// repeat runs one until the rows it returns add up to at least atLeast
// faults (and once at least), or until the test has failed.
func repeat(t *testing.T, name string, atLeast int, one func() row) row {
	t.Helper()
	res := row{name: name}
	for res.runs == 0 || res.injected < atLeast && !t.Failed() {
		res.add(one())
	}
	t.Logf("%d faults injected, %d runs (%d failed), %d observer passes", res.injected, res.runs, res.failedRuns, res.seen)
	return res
}

// syncUntilClean arms sc's faults and syncs into prefix until a run is
// clean; the destination is empty when fresh, else a complete copy
// (nothing to copy).
func (w *world) syncUntilClean(t *testing.T, sc scenario, prefix string, fresh bool) row {
	ctx := context.Background()
	rules := sc.rules
	if sc.refresh {
		rules = append(slices.Clone(rules), refreshPace)
	}
	w.proxy.SetRules(rules...)
	defer w.proxy.SetRules()
	w.api.SetFaults(sc.authPlan)
	defer w.api.SetFaults(fakeauth.FaultPlan{})
	if sc.refresh {
		w.api.SetLifetime(refreshLifetime)
		defer w.api.SetLifetime(0)
	}
	before := total(w.proxy.Injected())
	authBefore, issuedBefore := w.api.FaultsInjected(), w.api.Issued()
	drops := w.proxy.Injected()[testenv.FaultDropResponse]
	want := len(w.src) // objects to copy
	if !fresh {
		want = 0
	}

	// An observer inspects the destination while the runs go on.
	d := newDamage()
	var mu sync.Mutex
	stopObs := w.observe(prefix, d, &mu)

	res := row{name: sc.name}
	copied, clean := 0, false
	maxRuns := max(6, sc.clearAfter+3)
	for res.runs < maxRuns && !clean {
		res.runs++
		holding := sc.clearAfter == 0 || res.runs <= sc.clearAfter
		if !holding {
			w.proxy.SetRules()
			w.api.SetFaults(fakeauth.FaultPlan{})
		} else {
			w.api.InjectFaults(sc.auth...)
		}
		sum, err := w.sync(ctx, prefix)
		w.api.ClearFaults() // those a run did not ask for do not carry over
		if err != nil {
			res.failedRuns++
			if holding && sc.wantErr != nil && !errors.Is(err, sc.wantErr) {
				t.Errorf("run %d failed with %v, want an error wrapping %q", res.runs, err, sc.wantErr)
			}
			t.Logf("run %d failed as a whole: %.300v", res.runs, err)
			continue
		}
		copied += sum.ObjectsCopied
		// Every object is accounted for, but those of a task that failed
		// before it could list them.
		if n := sum.ObjectsCopied + sum.ObjectsSkipped + sum.ObjectsFailed; n > len(w.src) || n < len(w.src) && sum.TasksFailed == 0 {
			t.Errorf("run %d: copied %d + skipped %d + failed %d = %d with %d tasks failed, want %d objects accounted for",
				res.runs, sum.ObjectsCopied, sum.ObjectsSkipped, sum.ObjectsFailed, n, sum.TasksFailed, len(w.src))
		}
		if sum.TasksFailed > len(sum.Errors) || sum.ObjectsFailed > 0 && sum.TasksFailed == 0 {
			t.Errorf("run %d: %d tasks failed, %d objects failed, %d errors: inconsistent", res.runs, sum.TasksFailed, sum.ObjectsFailed, len(sum.Errors))
		}
		if sum.Failed() {
			res.failedRuns++
			if holding && sc.wantErr != nil && !slices.ContainsFunc(sum.Errors, func(e string) bool { return strings.Contains(e, sc.wantErr.Error()) }) {
				t.Errorf("run %d failed with %q, want an error saying %q", res.runs, sum.Errors, sc.wantErr)
			}
			t.Logf("run %d reported %d failed objects, %d errors (first: %.200s)", res.runs, sum.ObjectsFailed, len(sum.Errors), sum.Errors[0])
			continue
		}
		if sum.ObjectsFailed != 0 {
			t.Errorf("run %d: %d objects failed but the run reports no error", res.runs, sum.ObjectsFailed)
		}
		// A run that reports success must have left an exact mirror.
		var diffs []string
		for _, df := range w.differences(t, prefix) {
			diffs = append(diffs, fmt.Sprint(df))
		}
		if len(diffs) > 0 {
			t.Errorf("run %d reported success, but the destination differs (silent failure):\n%s", res.runs, strings.Join(diffs, "\n"))
		}
		clean = true
	}
	res.seen = stopObs()
	res.injected = w.api.FaultsInjected() - authBefore
	if !sc.refresh { // there the proxy only paces the copy
		res.injected += total(w.proxy.Injected()) - before
	}
	w.final(t, prefix, d, &mu, &res)

	if !clean {
		t.Errorf("no clean run in %d runs", maxRuns)
	}
	if sc.clearAfter > 0 && res.failedRuns < sc.clearAfter {
		t.Errorf("%d runs failed while a fault was permanent, want %d: a failure went unreported", res.failedRuns, sc.clearAfter)
	}
	if len(sc.rules)+len(sc.auth) > 0 || sc.authPlan != (fakeauth.FaultPlan{}) {
		if res.injected == 0 {
			t.Errorf("no fault was injected: the scenario tests nothing")
		}
	}
	if issued := w.api.Issued() - issuedBefore; sc.refresh && fresh {
		t.Logf("credentials issued %d times", issued)
		if issued < 3 {
			t.Errorf("credentials issued %d times, want a refresh during the copy", issued)
		}
	}
	lostResponses := w.proxy.Injected()[testenv.FaultDropResponse] - drops
	if copied > want || copied < want-lostResponses {
		t.Errorf("objects copied over all runs = %d, want %d (less at most %d written with a lost response)", copied, want, lostResponses)
	}
	return res
}

// add adds r's counts to s.
func (s *row) add(r row) {
	s.injected += r.injected
	s.runs += r.runs
	s.failedRuns += r.failedRuns
	s.lost += r.lost
	s.corrupted += r.corrupted
	s.partial += r.partial
	s.falseSuccess += r.falseSuccess
	s.orphans += r.orphans
	s.seen += r.seen
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
	for _, sc := range matrix(rates{every: 2, times: 4, onceTimes: 2, failRuns: 2}) {
		t.Run(sc.name, func(t *testing.T) { record(w.runScenario(t, sc, 0)) })
	}
}

// TestSoak runs the matrix again, E3SYNC_SOAK times, with more data than
// the short matrix and other fault rates, each scenario until it has
// injected its round's share of soakFaults.
func TestSoak(t *testing.T) {
	rounds := soakRounds()
	if rounds == 0 {
		t.Skip("set E3SYNC_SOAK=N (make soak) to run the long fault matrix")
	}
	for i := 1; i <= rounds; i++ {
		scale := 2 * (2 + i%3)
		w := newWorld(t, scale)
		p := rates{every: 2 + i%3, times: 30 + 10*i, onceTimes: 3 * scale, failRuns: 5}
		for _, sc := range matrix(p) {
			sc.name = fmt.Sprintf("soak %d: %s", i, sc.name)
			t.Run(sc.name, func(t *testing.T) { record(w.runScenario(t, sc, soakShare(rounds))) })
		}
	}
}

// The same task delivered twice at once (two copiers on the same message),
// and again later: the destination is exact, nothing is left open, and the
// late copy copies nothing. Each task's two extra deliveries count as its
// faults; the soak repeats until it has delivered soakFaults extra.
func TestDuplicateDelivery(t *testing.T) {
	const name = "duplicate delivery (2 concurrent + 1 late)"
	w := newWorld(t, 1)
	record(runDuplicates(t, w, name))
	rounds := soakRounds()
	for i := 1; i <= rounds && !t.Failed(); i++ {
		soak := fmt.Sprintf("soak %d: %s", i, name)
		record(repeat(t, soak, soakShare(rounds), func() row { return runDuplicates(t, w, soak) }))
	}
}

func runDuplicates(t *testing.T, w *world, name string) row {
	ctx := context.Background()
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
	stopObs := w.observe(prefix, d, &mu)
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
	seen := stopObs()
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
	res := row{name: name, injected: 2 * len(p.Tasks), runs: 3, seen: seen}
	w.final(t, prefix, d, &mu, &res)
	for _, df := range w.differences(t, prefix) {
		if df.Key != "type=events/date="+toDate+"/"+export.SuccessMarker {
			t.Errorf("difference after duplicate delivery: %v", df)
		}
	}
	if !t.Failed() {
		w.remove(prefix)
	}
	return res
}

// printTable prints rows as the fault table, under title if there is one.
func printTable(title string, rows []row) {
	if title != "" {
		fmt.Printf("\n%s\n", title)
	}
	fmt.Printf("\n| fault | injected | runs (failed) | lost | corrupted | partial | false _SUCCESS | orphaned uploads |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Printf("| %s | %d | %d (%d) | %d | %d | %d | %d | %d |\n", r.name, r.injected, r.runs, r.failedRuns, r.lost, r.corrupted, r.partial, r.falseSuccess, r.orphans)
	}
}

// totals adds up the rows of each fault kind (the short matrix and every
// soak round), in the order the kinds first ran, and says which kinds the
// soak ran.
func totals() (sums []row, soaked map[string]bool) {
	soaked = map[string]bool{}
	index := map[string]int{}
	for _, r := range table {
		name := r.name
		if strings.HasPrefix(name, "soak ") {
			if _, rest, ok := strings.Cut(name, ": "); ok {
				name = rest
				soaked[name] = true
			}
		}
		i, ok := index[name]
		if !ok {
			i = len(sums)
			index[name] = i
			sums = append(sums, row{name: name})
		}
		sums[i].add(r)
	}
	return sums, soaked
}
