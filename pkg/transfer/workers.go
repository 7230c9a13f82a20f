package transfer

import "time"

// workers runs each object's copy on a goroutine that outlives it: after a
// copy it waits workerIdle for the next one before it exits. A copy runs
// deep in the SDK's middleware stack, and a new goroutine grows its stack
// (allocate, copy, adjust every frame) on each of them: on 64 KiB objects
// that was 8 % of the copier's CPU. Slots still bound how many copies run at
// once; workers only saves the goroutine's start.
type workers struct {
	next chan func() // an idle worker takes the next copy here
}

// workerIdle is how long an idle worker waits for another copy.
const workerIdle = 2 * time.Second

func newWorkers() *workers { return &workers{next: make(chan func())} }

// run runs fn on an idle worker, or on a new one if none is idle.
func (w *workers) run(fn func()) {
	select {
	case w.next <- fn:
	default:
		go w.work(fn)
	}
}

func (w *workers) work(fn func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(workerIdle)
		select {
		case fn = <-w.next:
		case <-idle.C:
			return
		}
	}
}
