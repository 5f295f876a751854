package cache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/provider"
)

// Store holds cache entries by key. Keys are 64 hex digits (see Key).
// Implementations are safe for concurrent use. Stores hand out entries that
// callers must not modify, and must not modify entries they were given.
type Store interface {
	// Get returns the live entry for key; ok is false on a miss, which
	// includes an expired or corrupt entry (which the store drops).
	Get(ctx context.Context, key string) (e *Entry, ok bool, err error)
	// Set stores e under key, replacing any entry.
	Set(ctx context.Context, key string, e *Entry) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Locker is implemented by a Store shared between processes that can
// de-duplicate identical in-flight calls across them (the Redis store).
// Within one process the cache de-duplicates by itself; with a Locker, the
// one caller per process that would go upstream first takes the key's
// fill lock, and the callers of other processes wait for the entry
// instead of calling upstream too.
type Locker interface {
	// Lock tries to take key's fill lock for ttl; the store keeps it alive
	// while held and unlock releases it. ok is false when another holder
	// has it.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
	// WaitUnlocked returns when key's fill lock is free (released, or
	// expired because its holder died) or ctx is done.
	WaitUnlocked(ctx context.Context, key string) error
}

// ErrBadKey is returned by stores for a key that is not 64 hex digits.
var ErrBadKey = errors.New("cache: malformed key")

// Entry is a cached response, in a form every store can serialise.
type Entry struct {
	Images   []provider.Image
	Text     string
	Provider string
	Model    string
	Usage    provider.Usage // what the original call reported
	Cost     provider.USD   // what the original call cost
	Warnings []string       // what the original call warned of; never replayed on a hit
	Created  time.Time
	Expires  time.Time // zero: never
}

// Expired reports whether e has expired at now.
func (e *Entry) Expired(now time.Time) bool {
	return !e.Expires.IsZero() && !now.Before(e.Expires)
}

// Size returns the bytes e holds, for stores bounded by bytes: image data,
// text and strings, plus a fixed overhead.
func (e *Entry) Size() int64 {
	n := int64(256 + len(e.Text) + len(e.Provider) + len(e.Model))
	for _, im := range e.Images {
		n += int64(64 + len(im.Data) + len(im.MIMEType) + len(im.URL) + len(im.RevisedPrompt))
	}
	for _, w := range e.Warnings {
		n += int64(16 + len(w))
	}
	return n
}

// entryOf makes the entry for a response. Image bytes are shared.
func entryOf(r *provider.Response, now time.Time, ttl time.Duration) *Entry {
	var e *Entry
	if len(r.Images) == 1 {
		// The entry and its one image in one allocation.
		x := &struct {
			e   Entry
			img [1]provider.Image
		}{}
		x.img[0] = r.Images[0]
		e = &x.e
		e.Images = x.img[:]
	} else {
		e = &Entry{Images: slices.Clone(r.Images)}
	}
	e.Text, e.Provider, e.Model, e.Usage, e.Cost = r.Text, r.Provider, r.Model, r.Usage, r.Cost
	e.Warnings, e.Created = slices.Clone(r.Warnings), now
	if ttl > 0 {
		e.Expires = now.Add(ttl)
	}
	return e
}

// response makes the response of a cache hit: Cached, no cost, no
// attempts, no usage (nothing was billed) and no warnings (they told of the
// call that filled the entry, not of this one). Image bytes are shared with
// the entry and must not be modified.
func (e *Entry) response() *provider.Response {
	var r *provider.Response
	if len(e.Images) == 1 {
		// The response and its one image in one allocation; Images has
		// no room to grow, so an append by the caller copies it.
		x := &struct {
			r   provider.Response
			img [1]provider.Image
		}{}
		x.img[0] = e.Images[0]
		r = &x.r
		r.Images = x.img[:]
	} else {
		r = &provider.Response{Images: slices.Clone(e.Images)}
	}
	r.Text, r.Provider, r.Model, r.Cached = e.Text, e.Provider, e.Model, true
	return r
}

// Memory is a Store in memory, bounded by bytes (Entry.Size) with
// least-recently-used eviction, on github.com/hashicorp/golang-lru/v2.
type Memory struct {
	mu       sync.Mutex
	lru      *lru.LRU[string, *Entry]
	bytes    int64
	maxBytes int64
	now      func() time.Time
}

// defaultMemoryBytes bounds a memory store by default.
const defaultMemoryBytes = 256 << 20

// NewMemory returns a memory store holding at most maxBytes (0 means 256
// MiB), or a *provider.ConfigError for a negative maxBytes. An entry larger
// than maxBytes is not stored. clock tells the time for expiry; nil means
// provider.SystemClock().
func NewMemory(maxBytes int64, clock provider.Clock) (*Memory, error) {
	var e cfgcheck.Errors
	cfgcheck.NonNegative(&e, "cache.NewMemory maxBytes", maxBytes, "0 (default 256 MiB) or more")
	if err := e.Err(); err != nil {
		return nil, err
	}
	if maxBytes == 0 {
		maxBytes = defaultMemoryBytes
	}
	return newMemory(maxBytes, clock), nil
}

func newMemory(maxBytes int64, clock provider.Clock) *Memory {
	m := &Memory{maxBytes: maxBytes, now: provider.ClockOr(clock).Now}
	l, err := lru.NewLRU[string, *Entry](math.MaxInt, func(_ string, e *Entry) { m.bytes -= e.Size() })
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	m.lru = l
	return m
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (*Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Get(key)
	if !ok {
		return nil, false, nil
	}
	if e.Expired(m.now()) {
		m.lru.Remove(key)
		return nil, false, nil
	}
	return e, true, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, key string, e *Entry) error {
	if !validKey(key) {
		return fmt.Errorf("%w %q", ErrBadKey, key)
	}
	size := e.Size()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(key)
	if size > m.maxBytes {
		return nil
	}
	for m.bytes+size > m.maxBytes {
		if _, _, ok := m.lru.RemoveOldest(); !ok {
			break
		}
	}
	m.lru.Add(key, e)
	m.bytes += size
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(key)
	return nil
}

// Len returns the number of entries and the bytes they hold.
func (m *Memory) Len() (entries int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len(), m.bytes
}
