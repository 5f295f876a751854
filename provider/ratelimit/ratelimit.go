// Package ratelimit is the decorator that keeps calls to a provider within
// its limits: requests per minute (a golang.org/x/time/rate token bucket),
// requests per day in a window that resets at midnight in a time zone (as
// Gemini's RPD does, in America/Los_Angeles), images per minute, and a cap on
// concurrent requests. It either waits for a slot or fails fast.
//
// It is the innermost decorator, between retry and the adapter, so that
// every attempt takes a token:
//
//	cache → pricing meter/budget → failover → per provider: health → retry → rate limit/quota → adapter
//
// It also listens to the provider. A 429 that carries a back-off hint
// pauses every caller of the same Key until the hint has passed, so a burst
// of callers does not hammer a provider that has just said "wait" (no
// thundering herd). A per-day quota error marks the day used up until the
// next midnight in DayZone.
//
// Refusals are *provider.Error values with Code CodeLocalLimit: KindRateLimited
// (or KindQuotaExhausted for the day) with RetryAfter set to when a slot
// frees, so a retry decorator above waits exactly that long.
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
	"time"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/internal/clock"
	"github.com/imagegen-go/imagegen/provider"
)

// Clock is the time source of the limiter: Now and After. Tests pass a
// fake one whose After returns at once after moving time forward.
type Clock = clock.Clock

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

	// RequestsPerMinute caps requests in any sliding 60-second window. The
	// bucket holds Burst tokens and refills at RequestsPerMinute−Burst per
	// minute, so a window can never see more than RequestsPerMinute (see
	// the proof in New).
	RequestsPerMinute int
	// Burst is how many requests may start at once (default 1, at most
	// RequestsPerMinute).
	Burst int
	// RequestsPerDay caps requests per calendar day in DayZone.
	RequestsPerDay int
	// DayZone is where days start; default America/Los_Angeles (Gemini's
	// reset), or UTC−8 when the zone database is missing.
	DayZone *time.Location
	// ImagesPerMinute caps images (Request.Count of each request) per
	// minute: a bucket refilled at that rate holding min(ImagesPerMinute,
	// provider.MaxN) images.
	ImagesPerMinute int
	// MaxConcurrent caps requests in flight at once.
	MaxConcurrent int
	// FailFast refuses at once, with RetryAfter set, instead of waiting
	// for a slot. Without it the limiter waits, but fails at once when the
	// wait would outlast the context's deadline.
	FailFast bool

	// Store holds the state; default a new MemoryStore.
	Store Store
	// Clock is the time source; default the real clock.
	Clock Clock
	// LeaseTTL is passed to Store.Acquire (default DefaultLeaseTTL).
	LeaseTTL time.Duration
}

// New returns the rate-limiting decorator for cfg.
//
// Why RequestsPerMinute holds over a sliding window: take any window
// (a, a+60s]. At instant a the bucket holds at most Burst tokens; during the
// window it gains at most (RequestsPerMinute−Burst) tokens; every request
// spends one. So at most RequestsPerMinute requests start in the window,
// which is exactly what a provider's sliding-window limiter (reject when
// RequestsPerMinute were accepted in (now−60s, now]) admits. With the
// default Burst of 1, a steady caller gets (RequestsPerMinute−1) per minute.
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
		cfg.Clock = clock.System()
	}
	if cfg.DayZone == nil {
		cfg.DayZone = pacific()
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.RequestsPerMinute > 0 {
		cfg.Burst = min(max(cfg.Burst, 1), cfg.RequestsPerMinute)
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
			refill := max(cfg.RequestsPerMinute-cfg.Burst, 1)
			l.rpm = Rate{Events: refill, Per: time.Minute, Burst: cfg.Burst}
		}
		if cfg.ImagesPerMinute > 0 {
			l.ipm = Rate{Events: cfg.ImagesPerMinute, Per: time.Minute, Burst: min(cfg.ImagesPerMinute, provider.MaxN)}
		}
		l.dayLimit = cfg.RequestsPerDay
		if l.dayLimit <= 0 {
			l.dayLimit = math.MaxInt32
		}
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
		e.Add("ratelimit.Config.Burst", cfg.Burst, "0 (default) or more, at most RequestsPerMinute")
	case cfg.Burst > 0 && cfg.RequestsPerMinute <= 0:
		e.Add("ratelimit.Config.Burst", cfg.Burst, "0 when RequestsPerMinute is not set")
	case cfg.RequestsPerMinute > 0 && cfg.Burst > cfg.RequestsPerMinute:
		e.Addf("ratelimit.Config.Burst", cfg.Burst, "0 to RequestsPerMinute (%d)", cfg.RequestsPerMinute)
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
	cfg      Config
	next     provider.Generator
	key      string
	provider string
	rpm, ipm Rate
	dayLimit int
}

