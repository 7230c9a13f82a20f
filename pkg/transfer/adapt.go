package transfer

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Adaptive concurrency. Far from S3 a small object's copy is bound by
// request latency, not bytes, so more objects in flight copy more per
// second; on a saturated server more only queue. The engine therefore finds
// its number of objects in flight while it copies: every adaptInterval it
// compares the work finished with that at the limit before its last raise,
// and nextLimit gives the limit of the next interval, between 1 and Options.Concurrency (the
// upper bound). Memory stays bounded as before: bytes of small objects in
// flight by SmallMemory, large objects' part buffers by the destination's
// parts in flight (store.S3Options.PartsInFlight), whatever the limit.
//
// The slots channel has Options.Concurrency places; the limit below it is
// held by parked tokens the controller puts in the channel (lower) or takes
// out (raise), so taking and releasing a slot is a channel operation as
// before.

const (
	// startConcurrency is the first limit. At 30 ms per request it copies
	// small objects at this machine's ceiling from the first interval
	// (BENCHMARKS.md), and a copy whose small objects last a second or two
	// (a Parquet-like mix) has no time to climb; at 0 ms, 16, 32 and 64 copy
	// at the same rate. A weaker destination lowers it by SlowDown, not by
	// throughput: see nextLimit.
	startConcurrency = 32
	// adaptInterval is one interval. Half a second holds 50 to 200 small
	// objects here, enough to judge a doubling (+33 %) above the noise, and
	// a doubling is judged in 1.5 s.
	adaptInterval = 500 * time.Millisecond
	// holdAfterBackOff is the intervals the limit stays put after a raise
	// that bought nothing; it doubles with each such raise in a row from the
	// same limit (up to 8 times: 32 s), so a limit at the machine's ceiling
	// is not tried again every few seconds.
	holdAfterBackOff = 8
	maxHoldShift     = 3
	// holdAfterThrottle is the intervals after a back-off on SlowDown during
	// which further SlowDown answers do not lower the limit again: they
	// answer requests sent before it.
	holdAfterThrottle = 3
)

// window is what the engine saw in one interval.
type window struct {
	rate      float64 // work finished per second: objects, plus one per part of a large object
	throttled int     // SlowDown and 503 answers (each retried by the SDK)
	full      bool    // an object waited for a slot: the limit, not the work, bounded what was in flight
}

// share is SlowDown's share: throttled answers ÷ (those + work finished),
// comparable between intervals and limits.
func share(throttled, work float64) float64 {
	if throttled == 0 {
		return 0
	}
	return throttled / (throttled + work)
}

// adaptState is the controller's memory between intervals.
type adaptState struct {
	limit     int     // objects allowed in flight
	from      int     // the limit before the last raise, until the raise is judged (0: none)
	fromRate  float64 // the mean rate measured at from
	sum       float64 // the rates of the judged intervals at limit so far …
	judged    int     // … and their number
	settling  bool    // the interval that just ended began at a new limit: its rate is not judged
	hold      int     // judged intervals left before the limit may rise again
	throttled bool    // the hold follows a back-off on SlowDown
	base      float64 // SlowDown's share that caused the last back-off, while every interval since had SlowDown (0: none)
	thr, work float64 // SlowDown answers and work finished at limit so far …
	seen      int     // … in this many intervals
	failed    int     // raises from limit in a row that bought nothing
}

// judgeIntervals is the judged intervals a limit's rate is the mean of
// before it is compared or raised: one interval's noise (±25 % on this
// shared machine) must not pass for growth, or a lucky interval would
// ratchet the limit up where nothing grows.
const judgeIntervals = 2

