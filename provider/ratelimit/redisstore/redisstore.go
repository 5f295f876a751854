// Package redisstore is a ratelimit.Store on Redis
// (github.com/redis/go-redis/v9), so that replicas sharing an API key or
// project share its limits: four replicas behind a 120-per-minute quota
// send 120 a minute between them, not 480.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	store, err := redisstore.New(rdb, redisstore.Options{})
//	if err != nil { ... } // a *provider.ConfigError naming the field
//	mw, err := ratelimit.New(ratelimit.Config{Key: "gemini-prod", RequestsPerMinute: 120, Store: store})
//
// Every operation is one Lua script, atomic on the server:
//
//   - Take keeps each per-minute window as a sorted set of start times
//     (members expire with the window) and admits a call at the earliest
//     time every window it needs has room for it (the rule of
//     ratelimit.Store.Take), plus, under Burst, a GCRA over one timestamp;
//     the windows of one call are read and written together. The time is
//     the caller's (ratelimit.Config.Clock), passed in, so replicas must
//     keep their clocks in sync (NTP: a replica d ahead lets a start
//     through up to d early) and tests can run on an accelerated clock.
//   - TakeDay counts in a hash per key and day-in-zone that expires after
//     the day's midnight (plus a margin); ExhaustDay marks it used up.
//   - SetPause keeps the latest pause-until timestamp, expiring when it
//     has passed: one replica's 429 with a back-off hint pauses them all.
//   - Acquire holds a concurrency lease as a member of a sorted set scored
//     by its expiry (Redis server time). Expired leases are dropped before
//     counting, so a replica that dies frees its slots after the lease TTL;
//     a live holder refreshes its lease every third of the TTL until it
//     releases it. A lease released while Redis is unreachable is removed
//     as soon as Redis answers again (a goroutine retries every 250 ms at
//     most), so no replica waits for it until its TTL.
//
// # Keys
//
// Keys are Options.Prefix (default "imagegen:") followed by "rl:", a kind
// letter and the first 128 bits of the SHA-256 of the limiter's key, since
// that key may be an API key: "imagegen:rl:w:<hash>" (a window's starts; the
// hash covers the key and the window's name, "rpm" or "ipm"), "rl:g:<hash>"
// (its burst timestamp), "rl:d:<hash>:2026-11-21" (day), "rl:p:<hash>"
// (pause), "rl:c:<hash>" (leases). Values and members carry a version. On Redis Cluster, put a hash tag in the prefix
// ("{imagegen}:").
//
// # When Redis is unreachable
//
// Every call is bounded by Options.Timeout (250 ms). Options.OnUnavailable
// chooses the policy: redisopt.FallbackToMemory (the default) limits each process
// on its own with a ratelimit.MemoryStore, logging one warning per outage,
// and returns to Redis when it answers (the provider's own 429s, which the
// limiter obeys, are the backstop meanwhile); redisopt.FailClosed refuses calls with
// a *provider.Error of kind provider.KindUnavailable and Code
// redisopt.CodeUnavailable, which the limiter wraps in its own KindUnavailable error
// (Code ratelimit.CodeLocalLimit, so failover does not count it against
// the provider's health).
package redisstore

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/internal/redisx"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Common are the settings every Redis store shares.
	redisopt.Common
}

// Store is a ratelimit.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	guard  *redisx.Guard
	mem    *ratelimit.MemoryStore
	poll   time.Duration

	cleanup *redisx.Janitor // removes leases released while Redis was unreachable
}

// lease is a concurrency lease to remove from Redis; expires is when Redis
// drops it by itself, after which there is nothing left to remove.
type lease struct {
	key, member string
	expires     time.Time
}

var _ ratelimit.Store = (*Store)(nil)

// New returns a Store on rdb. The caller keeps ownership of rdb and
// closes it after the last use of the store; give it ContextTimeoutEnabled
// and short dial and read timeouts so that Options.Timeout is honoured.
//
// It returns a *provider.ConfigError for a nil rdb, an unknown policy or
// negative durations.
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	var e cfgcheck.Errors
	redisx.CheckOptions(&e, "redisstore", rdb, opts.Common)
	if err := e.Err(); err != nil {
		return nil, err
	}
	s := &Store{
		rdb:     rdb,
		prefix:  redisx.Prefix(opts.Prefix) + "rl:",
		guard:   redisx.NewGuard("ratelimit", opts.Common, redisopt.FallbackToMemory),
		mem:     ratelimit.NewMemoryStore(),
		poll:    redisx.Poll(opts.Common),
		cleanup: &redisx.Janitor{Timeout: opts.Timeout},
	}
	return s, nil
}

