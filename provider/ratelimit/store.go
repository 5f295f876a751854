package ratelimit

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"
)

// Window is a limit on starts: at most Limit in any window of Per, whatever
// the window's start (an exact sliding window, as providers count requests
// per minute). Starts are not spread out: when the window has room, any
// number of them may start at once.
//
// Burst, when above 0, also caps how many may start at once: starts then
// draw from a bucket of Burst tokens refilled at Limit per Per (a GCRA), so
// after a burst they are spaced Per/Limit apart. The window still holds.
type Window struct {
	Limit int           // starts in any window of Per
	Per   time.Duration // the window's length
	Burst int           // most starts at once; 0 means no cap
}

// interval is the spacing of starts under Burst: Per/Limit, rounded up so
// that the bucket never refills faster than the limit.
func (w Window) interval() time.Duration {
	return time.Duration((int64(w.Per) + int64(w.Limit) - 1) / int64(w.Limit))
}

// Demand is what one call needs of one Window: N starts (N images for an
// images-per-minute limit, 1 for requests), counted under Name within the
// limiter's key ("rpm", "ipm").
type Demand struct {
	Name   string
	Window Window
	N      int
}

// Store holds the limiter's state. Every operation is keyed by the
// limiter's Key, so generators that share a Store and a Key (several
// replicas using one API key or project) share their limits. Methods are
// called with the limiter's Clock time, and must be safe for concurrent
// use.
//
// The operations are shaped for a shared implementation: a window is a
// sorted set of start times (plus one timestamp under Burst), the day count
// an INCR on a key that names the day, the pause a max-timestamp, a
// concurrency lease a sorted set of expiring members. NewMemoryStore is the
// in-process default.
type Store interface {
	// Take reserves one call's starts in every window of demands at the
	// earliest time t ≥ now at which all of them fit: no window of
	// Window.Per around t then holds more than Window.Limit starts, and
	// under Burst the bucket holds N tokens. When t−now is at most maxWait
	// it records the starts at t, in every window at once, and returns
	// wait t−now (0: start now). Otherwise it records nothing and returns
	// ok false with the wait that would have been needed (math.MaxInt64
	// when a demand's N exceeds its Limit or Burst, so it can never fit).
	// A demand of N 0 needs nothing. Starts are never taken back: a
	// caller that gives up while it waits for its slot leaves it counted,
	// which errs on the safe side.
	//
	// The rule admits at t only when at most Limit−N of the starts
	// recorded later than t−Per (those reserved for later included) exist,
	// so it never admits too many; a call may wait behind one already
	// waiting for a later slot rather than slip in before it.
	//
	// demands is shared between calls: Take must not modify it.
	Take(ctx context.Context, key string, demands []Demand, now time.Time, maxWait time.Duration) (wait time.Duration, ok bool, err error)

	// TakeDay counts n requests against key's quota for day when that
	// leaves the count at or under limit, and reports whether it did. A
	// day marked exhausted takes nothing. A negative n gives back requests
	// counted but not made.
	TakeDay(ctx context.Context, key string, day Day, limit, n int) (ok bool, err error)
	// ExhaustDay marks key's day as used up, as the provider said.
	ExhaustDay(ctx context.Context, key string, day Day) error

	// SetPause makes every caller of key wait until until (now is the
	// caller's clock, so that a shared store can expire the pause when it
	// has passed); an earlier until than the one already set is ignored.
	SetPause(ctx context.Context, key string, now, until time.Time) error
	// PauseUntil returns the pause set for key (the zero Time when none).
	PauseUntil(ctx context.Context, key string) (time.Time, error)

	// Acquire takes one of limit concurrent slots of key. With wait it
	// blocks until a slot is free or ctx is done (returning ctx's error);
	// without, it returns ErrNoSlot at once when none is. A shared store
	// expires a lease after ttl, so a crashed process cannot hold slots
	// for ever; the memory store ignores ttl.
	Acquire(ctx context.Context, key string, limit int, ttl time.Duration, wait bool) (release func(), err error)
}

// Day names a quota day.
type Day struct {
	// Name is the date in the limiter's zone, such as "2026-11-21".
	Name string
	// Left is how long the day has still to run at the caller's now, so
	// that a shared store can expire the day's count after midnight.
	Left time.Duration
}

// ErrNoSlot is returned by Store.Acquire without wait when every slot is
// taken.
var ErrNoSlot = errors.New("ratelimit: no free concurrency slot")

// Never is the wait Take reports for a demand that can never fit.
const Never = time.Duration(math.MaxInt64)

// MemoryStore is the in-process Store. It is safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex
	windows map[windowKey]*window
	days    map[string]*dayCount
	pauses  map[string]time.Time
	sems    map[string]*semaphore
}

type windowKey struct {
	key, name string
	w         Window
}

// window is one sliding window's recorded starts, in Unix nanoseconds and
// ascending order, and under Burst the bucket's theoretical arrival time.
type window struct {
	starts []int64
	tat    int64
	last   int64 // the latest now seen
}

type dayCount struct {
	day       string
	n         int
	exhausted bool
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		windows: map[windowKey]*window{},
		days:    map[string]*dayCount{},
		pauses:  map[string]time.Time{},
		sems:    map[string]*semaphore{},
	}
}

