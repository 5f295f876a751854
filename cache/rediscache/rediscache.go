// Package rediscache is a cache.Store on Redis (github.com/redis/go-redis/v9)
// shared by replicas: an entry written by one process is served to the
// others, and identical requests in flight in several processes go
// upstream once (the store implements cache.Locker).
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	store, err := rediscache.New(rdb, rediscache.Options{MaxBytes: 1 << 30})
//	if err != nil { ... } // a *provider.ConfigError naming the field
//	mw, err := cache.New(cache.Config{Store: store, TTL: 7 * 24 * time.Hour})
//
// # Entries and eviction
//
// An entry is one binary value: a version byte, a JSON header (text,
// provider, model, usage, warnings, times, image MIME types and lengths)
// and the image bytes as they are, stored with a PX expiry at the entry's
// Expires. The store keeps its total size at or under Options.MaxBytes by
// itself, independent of Redis's maxmemory-policy: a sorted set orders
// keys by last access, a hash holds each entry's size and a counter their
// total; Set (one Lua script) drops entries that expired, then evicts the
// least recently used until the new one fits. Get refreshes the access
// time. Leave maxmemory-policy at noeviction or volatile-* for the other
// stores' sake; a Redis that evicts the cache's keys itself only makes the
// size accounting pessimistic until those entries' turn comes.
//
// # De-duplication across processes
//
// Lock is SET NX PX on "lock:<key>" with a random token (in a script that
// also takes a lock already holding that token as taken, so that a
// client's retry cannot lock its own caller out), extended every third of
// its TTL while held and deleted (if still ours) on unlock; WaitUnlocked
// polls with back-off (2 ms doubling to Options.PollInterval) until the
// lock is gone, or the waiter's context ends. A holder that dies frees it
// after cache.Config.LockTTL. A live holder whose unlock meets an outage
// (Redis restarting, with the lock persisted) keeps retrying it in the
// background, every 250 ms at most, so the lock is gone within about that
// long of Redis returning and its waiters go on; so is a lock whose SET's
// answer was lost.
//
// # Keys
//
// Options.Prefix (default "imagegen:") + "cache:" then "e:<key>" (entries),
// "lock:<key>", "lru", "size", "bytes", "exp". Cache keys are SHA-256
// content addresses: no prompt or secret appears in Redis keys. On Redis
// Cluster use a hash-tagged prefix ("{imagegen}:").
//
// # When Redis is unreachable
//
// Every call is bounded by Options.Timeout (default 250 ms, plus the time
// to move the entry's bytes). redisopt.FallbackToMemory (the default) serves from a
// per-process cache.Memory of Options.FallbackBytes, logging one warning
// per outage; de-duplication is then per process. redisopt.FailClosed returns a
// *provider.Error of kind provider.KindUnavailable with Code
// redisopt.CodeUnavailable from every operation; the cache decorator
// reports it as a provider.EventCacheError and goes upstream without the
// cache, so requests are still served (at full price) and nothing is
// shared.
package rediscache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/internal/redisx"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Common are the settings every Redis store shares.
	redisopt.Common
	// MaxBytes bounds the entries' total size (cache.Entry.Size); default
	// 1 GiB. An entry larger than MaxBytes is not stored.
	MaxBytes int64
	// FallbackBytes bounds the in-memory fallback; default 64 MiB.
	FallbackBytes int64
}

// Store is a cache.Store and cache.Locker on Redis. It is safe for
// concurrent use.
type Store struct {
	rdb      redis.UniversalClient
	prefix   string
	guard    *redisx.Guard
	mem      *cache.Memory
	maxBytes int64
	poll     time.Duration
	now      func() time.Time
	timeout  time.Duration
	cleanup  *redisx.Janitor // releases locks whose release met an outage
}

var (
	_ cache.Store  = (*Store)(nil)
	_ cache.Locker = (*Store)(nil)
)

// New returns a Store on rdb. The caller keeps ownership of rdb.
//
// It returns a *provider.ConfigError for a nil rdb, an unknown policy,
// negative sizes or durations.
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	var e cfgcheck.Errors
	redisx.CheckOptions(&e, "rediscache", rdb, opts.Common)
	cfgcheck.NonNegative(&e, "rediscache.Options.MaxBytes", opts.MaxBytes, "0 (default 1 GiB) or more")
	cfgcheck.NonNegative(&e, "rediscache.Options.FallbackBytes", opts.FallbackBytes, "0 (default 64 MiB) or more")
	if err := e.Err(); err != nil {
		return nil, err
	}
	s := &Store{
		rdb:      rdb,
		prefix:   redisx.Prefix(opts.Prefix) + "cache:",
		guard:    redisx.NewGuard("cache", opts.Common, redisopt.FallbackToMemory),
		maxBytes: opts.MaxBytes,
		poll:     redisx.Poll(opts.Common),
		now:      provider.ClockOr(opts.Clock).Now,
		timeout:  opts.Timeout,
		cleanup:  &redisx.Janitor{Timeout: opts.Timeout},
	}
	if s.maxBytes <= 0 {
		s.maxBytes = 1 << 30
	}
	if s.poll <= 0 {
		s.poll = 50 * time.Millisecond
	}
	if s.timeout <= 0 {
		s.timeout = redisx.DefaultTimeout
	}
	fb := opts.FallbackBytes
	if fb <= 0 {
		fb = 64 << 20
	}
	s.mem, _ = cache.NewMemory(fb, provider.ClockOr(opts.Clock)) // fb > 0: cannot fail
	return s, nil
}