// refuse builds the limiter's own error.
func (l *limiter) refuse(kind provider.Kind, retry time.Duration, format string, args ...any) error {
	if retry < 0 {
		retry = 0
	}
	return &provider.Error{Kind: kind, Provider: l.provider, Code: CodeLocalLimit,
		Message: fmt.Sprintf(format, args...), RetryAfter: retry}
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

func (l *limiter) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-l.cfg.Clock.After(d):
		return nil
	case <-ctx.Done():
		return l.refuse(provider.KindRateLimited, 0, "%s: context done while waiting for a slot: %v", l.key, ctx.Err())
	}
}

// waitPause waits out (or refuses during) a pause the provider asked for.
func (l *limiter) waitPause(ctx context.Context) error {
	until, err := l.cfg.Store.PauseUntil(ctx, l.key)
	if err != nil {
		return l.storeError(err)
	}
	d := until.Sub(l.cfg.Clock.Now())
	if d <= 0 {
		return nil
	}
	if d > l.maxWait(ctx) {
		return l.refuse(provider.KindRateLimited, d, "%s: paused by the provider's back-off hint", l.key)
	}
	return l.sleep(ctx, d)
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

func (l *limiter) generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	if req == nil {
		return nil, provider.Errorf(provider.KindInvalidRequest, "ratelimit: Request: nil request")
	}
	store := l.cfg.Store
	if err := l.waitPause(ctx); err != nil {
		return nil, err
	}
	if l.cfg.MaxConcurrent > 0 {
		release, err := store.Acquire(ctx, l.key, l.cfg.MaxConcurrent, l.cfg.LeaseTTL, !l.cfg.FailFast)
		switch {
		case errors.Is(err, ErrNoSlot):
			return nil, l.refuse(provider.KindRateLimited, 0, "%s: %d requests already in flight", l.key, l.cfg.MaxConcurrent)
		case err != nil && ctx.Err() != nil:
			return nil, l.refuse(provider.KindRateLimited, 0, "%s: context done while waiting for a concurrency slot: %v", l.key, ctx.Err())
		case err != nil:
			return nil, l.storeError(err)
		}
		defer release()
	}
	now := l.cfg.Clock.Now()
	day := l.dayOf(now)
	ok, err := store.TakeDay(ctx, l.key, day, l.dayLimit, 1)
	if err != nil {
		return nil, l.storeError(err)
	}
	if !ok {
		return nil, l.refuse(provider.KindQuotaExhausted, day.Left, "%s: daily quota used up for %s", l.key, day.Name)
	}
	var wait time.Duration
	maxWait := l.maxWait(ctx)
	if l.rpm.Events > 0 {
		w, ok, err := store.Take(ctx, l.key+"/rpm", l.rpm, 1, now, maxWait)
		if err != nil || !ok {
			_, _ = store.TakeDay(ctx, l.key, day, l.dayLimit, -1)
		}
		if err != nil {
			return nil, l.storeError(err)
		}
		if !ok {
			return nil, l.refuse(provider.KindRateLimited, w, "%s: %d requests per minute", l.key, l.cfg.RequestsPerMinute)
		}
		wait = w
	}
	if l.ipm.Events > 0 {
		n := req.Count()
		if n > l.ipm.Burst {
			_, _ = store.TakeDay(ctx, l.key, day, l.dayLimit, -1)
			return nil, provider.Errorf(provider.KindInvalidRequest, "%s: %d images in one request exceed the limit of %d images per minute", l.key, n, l.cfg.ImagesPerMinute)
		}
		w, ok, err := store.Take(ctx, l.key+"/ipm", l.ipm, n, now, maxWait)
		if err != nil || !ok {
			_, _ = store.TakeDay(ctx, l.key, day, l.dayLimit, -1)
		}
		if err != nil {
			return nil, l.storeError(err)
		}
		if !ok {
			return nil, l.refuse(provider.KindRateLimited, w, "%s: %d images per minute", l.key, l.cfg.ImagesPerMinute)
		}
		wait = max(wait, w)
	}
	if wait > 0 {
		if err := l.sleep(ctx, wait); err != nil {
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
		// Prepaid credit (402) returns when someone pays, not at midnight.
		if pe.StatusCode != http.StatusPaymentRequired {
			_ = l.cfg.Store.ExhaustDay(ctx, l.key, l.dayOf(now))
		}
	}
}