func (s *Store) key(kind, key string) string { return s.prefix + kind + ":" + redisx.Hash(key) }

// takeScript reserves one call's starts in every window it needs, at the
// earliest time all of them allow (the rule of ratelimit.Store.Take).
// KEYS: for each window, its sorted set of starts (score: start time in
// µs; member "1:<call id>:<i>") and its burst timestamp ("1:<tat µs>").
// ARGV: now µs, max wait µs, call id, then for each window: per µs,
// limit, n, burst, burst interval µs.
//
// Returns {1, wait µs} when reserved, {0, wait µs} when the wait exceeds
// the maximum.
var takeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local maxwait = tonumber(ARGV[2])
local id = ARGV[3]
local nw = #KEYS / 2
local t = now
local tats = {}
for w = 1, nw do
  local zk, gk = KEYS[2*w-1], KEYS[2*w]
  local b = 3 + (w-1)*5
  local per, limit, n, burst, T = tonumber(ARGV[b+1]), tonumber(ARGV[b+2]), tonumber(ARGV[b+3]), tonumber(ARGV[b+4]), tonumber(ARGV[b+5])
  if n > 0 then
    redis.call('ZREMRANGEBYSCORE', zk, '-inf', string.format('%.0f', now - per))
    local k = redis.call('ZCARD', zk) - (limit - n)
    if k > 0 then
      local s = redis.call('ZRANGE', zk, k - 1, k - 1, 'WITHSCORES')
      local t1 = tonumber(s[2]) + per
      if t1 > t then t = t1 end
    end
    if burst > 0 then
      local tat = now
      local v = redis.call('GET', gk)
      if v then
        local x = tonumber(string.match(v, '^1:(%-?%d+)$'))
        if x and x > tat then tat = x end
      end
      tats[w] = tat
      local t2 = tat + (n - burst) * T
      if t2 > t then t = t2 end
    end
  end
