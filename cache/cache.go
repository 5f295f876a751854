package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/provider"
)

// Config configures the cache decorator. Zero values take the defaults.
type Config struct {
	// Store holds entries; nil means NewMemory(0, Clock) (256 MiB).
	Store Store
	// TTL is how long an entry lives; 0 means 24 hours, a negative TTL
	// means entries never expire.
	TTL time.Duration
	// Clock tells the time for expiry; nil means provider.SystemClock().
	Clock provider.Clock
	// Namespace is mixed into every key, so that generators that share a
	// store but must not share entries (different providers serving the
	// same model ID, say) stay apart.
	Namespace string
	// LockTTL is how long a process that died while filling an entry
	// keeps the other processes waiting, with a Store that implements
	// Locker; 0 means 2 minutes. A live holder keeps its lock.
	LockTTL time.Duration
}

// New returns the caching decorator. Place it outermost (see provider's
// package doc) so that hits cost nothing and touch no quota or budget.
//
// A request's key is Key(req, model) within Config.Namespace, model being
// Request.Model or else the model the wrapped generator describes. A hit
// returns the stored response with Cached true, Cost 0, Attempts 0, a zero
// Usage and no Warnings (those told of the call that filled the entry).
//
// On a miss, identical requests in flight at the same time share one
// upstream call (a flight): the caller whose call went upstream gets its
// response as is, the others a copy marked the same way as a hit, so that
// costs are not counted twice. Copies share image bytes, which nobody may
// modify. Deadlines reach the layers below:
//
//   - the flight runs with the values and the deadline of the caller that
//     started it, so retry and the rate limiter below refuse at once a wait
//     that would outlast that deadline (a caller with 2 s left facing
//     "retry after 30 s" gets that error, not a timeout);
//   - a caller that joined someone else's flight and has more time than it
//     had, when the flight failed for want of time (its deadline passed, or
//     the provider asked for a wait longer than it had left), does not get
//     that failure: it starts a flight of its own with its own deadline;
//   - a caller whose context ends returns at once when others still wait
//     for the flight; the last one to give up cancels it and returns once
//     it has unwound (the layers below honour cancellation), so that
//     nothing it started, such as a budget reservation, outlives the call.
//
// When the Store is a Locker shared by several processes, the upstream
// call also takes the key's fill lock first; a process that finds it taken
// waits for the other's entry and returns it marked Cached (provider.EventCacheShared),
// or fills the entry itself if the other stored nothing.
//
// Only successful responses whose images all carry bytes are stored
// (errors never; links expire). A request carrying the Mode Skip in its
// Options bypasses the cache; Refresh skips the read and writes the new
// response.
// A nil request is a provider.ErrInvalidRequest.
//
// It returns a *provider.ConfigError when cfg makes no sense (a negative
// LockTTL).
func New(cfg Config) (provider.Middleware, error) {
	var e cfgcheck.Errors
	cfgcheck.NonNegative(&e, "cache.Config.LockTTL", cfg.LockTTL, "0 (default 2m) or more")
	if err := e.Err(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return func(next provider.Generator) provider.Generator {
		return provider.Wrap(next, newCacher(cfg, next).generate)
	}, nil
}

func (cfg Config) withDefaults() Config {
	cfg.Clock = provider.ClockOr(cfg.Clock)
	if cfg.Store == nil {
		cfg.Store = newMemory(defaultMemoryBytes, cfg.Clock)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 2 * time.Minute
	}
	return cfg
}

func newCacher(cfg Config, next provider.Generator) *cacher {
	return &cacher{cfg: cfg, next: next, flights: map[string]*flight{}}
}

type cacher struct {
	cfg  Config
	next provider.Generator

	mu      sync.Mutex
	flights map[string]*flight // the flight new callers of a key join
	landed  atomic.Uint64      // flights ended, so that a flight knows whether to look in the store again
}

// flight is one shared upstream call. It runs under ctx: the values of
// the caller that started it (its leader) and the leader's deadline, so
// that retry, the limiter and the adapter below see that deadline; it is
// cancelled only when every caller waiting for it has given up.
//
// It runs in a goroutine of its own, so that a leader that gives up can
// return while others still wait. When nothing can end the leader's
// context (no deadline, no cancellation), the leader never gives up, and
// it runs the flight itself (inline): no goroutine, no contexts, and no
// done channel unless someone joins (a third of what a miss cost).
type flight struct {
	ctx      context.Context
	base     context.Context // ctx without its cancellation, for the store's write
	cancel   context.CancelFunc
	inline   bool
	deadline time.Time // the leader's; zero when it had none
	seen     uint64    // cacher.landed when the leader looked in the store

	// Guarded by cacher.mu; done is made by start, or for an inline
	// flight by the first caller that joins it, and closed at the end.
	done    chan struct{}
	waiters int // callers waiting for it

	// Set, under cacher.mu, before done is closed.
	resp   *provider.Response
	err    error
	ctxErr error     // the flight's context's error when it ended
	ended  time.Time // when it ended; zero for an inline flight, which has no deadline
}

// event reports a decision to the handlers of the request's context.
func (c *cacher) event(ctx context.Context, kind provider.EventKind, key string, err error) {
	provider.Emit(ctx, provider.Event{Kind: kind, Key: key, Err: err})
}

func (c *cacher) generate(ctx context.Context, req *provider.Request) (_ *provider.Response, err error) {
	if req == nil {
		return nil, provider.Errorf(provider.KindInvalidRequest, "cache: Request: nil request")
	}
	mode, _ := provider.OptionOf[Mode](req)
	if mode == Skip {
		c.event(ctx, provider.EventCacheBypass, "", nil)
		return c.next.Generate(ctx, req)
	}
	model := req.Model
	if model == "" {
		model = provider.Describe(c.next).Model
	}
	k, err := key(c.cfg.Namespace, req, model)
	if err != nil {
		c.event(ctx, provider.EventCacheBypass, "", err)
		return c.next.Generate(ctx, req)
	}
	seen := c.landed.Load()
	if mode != Refresh {
		e, ok, err := c.cfg.Store.Get(ctx, k)
		switch {
		case err != nil:
			c.event(ctx, provider.EventCacheError, k, err)
		case ok && !e.Expired(c.cfg.Clock.Now()):
			c.event(ctx, provider.EventCacheHit, k, nil)
			return e.response(), nil
		}
	}
	// A flight may outlive its leader (a leader whose context ends while
	// others wait returns at once): its previews stop reaching the
	// leader's On when the leader returns.
	req, g := gatePreviews(req)
	if g != nil {
		defer func() {
			g.close()
			if n := g.passed(); n > 0 && err != nil {
				// The caller has shown a draft: a failure now (its context
				// ended while it waited, say) says so, as retry's would.
				err = provider.Interrupted(err, n)
			}
		}()
	}
	// Refreshes and plain misses de-duplicate separately: a refresh must
	// not be answered by a call that started before it.
	sfKey := k
	if mode == Refresh {
		sfKey = "refresh/" + k
	}
	for own := false; ; own = true {
		f, leader := c.join(ctx, sfKey, k, req, own, seen)
		var resp *provider.Response
		var err error
		if leader && f.inline {
			c.fly(f, sfKey, k, req)
			c.leave(sfKey, f)
			resp, err = f.resp, f.err
		} else {
			resp, err = c.wait(ctx, sfKey, f)
		}
		switch {
		case err == nil && leader:
			return resp, nil
		case err == nil:
			c.event(ctx, provider.EventCacheShared, k, nil)
			return sharedCopy(resp), nil
		case !leader && c.rerun(ctx, f, err):
			// Someone else's flight failed for want of time that this
			// caller has: start (or join) a flight with its own deadline.
			continue
		}
		return nil, err
	}
}

// join returns the flight of sfKey that ctx's caller waits for, counted
// as one more waiter, starting one when there is none. With own, it does
// not join a flight whose deadline is earlier than ctx's: it starts one
// with ctx's deadline, which new callers join from then on.
func (c *cacher) join(ctx context.Context, sfKey, k string, req *provider.Request, own bool, seen uint64) (f *flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f = c.flights[sfKey]
	if f == nil || (own && shorter(f.deadline, ctx)) {
		f = c.start(ctx, sfKey, k, req, seen)
		c.flights[sfKey] = f
		leader = true
	} else if f.done == nil {
		f.done = make(chan struct{}) // an inline flight's first follower
	}
	f.waiters++
	return f, leader
}

// shorter reports whether a flight with deadline dl has less time than
// ctx.
func shorter(dl time.Time, ctx context.Context) bool {
	if dl.IsZero() {
		return false
	}
	mine, ok := ctx.Deadline()
	return !ok || mine.After(dl)
}

// start makes the flight of a caller: ctx's values and deadline, its own
// cancellation; it launches it in a goroutine unless the caller is to run
// it inline (see flight). c.mu must be held.
func (c *cacher) start(ctx context.Context, sfKey, k string, req *provider.Request, seen uint64) *flight {
	f := &flight{seen: seen}
	if ctx.Done() == nil {
		f.ctx, f.base, f.cancel, f.inline = ctx, ctx, func() {}, true
		return f
	}
	f.done = make(chan struct{})
	f.base = context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		f.deadline = dl
		f.ctx, f.cancel = context.WithDeadline(f.base, dl)
	} else {
		f.ctx, f.cancel = context.WithCancel(f.base)
	}
	go func() {
		growStack()
		c.fly(f, sfKey, k, req)
	}()
	return f
}

