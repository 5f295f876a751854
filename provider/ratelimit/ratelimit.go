// Package ratelimit is the decorator that keeps calls to a provider within
// its limits: requests per minute and images per minute, each an exact
// sliding window; requests per day in a window that resets at midnight in a
// time zone (as Gemini's RPD does, in America/Los_Angeles); and a cap on
// concurrent requests. It either waits for a slot or fails fast.
//
// # Per-minute limits are sliding windows
//
// Providers count requests per minute over a window: a request is refused
// when the limit was reached in the last 60 seconds. RequestsPerMinute does
// the same on this side: at most RequestsPerMinute requests start in any
// 60-second window, whatever its start, and as long as the window has room
// requests start at once. A service that gets 10 requests at once with
// RequestsPerMinute 60 sends 10 at once, and the 61st request of a busy
// minute waits until the first of the 60 leaves the window. Smoothing is
// opt-in: Config.Burst caps how many start at once, spacing the rest at the
// average rate. The same rule holds on a shared Store (redisstore keeps the
// start times in a sorted set, updated by one Lua script), so replicas
// sharing a key stay inside the provider's window together.
//
// It is the innermost decorator, between retry and the adapter, so that
// every attempt takes a slot:
//
//	cache → pricing meter/budget → failover → per provider: health → retry → rate limit/quota → adapter
//
// It also listens to the provider. A 429 that carries a back-off hint
// pauses every caller of the same Key until the hint has passed, so a burst
// of callers does not hammer a provider that has just said "wait" (no
// thundering herd). A per-day quota error marks the day used up until the
// next midnight in DayZone; a prepaid-credit 402 and a zero quota (Code
// gemini.CodeFreeTierNoQuota, "limit: 0") do not, since midnight brings
// neither back.
//
// Refusals are *provider.Error values with Code CodeLocalLimit: KindRateLimited
// (or KindQuotaExhausted for the day) with RetryAfter set to when a slot
// frees, so a retry decorator above waits exactly that long. A wait that
// would outlast the context's deadline is refused at once, without waiting.
//
// Every wait and every refusal is a provider.EventRateLimitWaited or
// provider.EventRateLimitRefused to the handlers of the request's context
// (provider.WithEventHandler), with the reason: "window", "pause",
// "concurrency", "day", "context", "store" or "images".
//
// A streamed call (provider.Previews, provider.Stream) is one request of
// Request.Count images, however many drafts it sends, and holds its
// concurrency slot until the stream ends.
//
// State lives behind Store, keyed by Config.Key, so that replicas sharing an
// API key can share limits through a shared Store; NewMemoryStore is the
// default, and provider/ratelimit/redisstore shares them through Redis.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/internal/googleerr"
	"github.com/imagegen-go/imagegen/provider"
)

// CodeLocalLimit is the Code of the *provider.Error values the limiter
// returns when it refuses a call itself, without calling the provider.
const CodeLocalLimit = provider.CodeLocalLimit

// DefaultLeaseTTL is how long a shared Store keeps a concurrency lease of a
// process that never released it.
const DefaultLeaseTTL = 10 * time.Minute

// Config configures New. Zero limits are off; the zero Config limits
// nothing but still honours the provider's pauses and daily exhaustion.
type Config struct {
	// Key names the limited resource (a provider, project or API key);
	// generators with the same Key and Store share limits. Default: the
	// provider name from provider.Describe of the wrapped generator.
	Key string

	// RequestsPerMinute caps the requests that start in any 60-second
	// window (an exact sliding window, as providers count). Requests start
	// at once while the window has room.
	RequestsPerMinute int
	// Burst, when set, also caps how many requests start at once: after a
	// burst of Burst, requests are spaced 60s/RequestsPerMinute apart (a
	// token bucket of Burst refilled at RequestsPerMinute a minute), and
	// the window still holds. 0 (the default) means no cap beyond the
	// window; at most RequestsPerMinute.
	Burst int
	// RequestsPerDay caps requests per calendar day in DayZone.
	RequestsPerDay int
	// DayZone is where days start; default America/Los_Angeles (Gemini's
	// reset), or UTC−8 when the zone database is missing.
	DayZone *time.Location
	// ImagesPerMinute caps the images (Request.Count of each request) of
	// the requests that start in any 60-second window. A request asking
	// for more images than that can never start and is a request error.
	ImagesPerMinute int
	// MaxConcurrent caps requests in flight at once.
	MaxConcurrent int
	// FailFast refuses at once, with RetryAfter set, instead of waiting
	// for a slot. Without it the limiter waits, but fails at once when the
	// wait would outlast the context's deadline.
	FailFast bool

	// Store holds the state; default a new MemoryStore.
	Store Store
	// Clock is the time source; nil means provider.SystemClock() (tests
	// pass providertest.NewClock).
	Clock provider.Clock
	// LeaseTTL is passed to Store.Acquire (default DefaultLeaseTTL).
	LeaseTTL time.Duration
}

