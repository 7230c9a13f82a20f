// Package memlimit sets the Go runtime's soft memory limit from what the
// copy engine's buffers take, so that a copier's footprint stays near its
// buffers whatever the object sizes, and lets the garbage collector run less
// often below that limit.
package memlimit

import (
	"math"
	"runtime/debug"

	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// memoryHeadroom is what the SDK, the HTTP connections and the listings need
// beside the copy buffers.
const memoryHeadroom = 32 << 20

// gcPercent is the garbage collector's GOGC while the heap is below the
// memory limit: the heap may grow to three times what is live (Go's default
// is twice) before a collection. A copy of small objects allocates about
// 120 KB per object, most of it in the SDK's request path, and the
// collector's mark work was 13 % of the copier's CPU on them; at 200 its CPU
// per small object fell 7–9 % for about 20 MiB more peak RSS (BENCHMARKS.md,
// "CPU per small object"). The memory limit still bounds the footprint:
// near it the collector runs as often as it must.
const gcPercent = 200

// CopyMemory is the memory the copy engine's buffers may take with its
// default limits and the given part size: the part buffers of the large
// objects in flight plus the bytes of small objects in flight.
func CopyMemory(partSize int64) int64 {
	if partSize <= 0 {
		partSize = store.DefaultPartSize
	}
	// Parts in flight hold a buffer each, shared by all large objects
	// (store.S3Options.PartsInFlight). (A source without ranged reads would
	// stream each large object through feature/s3/manager instead, with
	// UploadConcurrency+1 buffers per object; e3sync's sources all have
	// them.)
	return store.DefaultPartsInFlight*partSize + transfer.DefaultSmallMemory
}

// Set sets the Go runtime's soft memory limit to CopyMemory plus
// headroom and, unless GOGC is set, GOGC to gcPercent; with GOMEMLIMIT set
// it changes neither. It returns the memory limit in effect. Without
// it the garbage collector lets the heap grow to twice the live buffers, so
// the footprint would depend on how many buffers happened to be garbage at
// once; with it, peak RSS stays near the limit whatever the object sizes
// (measured in BENCHMARKS.md). It is a soft limit: a heap that needs more
// gets more.
func Set(getenv func(string) string, partSize int64) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1) // -1 reads the current limit
	}
	limit := CopyMemory(partSize) + memoryHeadroom
	if limit <= 0 { // overflow: leave the runtime's default
		limit = math.MaxInt64
	}
	debug.SetMemoryLimit(limit)
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent) // only under the limit set here
	}
	return limit
}
