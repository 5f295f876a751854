// Package redisledger is a pricing.Store (a budget ledger) on Redis
// (github.com/redis/go-redis/v9), so that replicas share one budget: a
// $1.00 cap holds across four processes sending a thousand requests at
// once.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	ledger, err := redisledger.New(rdb, redisledger.Options{})
//	if err != nil { ... } // a *provider.ConfigError naming the field
//	budget, err := pricing.NewBudget(pricing.BudgetConfig{
//		Store:  ledger,
//		Limits: pricing.Limits{Daily: 20 * provider.Dollar},
//	})
//
// # Operations
//
// Reserve is one Lua script: it checks spent+reserved+amount ≤ limit for
// every key the request falls under (overall, per label; day and month)
// and, only if all pass, adds the amount to each key's reserved total and
// records the reservation, so caps hold under any concurrency across
// processes. Settle is one script too: it moves the reservation into the
// spent totals and deletes it, and remembers the id for a day so that a
// retried Settle is a no-op (idempotent by reservation id). Budget alerts
// are marked with SET NX per key and threshold, so each fires once across
// replicas.
//
// A reservation that is never settled (its process died mid-call) is
// counted as spent at its reserved amount — an upper estimate of the call,
// safe for the cap — once Options.ReservationTTL has passed; the next
// Reserve sweeps it. FileStore does the same on reopening.
//
// # Keys
//
// Options.Prefix (default "imagegen:") + "budget:" then "t:<ledger key>"
// (a hash: spent, reserved, v) such as "imagegen:budget:t:overall/day/
// 2026-11-21", "r:<id>" (an open reservation), "open" (open reservations
// by expiry), "s:<id>" (settled ids), "a:<key>:<threshold>" (alerts fired).
// Ledger keys hold scopes and periods, including label values
// ("team=search"), never prompts or credentials; do not put secrets in
// labels. On Redis Cluster, use a hash-tagged prefix ("{imagegen}:"): the
// scripts touch keys they compute.
//
// # Durability
//
// A ledger must not forget money: run Redis with appendonly yes and
// appendfsync always, so that every Reserve and Settle acknowledged is on
// disk before the reply. With appendfsync everysec (Redis's default) a
// crash loses up to a second of acknowledged spend; with no persistence a
// restart starts every budget at $0 again (and, for open reservations,
// loses the record of them). A replica that fails over to a lagging
// replica loses what it had not received.
//
// # When Redis is unreachable
//
// Every call is bounded by Options.Timeout (250 ms). The default policy,
// redisopt.FailClosed, refuses: Reserve returns a *provider.Error of kind
// provider.KindUnavailable with Code redisopt.CodeUnavailable, so the meter makes
// no call it cannot account for. (Unavailable, not BudgetExceeded: the
// budget is not spent, the check could not be made; callers that stop for
// the day on ErrBudgetExceeded should not stop for a network blip, and
// the error is retryable.) redisopt.FallbackToMemory keeps serving with a
// pricing.MemoryStore per process, logging one warning per outage: each
// replica then enforces the whole cap on its own from $0, so spend can
// reach replicas × cap during the outage, and what was spent meanwhile is
// not added to Redis. Reservations made in memory are settled in memory.
package redisledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/internal/redisx"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

// DefaultReservationTTL is how long a reservation may stay open before it
// is counted as spent at its reserved amount.
const DefaultReservationTTL = time.Hour

// Options configure a Store. The zero value is usable.
type Options struct {
	// Common are the settings every Redis store shares.
	redisopt.Common
	// ReservationTTL is how long a reservation may stay open before the
	// next Reserve counts it as spent; default one hour. Make it longer
	// than the longest call.
	ReservationTTL time.Duration
}

// Store is a pricing.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	guard  *redisx.Guard
	mem    *pricing.MemoryStore
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	pending map[string]provider.USD // settles that failed for an outage
}

var _ pricing.Store = (*Store)(nil)

// memPrefix marks the ids of reservations made in the fallback store.
const memPrefix = "mem-"

// New returns a Store on rdb. The caller keeps ownership of rdb.
//
// It returns a *provider.ConfigError for a nil rdb, an unknown policy or
// negative durations.
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	var e cfgcheck.Errors
	redisx.CheckOptions(&e, "redisledger", rdb, opts.Common)
	cfgcheck.NonNegative(&e, "redisledger.Options.ReservationTTL", opts.ReservationTTL, "0 (default) or more")
	if err := e.Err(); err != nil {
		return nil, err
	}
	s := &Store{
		rdb:    rdb,
		prefix: redisx.Prefix(opts.Prefix) + "budget:",
		guard:  redisx.NewGuard("budget", opts.Common, redisopt.FailClosed),
		mem:    pricing.NewMemoryStore(),
		ttl:    opts.ReservationTTL,
		now:    provider.ClockOr(opts.Clock).Now,
	}
	if s.ttl <= 0 {
		s.ttl = DefaultReservationTTL
	}
	return s, nil
}

