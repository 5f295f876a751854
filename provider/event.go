package provider

import (
	"context"
	"time"
)

// EventKind says what a decorator decided.
type EventKind uint8

// The events, by decorator. Each kind lists the Event fields it sets
// beyond Kind; Provider and Model are set wherever the decorator knows
// them.
const (
	EventUnknown EventKind = iota

	// EventRouteTried: failover called a route. Route, Duration, Calls
	// (upstream calls the route made), Err (nil when the route served).
	EventRouteTried
	// EventRouteSkipped: failover passed a route over without calling it.
	// Route, Reason ("circuit open", "health unknown", "cannot serve"),
	// Err, and Wait until an open breaker lets a probe through.
	EventRouteSkipped
	// EventBreakerChanged: a route's circuit breaker changed state. Route,
	// From and To ("closed", "open", "half-open"). It is delivered to
	// failover.Config.OnBreakerChange, not to the context's handlers: a
	// breaker may change state without any request (see its doc).
	EventBreakerChanged

	// EventRateLimitWaited: the limiter held a call back for Wait.
	// Reason: "window" (a per-minute window was full), "pause" (the
	// provider asked every caller to back off) or "concurrency" (every
	// slot was in use).
	EventRateLimitWaited
	// EventRateLimitRefused: the limiter refused a call without calling
	// the provider. Reason: "window", "pause", "concurrency", "day" (the
	// daily quota is used up), "context" (the context ended while it
	// waited), "store" (its Store failed) or "images" (a request larger
	// than the images-per-minute limit); Wait is when a slot frees, when
	// known; Err is the refusal.
	EventRateLimitRefused

	// EventRetryAttempt: one try through the retry decorator ended.
	// Attempt (1 for the first), Calls (upstream calls it made: 0 when a
	// layer below refused it locally), Duration, Err (nil on success),
	// Wait before the next try (0 when retrying stops) and Reason: why it
	// waits that long ("backoff", or "hint" when the provider's back-off
	// hint set the wait) or why it stops (retry.StopNotRetryable, ...;
	// "" on success).
	EventRetryAttempt

	// EventBudgetReserved: the budget held Amount for a call. Scope lists
	// the scopes charged ("overall", "overall,team=search").
	EventBudgetReserved
	// EventBudgetSettled: a call's reservation was settled to Amount, its
	// actual cost. Scope as for EventBudgetReserved.
	EventBudgetSettled
	// EventBudgetRefused: the budget refused a call before any network
	// traffic. Amount is the estimate that did not fit, Scope the scope
	// whose cap refused it, Reason its period ("daily", "monthly"), Err
	// the refusal.
	EventBudgetRefused
	// EventBudgetAlert: spend reached an alert threshold, or a call cost
	// more than was reserved for it (see pricing.Alert). Scope, Amount
	// (spent in the period) and Reason: "threshold 80% daily",
	// "overrun daily".
	EventBudgetAlert

	// EventCacheHit: served from the cache's store. Key.
	EventCacheHit
	// EventCacheMiss: the cache calls upstream. Key.
	EventCacheMiss
	// EventCacheShared: got the result of an identical call in flight (in
	// this process or, through a shared store, another). Key.
	EventCacheShared
	// EventCacheBypass: the request skipped the cache (cache.Skip, or
	// options that cannot be keyed; then Err says why).
	EventCacheBypass
	// EventCacheStored: a response was written to the store. Key.
	EventCacheStored
	// EventCacheError: the store failed; the request went on without it.
	// Key, Err.
	EventCacheError

	eventKinds // the number of kinds; keep last
)

