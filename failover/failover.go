// Package failover routes each request to the first healthy generator that
// can serve it, in priority order. Routes of equal priority are tried in the
// order listed, unless one of them sets a Weight: then that priority's
// routes share load at random in proportion to their weights.
//
// It sits below the cache and the budget and above the per-provider
// stacks, each of which has its own retry and rate limit; failover itself
// keeps each route's health as a circuit breaker:
//
//	cache → pricing meter/budget → failover → per provider: health → retry → rate limit/quota → adapter
//
// For each request, routes are tried in order. A route is skipped, without
// a call, when its breaker is open or when provider.CheckRequest says its
// stack cannot serve the request (size, references, edit, N). A failure
// whose kind fails over (by default: unavailable, rate limited, quota
// exhausted, timeout, model retired, model not found) moves on to the next
// route and counts against the route's health; any other failure (invalid
// request, auth, content blocked, ...) is returned at once, without calling
// another route, and does not count against health (a content block is not
// the provider's fault), and neither does a refusal by the route's own rate
// limiter (provider.CodeLocalLimit). A content block may instead go to
// Config.ContentPolicyFallback, once.
//
// Breakers are in memory by default; failover/redishealth keeps them in
// Redis so that replicas share each route's health (Config.NewBreaker).
//
// # Events
//
// Each route called is a provider.EventRouteTried, and each route passed
// over a provider.EventRouteSkipped with its reason ("circuit open",
// "health unknown", "cannot serve"), to the handlers of the request's
// context (provider.WithEventHandler). A breaker's changes of state are
// provider.EventBreakerChanged events to Config.OnBreakerChange, which
// also hears of changes that no request caused.
//
// When no route serves, the error is an *Error that keeps every route's
// error. Its first unwrapped error is the decisive one, so provider.KindOf
// and provider.RetryAfter report it: the last route tried, or, when none was
// tried, an open breaker (KindUnavailable) before a capability mismatch
// (KindInvalidRequest).
//
// # Previews
//
// A request with provider.Previews goes to one route at a time, as any
// other: routes are tried one after another, never in parallel, so only
// the route being called can send drafts, and no two routes ever both
// deliver previews to the caller. Once a draft has reached the caller, a
// failure of that route ends the call (no further route, no
// ContentPolicyFallback): the *Error then also matches
// provider.ErrStreamInterrupted. The route's breaker counts such a
// failure as it counts any other.
package failover

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/provider"
)

// CodeHealthUnknown is the Code of the error recorded for a route skipped
// because its breaker could not decide (a shared health store that is
// unreachable and fails closed); the error wraps the breaker's.
const CodeHealthUnknown = "HEALTH_UNKNOWN"

// Route is one way to serve requests: typically a provider adapter wrapped
// in its own retry and rate limit.
type Route struct {
	// Name identifies the route in errors and warnings; default the
	// provider and model from provider.Describe.
	Name string
	// Generator serves the route's requests.
	Generator provider.Generator
	// Priority orders routes: lower values are tried first. Routes of
	// equal Priority are tried in the order listed (a primary listed
	// before its backup is always tried first), unless weights are set.
	Priority int
	// Weight, when set on any route of a Priority, load-balances that
	// Priority's routes at random: a route is tried first with probability
	// Weight/sum (routes of the group without a Weight count 1), and the
	// rest follow in the same weighted draw. 0 everywhere keeps list order.
	Weight int
}

// DefaultKinds returns the failure kinds that fail over by default: the
// provider's trouble, never the request's (invalid request, auth, content
// blocked).
func DefaultKinds() []provider.Kind {
	return []provider.Kind{
		provider.KindUnavailable, provider.KindRateLimited, provider.KindQuotaExhausted,
		provider.KindTimeout, provider.KindModelRetired, provider.KindModelNotFound,
	}
}

// CodeCircuitOpen is the Code of the error recorded for a route skipped
// because its breaker is open.
const CodeCircuitOpen = "CIRCUIT_OPEN"