// fly runs flight f to its end.
func (c *cacher) fly(f *flight, sfKey, k string, req *provider.Request) {
	returned := false
	defer func() {
		if !returned {
			// The call below panicked. An inline flight's panic goes on
			// up to its leader's caller, who may recover: end the flight
			// first, so that those waiting for it get an error and the
			// key's later callers do not join it.
			c.land(f, sfKey, nil, provider.Errorf(provider.KindUnknown, "cache: the shared upstream call panicked"))
		}
	}()
	resp, err := c.run(f, k, req, sfKey != k)
	returned = true
	if err == nil && resp == nil {
		err = errors.New("cache: upstream returned neither a response nor an error")
	}
	c.land(f, sfKey, resp, err)
}

// land ends flight f with resp and err and wakes those waiting for it.
func (c *cacher) land(f *flight, sfKey string, resp *provider.Response, err error) {
	ctxErr := f.ctx.Err()
	var ended time.Time
	if !f.inline {
		ended = time.Now()
	}
	f.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	f.resp, f.err, f.ctxErr, f.ended = resp, err, ctxErr, ended
	c.landed.Add(1)
	if c.flights[sfKey] == f {
		delete(c.flights, sfKey) // later callers look in the store first
	}
	if f.done != nil {
		close(f.done)
	}
}