var eventNames = [...]string{
	EventUnknown:          "unknown",
	EventRouteTried:       "failover.route.tried",
	EventRouteSkipped:     "failover.route.skipped",
	EventBreakerChanged:   "failover.breaker.changed",
	EventRateLimitWaited:  "ratelimit.waited",
	EventRateLimitRefused: "ratelimit.refused",
	EventRetryAttempt:     "retry.attempt",
	EventBudgetReserved:   "budget.reserved",
	EventBudgetSettled:    "budget.settled",
	EventBudgetRefused:    "budget.refused",
	EventBudgetAlert:      "budget.alert",
	EventCacheHit:         "cache.hit",
	EventCacheMiss:        "cache.miss",
	EventCacheShared:      "cache.shared",
	EventCacheBypass:      "cache.bypass",
	EventCacheStored:      "cache.stored",
	EventCacheError:       "cache.error",
}

// String returns the kind's dotted name, such as "retry.attempt": the
// decorator, then what it decided. Span events and log lines use it.
func (k EventKind) String() string {
	if k < eventKinds {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one decision of a decorator. Which fields are set depends on
// Kind (see each kind). An Event never carries prompt text, image bytes or
// credentials: Key is a hash, Err an error whose text is already free of
// secrets, Route and Scope are names the caller chose.
type Event struct {
	Kind     EventKind
	Provider string        // the provider concerned, when known
	Model    string        // the model concerned, when known
	Route    string        // failover: the route's name
	Reason   string        // why, in a short fixed phrase (see each kind)
	Attempt  int           // retry: the try's number, from 1
	Calls    int           // upstream calls the step made
	Duration time.Duration // how long the step took (a try, a route)
	Wait     time.Duration // time waited, to wait, or until a slot frees
	Amount   USD           // budget: reserved, settled, refused or spent
	Scope    string        // budget: the scope or scopes concerned
	Key      string        // cache: the content address (a hash)
	From, To string        // breaker: its state before and after
	Err      error         // the step's error, when it failed
}

// EventHandler receives events. It runs synchronously, on the goroutine
// that decided, possibly on several goroutines at once: it must be quick,
// must not block and must be safe for concurrent use. ctx is the context
// of the call that decided (carrying its deadline and trace), or
// context.Background() when no call did.
type EventHandler func(ctx context.Context, e Event)

// handlers is the list of handlers a context carries, newest first.
type handlers struct {
	h    EventHandler
	next *handlers
}

type handlersKey struct{}

// WithEventHandler returns a copy of ctx whose calls report every event
// to h, as well as to the handlers ctx already carries. Every decorator
// emits its events to the handlers of the request's context, so a
// handler sees the decisions taken for the requests it was attached to,
// through every layer of the stack. A nil h returns ctx.
func WithEventHandler(ctx context.Context, h EventHandler) context.Context {
	if h == nil {
		return ctx
	}
	prev, _ := ctx.Value(handlersKey{}).(*handlers)
	return context.WithValue(ctx, handlersKey{}, &handlers{h: h, next: prev})
}

// Emit reports e to every handler ctx carries. Decorators call it where
// they decide something; it costs one context lookup when there is no
// handler.
func Emit(ctx context.Context, e Event) {
	for hs, _ := ctx.Value(handlersKey{}).(*handlers); hs != nil; hs = hs.next {
		hs.h(ctx, e)
	}
}

// Listening reports whether ctx carries an event handler, so that a
// decorator can skip work (reading a clock, describing a route) whose
// only use is an event nobody would receive.
func Listening(ctx context.Context) bool {
	hs, _ := ctx.Value(handlersKey{}).(*handlers)
	return hs != nil
}

// HandleEvents returns the middleware that attaches h to the context of
// every request it passes down (WithEventHandler), so that h receives the
// events of every layer below it. Place it outermost to see them all:
//
//	gen := provider.Chain(routes, provider.HandleEvents(logEvent), cached, meter.Middleware())
//
// A nil h returns a middleware that adds nothing.
func HandleEvents(h EventHandler) Middleware {
	return func(next Generator) Generator {
		if h == nil {
			return next
		}
		return Wrap(next, func(ctx context.Context, req *Request) (*Response, error) {
			return next.Generate(WithEventHandler(ctx, h), req)
		})
	}
}
