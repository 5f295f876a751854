//go:build unix

package failover_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user and system, every thread) the
// process has used, or false when it cannot tell. Benchmarks report it
// per operation beside the wall time, which a loaded machine inflates.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