end
local wait = t - now
if wait > maxwait then return {0, wait} end
local ts = string.format('%.0f', t)
for w = 1, nw do
  local zk, gk = KEYS[2*w-1], KEYS[2*w]
  local b = 3 + (w-1)*5
  local per, n, burst, T = tonumber(ARGV[b+1]), tonumber(ARGV[b+3]), tonumber(ARGV[b+4]), tonumber(ARGV[b+5])
  if n > 0 then
    for i = 1, n do redis.call('ZADD', zk, ts, '1:' .. id .. ':' .. i) end
    redis.call('PEXPIRE', zk, math.floor((wait + per) / 1000) + 1000)
    if burst > 0 then
      local tat = tats[w]
      if t > tat then tat = t end
      tat = tat + n * T
      redis.call('SET', gk, '1:' .. string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
    end
  end
end
return {1, wait}
`)

// Take implements ratelimit.Store with takeScript: the windows of one call
// are read and written by one script, atomic on the server.
func (s *Store) Take(ctx context.Context, key string, demands []ratelimit.Demand, now time.Time, maxWait time.Duration) (time.Duration, bool, error) {
	keys := make([]string, 0, 2*len(demands))
	args := make([]any, 0, 3+5*len(demands))
	args = append(args, now.UnixMicro(), min(maxWait.Microseconds(), int64(1)<<52), redisx.Token()[:16])
	for _, d := range demands {
		w := d.Window
		if d.N > w.Limit || (w.Burst > 0 && d.N > w.Burst) {
			return ratelimit.Never, false, nil
		}
		// Whole microseconds, rounded up: exact arithmetic in the script,
		// never faster than the limit.
		per := (w.Per + time.Microsecond - 1) / time.Microsecond
		interval := (per + time.Duration(w.Limit) - 1) / time.Duration(w.Limit)
		wk := key + "/" + d.Name
		keys = append(keys, s.key("w", wk), s.key("g", wk))
		args = append(args, int64(per), w.Limit, d.N, w.Burst, int64(interval))
	}
	type res struct {
		wait time.Duration
		ok   bool
	}
	out, err := redisx.Do(ctx, s.guard, "take", func(ctx context.Context) (res, error) {
		v, err := takeScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
		if err != nil {
			return res{}, err
		}
		return res{time.Duration(v[1]) * time.Microsecond, v[0] == 1}, nil
	}, func() (res, error) {
		w, ok, err := s.mem.Take(ctx, key, demands, now, maxWait)
		return res{w, ok}, err
	})
	return out.wait, out.ok, err
}

// dayScript: KEYS[1] day hash; ARGV limit, n, ttl ms, exhaust (0/1).
var dayScript = redis.NewScript(`
local ttl = tonumber(ARGV[3])
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'x', 1, 'v', 1)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
if redis.call('HGET', KEYS[1], 'x') == '1' then return 0 end
local c = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local n = tonumber(ARGV[2])
if c + n > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'n', c + n, 'v', 1)
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`)

// dayMargin keeps a day's count a while after its midnight, for clock skew
// between replicas.
const dayMargin = time.Hour

func (s *Store) dayKey(key string, day ratelimit.Day) string {
	return s.key("d", key) + ":" + day.Name
}

// TakeDay implements ratelimit.Store.
func (s *Store) TakeDay(ctx context.Context, key string, day ratelimit.Day, limit, n int) (bool, error) {
	ttl := max(day.Left, 0) + dayMargin
	return redisx.Do(ctx, s.guard, "take-day", func(ctx context.Context) (bool, error) {
		v, err := dayScript.Run(ctx, s.rdb, []string{s.dayKey(key, day)}, limit, n, ttl.Milliseconds(), 0).Int()
		return v == 1, err
	}, func() (bool, error) { return s.mem.TakeDay(ctx, key, day, limit, n) })
}

// ExhaustDay implements ratelimit.Store.
func (s *Store) ExhaustDay(ctx context.Context, key string, day ratelimit.Day) error {
	ttl := max(day.Left, 0) + dayMargin
	_, err := redisx.Do(ctx, s.guard, "exhaust-day", func(ctx context.Context) (bool, error) {
		return true, dayScript.Run(ctx, s.rdb, []string{s.dayKey(key, day)}, 0, 0, ttl.Milliseconds(), 1).Err()
	}, func() (bool, error) { return true, s.mem.ExhaustDay(ctx, key, day) })
	return err
}

// DayCount returns the requests counted for key's day and whether the day
// is marked used up, from Redis (for reports and tests).
func (s *Store) DayCount(ctx context.Context, key string, day ratelimit.Day) (n int, exhausted bool, err error) {
	v, err := s.rdb.HMGet(ctx, s.dayKey(key, day), "n", "x").Result()
	if err != nil {
		return 0, false, err
	}
	if str, ok := v[0].(string); ok {
		n, _ = strconv.Atoi(str)
	}
	x, _ := v[1].(string)
	return n, x == "1", nil
}

// pauseScript: KEYS[1]; ARGV until µs, ttl ms. Value "1:<until µs>".
var pauseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local t = tonumber(string.match(v, '^1:(%-?%d+)$'))
  if t and t >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], '1:' .. ARGV[1], 'PX', ARGV[2])
return 1
`)

// SetPause implements ratelimit.Store.
func (s *Store) SetPause(ctx context.Context, key string, now, until time.Time) error {
	d := until.Sub(now)
	if d <= 0 {
		return nil
	}
	_, err := redisx.Do(ctx, s.guard, "set-pause", func(ctx context.Context) (bool, error) {
		return true, pauseScript.Run(ctx, s.rdb, []string{s.key("p", key)}, until.UnixMicro(), max(d.Milliseconds(), 1)).Err()
	}, func() (bool, error) { return true, s.mem.SetPause(ctx, key, now, until) })
	return err
}

// PauseUntil implements ratelimit.Store.
func (s *Store) PauseUntil(ctx context.Context, key string) (time.Time, error) {
	return redisx.Do(ctx, s.guard, "pause-until", func(ctx context.Context) (time.Time, error) {
		v, err := s.rdb.Get(ctx, s.key("p", key)).Result()
		if err == redis.Nil {
			return time.Time{}, nil
		}
		if err != nil {
			return time.Time{}, err
		}
		us, ok := strings.CutPrefix(v, "1:")
		n, perr := strconv.ParseInt(us, 10, 64)
		if !ok || perr != nil {
			return time.Time{}, nil // a value of another version: no pause
		}
		return time.UnixMicro(n), nil
	}, func() (time.Time, error) { return s.mem.PauseUntil(ctx, key) })
}