// New returns the rate-limiting decorator for cfg.
//
// Why RequestsPerMinute holds over every window: the Store records each
// start and admits a request at t only when at most RequestsPerMinute−1
// recorded starts (those reserved for later included) are later than
// t−60s; so every 60-second window that holds t holds at most
// RequestsPerMinute starts. That is what a provider's sliding-window
// limiter (reject when RequestsPerMinute were accepted in (now−60s, now])
// admits, and a steady caller gets all RequestsPerMinute of every minute.
//
// It returns a *provider.ConfigError naming every field that makes no
// sense: a negative limit or LeaseTTL, or a Burst without
// RequestsPerMinute or above it.
func New(cfg Config) (provider.Middleware, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.Clock == nil {
		cfg.Clock = provider.SystemClock()
	}
	if cfg.DayZone == nil {
		cfg.DayZone = pacific()
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	return func(next provider.Generator) provider.Generator {
		l := &limiter{cfg: cfg, next: next}
		l.key = cfg.Key
		if l.key == "" {
			l.key = provider.Describe(next).Provider
		}
		if l.key == "" {
			l.key = "default"
		}
		l.provider = provider.Describe(next).Provider
		if cfg.RequestsPerMinute > 0 {
			l.rpm = Window{Limit: cfg.RequestsPerMinute, Per: time.Minute, Burst: cfg.Burst}
		}
		if cfg.ImagesPerMinute > 0 {
			l.ipm = Window{Limit: cfg.ImagesPerMinute, Per: time.Minute}
		}
		var lims []string
		if cfg.RequestsPerMinute > 0 {
			lims = append(lims, fmt.Sprintf("%d requests", cfg.RequestsPerMinute))
		}
		if cfg.ImagesPerMinute > 0 {
			lims = append(lims, fmt.Sprintf("%d images", cfg.ImagesPerMinute))
		}
		l.perMinute = strings.Join(lims, " and ") + " per minute"
		l.dayLimit = cfg.RequestsPerDay
		if l.dayLimit <= 0 {
			l.dayLimit = math.MaxInt32
		}
		l.single = l.demands(1)
		return provider.Wrap(next, l.generate)
	}, nil
}

func (cfg Config) check() error {
	var e cfgcheck.Errors
	cfgcheck.NonNegative(&e, "ratelimit.Config.RequestsPerMinute", cfg.RequestsPerMinute, "0 (no limit) or more")
	cfgcheck.NonNegative(&e, "ratelimit.Config.RequestsPerDay", cfg.RequestsPerDay, "0 (no limit) or more")
	cfgcheck.NonNegative(&e, "ratelimit.Config.ImagesPerMinute", cfg.ImagesPerMinute, "0 (no limit) or more")
	cfgcheck.NonNegative(&e, "ratelimit.Config.MaxConcurrent", cfg.MaxConcurrent, "0 (no limit) or more")
	cfgcheck.NonNegative(&e, "ratelimit.Config.LeaseTTL", cfg.LeaseTTL, "0 (default 10m) or more")
	switch {
	case cfg.Burst < 0:
		e.Add("ratelimit.Config.Burst", cfg.Burst, "0 (no cap, the default) to RequestsPerMinute")
	case cfg.Burst > 0 && cfg.RequestsPerMinute <= 0:
		e.Add("ratelimit.Config.Burst", cfg.Burst, "0 when RequestsPerMinute is not set")
	case cfg.RequestsPerMinute > 0 && cfg.Burst > cfg.RequestsPerMinute:
		e.Addf("ratelimit.Config.Burst", cfg.Burst, "0 (no cap) to RequestsPerMinute (%d)", cfg.RequestsPerMinute)
	}
	return e.Err()
}

func pacific() *time.Location {
	if loc, err := time.LoadLocation("America/Los_Angeles"); err == nil {
		return loc
	}
	return time.FixedZone("PST", -8*60*60)
}

type limiter struct {
	cfg       Config
	next      provider.Generator
	key       string
	provider  string
	rpm, ipm  Window
	perMinute string // the per-minute limits, for refusals
	dayLimit  int
	single    []Demand // the demands of a one-image request, made once (stores only read them)

	today atomic.Pointer[cachedDay] // the quota day of the last call
}

// refuse builds the limiter's own error.
func (l *limiter) refuse(kind provider.Kind, retry time.Duration, format string, args ...any) error {
	if retry < 0 {
		retry = 0
	}
	return &provider.Error{Kind: kind, Provider: l.provider, Code: CodeLocalLimit,
		Message: fmt.Sprintf(format, args...), RetryAfter: retry}
}

// refuseCtx is the refusal of a caller whose context ended while it
// waited; it wraps the context's error, so errors.Is(err,
// context.DeadlineExceeded) holds.
func (l *limiter) refuseCtx(ctx context.Context, what string) error {
	return &provider.Error{Kind: provider.KindRateLimited, Provider: l.provider, Code: CodeLocalLimit,
		Message: fmt.Sprintf("%s: context done while %s", l.key, what), Err: ctx.Err()}
}

// maxWait is how long the limiter may wait: 0 in fail-fast mode, else what
// is left of the deadline.
func (l *limiter) maxWait(ctx context.Context) time.Duration {
	if l.cfg.FailFast {
		return 0
	}
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return time.Duration(math.MaxInt64)
}

// sleep waits d for reason ("window", "pause"), reporting the wait.
func (l *limiter) sleep(ctx context.Context, d time.Duration, reason string) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-l.cfg.Clock.After(d):
		l.waited(ctx, reason, d)
		return nil
	case <-ctx.Done():
		return l.refused(ctx, "context", l.refuseCtx(ctx, "waiting for a slot"))
	}
}

