package cache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider/providertest"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/provider"
)

const helperEnv = "IMAGEGEN_CACHE_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

// upstream is a generator that counts calls and may block on a gate.
type upstream struct {
	model string
	calls atomic.Int64
	gate  chan struct{} // nil: answer at once
	err   error
	ctxs  chan context.Context
}

func (u *upstream) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	u.calls.Add(1)
	if u.ctxs != nil {
		u.ctxs <- ctx
	}
	if u.gate != nil {
		select {
		case <-u.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if u.err != nil {
		return nil, u.err
	}
	return &provider.Response{
		Images:   []provider.Image{{Data: []byte("png:" + req.Prompt), MIMEType: "image/png"}},
		Provider: "fake", Model: u.model, Cost: 33_600, Attempts: 1,
		Usage: provider.Usage{OutputTokens: 1120, OutputImageTokens: 1120}, Warnings: []string{"w"},
	}, nil
}

func (u *upstream) Describe() provider.Description {
	return provider.Description{Provider: "fake", Model: u.model}
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func TestHitMissAndTTL(t *testing.T) {
	t.Parallel()
	clk := providertest.NewClock(t0)
	up := &upstream{model: "gemini-nano-banana-2.1"}
	var events []provider.EventKind
	g := provider.Chain(up, testutil.Must(New(Config{TTL: time.Hour, Clock: clk})))
	if d := provider.Describe(g); d.Model != up.model {
		t.Fatalf("cache hides the description: %+v", d)
	}
	ctx := provider.WithEventHandler(context.Background(), func(_ context.Context, e provider.Event) { events = append(events, e.Kind) })
	req := &provider.Request{Prompt: "a cat", Labels: map[string]string{"run": "1"}}
	first, err := g.Generate(ctx, req)
	if err != nil || first.Cached || first.Cost != 33_600 {
		t.Fatalf("first: %+v %v", first, err)
	}
	// Labels do not change the key.
	second, err := g.Generate(ctx, &provider.Request{Prompt: "a cat", Labels: map[string]string{"run": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Cached || second.Cost != 0 || second.Attempts != 0 || !second.Usage.IsZero() || up.calls.Load() != 1 {
		t.Errorf("hit: %+v after %d calls", second, up.calls.Load())
	}
	if !bytes.Equal(second.Images[0].Data, first.Images[0].Data) || second.Model != up.model {
		t.Errorf("hit content: %+v", second)
	}
	// The warnings told of the call that filled the entry, not of the hit.
	if len(first.Warnings) != 1 || len(second.Warnings) != 0 {
		t.Errorf("warnings: call %q, hit %q", first.Warnings, second.Warnings)
	}
	// The prompt is taken exactly: a trailing space is another request.
	g.Generate(ctx, &provider.Request{Prompt: "a cat "})
	if up.calls.Load() != 2 {
		t.Errorf("prompt normalised")
	}
	clk.Advance(time.Hour)
	third, _ := g.Generate(ctx, req)
	if third.Cached || up.calls.Load() != 3 {
		t.Errorf("expired entry served")
	}
	want := "cache.miss cache.stored cache.hit cache.miss cache.stored cache.miss cache.stored"
	var got []string
	for _, e := range events {
		got = append(got, e.String())
	}
	if strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestOptOut(t *testing.T) {
	t.Parallel()
	up := &upstream{model: "m"}
	store := testutil.Must(NewMemory(0, nil))
	g := provider.Chain(up, testutil.Must(New(Config{Store: store})))
	ctx := context.Background()
	skip := &provider.Request{Prompt: "x", Options: provider.Options{Skip}}
	g.Generate(ctx, skip)
	g.Generate(ctx, skip)
	if n, _ := store.Len(); up.calls.Load() != 2 || n != 0 {
		t.Errorf("skip: %d calls, %d entries", up.calls.Load(), n)
	}
	g.Generate(ctx, &provider.Request{Prompt: "x"})
	r, _ := g.Generate(ctx, &provider.Request{Prompt: "x"})
	if !r.Cached || up.calls.Load() != 3 {
		t.Fatalf("hit after skip: %v %d", r.Cached, up.calls.Load())
	}
	r, _ = g.Generate(ctx, &provider.Request{Prompt: "x", Options: provider.Options{Refresh}})
	if r.Cached || up.calls.Load() != 4 {
		t.Errorf("refresh served from cache")
	}
	// The opt-out key is not part of the key: a refresh replaced the entry.
	r, _ = g.Generate(ctx, &provider.Request{Prompt: "x"})
	if !r.Cached || up.calls.Load() != 4 {
		t.Errorf("refreshed entry not used")
	}
}

func TestErrorsAndLinksNotCached(t *testing.T) {
	t.Parallel()
	up := &upstream{model: "m", err: provider.Errorf(provider.KindUnavailable, "overloaded")}
	store := testutil.Must(NewMemory(0, nil))
	g := provider.Chain(up, testutil.Must(New(Config{Store: store})))
	for range 2 {
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "x"}); !errors.Is(err, provider.ErrUnavailable) {
			t.Fatal(err)
		}
	}
	if n, _ := store.Len(); up.calls.Load() != 2 || n != 0 {
		t.Errorf("error cached: %d calls, %d entries", up.calls.Load(), n)
	}
	links := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Images: []provider.Image{{URL: "https://example.com/a.png"}}}, nil
	})
	provider.Chain(links, testutil.Must(New(Config{Store: store}))).Generate(context.Background(), &provider.Request{Prompt: "x"})
	if n, _ := store.Len(); n != 0 {
		t.Errorf("link-only response cached")
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	seed0, seed1 := int64(0), int64(1)
	base := provider.Request{Prompt: "a red fox", Size: "1K", AspectRatio: "16:9", Options: provider.Options{optA{1}, optB{"x"}}}
	k := func(r provider.Request, model string) string {
		s, err := Key(&r, model)
		if err != nil {
			t.Fatal(err)
		}
		if !validKey(s) || strings.Contains(s, "fox") {
			t.Fatalf("key %q", s)
		}
		return s
	}
	b := k(base, "m")
	same := []provider.Request{
		func() provider.Request { r := base; r.Labels = map[string]string{"team": "x"}; return r }(),
		func() provider.Request {
			r := base
			r.Options = provider.Options{&optB{"x"}, Refresh, optA{1}}
			return r
		}(),
		func() provider.Request { r := base; r.N = 1; return r }(),
	}
	for i, r := range same {
		if k(r, "m") != b {
			t.Errorf("same[%d] keyed differently", i)
		}
	}
	differ := []provider.Request{
		func() provider.Request { r := base; r.Prompt = "A red fox"; return r }(),
		func() provider.Request { r := base; r.NegativePrompt = "snow"; return r }(),
		func() provider.Request { r := base; r.N = 2; return r }(),
		func() provider.Request { r := base; r.Size = "2K"; return r }(),
		func() provider.Request { r := base; r.AspectRatio = "1:1"; return r }(),
		func() provider.Request { r := base; r.Quality = "high"; return r }(),
		func() provider.Request { r := base; r.OutputFormat = "png"; return r }(),
		func() provider.Request { r := base; r.Seed = &seed0; return r }(),
		func() provider.Request { r := base; r.Seed = &seed1; return r }(),
		func() provider.Request { r := base; r.Options = provider.Options{optA{2}, optB{"x"}}; return r }(),
		func() provider.Request {
			r := base
			r.References = []provider.Image{{Data: []byte{1}}}
			return r
		}(),
		func() provider.Request {
			r := base
			r.References = []provider.Image{{Data: []byte{2}}}
			return r
		}(),
		func() provider.Request { r := base; r.Mask = &provider.Image{Data: []byte{1}}; return r }(),
	}
	seen := map[string]int{b: -1}
	for i, r := range differ {
		s := k(r, "m")
		if j, dup := seen[s]; dup {
			t.Errorf("differ[%d] keyed like %d", i, j)
		}
		seen[s] = i
	}
	if k(base, "other") == b {
		t.Error("model not in key")
	}
	if _, err := Key(&provider.Request{Options: provider.Options{optFunc{func() {}}}}, "m"); err == nil {
		t.Error("unencodable options keyed")
	}
	// Unencodable options bypass the cache instead of failing.
	up := &upstream{model: "m"}
	g := provider.Chain(up, testutil.Must(New(Config{})))
	for range 2 {
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "x", Options: provider.Options{optFunc{func() {}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if up.calls.Load() != 2 {
		t.Errorf("bypass: %d calls", up.calls.Load())
	}
	// Namespaces separate entries.
	k1, _ := key("a", &base, "m")
	k2, _ := key("b", &base, "m")
	if k1 == k2 {
		t.Error("namespace not in key")
	}
}

// waiters returns how many callers wait on the flight of key.
func (c *cacher) waiters(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flights[key]; f != nil {
		return f.waiters
	}
	return 0
}

func waitFor(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

// TestDedup sends 100 concurrent identical requests: one upstream call.
func TestDedup(t *testing.T) {
	t.Parallel()
	const n = 100
	up := &upstream{model: "m", gate: make(chan struct{})}
	c := newCacher(Config{}.withDefaults(), up)
	g := provider.Wrap(up, c.generate)
	req := &provider.Request{Prompt: "a lighthouse"}
	k, _ := Key(req, "m")

	var wg sync.WaitGroup
	resps := make([]*provider.Response, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = g.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse", Labels: map[string]string{"i": "x"}})
		}()
	}
	waitFor(func() bool { return c.waiters(k) == n })
	close(up.gate)
	wg.Wait()
	if got := up.calls.Load(); got != 1 {
		t.Fatalf("%d upstream calls for %d identical requests", got, n)
	}
	leaders, cost := 0, provider.USD(0)
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !resps[i].Cached {
			leaders++
		} else if len(resps[i].Warnings) != 0 {
			t.Errorf("a shared copy replays the call's warnings: %q", resps[i].Warnings)
		}
		cost += resps[i].Cost
		if string(resps[i].Images[0].Data) != "png:a lighthouse" {
			t.Fatalf("response %d: %q", i, resps[i].Images[0].Data)
		}
	}
	if leaders != 1 || cost != 33_600 {
		t.Errorf("%d uncached responses, total cost %v: want 1 and the cost once", leaders, cost)
	}
	// Followers' copies are independent.
	resps[0].Images[0].MIMEType = "changed"
	if resps[1].Images[0].MIMEType == "changed" {
		t.Error("responses share an Images slice")
	}
}

// TestDedupCancellation: a waiter that gives up does not cancel the call
// for the others; when all give up, the upstream call is cancelled.
func TestDedupCancellation(t *testing.T) {
	t.Parallel()
	up := &upstream{model: "m", gate: make(chan struct{}), ctxs: make(chan context.Context, 4)}
	c := newCacher(Config{}.withDefaults(), up)
	g := provider.Wrap(up, c.generate)
	req := &provider.Request{Prompt: "p"}
	k, _ := Key(req, "m")

	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { _, err := g.Generate(ctxA, req); errA <- err }()
	upCtx := <-up.ctxs
	resB := make(chan *provider.Response, 1)
	go func() { r, _ := g.Generate(context.Background(), req); resB <- r }()
	waitFor(func() bool { return c.waiters(k) == 2 })
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("A: %v", err)
	}
	if upCtx.Err() != nil {
		t.Fatal("upstream cancelled while B waits")
	}
	close(up.gate)
	if r := <-resB; r == nil || r.Images == nil {
		t.Fatal("B got nothing")
	}

	// Everyone gives up: the upstream call is cancelled.
	up2 := &upstream{model: "m", gate: make(chan struct{}), ctxs: make(chan context.Context, 1)}
	g2 := provider.Chain(up2, testutil.Must(New(Config{})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := g2.Generate(ctx, req); done <- err }()
	upCtx = <-up2.ctxs
	cancel()
	<-done
	<-upCtx.Done()
}

func TestMemoryStoreBound(t *testing.T) {
	t.Parallel()
	clk := providertest.NewClock(t0)
	entry := func(n int) *Entry {
		return &Entry{Images: []provider.Image{{Data: make([]byte, n)}}, Created: clk.Now()}
	}
	per := entry(1000).Size()
	m := testutil.Must(NewMemory(3*per, clk))
	ctx := context.Background()
	keys := []string{strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64), strings.Repeat("d", 64)}
	for _, k := range keys[:3] {
		m.Set(ctx, k, entry(1000))
	}
	m.Get(ctx, keys[0]) // a is now the most recent
	m.Set(ctx, keys[3], entry(1000))
	if _, ok, _ := m.Get(ctx, keys[1]); ok {
		t.Error("least recently used entry kept")
	}
	for _, k := range []string{keys[0], keys[2], keys[3]} {
		if _, ok, _ := m.Get(ctx, k); !ok {
			t.Errorf("%s evicted", k[:1])
		}
	}
	if n, b := m.Len(); n != 3 || b != 3*per {
		t.Errorf("len %d bytes %d", n, b)
	}
	// Too big to hold: not stored, nothing evicted.
	m.Set(ctx, keys[1], entry(10_000))
	if n, _ := m.Len(); n != 3 {
		t.Errorf("oversized entry evicted others")
	}
	// Replacing keeps the accounting right.
	m.Set(ctx, keys[0], entry(10))
	if _, b := m.Len(); b != 2*per+entry(10).Size() {
		t.Errorf("bytes after replace %d", b)
	}
	// Expiry.
	e := entry(1)
	e.Expires = clk.Now().Add(time.Minute)
	m.Set(ctx, keys[1], e)
	clk.Advance(time.Minute)
	if _, ok, _ := m.Get(ctx, keys[1]); ok {
		t.Error("expired entry served")
	}
	if err := m.Set(ctx, "../x", e); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad key: %v", err)
	}
}

// TestNilRequest: a nil request is a typed request error, never sent down.
func TestNilRequest(t *testing.T) {
	t.Parallel()
	up := &upstream{}
	g := testutil.Must(New(Config{}))(up)
	if _, err := g.Generate(context.Background(), nil); !errors.Is(err, provider.ErrInvalidRequest) || up.calls.Load() != 0 {
		t.Errorf("err %v, upstream calls %d", err, up.calls.Load())
	}
}

// gated is an upstream whose calls each wait for a value on release, then
// answer with it; entered receives each call's context.
type gated struct {
	calls   atomic.Int32
	entered chan context.Context
	release chan error
}

func newGated() *gated {
	return &gated{entered: make(chan context.Context, 8), release: make(chan error, 8)}
}

func (g *gated) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	g.calls.Add(1)
	g.entered <- ctx
	select {
	case err := <-g.release:
		if err != nil {
			return nil, err
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte("png"), MIMEType: "image/png"}}, Provider: "fake", Model: "m", Attempts: 1}, nil
	case <-ctx.Done():
		return nil, &provider.Error{Kind: provider.KindTimeout, Message: "upstream: context done", Err: ctx.Err()}
	}
}

