package failover

import (
	"context"
	"errors"
	"sync"
	"time"
)

// State is a circuit breaker's state.
type State int

// The breaker states.
const (
	StateClosed   State = iota // calls flow; failures are counted
	StateOpen                  // calls are refused until OpenTimeout passes
	StateHalfOpen              // a few probe calls test whether the route recovered
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Outcome is what a call through a breaker came to.
type Outcome int

// The outcomes a breaker learns from.
const (
	Success Outcome = iota // the route served
	Failure                // the route failed in a way that fails over
	Ignored                // the call says nothing about the route's health (content block, cancelled)
)

// BreakerSettings configure each route's circuit breaker. The zero value
// opens after 5 consecutive failures for 30 seconds, then lets 1 probe
// through.
type BreakerSettings struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row (default 5; negative disables the rule).
	ConsecutiveFailures int
	// FailureRate opens the breaker when at least this fraction (0–1) of
	// the calls in the current Window failed, once MinRequests calls were
	// counted (0 disables the rule).
	FailureRate float64
	// MinRequests is the calls in a Window before FailureRate applies
	// (default 10).
	MinRequests int
	// Window is the period after which a closed breaker's counts restart
	// (default 60s).
	Window time.Duration
	// OpenTimeout is how long an open breaker refuses calls before
	// letting probes through (default 30s).
	OpenTimeout time.Duration
	// HalfOpenProbes is how many calls may probe a half-open breaker at
	// once, and how many must succeed to close it (default 1).
	HalfOpenProbes int
	// OnStateChange, when set, is called after each change of state,
	// outside the breaker's lock, with the context of the call that
	// caused it (context.Background() for a change that State noticed).
	// New sets it on the settings it gives each route's breaker, so that
	// Config.OnBreakerChange hears of every change (a function set here
	// is called as well); a Breaker made by Config.NewBreaker should call
	// it, as NewBreaker's and redishealth's do.
	OnStateChange func(ctx context.Context, from, to State)
}

// WithDefaults returns s with its zero fields set to their defaults.
func (s BreakerSettings) WithDefaults() BreakerSettings {
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = 5
	}
	if s.MinRequests <= 0 {
		s.MinRequests = 10
	}
	if s.Window <= 0 {
		s.Window = time.Minute
	}
	if s.OpenTimeout <= 0 {
		s.OpenTimeout = 30 * time.Second
	}
	if s.HalfOpenProbes <= 0 {
		s.HalfOpenProbes = 1
	}
	return s
}

// Breaker is one route's health. Allow asks whether a call may go ahead;
// when it may, the caller reports the call's Outcome through done exactly
// once. Implementations must be safe for concurrent use.
//
// The in-memory implementation is the default; a shared one (so that
// replicas agree on a provider's health, such as failover/redishealth) can
// be plugged in with Config.NewBreaker.
type Breaker interface {
	// Allow returns done and a nil error when a call may go ahead at now.
	// When the breaker refuses, the error matches ErrOpen and retryIn is
	// how long until it lets a probe through. Any other error means the
	// breaker could not decide (a shared store that is unreachable and
	// fails closed); the route is skipped with that error.
	Allow(ctx context.Context, now time.Time) (done func(o Outcome, now time.Time), retryIn time.Duration, err error)
	// State returns the state at now.
	State(now time.Time) State
}

// ErrOpen is returned by Breaker.Allow when the breaker is open, or
// half-open with every probe taken.
var ErrOpen = errors.New("failover: circuit open")

// NewBreaker returns the in-memory Breaker for s.
//
// The design follows github.com/sony/gobreaker (consecutive and rate-based
// trips, half-open probes bounded by a count, counts reset each Window),
// but is written here because gobreaker v2 reads time.Now itself and
// failsafe-go keeps its clock unexported: neither lets the route's health
// run on an injected clock, which this project requires of every behaviour
// that depends on time (tests never sleep).
func NewBreaker(s BreakerSettings) Breaker {
	return &breaker{s: s.WithDefaults()}
}

type breaker struct {
	s  BreakerSettings
	mu sync.Mutex

	changes []change // made under mu, reported by unlock

	state       State
	generation  uint64    // bumps on every state change
	since       time.Time // when the current state or window began
	requests    int
	failures    int
	consecutive int
	probes      int // half-open calls in flight
	successes   int // half-open successes
}

// change is one change of state, to report.
type change struct{ from, to State }

// unlock releases mu, then reports the changes made under it.
func (b *breaker) unlock(ctx context.Context) {
	changes := b.changes
	b.changes = nil
	b.mu.Unlock()
	for _, c := range changes {
		b.s.OnStateChange(ctx, c.from, c.to)
	}
}

func (b *breaker) State(now time.Time) State {
	b.mu.Lock()
	defer b.unlock(context.Background())
	b.tick(now)
	return b.state
}

// tick moves time-driven transitions: open → half-open, window resets.
func (b *breaker) tick(now time.Time) {
	switch b.state {
	case StateOpen:
		if !now.Before(b.since.Add(b.s.OpenTimeout)) {
			b.set(StateHalfOpen, now)
		}
	case StateClosed:
		if b.since.IsZero() {
			b.since = now
		} else if !now.Before(b.since.Add(b.s.Window)) {
			b.since, b.requests, b.failures = now, 0, 0
		}
	}
}

func (b *breaker) set(s State, now time.Time) {
	if b.s.OnStateChange != nil && s != b.state {
		b.changes = append(b.changes, change{b.state, s})
	}
	b.state, b.since = s, now
	b.generation++
	b.requests, b.failures, b.consecutive, b.probes, b.successes = 0, 0, 0, 0, 0
}

func (b *breaker) Allow(ctx context.Context, now time.Time) (func(Outcome, time.Time), time.Duration, error) {
	b.mu.Lock()
	defer b.unlock(ctx)
	b.tick(now)
	switch b.state {
	case StateOpen:
		return nil, b.since.Add(b.s.OpenTimeout).Sub(now), ErrOpen
	case StateHalfOpen:
		if b.probes >= b.s.HalfOpenProbes {
			return nil, 0, ErrOpen
		}
		b.probes++
	}
	gen := b.generation
	var once sync.Once
	if b.s.OnStateChange == nil {
		// Nothing to report a change to: keep ctx out of the closure.
		return func(o Outcome, at time.Time) { once.Do(func() { b.done(context.Background(), gen, o, at) }) }, 0, nil
	}
	return func(o Outcome, at time.Time) { once.Do(func() { b.done(ctx, gen, o, at) }) }, 0, nil
}

func (b *breaker) done(ctx context.Context, gen uint64, o Outcome, now time.Time) {
	b.mu.Lock()
	defer b.unlock(ctx)
	b.tick(now)
	if gen != b.generation {
		return // the state changed since the call began; its outcome is stale
	}
	switch b.state {
	case StateHalfOpen:
		b.probes--
		switch o {
		case Success:
			b.successes++
			if b.successes >= b.s.HalfOpenProbes {
				b.set(StateClosed, now)
			}
		case Failure:
			b.set(StateOpen, now)
		}
	case StateClosed:
		switch o {
		case Success:
			b.requests++
			b.consecutive = 0
		case Failure:
			b.requests++
			b.failures++
			b.consecutive++
			if b.trip() {
				b.set(StateOpen, now)
			}
		}
	}
}

func (b *breaker) trip() bool {
	if b.s.ConsecutiveFailures > 0 && b.consecutive >= b.s.ConsecutiveFailures {
		return true
	}
	return b.s.FailureRate > 0 && b.requests >= b.s.MinRequests &&
		float64(b.failures) >= b.s.FailureRate*float64(b.requests)
}
