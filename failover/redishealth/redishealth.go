// Package redishealth keeps failover's circuit breakers in Redis
// (github.com/redis/go-redis/v9), so that replicas share each route's
// health: when one replica's calls show a provider failing, the breaker
// opens for all of them, and the others stop sending it traffic without
// having to fail first.
//
//	health, err := redishealth.New(rdb, redishealth.Options{})
//	if err != nil { ... } // a *provider.ConfigError naming the field
//	routes, err := failover.New(failover.Config{
//		Routes:     []failover.Route{...},
//		NewBreaker: health.NewBreaker,
//	})
//
// Each route's breaker is a hash (state, generation, window start or
// opened-at, counts, probes in flight, version) that one Lua script per
// operation reads, moves on in time and updates atomically, following the
// same rules as failover.NewBreaker: consecutive and rate-based trips,
// counts reset each Window, an open breaker lets HalfOpenProbes probes
// through after OpenTimeout. Times are the caller's (failover.Config.Clock),
// passed in, so replicas should keep their clocks in sync. Probes that
// never report (their replica died) are written off after another
// OpenTimeout.
//
// # Keys
//
// Options.Prefix (default "imagegen:") + "health:" + Options.Group + ":" +
// the route name, such as "imagegen:health:default:gemini". Route names
// are the caller's (failover.Route.Name): do not put secrets in them. Keys
// expire a day after the last use.
//
// # When Redis is unreachable
//
// Every call is bounded by Options.Timeout (250 ms). redisopt.FallbackToMemory (the
// default) keeps a per-process failover.NewBreaker for each route while
// Redis is away, logging one warning per outage. redisopt.FailClosed makes Allow
// return a *provider.Error of kind provider.KindUnavailable with Code
// redisopt.CodeUnavailable: failover skips the route (failover.CodeHealthUnknown)
// and tries the next one, and fails with KindUnavailable when every route
// is skipped. State reports StateOpen then.
package redishealth

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/internal/redisx"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

// Options configure a Health. The zero value is usable.
type Options struct {
	// Common are the settings every Redis store shares.
	redisopt.Common
	// Group separates sets of routes that share names but not health
	// (two services, say); default "default".
	Group string
}

// Health makes breakers whose state lives in Redis. It is safe for
// concurrent use.
type Health struct {
	rdb    redis.UniversalClient
	prefix string
	guard  *redisx.Guard
}

// New returns a Health on rdb. The caller keeps ownership of rdb.
//
// It returns a *provider.ConfigError for a nil rdb, an unknown policy or
// negative durations.
func New(rdb redis.UniversalClient, opts Options) (*Health, error) {
	var e cfgcheck.Errors
	redisx.CheckOptions(&e, "redishealth", rdb, opts.Common)
	if err := e.Err(); err != nil {
		return nil, err
	}
	g := opts.Group
	if g == "" {
		g = "default"
	}
	return &Health{
		rdb:    rdb,
		prefix: redisx.Prefix(opts.Prefix) + "health:" + g + ":",
		guard:  redisx.NewGuard("health", opts.Common, redisopt.FallbackToMemory),
	}, nil
}

// NewBreaker returns the shared breaker of route; its signature fits
// failover.Config.NewBreaker. Breakers of the same route (in this process
// or another) share state.
func (h *Health) NewBreaker(route string, s failover.BreakerSettings) failover.Breaker {
	s = s.WithDefaults()
	return &Breaker{h: h, key: h.prefix + route, s: s, mem: failover.NewBreaker(s)}
}

// Unavailable reports whether the breakers currently consider Redis
// unreachable.
func (h *Health) Unavailable() bool { return h.guard.Down() }

// Breaker is one route's shared breaker.
type Breaker struct {
	h   *Health
	key string
	s   failover.BreakerSettings
	mem failover.Breaker // used while Redis is unreachable, under redisopt.FallbackToMemory

	once sync.Once
	args []any
}

var _ failover.Breaker = (*Breaker)(nil)

// lib is the breaker's logic; every script starts with it. KEYS[1] is the
// hash; ARGV[1] now (µs), ARGV[2..7] the settings.
const lib = `
local K = KEYS[1]
local now = tonumber(ARGV[1])
local cf, rate, minreq = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local window, open, maxprobes = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local f = {'st', 'gen', 'since', 'req', 'fail', 'cons', 'probes', 'succ'}
local v = redis.call('HMGET', K, unpack(f))
local b = {}
for i, name in ipairs(f) do b[name] = tonumber(v[i] or '0') or 0 end
local st0 = b.st -- the state before this call, to report changes
local function set(st)
  b.st, b.since, b.gen = st, now, b.gen + 1
  b.req, b.fail, b.cons, b.probes, b.succ = 0, 0, 0, 0, 0
end
local function tick()
  if b.st == 1 then
    if now >= b.since + open then set(2) end
  elseif b.st == 0 then
    if b.since == 0 then b.since = now
    elseif now >= b.since + window then b.since, b.req, b.fail = now, 0, 0 end
  elseif b.st == 2 and b.probes > 0 and now >= b.since + open then
    set(2)
  end
end
local function save()
  local out = {}
  for _, name in ipairs(f) do
    out[#out + 1] = name
    out[#out + 1] = string.format('%.0f', b[name])
  end
  out[#out + 1] = 'v'
  out[#out + 1] = 1
  redis.call('HSET', K, unpack(out))
  redis.call('PEXPIRE', K, 86400000)
end
local function trip()
  if cf > 0 and b.cons >= cf then return true end
  return rate > 0 and b.req >= minreq and b.fail >= rate * b.req
end
tick()
`