func (g *gated) Describe() provider.Description {
	return provider.Description{Provider: "fake", Model: "m"}
}

// TestFlightCarriesTheLeadersDeadline: the shared upstream call runs
// under the deadline of the caller that started it, so retry and the
// limiter below can refuse a wait that would outlast it.
func TestFlightCarriesTheLeadersDeadline(t *testing.T) {
	t.Parallel()
	up := newGated()
	g := testutil.Must(New(Config{}))(up)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := g.Generate(ctx, &provider.Request{Prompt: "p"}); done <- err }()
	upCtx := <-up.entered
	want, _ := ctx.Deadline()
	if got, ok := upCtx.Deadline(); !ok || !got.Equal(want) {
		t.Errorf("upstream deadline %v %v, want the caller's %v", got, ok, want)
	}
	up.release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestWaiterWithMoreTimeGoesItself: a caller that joined a flight started
// by a caller with a shorter deadline, which failed because the provider
// asked for a longer wait than that deadline allowed, does not get that
// failure: it makes its own call, under its own deadline.
func TestWaiterWithMoreTimeGoesItself(t *testing.T) {
	t.Parallel()
	up := newGated()
	c := newCacher(Config{}.withDefaults(), up)
	g := provider.Wrap(up, c.generate)
	req := &provider.Request{Prompt: "p"}
	k, _ := Key(req, "m")

	short, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leaderErr := make(chan error, 1)
	go func() { _, err := g.Generate(short, req); leaderErr <- err }()
	<-up.entered
	waiter := make(chan *provider.Response, 1)
	go func() {
		resp, err := g.Generate(context.Background(), req) // no deadline
		if err != nil {
			t.Error(err)
		}
		waiter <- resp
	}()
	waitFor(func() bool { return c.waiters(k) == 2 })
	// The provider asks for two minutes: more than the leader has.
	up.release <- &provider.Error{Kind: provider.KindRateLimited, StatusCode: 429, RetryAfter: 2 * time.Minute}
	if err := <-leaderErr; !errors.Is(err, provider.ErrRateLimited) {
		t.Errorf("leader: %v", err)
	}
	upCtx := <-up.entered // the waiter's own call
	if _, ok := upCtx.Deadline(); ok {
		t.Error("the waiter's call has the leader's deadline")
	}
	up.release <- nil
	if resp := <-waiter; resp == nil || resp.Cached {
		t.Errorf("waiter: %+v, want its own response", resp)
	}
	if n := up.calls.Load(); n != 2 {
		t.Errorf("%d upstream calls, want 2", n)
	}

	// A failure the waiter's extra time cannot change is shared as is.
	req = &provider.Request{Prompt: "q"} // "p" is cached now
	k, _ = Key(req, "m")
	go func() { _, err := g.Generate(short, req); leaderErr <- err }()
	<-up.entered
	waiterErr := make(chan error, 1)
	go func() { _, err := g.Generate(context.Background(), req); waiterErr <- err }()
	waitFor(func() bool { return c.waiters(k) == 2 })
	up.release <- &provider.Error{Kind: provider.KindContentBlocked}
	if err := <-leaderErr; !errors.Is(err, provider.ErrContentBlocked) {
		t.Errorf("leader: %v", err)
	}
	if err := <-waiterErr; !errors.Is(err, provider.ErrContentBlocked) {
		t.Errorf("waiter: %v", err)
	}
	if n := up.calls.Load(); n != 3 {
		t.Errorf("%d upstream calls, want 3", n)
	}
}

