//go:build race

package redisstore

// The race detector slows the replicas several times over: give them a
// slower simulated clock.
func init() { speedup = 4 }
