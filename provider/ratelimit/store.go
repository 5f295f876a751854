package ratelimit

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate describes a token bucket: it holds Burst tokens and refills at
// Events tokens per Per.
type Rate struct {
	Events int           // tokens added per Per
	Per    time.Duration // refill period
	Burst  int           // bucket size
}

// Store holds the limiter's state. Every operation is keyed by the
// limiter's Key, so generators that share a Store and a Key (several
// replicas using one API key or project) share their limits. Methods are
// called with the limiter's Clock time, and must be safe for concurrent
// use.
//
// The operations are shaped for a shared implementation: a per-minute
// bucket is a GCRA over one timestamp, the day count an INCR on a key that
// names the day, the pause a max-timestamp, a concurrency lease a sorted
// set of expiring members. NewMemoryStore is the in-process default.
type Store interface {
	// Take takes n tokens from key's bucket r at now. When they are
	// available within maxWait it takes them and returns how long the
	// caller must wait before using them (0 for now). Otherwise it takes
	// nothing and returns ok false with the wait that would have been needed
	// (math.MaxInt64 when n exceeds the burst).
	Take(ctx context.Context, key string, r Rate, n int, now time.Time, maxWait time.Duration) (wait time.Duration, ok bool, err error)

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

// MemoryStore is the in-process Store: per-minute buckets are
// golang.org/x/time/rate limiters. It is safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex
	buckets map[bucketKey]*bucket
	days    map[string]*dayCount
	pauses  map[string]time.Time
	sems    map[string]*semaphore
}

type bucketKey struct {
	key string
	r   Rate
}

type dayCount struct {
	day       string
	n         int
	exhausted bool
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		buckets: map[bucketKey]*bucket{},
		days:    map[string]*dayCount{},
		pauses:  map[string]time.Time{},
		sems:    map[string]*semaphore{},
	}
}

// Take implements Store with a rate.Limiter per key and Rate. It reserves
// nothing when the wait would exceed maxWait (a cancelled reservation
// cannot always give its token back once others reserved after it), and it
// never lets time run backwards for a bucket: callers read their clocks
// before taking the lock, so their nows arrive slightly out of order, and
// rate.Limiter would refill from the earlier time twice.
func (s *MemoryStore) Take(_ context.Context, key string, r Rate, n int, now time.Time, maxWait time.Duration) (time.Duration, bool, error) {
	if n > r.Burst {
		return time.Duration(1<<63 - 1), false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bk := bucketKey{key, r}
	b := s.buckets[bk]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(r.Events)/r.Per.Seconds()), r.Burst)}
		// Start the bucket full at now, not at the zero Time.
		b.lim.SetBurstAt(now, r.Burst)
		s.buckets[bk] = b
	}
	if now.Before(b.last) {
		now = b.last
	}
	b.last = now
	if tokens := b.lim.TokensAt(now); tokens < float64(n) {
		wait := time.Duration((float64(n) - tokens) / float64(b.lim.Limit()) * float64(time.Second))
		if wait > maxWait {
			return wait, false, nil
		}
	}
	res := b.lim.ReserveN(now, n)
	if !res.OK() {
		return time.Duration(1<<63 - 1), false, nil
	}
	return res.DelayFrom(now), true, nil
}

// bucket is one per-minute token bucket and the latest time it was asked.
type bucket struct {
	lim  *rate.Limiter
	last time.Time
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
	limit int
	ch    chan struct{}
}

// Acquire implements Store with a channel semaphore per key; ttl is
// ignored.
func (s *MemoryStore) Acquire(ctx context.Context, key string, limit int, _ time.Duration, wait bool) (func(), error) {
	s.mu.Lock()
	sem := s.sems[key]
	if sem == nil || sem.limit != limit {
		sem = &semaphore{limit: limit, ch: make(chan struct{}, limit)}
		s.sems[key] = sem
	}
	s.mu.Unlock()
	release := func() { <-sem.ch }
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
