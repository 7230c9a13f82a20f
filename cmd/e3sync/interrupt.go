package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// interruption is the cause of the context of a run stopped by SIGINT or
// SIGTERM.
type interruption struct{ sig os.Signal }

func (i *interruption) Error() string { return "interrupted by " + i.sig.String() }

// code is the exit code of a process the signal ended: 130 for SIGINT, 143
// for SIGTERM (128 + the signal's number, as shells report it).
func (i *interruption) code() int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// report prints the one line an interrupted command ends with and returns
// its exit code. err is what the command returned: an interruptedRun after
// a sync, which counts what was copied.
func (i *interruption) report(err error, stderr io.Writer) int {
	var r *interruptedRun
	if errors.As(err, &r) {
		fmt.Fprintf(stderr, "interrupted after %s; run the same command to continue\n", plural(r.objects, "object", "objects"))
	} else {
		fmt.Fprintln(stderr, "interrupted; run the same command to continue")
	}
	return i.code()
}

// interruptedRun is what runJob returns when the run was interrupted: no
// new object started after the signal, the ones in flight were aborted
// (nothing partial is left), and a re-run continues.
type interruptedRun struct{ objects int }

func (r *interruptedRun) Error() string {
	return fmt.Sprintf("interrupted after %s", plural(r.objects, "object", "objects"))
}

// notifyInterrupt returns a context that the first SIGINT or SIGTERM
// cancels, with an *interruption as its cause; a second one exits at once
// with the signal's code. stop ends the handling.
func notifyInterrupt(parent context.Context, stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			cancel(&interruption{sig: s})
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintln(stderr, "interrupted again: exiting at once")
			os.Exit((&interruption{sig: s}).code())
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}