// acquireScript: KEYS[1] lease set; ARGV limit, ttl ms, member. Scores are
// expiry times in Redis server milliseconds. It is idempotent: run twice
// for one member (a client retry), it takes one slot.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
-- Already ours: the client sent the script again (its retry of a call
-- whose answer was lost).
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`)

// refreshScript extends a lease that is still held: KEYS[1]; ARGV ttl ms,
// member.
var refreshScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`)

// Acquire implements ratelimit.Store. The lease's member is a random id
// ("1:<hex>"); while held, a goroutine refreshes it every ttl/3, and
// release stops it and removes the member. A lease lost meanwhile (Redis
// restarted without persistence) is not retaken.
func (s *Store) Acquire(ctx context.Context, key string, limit int, ttl time.Duration, wait bool) (func(), error) {
	if ttl <= 0 {
		ttl = ratelimit.DefaultLeaseTTL
	}
	k := s.key("c", key)
	backoff := 2 * time.Millisecond
	for {
		type res struct {
			release func()
			ok      bool
		}
		r, err := redisx.Do(ctx, s.guard, "acquire", func(ctx context.Context) (res, error) {
			s.cleanup.Flush(ctx)
			member := "1:" + redisx.Token()
			v, err := acquireScript.Run(ctx, s.rdb, []string{k}, limit, ttl.Milliseconds(), member).Int()
			if redisx.IsOutage(err) {
				// The script may have run: remove the lease when Redis is back.
				s.addPending(lease{k, member, time.Now().Add(ttl)})
			}
			if err != nil || v == 0 {
				return res{}, err
			}
			return res{s.holdLease(k, member, ttl), true}, nil
		}, func() (res, error) {
			rel, err := s.mem.Acquire(ctx, key, limit, ttl, false)
			if err == ratelimit.ErrNoSlot {
				return res{}, nil
			}
			return res{rel, err == nil}, err
		})
		if err != nil {
			return nil, err
		}
		if r.ok {
			return r.release, nil
		}
		if !wait {
			return nil, ratelimit.ErrNoSlot
		}
		d := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, s.poll)
	}
}

// holdLease starts the refresher of a lease and returns its release.
func (s *Store) holdLease(k, member string, ttl time.Duration) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), s.guard.Timeout+redisx.DefaultTimeout)
				_ = refreshScript.Run(ctx, s.rdb, []string{k}, ttl.Milliseconds(), member).Err()
				cancel()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			ctx, cancel := context.WithTimeout(context.Background(), s.guard.Timeout+redisx.DefaultTimeout)
			defer cancel()
			if err := s.rdb.ZRem(ctx, k, member).Err(); err != nil {
				// Removed as soon as Redis answers again (else another
				// replica could wait for the slot until the lease expires).
				s.addPending(lease{k, member, time.Now().Add(ttl)})
			}
		})
	}
}

// addPending queues the removal of a lease from Redis, retried by the
// janitor until Redis answers (or the lease has expired anyway), so that
// a lease released during an outage frees its slot for every replica soon
// after Redis returns.
func (s *Store) addPending(l lease) {
	s.cleanup.Add(l.expires, func(ctx context.Context) error { return s.rdb.ZRem(ctx, l.key, l.member).Err() })
}

// Leases returns the live leases of key's concurrency cap (for reports
// and tests).
func (s *Store) Leases(ctx context.Context, key string) (int, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return 0, err
	}
	n, err := s.rdb.ZCount(ctx, s.key("c", key), "("+strconv.FormatInt(t.UnixMilli(), 10), "+inf").Result()
	return int(n), err
}

// Close stops the store's background work: the removal of leases
// released while Redis was unreachable, which Redis then expires after
// their TTL instead. It does not close the Redis client. The store still
// works after Close, without that removal.
func (s *Store) Close() error {
	s.cleanup.Stop()
	return nil
}

// Unavailable reports whether the store currently considers Redis
// unreachable (and is on its fallback, or failing closed).
func (s *Store) Unavailable() bool { return s.guard.Down() }