// allowScript returns {ok, retry µs, generation, state before, state
// after}.
var allowScript = redis.NewScript(lib + `
if b.st == 1 then
  save()
  return {0, b.since + open - now, b.gen, st0, b.st}
end
if b.st == 2 then
  if b.probes >= maxprobes then
    save()
    return {0, 0, b.gen, st0, b.st}
  end
  b.probes = b.probes + 1
end
save()
return {1, 0, b.gen, st0, b.st}
`)

// doneScript: ARGV[8] outcome (0 success, 1 failure, 2 ignored), ARGV[9]
// the generation the call began in. It returns {state before, state after
// time moved it, state after}.
var doneScript = redis.NewScript(lib + `
local o, gen = tonumber(ARGV[8]), tonumber(ARGV[9])
local st1 = b.st
if gen == b.gen then
  if b.st == 2 then
    b.probes = math.max(b.probes - 1, 0)
    if o == 0 then
      b.succ = b.succ + 1
      if b.succ >= maxprobes then set(0) end
    elseif o == 1 then
      set(1)
    end
  elseif b.st == 0 then
    if o == 0 then
      b.req, b.cons = b.req + 1, 0
    elseif o == 1 then
      b.req, b.fail, b.cons = b.req + 1, b.fail + 1, b.cons + 1
      if trip() then set(1) end
    end
  end
end
save()
return {st0, st1, b.st}
`)

// stateScript returns {state before, state}.
var stateScript = redis.NewScript(lib + `
save()
return {st0, b.st}
`)

func (b *Breaker) argv(now time.Time, extra ...any) []any {
	b.once.Do(func() {
		b.args = []any{b.s.ConsecutiveFailures, strconv.FormatFloat(b.s.FailureRate, 'g', -1, 64), b.s.MinRequests,
			b.s.Window.Microseconds(), b.s.OpenTimeout.Microseconds(), b.s.HalfOpenProbes}
	})
	out := make([]any, 0, 1+len(b.args)+len(extra))
	out = append(out, now.UnixMicro())
	out = append(out, b.args...)
	return append(out, extra...)
}

// Allow implements failover.Breaker.
func (b *Breaker) Allow(ctx context.Context, now time.Time) (func(failover.Outcome, time.Time), time.Duration, error) {
	type res struct {
		done  func(failover.Outcome, time.Time)
		retry time.Duration
		err   error
	}
	r, err := redisx.Do(ctx, b.h.guard, "breaker-allow", func(ctx context.Context) (res, error) {
		v, err := allowScript.Run(ctx, b.h.rdb, []string{b.key}, b.argv(now)...).Int64Slice()
		if err != nil {
			return res{}, err
		}
		b.report(ctx, v[3:]...)
		if v[0] == 0 {
			return res{retry: time.Duration(v[1]) * time.Microsecond, err: failover.ErrOpen}, nil
		}
		return res{done: b.doneFunc(ctx, v[2])}, nil
	}, func() (res, error) {
		d, retry, err := b.mem.Allow(ctx, now)
		return res{d, retry, err}, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return r.done, r.retry, r.err
}

// doneFunc reports one call's outcome, once; changes of state go to the
// call's context.
func (b *Breaker) doneFunc(callCtx context.Context, gen int64) func(failover.Outcome, time.Time) {
	var once sync.Once
	return func(o failover.Outcome, at time.Time) {
		once.Do(func() {
			// The call's own context may be gone; the report is not.
			_, _ = redisx.Do(context.Background(), b.h.guard, "breaker-done", func(ctx context.Context) (bool, error) {
				v, err := doneScript.Run(ctx, b.h.rdb, []string{b.key}, b.argv(at, int(o), gen)...).Int64Slice()
				if err == nil {
					b.report(callCtx, v...)
				}
				return true, err
			}, nil)
		})
	}
}

// report calls BreakerSettings.OnStateChange for each change in states,
// the successive states a script saw.
func (b *Breaker) report(ctx context.Context, states ...int64) {
	if b.s.OnStateChange == nil {
		return
	}
	for i := 1; i < len(states); i++ {
		if from, to := failover.State(states[i-1]), failover.State(states[i]); from != to {
			b.s.OnStateChange(ctx, from, to)
		}
	}
}

// State implements failover.Breaker. When Redis is unreachable it reports
// the fallback breaker's state, or StateOpen under redisopt.FailClosed.
func (b *Breaker) State(now time.Time) failover.State {
	st, err := redisx.Do(context.Background(), b.h.guard, "breaker-state", func(ctx context.Context) (failover.State, error) {
		v, err := stateScript.Run(ctx, b.h.rdb, []string{b.key}, b.argv(now)...).Int64Slice()
		if err != nil {
			return 0, err
		}
		b.report(context.Background(), v...)
		return failover.State(v[len(v)-1]), nil
	}, func() (failover.State, error) { return b.mem.State(now), nil })
	if err != nil && !errors.Is(err, context.Canceled) {
		return failover.StateOpen
	}
	return st
}
