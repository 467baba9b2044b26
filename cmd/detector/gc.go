package main

import (
	"runtime/debug"

	"github.com/toolwatch/toolwatch/baseline"
)

// The daemon's garbage is per message (nats.go copies each message's
// subject, reply and payload and allocates its Msg) while its live heap is
// the baselines, a few tens of MiB until the key stores fill. At Go's
// default GOGC of 100 the collector then runs every few tens of MiB of
// messages and marks the whole baseline heap each time (~0.7 µs of CPU per
// record in detector bench, BENCHMARKS.md "Daemon CPU per record"). A
// higher GOGC bounded by a soft memory limit derived from the baseline
// budget collects rarely while the heap is small and as often as GOGC 100
// would once the stores approach their budget.
const (
	daemonGCPercent = 400
	// gcHeadroom is what the daemon holds besides its baselines (buffers,
	// queues, snapshot copies) on top of the budget. The limit is the budget
	// plus this, not twice the budget: a daemon's memory should stay close
	// to what its operator budgeted, and a flood fills the stores fast.
	gcHeadroom = 256 << 20
)

// gcSettings returns the GC percent and soft memory limit the daemon runs
// with, or ok false to leave Go's defaults: when GOGC or GOMEMLIMIT is set
// (the operator chose), when the baselines have no byte budget, or when
// max_keys sets the key cap instead of the budget (the heap is then not
// bounded by memory_limit, and a limit below it would make the collector
// run continuously).
func gcSettings(b baseline.Config, getenv func(string) string) (percent int, limit int64, ok bool) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return 0, 0, false
	}
	if b.MemoryLimit <= 0 || b.MaxKeys > 0 {
		return 0, 0, false
	}
	return daemonGCPercent, int64(b.MemoryLimit) + gcHeadroom, true
}

// tuneGC applies gcSettings to the running process.
func tuneGC(b baseline.Config, getenv func(string) string) (percent int, limit int64, ok bool) {
	percent, limit, ok = gcSettings(b, getenv)
	if ok {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
	return percent, limit, ok
}