// sweepLua counts expired open reservations as spent at their amount.
// It needs P (the budget prefix) and now (ms) in scope.
const sweepLua = `
local function split(s)
  local out = {}
  for k in string.gmatch(s, '[^\n]+') do out[#out + 1] = k end
  return out
end
local function sweep(P, now)
  local old = redis.call('ZRANGEBYSCORE', P .. 'open', '-inf', now, 'LIMIT', 0, 100)
  for _, id in ipairs(old) do
    local r = redis.call('HMGET', P .. 'r:' .. id, 'keys', 'amount')
    if r[1] then
      local amt = tonumber(r[2])
      for _, k in ipairs(split(r[1])) do
        redis.call('HINCRBY', P .. 't:' .. k, 'reserved', -amt)
        redis.call('HINCRBY', P .. 't:' .. k, 'spent', amt)
      end
      redis.call('DEL', P .. 'r:' .. id)
      redis.call('SET', P .. 's:' .. id, 'swept', 'PX', 86400000)
    end
    redis.call('ZREM', P .. 'open', id)
  end
end
`

// reserveScript: KEYS = totals of each ledger key; ARGV = prefix, id,
// amount, now ms, expiry ms, joined ledger keys, limits....
var reserveScript = redis.NewScript(sweepLua + `
local P, id, amt, now, exp = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
-- A client retry of a reservation that already went through (its answer
-- lost to a restart or a timeout) must not count it twice.
if redis.call('EXISTS', P .. 'r:' .. id) == 1 or redis.call('EXISTS', P .. 's:' .. id) == 1 then return {1} end
sweep(P, now)
for i, k in ipairs(KEYS) do
  local lim = tonumber(ARGV[6 + i])
  if lim > 0 then
    local v = redis.call('HMGET', k, 'spent', 'reserved')
    local s, r = tonumber(v[1] or '0'), tonumber(v[2] or '0')
    if s + r + amt > lim then return {0, i, s, r} end
  end
end
for _, k in ipairs(KEYS) do
  redis.call('HINCRBY', k, 'reserved', amt)
  redis.call('HSETNX', k, 'spent', 0)
  redis.call('HSET', k, 'v', 1)
end
redis.call('HSET', P .. 'r:' .. id, 'keys', ARGV[6], 'amount', amt, 'created', now, 'v', 1)
redis.call('ZADD', P .. 'open', exp, id)
return {1}
`)

// settleScript: ARGV = prefix, id, actual.
var settleScript = redis.NewScript(sweepLua + `
local P, id, actual = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', P .. 's:' .. id) == 1 then return 2 end
local r = redis.call('HMGET', P .. 'r:' .. id, 'keys', 'amount')
if not r[1] then return 0 end
local amt = tonumber(r[2])
for _, k in ipairs(split(r[1])) do
  redis.call('HINCRBY', P .. 't:' .. k, 'reserved', -amt)
  redis.call('HINCRBY', P .. 't:' .. k, 'spent', actual)
end
redis.call('DEL', P .. 'r:' .. id)
redis.call('ZREM', P .. 'open', id)
redis.call('SET', P .. 's:' .. id, '1:' .. ARGV[3], 'PX', 86400000)
return 1
`)

// Reserve implements pricing.Store.
func (s *Store) Reserve(ctx context.Context, keys []string, limits []provider.USD, amount provider.USD) (string, error) {
	if len(limits) != len(keys) {
		return "", fmt.Errorf("redisledger: %d keys but %d limits", len(keys), len(limits))
	}
	if amount < 0 {
		return "", fmt.Errorf("redisledger: negative reservation %v", amount)
	}
	for _, k := range keys {
		if strings.Contains(k, "\n") {
			return "", fmt.Errorf("redisledger: ledger key with a newline")
		}
	}
	return redisx.Do(ctx, s.guard, "reserve", func(ctx context.Context) (string, error) {
		s.flushPending(ctx)
		id := redisx.Token()
		now := s.now()
		tk := make([]string, len(keys))
		for i, k := range keys {
			tk[i] = s.prefix + "t:" + k
		}
		args := []any{s.prefix, id, int64(amount), now.UnixMilli(), now.Add(s.ttl).UnixMilli(), strings.Join(keys, "\n")}
		for _, l := range limits {
			args = append(args, int64(l))
		}
		v, err := reserveScript.Run(ctx, s.rdb, tk, args...).Int64Slice()
		if err != nil {
			return "", err
		}
		if v[0] == 0 {
			i := v[1] - 1
			return "", &pricing.LimitError{Key: keys[i], Spent: provider.USD(v[2]), Reserved: provider.USD(v[3]), Amount: amount, Limit: limits[i]}
		}
		return id, nil
	}, func() (string, error) {
		id, err := s.mem.Reserve(ctx, keys, limits, amount)
		if err != nil {
			return "", err
		}
		return memPrefix + id, nil
	})
}

