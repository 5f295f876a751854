package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/provider"
)

// Config configures the cache decorator. Zero values take the defaults.
type Config struct {
	// Store holds entries; nil means NewMemory(0, Now) (256 MiB).
	Store Store
	// TTL is how long an entry lives; 0 means 24 hours, a negative TTL
	// means entries never expire.
	TTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Namespace is mixed into every key, so that generators that share a
	// store but must not share entries (different providers serving the
	// same model ID, say) stay apart.
	Namespace string
	// OnEvent, when set, is told of every hit, miss, shared result, write
	// and store error, synchronously.
	OnEvent func(Event)
	// LockTTL is how long a process that died while filling an entry
	// keeps the other processes waiting, with a Store that implements
	// Locker; 0 means 2 minutes. A live holder keeps its lock.
	LockTTL time.Duration
}

// EventKind says what happened to a request in the cache.
type EventKind string

// The event kinds.
const (
	EventHit    EventKind = "hit"    // served from the store
	EventMiss   EventKind = "miss"   // called upstream
	EventShared EventKind = "shared" // got the result of an identical in-flight call (in this process or, through a Locker, another)
	EventBypass EventKind = "bypass" // OptionCache "skip", or options that cannot be keyed
	EventStore  EventKind = "store"  // a response was written
	EventError  EventKind = "error"  // the store failed; the request went on without it
)

// Event is one cache decision. Key is the content address (no prompt).
type Event struct {
	Kind EventKind
	Key  string
	Err  error
}

// New returns the caching decorator. Place it outermost (see provider's
// package doc) so that hits cost nothing and touch no quota or budget.
//
// A request's key is Key(req, model) within Config.Namespace, model being
// Request.Model or else the model the wrapped generator describes. A hit
// returns the stored response with Cached true, Cost 0, Attempts 0 and a
// zero Usage. On a miss, identical requests in flight at the same time
// share one upstream call (golang.org/x/sync/singleflight): the caller
// whose call went upstream gets its response as is, the others a copy
// marked Cached with Cost 0, Attempts 0 and zero Usage, so that costs are
// not counted twice. Copies share image bytes, which nobody may modify.
// The shared upstream call runs with the values of the first caller's
// context but is cancelled only when every caller waiting for it has given
// up; each caller returns when its own context ends. When the Store is a
// Locker shared by several processes, the upstream call also takes the
// key's fill lock first; a process that finds it taken waits for the
// other's entry and returns it marked Cached (EventShared), or fills the
// entry itself if the other stored nothing.
//
// Only successful responses whose images all carry bytes are stored
// (errors never; links expire). Request.Options[OptionCache] = Skip
// bypasses the cache, Refresh skips the read and writes the new response.
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Store == nil {
		cfg.Store = newMemory(defaultMemoryBytes, cfg.Now)
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
	sf   singleflight.Group

	mu      sync.Mutex
	flights map[string]*flight
}

// flight is the context of one shared upstream call and how many callers
// still wait for it.
type flight struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiters int
}

type result struct {
	resp *provider.Response
	err  error
}

func (c *cacher) event(kind EventKind, key string, err error) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(Event{Kind: kind, Key: key, Err: err})
	}
}

func (c *cacher) generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	if req == nil {
		return nil, provider.Errorf(provider.KindInvalidRequest, "cache: Request: nil request")
	}
	mode, _ := req.Options[OptionCache].(string)
	if mode == Skip {
		c.event(EventBypass, "", nil)
		return c.next.Generate(ctx, req)
	}
	model := req.Model
	if model == "" {
		model = provider.Describe(c.next).Model
	}
	k, err := key(c.cfg.Namespace, req, model)
	if err != nil {
		c.event(EventBypass, "", err)
		return c.next.Generate(ctx, req)
	}
	if mode != Refresh {
		e, ok, err := c.cfg.Store.Get(ctx, k)
		switch {
		case err != nil:
			c.event(EventError, k, err)
		case ok && !e.Expired(c.cfg.Now()):
			c.event(EventHit, k, nil)
			return e.response(), nil
		}
	}
	// Refreshes and plain misses de-duplicate separately: a refresh must
	// not be answered by a call that started before it.
	sfKey := k
	if mode == Refresh {
		sfKey = "refresh/" + k
	}
	for {
		resp, err, leader := c.share(ctx, sfKey, k, req)
		if !leader && errors.Is(err, context.Canceled) && ctx.Err() == nil {
			// Joined a call that every earlier waiter abandoned: try again.
			continue
		}
		if err != nil || leader {
			return resp, err
		}
		c.event(EventShared, k, nil)
		out := *resp
		out.Images = slices.Clone(resp.Images)
		out.Warnings = slices.Clone(resp.Warnings)
		out.Cached, out.Cost, out.Attempts, out.Usage = true, 0, 0, provider.Usage{}
		return &out, nil
	}
}