// growStack grows a new flight goroutine's stack at once to what a call
// through the usual stack below (meter, failover, retry, limiter, adapter)
// needs. Growing it there, while it is one frame deep, is a cheap copy;
// growing it twice deep in the call copied and adjusted every frame, 2.6
// µs of a 16 µs miss (BenchmarkFullStackMiss, failover package).
//
//go:noinline
func growStack() {
	var pad [12 << 10]byte
	keep(pad[:])
}

//go:noinline
func keep([]byte) {}

// run is the body of a flight.
func (c *cacher) run(f *flight, k string, req *provider.Request, refresh bool) (*provider.Response, error) {
	if !refresh && c.landed.Load() != f.seen {
		// A flight that ended since the leader looked in the store may
		// have stored the answer: look again before going upstream.
		if e, ok, err := c.cfg.Store.Get(f.ctx, k); err == nil && ok && !e.Expired(c.cfg.Clock.Now()) {
			c.event(f.ctx, provider.EventCacheHit, k, nil)
			return e.response(), nil
		}
	}
	return c.fill(f.ctx, f.base, k, req, refresh)
}

// wait waits for f's result or for ctx to end. A caller that gives up is
// no longer counted; when it was the last, it cancels the flight and waits
// for it to unwind (the layers below honour cancellation), so that nothing
// it started, such as a budget reservation, outlives its call. It then
// returns the flight's result, which the unwinding decided.
func (c *cacher) wait(ctx context.Context, sfKey string, f *flight) (*provider.Response, error) {
	select {
	case <-f.done:
		c.leave(sfKey, f)
		return f.resp, f.err
	case <-ctx.Done():
	}
	if !c.leave(sfKey, f) {
		return nil, fmt.Errorf("cache: gave up waiting for an identical request in flight: %w", ctx.Err())
	}
	f.cancel()
	<-f.done
	if f.err != nil && errors.Is(f.ctxErr, context.Canceled) {
		// It failed because this caller cancelled it: say why.
		return nil, fmt.Errorf("cache: gave up waiting for the upstream call: %w", ctx.Err())
	}
	return f.resp, f.err
}

// leave drops a waiter of f and reports whether it was the last; the last
// one forgets the flight, so that no new caller joins a cancelled one.
func (c *cacher) leave(sfKey string, f *flight) (last bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return false
	}
	if c.flights[sfKey] == f {
		delete(c.flights, sfKey)
	}
	return true
}

