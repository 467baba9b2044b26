//go:build unix

package pipeline

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system, all threads) the process has
// used: a benchmark's records per CPU-second do not depend on how many
// other processes share the machine, as its wall-clock rate does.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
