package providertest

import (
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// Clock is a fake provider.Clock for tests that must never sleep: it moves
// forward by d whenever code waits on it for d, so the wait returns at
// once, and by hand with Advance or Set. It records the waits. It is safe
// for concurrent use.
//
//	clk := providertest.NewClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
//	retries, _ := retry.New(retry.Policy{Clock: clk})
type Clock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

var _ provider.Clock = (*Clock)(nil)

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// After moves the clock forward by d and returns a channel that already
// holds the new time.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

// Advance moves the clock forward by d without recording a wait.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Waits returns the durations waited on so far, in order.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}