// acquire takes a concurrency slot. When someone listens, it first tries
// without waiting, so that only a call that had to wait reports a wait.
func (l *limiter) acquire(ctx context.Context) (func(), error) {
	store := l.cfg.Store
	if l.cfg.FailFast || !provider.Listening(ctx) {
		return store.Acquire(ctx, l.key, l.cfg.MaxConcurrent, l.cfg.LeaseTTL, !l.cfg.FailFast)
	}
	release, err := store.Acquire(ctx, l.key, l.cfg.MaxConcurrent, l.cfg.LeaseTTL, false)
	if !errors.Is(err, ErrNoSlot) {
		return release, err
	}
	began := l.cfg.Clock.Now()
	release, err = store.Acquire(ctx, l.key, l.cfg.MaxConcurrent, l.cfg.LeaseTTL, true)
	if err == nil {
		l.waited(ctx, "concurrency", l.cfg.Clock.Now().Sub(began))
	}
	return release, err
}

// waited reports that a call was held back for d.
func (l *limiter) waited(ctx context.Context, reason string, d time.Duration) {
	provider.Emit(ctx, provider.Event{Kind: provider.EventRateLimitWaited, Provider: l.provider, Reason: reason, Wait: d})
}

// refused reports the refusal err and returns it.
func (l *limiter) refused(ctx context.Context, reason string, err error) error {
	if provider.Listening(ctx) {
		wait, _ := provider.RetryAfter(err)
		provider.Emit(ctx, provider.Event{Kind: provider.EventRateLimitRefused, Provider: l.provider, Reason: reason, Wait: wait, Err: err})
	}
	return err
}

// waitPause waits out (or refuses during) a pause the provider asked for.
func (l *limiter) waitPause(ctx context.Context) error {
	until, err := l.cfg.Store.PauseUntil(ctx, l.key)
	if err != nil {
		return l.refused(ctx, "store", l.storeError(err))
	}
	d := until.Sub(l.cfg.Clock.Now())
	if d <= 0 {
		return nil
	}
	if d > l.maxWait(ctx) {
		return l.refused(ctx, "pause", l.refuse(provider.KindRateLimited, d, "%s: paused by the provider's back-off hint", l.key))
	}
	return l.sleep(ctx, d, "pause")
}

func (l *limiter) storeError(err error) error {
	return &provider.Error{Kind: provider.KindUnavailable, Provider: l.provider, Code: CodeLocalLimit,
		Message: "rate-limit store failed", Err: err}
}

func (l *limiter) dayOf(now time.Time) Day {
	t := now.In(l.cfg.DayZone)
	midnight := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, l.cfg.DayZone)
	return Day{Name: t.Format(time.DateOnly), Left: midnight.Sub(now)}
}