// earliest returns the earliest time at or after now at which n more
// starts fit in w (Unix nanoseconds), after dropping the starts that left
// the window. It is the rule every Store follows:
//
//   - window: with the starts s₁ ≤ … ≤ sₘ later than now−Per, the call may
//     start at t once at most Limit−n of them are later than t−Per, that
//     is at t ≥ sₖ+Per for k = m−(Limit−n) (at once when k ≤ 0). Then every
//     window of Per that holds t holds at most Limit starts, counting
//     starts reserved for later;
//   - burst: a GCRA with interval T = Per/Limit and theoretical arrival
//     time tat admits n at t ≥ max(now, tat+(n−Burst)·T).
func (win *window) earliest(w Window, n int, now int64) int64 {
	per := int64(w.Per)
	i := 0
	for i < len(win.starts) && win.starts[i] <= now-per {
		i++
	}
	win.starts = win.starts[i:]
	t := now
	if k := len(win.starts) - (w.Limit - n); k > 0 {
		t = max(t, win.starts[k-1]+per)
	}
	if w.Burst > 0 {
		t = max(t, max(win.tat, now)+int64(n-w.Burst)*int64(w.interval()))
	}
	return t
}

// record adds n starts at t.
func (win *window) record(w Window, n int, t int64) {
	i, _ := slices.BinarySearch(win.starts, t+1) // after any start at t
	if i == len(win.starts) {
		for range n {
			win.starts = append(win.starts, t)
		}
	} else {
		win.starts = slices.Insert(win.starts, i, slices.Repeat([]int64{t}, n)...)
	}
	if w.Burst > 0 {
		win.tat = max(win.tat, t) + int64(n)*int64(w.interval())
	}
}

// Take implements Store. It never lets time run backwards for a window:
// callers read their clocks before taking the lock, so their nows arrive
// slightly out of order, and a call that read an earlier time starts no
// earlier than one already admitted.
func (s *MemoryStore) Take(_ context.Context, key string, demands []Demand, now time.Time, maxWait time.Duration) (time.Duration, bool, error) {
	for _, d := range demands {
		if d.N > d.Window.Limit || (d.Window.Burst > 0 && d.N > d.Window.Burst) {
			return Never, false, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf [2]*window
	wins := buf[:0]
	if len(demands) > len(buf) {
		wins = make([]*window, 0, len(demands))
	}
	wins = wins[:len(demands)]
	at := now.UnixNano()
	for i, d := range demands {
		k := windowKey{key, d.Name, d.Window}
		win := s.windows[k]
		if win == nil {
			win = &window{}
			s.windows[k] = win
		}
		wins[i] = win
		at = max(at, win.last)
	}
	t := at
	for i, d := range demands {
		wins[i].last = at
		if d.N > 0 {
			t = max(t, wins[i].earliest(d.Window, d.N, at))
		}
	}
	wait := time.Duration(t - now.UnixNano())
	if wait > maxWait {
		return wait, false, nil
	}
	for i, d := range demands {
		if d.N > 0 {
			wins[i].record(d.Window, d.N, t)
		}
	}
	return max(wait, 0), true, nil
}

// TakeDay implements Store.
func (s *MemoryStore) TakeDay(_ context.Context, key string, day Day, limit, n int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.day(key, day.Name)
	if d.exhausted || d.n+n > limit {
		return false, nil
	}
	d.n += n
	return true, nil
}

// ExhaustDay implements Store.
func (s *MemoryStore) ExhaustDay(_ context.Context, key string, day Day) error {
	s.mu.Lock()
	s.day(key, day.Name).exhausted = true
	s.mu.Unlock()
	return nil
}

// day returns the count of key's current day. A caller whose clock still
// reads yesterday (it read the time before midnight) counts against today:
// going back would reset today's count. Day names are ISO dates, so they
// order as strings.
func (s *MemoryStore) day(key, day string) *dayCount {
	d := s.days[key]
	if d == nil || day > d.day {
		d = &dayCount{day: day}
		s.days[key] = d
	}
	return d
}

// SetPause implements Store.
func (s *MemoryStore) SetPause(_ context.Context, key string, _, until time.Time) error {
	s.mu.Lock()
	if until.After(s.pauses[key]) {
		s.pauses[key] = until
	}
	s.mu.Unlock()
	return nil
}

// PauseUntil implements Store.
func (s *MemoryStore) PauseUntil(_ context.Context, key string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pauses[key], nil
}

type semaphore struct {
	limit   int
	ch      chan struct{}
	release func() // frees a slot; made once, so that Acquire allocates nothing
}

// Acquire implements Store with a channel semaphore per key; ttl is
// ignored.
func (s *MemoryStore) Acquire(ctx context.Context, key string, limit int, _ time.Duration, wait bool) (func(), error) {
	s.mu.Lock()
	sem := s.sems[key]
	if sem == nil || sem.limit != limit {
		sem = &semaphore{limit: limit, ch: make(chan struct{}, limit)}
		sem.release = func() { <-sem.ch }
		s.sems[key] = sem
	}
	s.mu.Unlock()
	release := sem.release
	select {
	case sem.ch <- struct{}{}:
		return release, nil
	default:
	}
	if !wait {
		return nil, ErrNoSlot
	}
	select {
	case sem.ch <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
