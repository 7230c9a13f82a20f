package main

import (
	"fmt"
	"io"

	"github.com/e3sync/e3sync/pkg/store"
)

// exitRefused: the destination refused (no permission, no such bucket, a
// read-only or full file system); the run stopped at the first refusal.
const exitRefused = 4

// refusedExit prints the refusal in err (store.Refused), which says what to
// fix, as the one line of the run it stopped, and returns exitRefused.
func refusedExit(err error, stderr io.Writer) int {
	fmt.Fprintln(stderr, "e3sync:", store.Refused(err))
	return exitRefused
}