// Settle implements pricing.Store. Settling an id twice is not an error
// (the second call changes nothing); an id the store never issued, or
// settled more than a day ago, wraps pricing.ErrUnknownReservation. A
// settle that fails because Redis is unreachable returns the typed error
// and is kept in the process to be retried by the next Reserve that
// reaches Redis; if the process dies first, the reservation is counted at
// its reserved amount after ReservationTTL.
func (s *Store) Settle(ctx context.Context, id string, actual provider.USD) error {
	if mid, ok := strings.CutPrefix(id, memPrefix); ok {
		return s.mem.Settle(ctx, mid, actual)
	}
	_, err := redisx.Do(ctx, s.guard, "settle", func(ctx context.Context) (bool, error) {
		return true, s.settle(ctx, id, actual)
	}, nil)
	if errors.Is(err, provider.ErrUnavailable) || redisx.IsOutage(err) {
		s.mu.Lock()
		if s.pending == nil {
			s.pending = map[string]provider.USD{}
		}
		s.pending[id] = actual
		s.mu.Unlock()
	}
	return err
}

func (s *Store) settle(ctx context.Context, id string, actual provider.USD) error {
	v, err := settleScript.Run(ctx, s.rdb, nil, s.prefix, id, int64(actual)).Int()
	if err != nil {
		return err
	}
	if v == 0 {
		return fmt.Errorf("%w %q", pricing.ErrUnknownReservation, id)
	}
	return nil
}

// flushPending retries the settles that failed while Redis was
// unreachable (Settle is idempotent, so one that did reach Redis is not
// counted twice).
func (s *Store) flushPending(ctx context.Context) {
	s.mu.Lock()
	p := s.pending
	s.pending = nil
	s.mu.Unlock()
	for id, actual := range p {
		if err := s.settle(ctx, id, actual); redisx.IsOutage(err) {
			s.mu.Lock()
			if s.pending == nil {
				s.pending = map[string]provider.USD{}
			}
			s.pending[id] = actual
			s.mu.Unlock()
		}
	}
}

// Pending returns how many settles failed for an outage and wait to be
// retried by the next Reserve that reaches Redis.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Spent implements pricing.Store. Under redisopt.FallbackToMemory, while Redis is
// unreachable, it reports the process's fallback ledger.
func (s *Store) Spent(ctx context.Context, key string) (spent, reserved provider.USD, err error) {
	type pair struct{ s, r provider.USD }
	p, err := redisx.Do(ctx, s.guard, "spent", func(ctx context.Context) (pair, error) {
		v, err := s.rdb.HMGet(ctx, s.prefix+"t:"+key, "spent", "reserved").Result()
		if err != nil {
			return pair{}, err
		}
		return pair{usd(v[0]), usd(v[1])}, nil
	}, func() (pair, error) {
		sp, r, err := s.mem.Spent(ctx, key)
		return pair{sp, r}, err
	})
	return p.s, p.r, err
}

func usd(v any) provider.USD {
	str, _ := v.(string)
	n, _ := strconv.ParseInt(str, 10, 64)
	return provider.USD(n)
}

// MarkAlert implements pricing.Store with SET NX: the first replica to
// mark an alert fires it. Marks expire after 400 days.
func (s *Store) MarkAlert(ctx context.Context, key string, threshold float64) (bool, error) {
	return redisx.Do(ctx, s.guard, "mark-alert", func(ctx context.Context) (bool, error) {
		k := s.prefix + "a:" + key + ":" + strconv.FormatFloat(threshold, 'g', -1, 64)
		return s.rdb.SetNX(ctx, k, "1", 400*24*time.Hour).Result()
	}, func() (bool, error) { return s.mem.MarkAlert(ctx, key, threshold) })
}

// Sweep counts reservations open longer than Options.ReservationTTL as
// spent now (Reserve does it too). Call it from a periodic job if
// reservations may be abandoned while no new ones are made.
func (s *Store) Sweep(ctx context.Context) error {
	_, err := redisx.Do(ctx, s.guard, "sweep", func(ctx context.Context) (bool, error) {
		return true, sweepScript.Run(ctx, s.rdb, nil, s.prefix, s.now().UnixMilli()).Err()
	}, nil)
	if err != nil && errors.Is(err, provider.ErrUnavailable) && s.guard.Policy == redisopt.FallbackToMemory {
		return nil
	}
	return err
}

var sweepScript = redis.NewScript(sweepLua + `
sweep(ARGV[1], tonumber(ARGV[2]))
return 1
`)

// Open returns the number of open reservations in Redis.
func (s *Store) Open(ctx context.Context) (int, error) {
	n, err := s.rdb.ZCard(ctx, s.prefix+"open").Result()
	return int(n), err
}

// Unavailable reports whether the store currently considers Redis
// unreachable.
func (s *Store) Unavailable() bool { return s.guard.Down() }
