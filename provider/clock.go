package provider

import "time"

// Clock is the time source of everything in imagegen whose behaviour
// depends on time: retry's waits, rate-limit windows and daily quotas,
// breakers, cache expiry, budget days, model lifecycles. Every config that
// needs one has a Clock field whose nil value means SystemClock(), so that
// tests can pass a fake (providertest.NewClock) and never sleep.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// SystemClock returns the real clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// ClockOr returns c, or SystemClock() when c is nil.
func ClockOr(c Clock) Clock {
	if c == nil {
		return SystemClock()
	}
	return c
}

// ClockFunc is a Clock that tells the time with the function (a fixed
// instant, an offset or accelerated clock) and waits in real time.
type ClockFunc func() time.Time

// Now returns f().
func (f ClockFunc) Now() time.Time { return f() }

// After waits d in real time.
func (f ClockFunc) After(d time.Duration) <-chan time.Time { return time.After(d) }
