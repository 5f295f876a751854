//go:build race

package hostiletest

// Race reports whether the race detector is on: it makes decoding ten
// times slower, so memory tests run with smaller caps.
const Race = true
