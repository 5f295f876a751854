//go:build !unix

package failover_test

import "time"

// cpuTime cannot tell on this platform.
func cpuTime() (time.Duration, bool) { return 0, false }