// timeoutFor returns the timeout of a call that moves n bytes.
func (s *Store) timeoutFor(n int) time.Duration {
	return s.timeout + time.Duration(n>>20)*10*time.Millisecond
}

// formatVersion is the first byte of every encoded entry.
const formatVersion byte = redisx.Version

// encode writes e as its version byte, then cache.AppendEntry's encoding.
func encode(e *cache.Entry) ([]byte, error) {
	return cache.AppendEntry([]byte{formatVersion}, e)
}

func decode(b []byte) (*cache.Entry, error) {
	if len(b) == 0 || b[0] != formatVersion {
		return nil, cache.ErrCorruptEntry
	}
	return cache.ParseEntry(b[1:])
}

// dropLua removes an entry and its accounting; it needs P in scope.
const dropLua = `
local function drop(P, k)
  local s = redis.call('HGET', P .. 'size', k)
  if s then
    redis.call('DECRBY', P .. 'bytes', s)
    redis.call('HDEL', P .. 'size', k)
  end
  redis.call('ZREM', P .. 'lru', k)
  redis.call('ZREM', P .. 'exp', k)
  redis.call('DEL', P .. 'e:' .. k)
end
`

// setScript: ARGV prefix, key, value, size, now ms, ttl ms (0: none),
// expires ms (0: none), max bytes. Returns 1 stored, 0 too large.
var setScript = redis.NewScript(dropLua + `
local P, k, size, now, ttl, exp, maxb = ARGV[1], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
for _, old in ipairs(redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, 64)) do drop(P, old) end
drop(P, k)
if size > maxb then return 0 end
while tonumber(redis.call('GET', P .. 'bytes') or '0') + size > maxb do
  local v = redis.call('ZRANGE', P .. 'lru', 0, 0)
  if #v == 0 then
    redis.call('SET', P .. 'bytes', 0)
    break
  end
  drop(P, v[1])
end
if ttl > 0 then
  redis.call('SET', P .. 'e:' .. k, ARGV[3], 'PX', ttl)
  redis.call('ZADD', P .. 'exp', exp, k)
else
  redis.call('SET', P .. 'e:' .. k, ARGV[3])
end
redis.call('HSET', P .. 'size', k, size)
redis.call('INCRBY', P .. 'bytes', size)
redis.call('ZADD', P .. 'lru', now, k)
return 1
`)

// getScript: ARGV prefix, key, now ms.
var getScript = redis.NewScript(`
local v = redis.call('GET', ARGV[1] .. 'e:' .. ARGV[2])
if v then redis.call('ZADD', ARGV[1] .. 'lru', 'XX', ARGV[3], ARGV[2]) end
return v
`)

var delScript = redis.NewScript(dropLua + `
drop(ARGV[1], ARGV[2])
return 1
`)

// Get implements cache.Store.
func (s *Store) Get(ctx context.Context, key string) (*cache.Entry, bool, error) {
	type res struct {
		e  *cache.Entry
		ok bool
	}
	r, err := redisx.DoTimeout(ctx, s.guard, s.timeoutFor(16<<20), "get", func(ctx context.Context) (res, error) {
		b, err := getScript.Run(ctx, s.rdb, nil, s.prefix, key, s.now().UnixMilli()).Text()
		if err == redis.Nil {
			return res{}, nil
		}
		if err != nil {
			return res{}, err
		}
		e, derr := decode([]byte(b))
		if derr != nil {
			_ = delScript.Run(ctx, s.rdb, nil, s.prefix, key).Err()
			return res{}, nil
		}
		if e.Expired(s.now()) {
			return res{}, nil
		}
		return res{e, true}, nil
	}, func() (res, error) {
		e, ok, err := s.mem.Get(ctx, key)
		return res{e, ok}, err
	})
	return r.e, r.ok, err
}