// Config configures New.
type Config struct {
	// Routes to try; at least one.
	Routes []Route
	// FailoverOn says which errors move on to the next route; default: the
	// error's kind is in Kinds.
	FailoverOn func(error) bool
	// Kinds that fail over when FailoverOn is nil; default DefaultKinds().
	Kinds []provider.Kind
	// Breaker configures each route's circuit breaker.
	Breaker BreakerSettings
	// NewBreaker, when set, makes the breaker of each route (for example
	// one whose state is shared between replicas); default NewBreaker.
	NewBreaker func(route string, s BreakerSettings) Breaker
	// ContentPolicyFallback, when set, serves a request that a route
	// refused with provider.ErrContentBlocked.
	ContentPolicyFallback *Route
	// Clock drives the breakers; nil means provider.SystemClock().
	Clock provider.Clock
	// Rand draws the order of routes of equal priority; default a randomly
	// seeded generator. It is used under a lock.
	Rand *rand.Rand
	// OnBreakerChange, when set, receives a provider.EventBreakerChanged
	// (Route, From, To) for every change of state of a route's breaker,
	// with the context of the request that caused it, or
	// context.Background() for a change RouteState noticed. It runs
	// outside the breaker's lock and must not block.
	OnBreakerChange provider.EventHandler
}

// Failover is a provider.Generator that serves each request through the
// first healthy route able to. It is safe for concurrent use.
type Failover struct {
	groups     []group  // by ascending priority
	all        []*route // by priority, then in list order
	weighted   bool     // some group is weighted
	fallback   *route
	failoverOn func(error) bool
	clock      provider.Clock

	mu  sync.Mutex
	rng *rand.Rand
}

// group is the routes of one priority, in list order; weighted groups are
// drawn at random by weight for each request.
type group struct {
	routes   []*route
	weighted bool
}

type route struct {
	name    string
	gen     provider.Generator
	weight  int
	breaker Breaker
}