// TestLastWaiterWaitsForTheUnwind: a caller that gives up while it is the
// only one waiting cancels the upstream call and returns only once that
// call has returned, so that nothing it started (a budget reservation
// below, say) outlives it. A waiter that gives up while others still wait
// returns at once and leaves the call running for them.
func TestLastWaiterWaitsForTheUnwind(t *testing.T) {
	t.Parallel()
	var unwound atomic.Bool
	entered := make(chan struct{}, 2)
	up := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		entered <- struct{}{}
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // settling a reservation, say
		unwound.Store(true)
		return nil, ctx.Err()
	})
	c := newCacher(Config{}.withDefaults(), up)
	g := provider.Wrap(up, c.generate)
	req := &provider.Request{Prompt: "p"}
	k, _ := Key(req, "")

	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() { _, err := g.Generate(ctxA, req); errA <- err }()
	<-entered
	go func() { _, err := g.Generate(ctxB, req); errB <- err }()
	waitFor(func() bool { return c.waiters(k) == 2 })
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) || unwound.Load() {
		t.Fatalf("first to give up: %v, upstream unwound %v (want it still running)", err, unwound.Load())
	}
	cancelB()
	if err := <-errB; !errors.Is(err, context.Canceled) {
		t.Errorf("last: %v", err)
	}
	if !unwound.Load() {
		t.Error("the last waiter returned before the upstream call did")
	}
}