// quotaDay is dayOf without formatting the date on every call: the last
// call's day is kept with its midnight.
func (l *limiter) quotaDay(now time.Time) Day {
	y, m, d := now.In(l.cfg.DayZone).Date()
	if c := l.today.Load(); c != nil && c.year == y && c.month == m && c.day == d {
		return Day{Name: c.name, Left: c.midnight.Sub(now)}
	}
	day := l.dayOf(now)
	l.today.Store(&cachedDay{year: y, month: m, day: d, name: day.Name, midnight: now.Add(day.Left)})
	return day
}

type cachedDay struct {
	year     int
	month    time.Month
	day      int
	name     string
	midnight time.Time
}

// demands returns what a request of n images needs of the per-minute
// windows.
func (l *limiter) demands(n int) []Demand {
	var ds []Demand
	if l.rpm.Limit > 0 {
		ds = append(ds, Demand{Name: "rpm", Window: l.rpm, N: 1})
	}
	if l.ipm.Limit > 0 {
		ds = append(ds, Demand{Name: "ipm", Window: l.ipm, N: n})
	}
	return ds
}

func (l *limiter) generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	if req == nil {
		return nil, provider.Errorf(provider.KindInvalidRequest, "ratelimit: Request: nil request")
	}
	if n := req.Count(); l.ipm.Limit > 0 && n > l.ipm.Limit {
		return nil, l.refused(ctx, "images", provider.Errorf(provider.KindInvalidRequest, "%s: %d images in one request exceed the limit of %d images per minute", l.key, n, l.cfg.ImagesPerMinute))
	}
	store := l.cfg.Store
	if err := l.waitPause(ctx); err != nil {
		return nil, err
	}
	if l.cfg.MaxConcurrent > 0 {
		release, err := l.acquire(ctx)
		switch {
		case errors.Is(err, ErrNoSlot):
			return nil, l.refused(ctx, "concurrency", l.refuse(provider.KindRateLimited, 0, "%s: %d requests already in flight", l.key, l.cfg.MaxConcurrent))
		case err != nil && ctx.Err() != nil:
			return nil, l.refused(ctx, "context", l.refuseCtx(ctx, "waiting for a concurrency slot"))
		case err != nil:
			return nil, l.refused(ctx, "store", l.storeError(err))
		}
		defer release()
	}
	now := l.cfg.Clock.Now()
	day := l.quotaDay(now)
	ok, err := store.TakeDay(ctx, l.key, day, l.dayLimit, 1)
	if err != nil {
		return nil, l.refused(ctx, "store", l.storeError(err))
	}
	if !ok {
		return nil, l.refused(ctx, "day", l.refuse(provider.KindQuotaExhausted, day.Left, "%s: daily quota used up for %s", l.key, day.Name))
	}
	demands := l.single
	if n := req.Count(); n != 1 && l.ipm.Limit > 0 {
		demands = l.demands(n)
	}
	var wait time.Duration
	if len(demands) > 0 {
		w, ok, err := store.Take(ctx, l.key, demands, now, l.maxWait(ctx))
		if err != nil || !ok {
			_, _ = store.TakeDay(ctx, l.key, day, l.dayLimit, -1)
		}
		if err != nil {
			return nil, l.refused(ctx, "store", l.storeError(err))
		}
		if !ok {
			return nil, l.refused(ctx, "window", l.refuse(provider.KindRateLimited, w, "%s: %s", l.key, l.perMinute))
		}
		wait = w
	}
	if wait > 0 {
		if err := l.sleep(ctx, wait, "window"); err != nil {
			return nil, err
		}
		// Another caller may have been told to back off meanwhile.
		if err := l.waitPause(ctx); err != nil {
			return nil, err
		}
	}
	resp, err := l.next.Generate(ctx, req)
	if err != nil {
		l.learn(ctx, err)
	}
	return resp, err
}

// learn records what the provider's error says about its limits.
func (l *limiter) learn(ctx context.Context, err error) {
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Code == CodeLocalLimit {
		return
	}
	now := l.cfg.Clock.Now()
	switch pe.Kind {
	case provider.KindRateLimited:
		if d, ok := provider.RetryAfter(err); ok {
			_ = l.cfg.Store.SetPause(ctx, l.key, now, now.Add(d))
		}
	case provider.KindQuotaExhausted:
		// Prepaid credit (402) returns when someone pays, not at midnight;
		// a zero quota ("limit: 0") never returns by itself at all.
		if pe.StatusCode != http.StatusPaymentRequired && pe.Code != googleerr.CodeFreeTierNoQuota {
			_ = l.cfg.Store.ExhaustDay(ctx, l.key, l.dayOf(now))
		}
	}
}