// New returns a Failover over cfg.Routes, or a *provider.ConfigError naming
// every mistake in cfg: no routes, a route without a Generator, two routes
// with the same Name, a negative Weight, breaker settings out of range.
func New(cfg Config) (*Failover, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	f := &Failover{clock: cfg.Clock, rng: cfg.Rand, failoverOn: cfg.FailoverOn}
	if f.clock == nil {
		f.clock = provider.SystemClock()
	}
	if f.rng == nil {
		f.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if f.failoverOn == nil {
		kinds := cfg.Kinds
		if kinds == nil {
			kinds = DefaultKinds()
		}
		kinds = slices.Clone(kinds)
		f.failoverOn = func(err error) bool { return slices.Contains(kinds, provider.KindOf(err)) }
	}
	newBreaker := cfg.NewBreaker
	if newBreaker == nil {
		newBreaker = func(_ string, s BreakerSettings) Breaker { return NewBreaker(s) }
	}
	// Explicit names are unique (checked above) and kept; a route without
	// one is named after what it serves, with a suffix if that is taken.
	names := map[string]bool{}
	for _, r := range cfg.Routes {
		names[r.Name] = r.Name != ""
	}
	mk := func(r Route) *route {
		name := r.Name
		if name == "" {
			d := provider.Describe(r.Generator)
			name = strings.TrimSpace(d.Provider + " " + d.Model)
			if name == "" {
				name = "route"
			}
			for base, i := name, 2; names[name]; i++ {
				name = fmt.Sprintf("%s#%d", base, i)
			}
			names[name] = true
		}
		return &route{name: name, gen: r.Generator, weight: max(r.Weight, 1), breaker: newBreaker(name, cfg.breakerSettings(name, r.Generator))}
	}
	routes := slices.Clone(cfg.Routes)
	slices.SortStableFunc(routes, func(a, b Route) int { return a.Priority - b.Priority })
	for i, r := range routes {
		rt := mk(r)
		f.all = append(f.all, rt)
		if i == 0 || r.Priority != routes[i-1].Priority {
			f.groups = append(f.groups, group{})
		}
		g := &f.groups[len(f.groups)-1]
		g.routes = append(g.routes, rt)
		g.weighted = g.weighted || r.Weight > 0
		f.weighted = f.weighted || g.weighted
	}
	if cfg.ContentPolicyFallback != nil {
		f.fallback = mk(*cfg.ContentPolicyFallback)
	}
	return f, nil
}

// breakerSettings are the settings of the breaker of the route name
// serving with g: cfg.Breaker, reporting to cfg.OnBreakerChange.
func (cfg Config) breakerSettings(name string, g provider.Generator) BreakerSettings {
	s := cfg.Breaker
	report, also := cfg.OnBreakerChange, s.OnStateChange
	if report == nil {
		return s
	}
	d := provider.Describe(g)
	s.OnStateChange = func(ctx context.Context, from, to State) {
		if also != nil {
			also(ctx, from, to)
		}
		report(ctx, provider.Event{Kind: provider.EventBreakerChanged, Provider: d.Provider, Model: d.Model,
			Route: name, From: from.String(), To: to.String()})
	}
	return s
}

func (cfg Config) check() error {
	var e cfgcheck.Errors
	if len(cfg.Routes) == 0 {
		e.Add("failover.Config.Routes", "[]", "at least one route")
	}
	named := map[string]int{}
	route := func(field string, r Route) {
		if r.Generator == nil {
			e.Add(field+".Generator", "nil", "a provider.Generator")
		}
		cfgcheck.NonNegative(&e, field+".Weight", r.Weight, "0 (default 1) or more")
	}
	for i, r := range cfg.Routes {
		field := fmt.Sprintf("failover.Config.Routes[%d]", i)
		route(field, r)
		if r.Name == "" {
			continue
		}
		if j, dup := named[r.Name]; dup {
			e.Addf(field+".Name", fmt.Sprintf("%q", r.Name), "a name no other route has (Routes[%d] has it)", j)
		}
		named[r.Name] = i
	}
	if cfg.ContentPolicyFallback != nil {
		route("failover.Config.ContentPolicyFallback", *cfg.ContentPolicyFallback)
	}
	checkBreaker(&e, "failover.Config.Breaker", cfg.Breaker)
	return e.Err()
}

func checkBreaker(e *cfgcheck.Errors, field string, s BreakerSettings) {
	if !(s.FailureRate >= 0 && s.FailureRate <= 1) {
		e.Add(field+".FailureRate", s.FailureRate, "0 (off) to 1")
	}
	cfgcheck.NonNegative(e, field+".MinRequests", s.MinRequests, "0 (default 10) or more")
	cfgcheck.NonNegative(e, field+".Window", s.Window, "0 (default 60s) or more")
	cfgcheck.NonNegative(e, field+".OpenTimeout", s.OpenTimeout, "0 (default 30s) or more")
	cfgcheck.NonNegative(e, field+".HalfOpenProbes", s.HalfOpenProbes, "0 (default 1) or more")
}

// Describe describes the first route (highest priority, first listed).
func (f *Failover) Describe() provider.Description { return provider.Describe(f.all[0].gen) }

// Alternatives describes every route (and the content-policy fallback),
// so that a budget in front of failover reserves enough for whichever
// serves.
func (f *Failover) Alternatives() []provider.Description {
	n := len(f.all)
	if f.fallback != nil {
		n++
	}
	out := make([]provider.Description, 0, n)
	for _, r := range f.all {
		out = appendCandidates(out, r.gen)
	}
	if f.fallback != nil {
		out = appendCandidates(out, f.fallback.gen)
	}
	return out
}

// appendCandidates appends provider.Candidates(g) to out, without the
// slice Candidates makes for a generator that has no alternatives (the
// budget asks for them on every call).
func appendCandidates(out []provider.Description, g provider.Generator) []provider.Description {
	for h := g; h != nil; {
		if _, ok := h.(provider.Alternatives); ok {
			return append(out, provider.Candidates(g)...)
		}
		u, ok := h.(provider.Unwrapper)
		if !ok {
			break
		}
		h = u.Unwrap()
	}
	return append(out, provider.Describe(g))
}

// CheckRequest returns nil when at least one route can serve req, and
// otherwise the first route's reason.
func (f *Failover) CheckRequest(req *provider.Request) error {
	if req == nil {
		return errNilRequest()
	}
	var first error
	for _, r := range f.all {
		err := provider.CheckRequest(r.gen, req)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// RouteState returns the breaker state of the named route, and false when
// there is no such route.
func (f *Failover) RouteState(name string) (State, bool) {
	// f.all is shared by concurrent calls: never append to it.
	for _, r := range f.all {
		if r.name == name {
			return r.breaker.State(f.clock.Now()), true
		}
	}
	if f.fallback != nil && f.fallback.name == name {
		return f.fallback.breaker.State(f.clock.Now()), true
	}
	return 0, false
}

// order returns the routes in the order to try them for one request.
func (f *Failover) order() []*route {
	if !f.weighted {
		return f.all // priority then list order; read-only, nobody appends to it
	}
	out := make([]*route, 0, len(f.all))
	for _, g := range f.groups {
		if len(g.routes) == 1 || !g.weighted {
			out = append(out, g.routes...)
			continue
		}
		rest := slices.Clone(g.routes)
		total := 0
		for _, r := range rest {
			total += r.weight
		}
		f.mu.Lock()
		for len(rest) > 0 {
			x := f.rng.IntN(total)
			i := 0
			for ; x >= rest[i].weight; i++ {
				x -= rest[i].weight
			}
			out = append(out, rest[i])
			total -= rest[i].weight
			rest = slices.Delete(rest, i, i+1)
		}
		f.mu.Unlock()
	}
	return out
}

// Generate serves req through the first route that can; see the package
// documentation for the rules.
func (f *Failover) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	if req == nil {
		return nil, errNilRequest()
	}
	req, tr := provider.Track(req)
	var errs []RouteError
	for _, r := range f.order() {
		resp, re, served := f.try(ctx, r, req)
		if served {
			return f.served(resp, errs), nil
		}
		errs = append(errs, re)
		if re.Skipped {
			continue
		}
		if ctx.Err() != nil || tr.Delivered() > 0 {
			// The caller has shown a draft from this route: another
			// route would make a different image.
			break
		}
		if !f.failoverOn(re.Err) {
			if f.fallback != nil && errors.Is(re.Err, provider.ErrContentBlocked) {
				resp, fre, served := f.try(ctx, f.fallback, req)
				if served {
					return f.served(resp, errs), nil
				}
				errs = append(errs, fre)
			}
			break
		}
	}
	return nil, tr.Settle(&Error{Routes: errs})
}

// errNilRequest is the answer to a nil *provider.Request: a typed request
// error, before any route sees it.
func errNilRequest() error {
	return provider.Errorf(provider.KindInvalidRequest, "failover: Request: nil request")
}

// try calls one route; it returns served true with the response, or the
// route's error.
func (f *Failover) try(ctx context.Context, r *route, req *provider.Request) (*provider.Response, RouteError, bool) {
	listening := provider.Listening(ctx)
	skip := func(reason string, wait time.Duration, err error) RouteError {
		if listening {
			d := provider.Describe(r.gen)
			provider.Emit(ctx, provider.Event{Kind: provider.EventRouteSkipped, Provider: d.Provider, Model: d.Model,
				Route: r.name, Reason: reason, Wait: wait, Err: err})
		}
		return RouteError{Route: r.name, Err: err, Skipped: true}
	}
	if err := provider.CheckRequest(r.gen, req); err != nil {
		return nil, skip("cannot serve", 0, err), false
	}
	done, retryIn, err := r.breaker.Allow(ctx, f.clock.Now())
	if errors.Is(err, ErrOpen) {
		d := provider.Describe(r.gen)
		return nil, skip("circuit open", retryIn, &provider.Error{
			Kind: provider.KindUnavailable, Provider: d.Provider, Model: d.Model, Code: CodeCircuitOpen,
			Message: fmt.Sprintf("route %s: circuit open", r.name), RetryAfter: retryIn}), false
	}
	if err != nil {
		d := provider.Describe(r.gen)
		return nil, skip("health unknown", 0, &provider.Error{
			Kind: provider.KindUnavailable, Provider: d.Provider, Model: d.Model, Code: CodeHealthUnknown,
			Message: fmt.Sprintf("route %s: health unknown", r.name), Err: err}), false
	}
	var start time.Time
	if listening {
		start = f.clock.Now()
	}
	tried := func(resp *provider.Response, calls int, err error) {
		if listening {
			e := provider.Event{Kind: provider.EventRouteTried, Route: r.name, Calls: calls, Duration: f.clock.Now().Sub(start), Err: err}
			if resp != nil {
				e.Provider, e.Model = resp.Provider, resp.Model
			} else {
				d := provider.Describe(r.gen)
				e.Provider, e.Model = d.Provider, d.Model
			}
			provider.Emit(ctx, e)
		}
	}
	reported := false
	defer func() {
		if !reported {
			// The route panicked: free the probe slot, or a half-open
			// breaker would refuse the route for ever.
			done(Ignored, f.clock.Now())
		}
	}()
	resp, err := r.gen.Generate(ctx, req)
	reported = true
	switch {
	case err == nil:
		done(Success, f.clock.Now())
		if resp == nil {
			resp = &provider.Response{}
		}
		if resp.Provider == "" || resp.Model == "" {
			d := provider.Describe(r.gen)
			if resp.Provider == "" {
				resp.Provider = d.Provider
			}
			if resp.Model == "" {
				resp.Model = d.Model
			}
		}
		tried(resp, max(resp.Attempts, 1), nil)
		return resp, RouteError{}, true
	case errors.Is(err, context.Canceled) || !f.failoverOn(err) || provider.IsLocal(err):
		done(Ignored, f.clock.Now())
	default:
		done(Failure, f.clock.Now())
	}
	attempts := provider.AttemptsOf(err)
	tried(nil, attempts, err)
	return nil, RouteError{Route: r.name, Err: err, Attempts: attempts}, false
}

// served adds what the failed routes cost and said to the response.
func (f *Failover) served(resp *provider.Response, errs []RouteError) *provider.Response {
	if resp.Attempts == 0 {
		resp.Attempts = 1
	}
	for _, e := range errs {
		if e.Skipped {
			continue
		}
		resp.Attempts += e.Attempts
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("failover: route %s failed: %v", e.Route, e.Err))
	}
	return resp
}

// RouteError is what happened on one route.
type RouteError struct {
	Route    string // the route's name
	Err      error  // its error, or why it was skipped
	Skipped  bool   // true when the route was not called (open breaker, cannot serve)
	Attempts int    // upstream calls made (0 when skipped)
}

// Error is the failure of every route tried. It keeps each route's error.
type Error struct {
	Routes []RouteError
}

// decisive returns the index of the error that classifies the failure.
func (e *Error) decisive() int {
	for i := len(e.Routes) - 1; i >= 0; i-- {
		if !e.Routes[i].Skipped {
			return i
		}
	}
	for i, r := range e.Routes {
		var pe *provider.Error
		if errors.As(r.Err, &pe) && pe.Code == CodeCircuitOpen {
			return i
		}
	}
	if len(e.Routes) > 0 {
		return 0
	}
	return -1
}

// Kind returns the kind of the decisive error (see the package doc);
// provider.KindOf(e) returns the same.
func (e *Error) Kind() provider.Kind {
	if i := e.decisive(); i >= 0 {
		return provider.KindOf(e.Routes[i].Err)
	}
	return provider.KindUnavailable
}

// Error lists every route's outcome, the decisive one first.
func (e *Error) Error() string {
	if len(e.Routes) == 0 {
		return "failover: no route could be tried"
	}
	var b strings.Builder
	b.WriteString("failover: no route served")
	for _, i := range e.orderIdx() {
		r := e.Routes[i]
		b.WriteString("; ")
		b.WriteString(r.Route)
		if r.Skipped {
			b.WriteString(" skipped")
		}
		b.WriteString(": ")
		b.WriteString(r.Err.Error())
	}
	return b.String()
}

func (e *Error) orderIdx() []int {
	d := e.decisive()
	idx := make([]int, 0, len(e.Routes))
	if d >= 0 {
		idx = append(idx, d)
	}
	for i := range e.Routes {
		if i != d {
			idx = append(idx, i)
		}
	}
	return idx
}

// Unwrap returns every route's error, the decisive one first, so that
// errors.Is matches any of them and errors.As, provider.KindOf and
// provider.RetryAfter find the decisive one first.
func (e *Error) Unwrap() []error {
	if len(e.Routes) == 0 {
		return []error{provider.ErrUnavailable}
	}
	out := make([]error, 0, len(e.Routes))
	for _, i := range e.orderIdx() {
		out = append(out, e.Routes[i].Err)
	}
	return out
}
