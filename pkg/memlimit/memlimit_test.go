package memlimit

import (
	"runtime/debug"
	"testing"
)

func TestSet(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	// Defaults: 8 parts in flight × 8 MiB, shared by the large objects, + 32 MiB of small objects + 32 MiB headroom.
	if got, want := Set(getenv, 0), int64(128<<20); got != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("Set(default part size) = %d (runtime %d), want %d", got, debug.SetMemoryLimit(-1), want)
	}
	if got := debug.SetGCPercent(gcPercent); got != gcPercent {
		t.Errorf("GOGC after Set = %d, want %d", got, gcPercent)
	}
	if got, want := Set(getenv, 16<<20), int64(192<<20); got != want {
		t.Errorf("Set(16 MiB parts) = %d, want %d", got, want)
	}
	// GOGC wins: the runtime already read it, Set leaves it.
	env["GOGC"] = "100"
	debug.SetGCPercent(100)
	Set(getenv, 0)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after Set with GOGC=100 set = %d, want it left at 100", got)
	}
	// GOMEMLIMIT wins, and then GOGC is left too: gcPercent is only for
	// under the limit Set chooses.
	delete(env, "GOGC")
	debug.SetMemoryLimit(300 << 20)
	env["GOMEMLIMIT"] = "300MiB"
	if got := Set(getenv, 0); got != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Errorf("Set with GOMEMLIMIT set = %d, want the limit left at %d", got, 300<<20)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after Set with GOMEMLIMIT set = %d, want it left at 100", got)
	}
}