// share runs req upstream once for all callers of sfKey waiting at the
// same time. leader reports whether this caller's function ran.
func (c *cacher) share(ctx context.Context, sfKey, k string, req *provider.Request) (*provider.Response, error, bool) {
	c.mu.Lock()
	f := c.flights[sfKey]
	if f == nil {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{ctx: fctx, cancel: cancel}
		c.flights[sfKey] = f
	}
	f.waiters++
	c.mu.Unlock()
	defer c.leave(sfKey, f)

	ran := false
	ch := c.sf.DoChan(sfKey, func() (any, error) {
		ran = true
		if sfKey == k {
			// A flight that just ended may have stored the answer after
			// this caller looked: check again before going upstream.
			if e, ok, err := c.cfg.Store.Get(f.ctx, k); err == nil && ok && !e.Expired(c.cfg.Now()) {
				c.event(EventHit, k, nil)
				return result{e.response(), nil}, nil
			}
		}
		resp, err := c.fill(f.ctx, k, req, sfKey != k)
		return result{resp, err}, nil
	})
	select {
	case r := <-ch:
		res := r.Val.(result)
		if res.err == nil && res.resp == nil {
			return nil, fmt.Errorf("cache: upstream returned neither a response nor an error"), ran
		}
		return res.resp, res.err, ran
	case <-ctx.Done():
		return nil, ctx.Err(), false
	}
}

// fill calls upstream and stores the response. With a Locker store it
// first takes the key's fill lock; while another process holds it, fill
// waits and returns that process's entry (marked Cached) once it is
// there, or takes the lock itself when the holder stored nothing. A
// refresh only accepts an entry created after it began.
func (c *cacher) fill(ctx context.Context, k string, req *provider.Request, refresh bool) (*provider.Response, error) {
	if lk, ok := c.cfg.Store.(Locker); ok {
		began := c.cfg.Now()
		for {
			unlock, got, err := lk.Lock(ctx, k, c.cfg.LockTTL)
			if err != nil {
				c.event(EventError, k, err) // go on without cross-process de-duplication
				break
			}
			if got {
				defer unlock()
				break
			}
			if err := lk.WaitUnlocked(ctx, k); err != nil {
				return nil, err
			}
			e, hit, err := c.cfg.Store.Get(ctx, k)
			if err != nil {
				c.event(EventError, k, err)
				break
			}
			if hit && !e.Expired(c.cfg.Now()) && (!refresh || !e.Created.Before(began)) {
				c.event(EventShared, k, nil)
				return e.response(), nil
			}
		}
	}
	c.event(EventMiss, k, nil)
	resp, err := c.next.Generate(ctx, req)
	if err == nil && resp != nil && storable(resp) {
		e := entryOf(resp, c.cfg.Now(), c.cfg.TTL)
		if serr := c.cfg.Store.Set(context.WithoutCancel(ctx), k, e); serr != nil {
			c.event(EventError, k, serr)
		} else {
			c.event(EventStore, k, nil)
		}
	}
	return resp, err
}

// leave drops a waiter; the last one to go cancels the shared call (a no-op
// when it has finished) and forgets the flight.
func (c *cacher) leave(sfKey string, f *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		if c.flights[sfKey] == f {
			delete(c.flights, sfKey)
		}
	}
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
