// Package clock is the time source of everything whose behaviour depends on
// time, and a fake one for tests that must never sleep.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and waits. Packages expose it as an alias (for
// example retry.Clock), so callers can pass any value with these methods.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// System returns the real clock.
func System() Clock { return system{} }

type system struct{}

func (system) Now() time.Time                         { return time.Now() }
func (system) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Fake is a Clock that moves forward by d whenever code waits on it for d,
// so a wait returns at once, and by hand with Advance. It records the waits.
// It is safe for concurrent use.
type Fake struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

// NewFake returns a Fake reading t.
func NewFake(t time.Time) *Fake { return &Fake{t: t} }

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// After moves the clock forward by d and returns a channel that already
// holds the new time.
func (c *Fake) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

// Advance moves the clock forward by d without recording a wait.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Fake) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Waits returns the durations waited on so far, in order.
func (c *Fake) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}