// Options of three made-up adapters, for the key tests.
type (
	optA    struct{ A int }
	optB    struct{ B string }
	optFunc struct{ F func() }
)

func (optA) OptionOwner() string    { return "a" }
func (optB) OptionOwner() string    { return "b" }
func (optFunc) OptionOwner() string { return "f" }

// TestPanickingUpstreamLeavesNoFlight: an upstream call that panics under
// a caller whose context cannot end (the cache runs it in that caller's
// goroutine) reaches that caller, and the cache is left working: a caller
// that joined the call gets an error, and the next call goes upstream.
func TestPanickingUpstreamLeavesNoFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	up := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
			panic("upstream bug")
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte("png"), MIMEType: "image/png"}}, Model: "m"}, nil
	})
	c := newCacher(Config{}.withDefaults(), up)
	g := provider.Wrap(up, c.generate)
	req := &provider.Request{Prompt: "p", Model: "m"}
	k, _ := Key(req, "m")

	leader := make(chan any, 1)
	go func() {
		defer func() { leader <- recover() }()
		g.Generate(context.Background(), req)
	}()
	<-entered
	follower := make(chan error, 1)
	go func() { _, err := g.Generate(context.Background(), req); follower <- err }()
	waitFor(func() bool { return c.waiters(k) == 2 })
	close(release)
	if p := <-leader; p != "upstream bug" {
		t.Errorf("leader recovered %v, want the upstream's panic", p)
	}
	if err := <-follower; err == nil {
		t.Error("the follower of a panicked call got no error")
	}
	resp, err := g.Generate(context.Background(), req)
	if err != nil || resp.Cached || calls.Load() != 2 {
		t.Errorf("after the panic: %v %+v, %d upstream calls", err, resp, calls.Load())
	}
}