// nextLimit is the controller: from the state and the interval just ended,
// the state for the next interval, its limit within [1, hi]. One row per
// line of the truth table, in order:
//
//	throttled | hold after SlowDown | SlowDown's share  | settling or not full | hold | judged | raised, mean grew | next limit
//	> 0       | yes, > 0            |  *                |  *                   |  *   |  *     |  *                | limit; hold − 1 (answers to requests sent before the back-off)
//	> 0       | no                  | new, or changed   |  *                   |  *   |  *     |  *                | limit × 3/4 (at least 1 less); hold 3
//	*         |  *                  |  *                |  yes                 |  *   |  *     |  *                | limit (a new limit's first interval; or the work or memory, not the limit, bound what was in flight)
//	*         |  *                  |  *                |  no                  |  > 0 |  *     |  *                | limit; hold − 1
//	*         |  *                  |  *                |  no                  |  0   |  < 2   |  *                | limit
//	*         |  *                  |  *                |  no                  |  0   |  ≥ 2   |  yes, no          | the limit before the raise; hold 8, doubled for each such raise in a row
//	*         |  *                  |  *                |  no                  |  0   |  ≥ 2   |  *                | limit × 2 (at least 1 more)
//
// SlowDown's share (throttled answers ÷ those and the work finished) is
// "new" when the interval before had none, and "changed" when, over the
// intervals at this limit (at least 4), it is below 0.8× or above 1.25× the
// share that caused the last back-off. A back-off that left the share as it
// was shows that S3 throttles whatever the rate (a prefix still scaling, or
// another client): fewer objects in flight would only copy less, while the
// SDK's back-off between a throttled request's attempts already paces it. The
// limit then follows throughput (the rows below) until the share changes.
//
// Every interval from the fourth row down is judged: its rate goes into
// the limit's mean. "Mean grew": the mean at the raised limit is above the
// mean at the limit before it by at least a third of the raise (doubling
// must buy +33 %), so that noise on a busy machine does not pass for growth.
// Raises are doublings, far above the noise where the copy is latency-bound,
// and each new limit's first interval, still filling the new slots, is not
// judged.
func nextLimit(s adaptState, w window, hi int) adaptState {
	n := s
	n.thr, n.work, n.seen = s.thr+float64(w.throttled), s.work+w.rate*adaptInterval.Seconds(), s.seen+1
	if w.throttled == 0 {
		n.base = 0 // SlowDown stopped: the next one is news
	}
	acc := share(n.thr, n.work)
	switch {
	case w.throttled > 0 && s.throttled && s.hold > 0:
		n.hold--
	case w.throttled > 0 && (s.base == 0 || n.seen > holdAfterThrottle && (acc < s.base*0.8 || acc > s.base*1.25)):
		n.limit, n.from, n.fromRate, n.hold, n.throttled, n.failed = min(s.limit*3/4, s.limit-1), 0, 0, holdAfterThrottle, true, 0
		n.base = share(float64(w.throttled), w.rate*adaptInterval.Seconds())
		if s.base > 0 {
			n.base = acc
		}
	case s.settling || !w.full:
	default:
		n.throttled = false
		n.sum, n.judged = s.sum+w.rate, s.judged+1
		mean := n.sum / float64(n.judged)
		switch {
		case s.hold > 0:
			n.hold--
		case n.judged < judgeIntervals:
		case s.from > 0 && mean < s.fromRate*(1+(float64(s.limit)/float64(s.from)-1)/3):
			n.limit, n.from, n.fromRate = s.from, 0, 0
			n.hold, n.failed = holdAfterBackOff<<min(s.failed, maxHoldShift), s.failed+1
		default:
			if s.from > 0 { // the raise bought enough: a new level
				n.failed = 0
			}
			if up := min(max(s.limit*2, s.limit+1), hi); up > s.limit { // else at the bound
				n.limit, n.from, n.fromRate = up, s.limit, mean
			}
		}
	}
	n.limit = max(n.limit, 1)
	if n.settling = n.limit != s.limit; n.settling {
		n.sum, n.judged, n.thr, n.work, n.seen = 0, 0, 0, 0, 0
	}
	return n
}

// adapter runs nextLimit for an engine while it copies.
type adapter struct {
	max       int // Options.Concurrency: the places in slots
	log       *slog.Logger
	slots     chan struct{} // the engine's slots
	done      atomic.Int64  // work finished since the last interval
	throttled atomic.Int64  // SlowDown/503 answers since the last interval
	full      atomic.Bool   // an object waited for a slot since the last interval

	mu     sync.Mutex
	active int           // Copy calls running; the controller runs while > 0
	stop   chan struct{} // closes to stop the controller
	state  adaptState
	parked int // tokens in slots that hold the limit below max
}

func newAdapter(max int, log *slog.Logger) *adapter {
	a := &adapter{max: max, log: log, slots: make(chan struct{}, max)}
	a.state.limit = min(startConcurrency, max)
	a.state.settling = true // the first interval starts the copy: not judged
	a.park()
	return a
}

// park moves tokens in or out of slots until max − parked is the limit. A
// token is parked only in a free place: lowering the limit takes effect as
// objects in flight finish. With mu held.
func (a *adapter) park() {
	for a.parked > a.max-a.state.limit {
		<-a.slots // never blocks: the parked tokens are in the channel
		a.parked--
	}
	for a.parked < a.max-a.state.limit {
		select {
		case a.slots <- struct{}{}:
			a.parked++
		default:
			return
		}
	}
}

// begin starts the controller for one Copy call unless it runs already;
// end stops it after the last.
func (a *adapter) begin() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active++; a.active == 1 {
		a.stop = make(chan struct{})
		go a.run(a.stop)
	}
}

func (a *adapter) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active--; a.active == 0 {
		close(a.stop)
	}
}

func (a *adapter) run(stop chan struct{}) {
	t := time.NewTicker(adaptInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			w := window{
				rate:      float64(a.done.Swap(0)) / now.Sub(last).Seconds(),
				throttled: int(a.throttled.Swap(0)),
				full:      a.full.Swap(false),
			}
			last = now
			a.mu.Lock()
			a.state = nextLimit(a.state, w, a.max)
			a.park()
			limit := a.state.limit
			a.mu.Unlock()
			a.log.Debug("objects in flight", "limit", limit, "rate", int(w.rate), "throttled", w.throttled, "full", w.full)
		}
	}
}

// finished counts an object of size bytes that left its slot.
func (a *adapter) finished(size, largeObject int64) {
	a.done.Add(1 + size/largeObject)
}

// limit is the current limit on objects in flight.
func (a *adapter) limit() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.limit
}

type adapterKey struct{}

// Throttled tells the engine copying under ctx that S3 answered one of its
// requests with SlowDown or 503: it then lowers its objects in flight. The
// S3 clients call it for every such answer, retried or not (see package
// clients); under any other ctx it does nothing.
func Throttled(ctx context.Context) {
	if a, ok := ctx.Value(adapterKey{}).(*adapter); ok {
		a.throttled.Add(1)
	}
}