// Set implements cache.Store.
func (s *Store) Set(ctx context.Context, key string, e *cache.Entry) error {
	now := s.now()
	var ttl time.Duration
	if !e.Expires.IsZero() {
		ttl = e.Expires.Sub(now)
		if ttl <= 0 {
			return nil
		}
	}
	b, err := encode(e)
	if err != nil {
		return err
	}
	_, err = redisx.DoTimeout(ctx, s.guard, s.timeoutFor(len(b)), "set", func(ctx context.Context) (bool, error) {
		return true, setScript.Run(ctx, s.rdb, nil, s.prefix, key, b, e.Size(), now.UnixMilli(),
			ttl.Milliseconds(), redisx.Micros(e.Expires)/1000, s.maxBytes).Err()
	}, func() (bool, error) { return true, s.mem.Set(ctx, key, e) })
	return err
}

// Delete implements cache.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := redisx.Do(ctx, s.guard, "delete", func(ctx context.Context) (bool, error) {
		return true, delScript.Run(ctx, s.rdb, nil, s.prefix, key).Err()
	}, func() (bool, error) { return true, s.mem.Delete(ctx, key) })
	return err
}

// Len returns the number of entries and their total size in Redis.
func (s *Store) Len(ctx context.Context) (entries int, bytes int64, err error) {
	n, err := s.rdb.HLen(ctx, s.prefix+"size").Result()
	if err != nil {
		return 0, 0, err
	}
	b, err := s.rdb.Get(ctx, s.prefix+"bytes").Int64()
	if err == redis.Nil {
		err = nil
	}
	return int(n), b, err
}

var refreshLock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// lockScript takes lock KEYS[1] for token ARGV[1] for ARGV[2] ms. It is
// idempotent: a client's retry of a call whose answer was lost finds the
// lock its own, not another holder's.
var lockScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
`)

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lock implements cache.Locker. Under redisopt.FallbackToMemory, while Redis is
// unreachable, it always succeeds (the cache de-duplicates within the
// process).
func (s *Store) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	if ttl <= 0 {
		ttl = 2 * time.Minute
	}
	k := s.prefix + "lock:" + key
	token := "1:" + redisx.Token()
	type res struct {
		unlock func()
		ok     bool
	}
	r, err := redisx.Do(ctx, s.guard, "lock", func(ctx context.Context) (res, error) {
		ok, err := lockScript.Run(ctx, s.rdb, []string{k}, token, ttl.Milliseconds()).Bool()
		if redisx.IsOutage(err) {
			// The lock may have been taken with the answer lost: release
			// it when Redis answers, or others would wait for it for ttl.
			s.releaseLater(k, token, ttl)
		}
		if err != nil || !ok {
			return res{}, err
		}
		return res{s.hold(k, token, ttl), true}, nil
	}, func() (res, error) { return res{func() {}, true}, nil })
	return r.unlock, r.ok, err
}

// releaseLater queues the release of lock k (if it still holds token) for
// when Redis answers again: the janitor retries every 250 ms at most, so a
// lock whose release met an outage is gone within about that long of
// Redis returning, instead of holding the other processes' waiters until
// its TTL.
func (s *Store) releaseLater(k, token string, ttl time.Duration) {
	s.cleanup.Add(time.Now().Add(ttl), func(ctx context.Context) error {
		return unlockScript.Run(ctx, s.rdb, []string{k}, token).Err()
	})
}

func (s *Store) hold(k, token string, ttl time.Duration) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
				_ = refreshLock.Run(ctx, s.rdb, []string{k}, token, ttl.Milliseconds()).Err()
				cancel()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			defer cancel()
			if err := unlockScript.Run(ctx, s.rdb, []string{k}, token).Err(); redisx.IsOutage(err) {
				s.releaseLater(k, token, ttl)
			}
		})
	}
}

// WaitUnlocked implements cache.Locker.
func (s *Store) WaitUnlocked(ctx context.Context, key string) error {
	k := s.prefix + "lock:" + key
	backoff := 2 * time.Millisecond
	for {
		n, err := redisx.Do(ctx, s.guard, "wait-unlocked", func(ctx context.Context) (int64, error) {
			return s.rdb.Exists(ctx, k).Result()
		}, func() (int64, error) { return 0, nil })
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("rediscache: waiting for another process to fill the entry: %w", ctx.Err())
		case <-t.C:
		}
		backoff = min(backoff*2, s.poll)
	}
}

// Close stops the store's background work: the release of fill locks
// whose unlock met an outage, which Redis then expires after their TTL
// instead. It does not close the Redis client. The store still works
// after Close, without that release.
func (s *Store) Close() error {
	s.cleanup.Stop()
	return nil
}

// Unavailable reports whether the store currently considers Redis
// unreachable.
func (s *Store) Unavailable() bool { return s.guard.Down() }