// rerun reports whether a caller that waited for someone else's flight f,
// which failed with err, should go upstream itself: its own context is
// live and the failure came from f's shorter deadline (f's context
// expired, or the provider asked for a wait that did not fit in what f had
// left but fits in what the caller has), or f was cancelled under it, or
// f was not retried because its leader had seen a preview
// (provider.ErrStreamInterrupted).
func (c *cacher) rerun(ctx context.Context, f *flight, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(f.ctxErr, context.Canceled) {
		return true // abandoned by its waiters while this caller joined
	}
	if errors.Is(err, provider.ErrStreamInterrupted) {
		// Not retried because the leader had shown a draft; this caller
		// has shown none, so its own call may retry and fail over.
		return true
	}
	if !shorter(f.deadline, ctx) {
		return false
	}
	if errors.Is(f.ctxErr, context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	hint, ok := provider.RetryAfter(err)
	if !ok || hint <= f.deadline.Sub(f.ended) {
		return false // f had time for the hint: something else stopped it
	}
	mine, has := ctx.Deadline()
	return !has || hint < time.Until(mine)
}

// sharedCopy is the response of a caller that got another caller's
// result: marked Cached with no cost, attempts, usage or warnings (those
// belong to the call that was made).
func sharedCopy(resp *provider.Response) *provider.Response {
	out := *resp
	out.Images = slices.Clone(resp.Images)
	out.Warnings = nil
	out.Cached, out.Cost, out.Attempts, out.Usage = true, 0, 0, provider.Usage{}
	return &out
}

// fill calls upstream and stores the response. With a Locker store it
// first takes the key's fill lock; while another process holds it, fill
// waits and returns that process's entry (marked Cached) once it is
// there, or takes the lock itself when the holder stored nothing. A
// refresh only accepts an entry created after it began.
func (c *cacher) fill(ctx, base context.Context, k string, req *provider.Request, refresh bool) (*provider.Response, error) {
	if lk, ok := c.cfg.Store.(Locker); ok {
		began := c.cfg.Clock.Now()
		for {
			unlock, got, err := lk.Lock(ctx, k, c.cfg.LockTTL)
			if err != nil {
				c.event(ctx, provider.EventCacheError, k, err) // go on without cross-process de-duplication
				break
			}
			if got {
				defer unlock()
				// Another process may have stored the entry between this
				// flight's look in the store and taking the lock.
				if e, hit, err := c.cfg.Store.Get(ctx, k); err == nil && hit && !e.Expired(c.cfg.Clock.Now()) && (!refresh || !e.Created.Before(began)) {
					c.event(ctx, provider.EventCacheShared, k, nil)
					return e.response(), nil
				}
				break
			}
			if err := lk.WaitUnlocked(ctx, k); err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				c.event(ctx, provider.EventCacheError, k, err) // the store failed: go on without it
				break
			}
			e, hit, err := c.cfg.Store.Get(ctx, k)
			if err != nil {
				c.event(ctx, provider.EventCacheError, k, err)
				break
			}
			if hit && !e.Expired(c.cfg.Clock.Now()) && (!refresh || !e.Created.Before(began)) {
				c.event(ctx, provider.EventCacheShared, k, nil)
				return e.response(), nil
			}
		}
	}
	c.event(ctx, provider.EventCacheMiss, k, nil)
	resp, err := c.next.Generate(ctx, req)
	if err == nil && resp != nil && storable(resp) {
		e := entryOf(resp, c.cfg.Clock.Now(), c.cfg.TTL)
		if serr := c.cfg.Store.Set(base, k, e); serr != nil {
			c.event(ctx, provider.EventCacheError, k, serr)
		} else {
			c.event(ctx, provider.EventCacheStored, k, nil)
		}
	}
	return resp, err
}

// storable reports whether resp may be cached: it has images and every one
// carries its bytes.
func storable(resp *provider.Response) bool {
	if len(resp.Images) == 0 {
		return false
	}
	for _, im := range resp.Images {
		if len(im.Data) == 0 {
			return false
		}
	}
	return true
}

// previewGate passes a caller's previews on until the caller returns, and
// drops them after: Previews.On is never called after Generate returns,
// but a flight the caller led may go on for those who joined it.
type previewGate struct {
	mu     sync.Mutex
	closed bool
	n      int // previews passed on
}

// gatePreviews returns req with its Previews' On behind a gate, and the
// gate; a request without previews is returned as is, with a nil gate.
func gatePreviews(req *provider.Request) (*provider.Request, *previewGate) {
	p, ok := provider.PreviewsOf(req)
	if !ok {
		return req, nil
	}
	g := &previewGate{}
	on := p.On
	p.On = func(pv provider.Preview) {
		// Holding the lock while On runs makes close wait for a call in
		// progress, so none ends after the caller has returned.
		g.mu.Lock()
		defer g.mu.Unlock()
		if !g.closed {
			g.n++
			on(pv)
		}
	}
	return provider.WithPreviews(req, p), g
}

// passed returns the previews passed on to the caller.
func (g *previewGate) passed() int {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// close drops every later preview; it waits for one being delivered.
func (g *previewGate) close() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
