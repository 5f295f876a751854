package failover_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/retry"
)

func TestMain(m *testing.M) {
	testutil.HideProviderEnv() // the parallel end-to-end tests build real adapters
	goleak.VerifyTestMain(m)
}

func newClock(t time.Time) *providertest.Clock { return providertest.NewClock(t) }

var noon = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// fake is a route generator: it fails with err (when set) and counts calls.
type fake struct {
	name  string
	caps  provider.Capabilities
	calls atomic.Int32
	mu    sync.Mutex
	err   error
	model string // "" leaves Response.Model empty
}

func (f *fake) setErr(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

func (f *fake) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	f.calls.Add(1)
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &provider.Response{Provider: f.name, Model: f.model, Attempts: 1}, nil
}

func (f *fake) Describe() provider.Description {
	return provider.Description{Provider: f.name, Model: f.name + "-model", Capabilities: f.caps}
}

func perr(k provider.Kind) error {
	return &provider.Error{Kind: k, Provider: "p", Message: k.String()}
}

func newFailover(t *testing.T, cfg failover.Config) *failover.Failover {
	t.Helper()
	f, err := failover.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func generate(f provider.Generator, req *provider.Request) (*provider.Response, error) {
	if req == nil {
		req = &provider.Request{Prompt: "p"}
	}
	return f.Generate(context.Background(), req)
}

func TestFailsOverByKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		primaryErr error
		kinds      []provider.Kind
		wantServed bool // by the secondary
		wantKind   provider.Kind
	}{
		{"unavailable", perr(provider.KindUnavailable), nil, true, 0},
		{"rate limited", perr(provider.KindRateLimited), nil, true, 0},
		{"quota exhausted", perr(provider.KindQuotaExhausted), nil, true, 0},
		{"timeout", perr(provider.KindTimeout), nil, true, 0},
		{"model retired", perr(provider.KindModelRetired), nil, true, 0},
		{"deadline from a hang", context.DeadlineExceeded, nil, true, 0},
		{"invalid request stops", perr(provider.KindInvalidRequest), nil, false, provider.KindInvalidRequest},
		{"auth stops", perr(provider.KindAuth), nil, false, provider.KindAuth},
		{"content block stops", perr(provider.KindContentBlocked), nil, false, provider.KindContentBlocked},
		{"no image stops", perr(provider.KindNoImage), nil, false, provider.KindNoImage},
		{"configured kinds: rate limit does not fail over", perr(provider.KindRateLimited), []provider.Kind{provider.KindUnavailable}, false, provider.KindRateLimited},
		{"retry error unwraps to its kind", &retry.Error{Attempts: 4, Tries: 4, Reason: retry.StopExhausted, Err: perr(provider.KindUnavailable)}, nil, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary := &fake{name: "primary", err: tt.primaryErr}
			secondary := &fake{name: "secondary"}
			f := newFailover(t, failover.Config{Kinds: tt.kinds, Routes: []failover.Route{
				{Name: "secondary", Generator: secondary, Priority: 2},
				{Name: "primary", Generator: primary, Priority: 1},
			}})
			resp, err := generate(f, nil)
			if primary.calls.Load() != 1 {
				t.Errorf("primary calls = %d", primary.calls.Load())
			}
			if tt.wantServed {
				if err != nil {
					t.Fatal(err)
				}
				if resp.Provider != "secondary" || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "primary") {
					t.Errorf("resp = %+v", resp)
				}
				wantAttempts := 2
				if strings.Contains(tt.name, "retry") {
					wantAttempts = 5
				}
				if resp.Attempts != wantAttempts {
					t.Errorf("Attempts = %d, want %d", resp.Attempts, wantAttempts)
				}
				return
			}
			if secondary.calls.Load() != 0 {
				t.Errorf("secondary was called for a %v", tt.wantKind)
			}
			var fe *failover.Error
			if !errors.As(err, &fe) || provider.KindOf(err) != tt.wantKind || !errors.Is(err, tt.wantKind.Sentinel()) {
				t.Errorf("err = %v (kind %v)", err, provider.KindOf(err))
			}
		})
	}
}

func TestErrorKeepsEveryRoute(t *testing.T) {
	t.Parallel()
	a := &fake{name: "a", err: perr(provider.KindUnavailable)}
	b := &fake{name: "b", err: &provider.Error{Kind: provider.KindRateLimited, RetryAfter: 9 * time.Second}}
	c := &fake{name: "c", caps: provider.Capabilities{MaxImages: 1}}
	f := newFailover(t, failover.Config{Routes: []failover.Route{
		{Name: "a", Generator: a}, {Name: "b", Generator: b, Priority: 1}, {Name: "c", Generator: c, Priority: 2},
	}})
	_, err := generate(f, &provider.Request{Prompt: "p", N: 2})
	var fe *failover.Error
	if !errors.As(err, &fe) || len(fe.Routes) != 3 {
		t.Fatalf("err = %v", err)
	}
	if !fe.Routes[2].Skipped || fe.Routes[0].Skipped || fe.Routes[1].Skipped {
		t.Errorf("routes = %+v", fe.Routes)
	}
	if c.calls.Load() != 0 {
		t.Error("a route that cannot serve N=2 was called")
	}
	// The decisive error is the last route tried: b, rate limited.
	if provider.KindOf(err) != provider.KindRateLimited || fe.Kind() != provider.KindRateLimited {
		t.Errorf("kind = %v", provider.KindOf(err))
	}
	if d, ok := provider.RetryAfter(err); !ok || d != 9*time.Second {
		t.Errorf("RetryAfter = %v", d)
	}
	if !errors.Is(err, provider.ErrUnavailable) || !errors.Is(err, provider.ErrInvalidRequest) {
		t.Error("errors.Is does not see every route's error")
	}
	for _, s := range []string{"a:", "b:", "c skipped"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q not in %q", s, err.Error())
		}
	}
}

func TestSkipsRoutesThatCannotServe(t *testing.T) {
	t.Parallel()
	png := provider.Image{Data: []byte("\x89PNG\r\n\x1a\n"), MIMEType: "image/png"}
	tests := []struct {
		name string
		caps provider.Capabilities
		req  provider.Request
	}{
		{"N", provider.Capabilities{MaxImages: 1}, provider.Request{Prompt: "p", N: 3}},
		{"size", provider.Capabilities{Sizes: []string{"1K"}}, provider.Request{Prompt: "p", Size: "4K"}},
		{"references", provider.Capabilities{NoReferences: true}, provider.Request{Prompt: "p", References: []provider.Image{png}}},
		{"edit", provider.Capabilities{EditKnown: true}, provider.Request{Prompt: "p", References: []provider.Image{png}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limited := &fake{name: "limited", caps: tt.caps}
			open := &fake{name: "open"}
			f := newFailover(t, failover.Config{Routes: []failover.Route{{Generator: limited}, {Generator: open, Priority: 1}}})
			resp, err := generate(f, &tt.req)
			if err != nil || resp.Provider != "open" || limited.calls.Load() != 0 {
				t.Fatalf("resp %+v err %v, limited calls %d", resp, err, limited.calls.Load())
			}
			if len(resp.Warnings) != 0 {
				t.Errorf("a skipped route left a warning: %v", resp.Warnings)
			}
			// Nobody can serve: an invalid request, before any call.
			only := newFailover(t, failover.Config{Routes: []failover.Route{{Generator: limited}}})
			if _, err := generate(only, &tt.req); provider.KindOf(err) != provider.KindInvalidRequest {
				t.Errorf("err = %v", err)
			}
			if err := only.CheckRequest(&tt.req); err == nil {
				t.Error("CheckRequest accepted a request no route can serve")
			}
			if err := f.CheckRequest(&tt.req); err != nil {
				t.Errorf("CheckRequest: %v", err)
			}
		})
	}
}

func TestBreakerConsecutiveFailures(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	primary := &fake{name: "primary", err: perr(provider.KindUnavailable)}
	secondary := &fake{name: "secondary"}
	f := newFailover(t, failover.Config{Clock: clk,
		Breaker: failover.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: 30 * time.Second},
		Routes:  []failover.Route{{Name: "primary", Generator: primary}, {Name: "secondary", Generator: secondary, Priority: 1}}})
	for range 5 {
		if _, err := generate(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := primary.calls.Load(); n != 3 {
		t.Errorf("primary called %d times, want 3 before its breaker opened", n)
	}
	if s, _ := f.RouteState("primary"); s != failover.StateOpen {
		t.Errorf("state = %v", s)
	}
	// While open, a request only the primary could take fails with
	// KindUnavailable and a hint for when the breaker half-opens.
	only := newFailover(t, failover.Config{Clock: clk, Breaker: failover.BreakerSettings{ConsecutiveFailures: 1},
		Routes: []failover.Route{{Name: "primary", Generator: primary}}})
	_, _ = generate(only, nil)
	clk.Advance(10 * time.Second)
	_, err := generate(only, nil)
	if provider.KindOf(err) != provider.KindUnavailable || !strings.Contains(err.Error(), "circuit open") {
		t.Errorf("err = %v", err)
	}
	if d, _ := provider.RetryAfter(err); d != 20*time.Second {
		t.Errorf("RetryAfter = %v, want 20s", d)
	}

	// Half-open after the timeout: one probe; success closes the breaker.
	clk.Advance(30 * time.Second)
	if s, _ := f.RouteState("primary"); s != failover.StateHalfOpen {
		t.Errorf("state = %v", s)
	}
	primary.setErr(nil)
	resp, err := generate(f, nil)
	if err != nil || resp.Provider != "primary" {
		t.Fatalf("probe: %v %v", resp, err)
	}
	if s, _ := f.RouteState("primary"); s != failover.StateClosed {
		t.Errorf("state after a good probe = %v", s)
	}
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	b := failover.NewBreaker(failover.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Second, HalfOpenProbes: 2})
	done, _, ok := allow(b, clk.Now())
	if !ok {
		t.Fatal("closed breaker refused")
	}
	done(failover.Failure, clk.Now())
	if _, _, ok := allow(b, clk.Now()); ok {
		t.Fatal("open breaker allowed a call")
	}
	clk.Advance(time.Second)
	d1, _, ok1 := allow(b, clk.Now())
	d2, _, ok2 := allow(b, clk.Now())
	_, _, ok3 := allow(b, clk.Now())
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("half-open allowed %v %v %v, want 2 probes", ok1, ok2, ok3)
	}
	d1(failover.Success, clk.Now())
	d2(failover.Failure, clk.Now())
	if s := b.State(clk.Now()); s != failover.StateOpen {
		t.Errorf("state = %v, want open after a failed probe", s)
	}
	clk.Advance(time.Second)
	d1, _, _ = allow(b, clk.Now())
	d2, _, _ = allow(b, clk.Now())
	d1(failover.Success, clk.Now())
	d2(failover.Success, clk.Now())
	if s := b.State(clk.Now()); s != failover.StateClosed {
		t.Errorf("state = %v, want closed after 2 good probes", s)
	}
}

func TestBreakerFailureRate(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	b := failover.NewBreaker(failover.BreakerSettings{ConsecutiveFailures: -1, FailureRate: 0.5, MinRequests: 4, Window: time.Minute})
	report := func(o failover.Outcome) {
		done, _, ok := allow(b, clk.Now())
		if !ok {
			t.Fatal("refused")
		}
		done(o, clk.Now())
	}
	report(failover.Failure)
	report(failover.Success)
	report(failover.Failure)
	if s := b.State(clk.Now()); s != failover.StateClosed {
		t.Fatalf("opened before MinRequests: %v", s)
	}
	// The window restarts: old failures no longer count.
	clk.Advance(time.Minute)
	report(failover.Success)
	report(failover.Success)
	report(failover.Failure)
	report(failover.Ignored) // a content block says nothing about health
	if s := b.State(clk.Now()); s != failover.StateClosed {
		t.Fatalf("state = %v after 1 failure in 3", s)
	}
	report(failover.Failure)
	if s := b.State(clk.Now()); s != failover.StateOpen {
		t.Fatalf("state = %v after 2 failures in 4", s)
	}
}

func TestContentBlockDoesNotHurtHealth(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	primary := &fake{name: "primary", err: perr(provider.KindContentBlocked)}
	f := newFailover(t, failover.Config{Clock: clk, Breaker: failover.BreakerSettings{ConsecutiveFailures: 2},
		Routes: []failover.Route{{Name: "primary", Generator: primary}}})
	for range 5 {
		_, _ = generate(f, nil)
	}
	if s, _ := f.RouteState("primary"); s != failover.StateClosed || primary.calls.Load() != 5 {
		t.Errorf("state %v, calls %d", s, primary.calls.Load())
	}
}

func TestContentPolicyFallback(t *testing.T) {
	t.Parallel()
	primary := &fake{name: "primary", err: perr(provider.KindContentBlocked)}
	secondary := &fake{name: "secondary"}
	lenient := &fake{name: "lenient"}
	f := newFailover(t, failover.Config{
		Routes:                []failover.Route{{Name: "primary", Generator: primary}, {Name: "secondary", Generator: secondary, Priority: 1}},
		ContentPolicyFallback: &failover.Route{Name: "lenient", Generator: lenient},
	})
	resp, err := generate(f, nil)
	if err != nil || resp.Provider != "lenient" || secondary.calls.Load() != 0 {
		t.Fatalf("resp %+v err %v secondary calls %d", resp, err, secondary.calls.Load())
	}
	// A fallback that also refuses: both errors are kept.
	lenient.setErr(perr(provider.KindContentBlocked))
	_, err = generate(f, nil)
	var fe *failover.Error
	if !errors.As(err, &fe) || len(fe.Routes) != 2 || !errors.Is(err, provider.ErrContentBlocked) {
		t.Errorf("err = %v", err)
	}
}

func TestWeightsWithinPriority(t *testing.T) {
	t.Parallel()
	heavy := &fake{name: "heavy"}
	light := &fake{name: "light"}
	backup := &fake{name: "backup"}
	f := newFailover(t, failover.Config{Rand: rand.New(rand.NewPCG(1, 2)), Routes: []failover.Route{
		{Name: "heavy", Generator: heavy, Weight: 3},
		{Name: "light", Generator: light, Weight: 1},
		{Name: "backup", Generator: backup, Priority: 1, Weight: 100},
	}})
	const n = 4000
	for range n {
		if _, err := generate(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	share := float64(heavy.calls.Load()) / n
	if share < 0.72 || share > 0.78 || backup.calls.Load() != 0 {
		t.Errorf("heavy share %.3f (want ~0.75), backup calls %d", share, backup.calls.Load())
	}
}

func TestProviderAndModelSayWhoServed(t *testing.T) {
	t.Parallel()
	anon := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{}, nil
	})
	described := &fake{name: "described"} // returns an empty Model
	f := newFailover(t, failover.Config{Routes: []failover.Route{{Generator: described}, {Generator: anon, Priority: 1}}})
	resp, err := generate(f, nil)
	if err != nil || resp.Provider != "described" || resp.Model != "described-model" || resp.Attempts != 1 {
		t.Errorf("resp %+v err %v", resp, err)
	}
	if d := f.Describe(); d.Provider != "described" {
		t.Errorf("Describe = %+v", d)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	g := &fake{name: "g"}
	tests := []struct {
		name  string
		cfg   failover.Config
		field string
	}{
		{"no routes", failover.Config{}, "failover.Config.Routes"},
		{"nil generator", failover.Config{Routes: []failover.Route{{Name: "x"}}}, "failover.Config.Routes[0].Generator"},
		{"duplicate names", failover.Config{Routes: []failover.Route{{Name: "a", Generator: g}, {Name: "a", Generator: g}}}, "failover.Config.Routes[1].Name"},
		{"negative weight", failover.Config{Routes: []failover.Route{{Generator: g, Weight: -1}}}, "failover.Config.Routes[0].Weight"},
		{"failure rate above 1", failover.Config{Routes: []failover.Route{{Generator: g}}, Breaker: failover.BreakerSettings{FailureRate: 2}}, "failover.Config.Breaker.FailureRate"},
		{"negative open timeout", failover.Config{Routes: []failover.Route{{Generator: g}}, Breaker: failover.BreakerSettings{OpenTimeout: -time.Second}}, "failover.Config.Breaker.OpenTimeout"},
		{"fallback without generator", failover.Config{Routes: []failover.Route{{Generator: g}}, ContentPolicyFallback: &failover.Route{}}, "failover.Config.ContentPolicyFallback.Generator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := failover.New(tt.cfg)
			var ce *provider.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError for %s", err, tt.field)
			}
			if !errors.Is(err, provider.ErrInvalidConfig) || errors.Is(err, provider.ErrInvalidRequest) {
				t.Errorf("a configuration mistake is classified as %v", provider.KindOf(err))
			}
		})
	}
	// Auto-named routes never take an explicit name.
	f, err := failover.New(failover.Config{Routes: []failover.Route{{Generator: g}, {Name: "g g-model", Generator: g}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.RouteState("g g-model"); !ok {
		t.Error("explicit name lost")
	}
}

func TestCancelledStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	primary := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		cancel()
		return nil, &provider.Error{Kind: provider.KindTimeout, Err: context.Canceled}
	})
	secondary := &fake{name: "secondary"}
	f := newFailover(t, failover.Config{Routes: []failover.Route{{Name: "p", Generator: primary}, {Name: "s", Generator: secondary, Priority: 1}}})
	if _, err := f.Generate(ctx, &provider.Request{Prompt: "p"}); err == nil || secondary.calls.Load() != 0 {
		t.Errorf("err %v, secondary calls %d", err, secondary.calls.Load())
	}
}

// allow calls b.Allow and reports whether it let the call through.
func allow(b failover.Breaker, now time.Time) (func(failover.Outcome, time.Time), time.Duration, bool) {
	done, retryIn, err := b.Allow(context.Background(), now)
	return done, retryIn, err == nil
}

// A route that panics during a half-open probe must not leave the breaker
// waiting for the probe's outcome for ever.
func TestPanicDuringProbeFreesTheBreaker(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	var calls atomic.Int32
	panicking := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		switch calls.Add(1) {
		case 1:
			return nil, &provider.Error{Kind: provider.KindUnavailable}
		case 2:
			panic("boom")
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte{1}}}}, nil
	})
	f, err := failover.New(failover.Config{
		Routes:  []failover.Route{{Name: "only", Generator: panicking}},
		Breaker: failover.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Second},
		Clock:   clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := &provider.Request{Prompt: "p"}
	_, _ = f.Generate(ctx, req) // opens the breaker
	clk.Advance(2 * time.Second)
	func() {
		defer func() { _ = recover() }()
		_, _ = f.Generate(ctx, req) // the half-open probe panics
	}()
	if _, err := f.Generate(ctx, req); err != nil {
		t.Errorf("after a panicking probe the route stays refused: %v", err)
	}
}

// TestEqualPriorityKeepsListOrder: routes listed without Priority or
// Weight are tried in the order listed, every time: a healthy primary
// listed first serves every request.
func TestEqualPriorityKeepsListOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		routes func(a, b, c provider.Generator) []failover.Route
		want   string // the route that serves every request
	}{
		{"no priority", func(a, b, c provider.Generator) []failover.Route {
			return []failover.Route{{Name: "a", Generator: a}, {Name: "b", Generator: b}, {Name: "c", Generator: c}}
		}, "a"},
		{"same explicit priority", func(a, b, c provider.Generator) []failover.Route {
			return []failover.Route{{Name: "b", Generator: b, Priority: 3}, {Name: "a", Generator: a, Priority: 3}, {Name: "c", Generator: c, Priority: 3}}
		}, "b"},
		{"priority first, then list order", func(a, b, c provider.Generator) []failover.Route {
			return []failover.Route{{Name: "c", Generator: c, Priority: 1}, {Name: "b", Generator: b}, {Name: "a", Generator: a}}
		}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gens := map[string]*fake{"a": {name: "a"}, "b": {name: "b"}, "c": {name: "c"}}
			f := newFailover(t, failover.Config{Routes: tt.routes(gens["a"], gens["b"], gens["c"])})
			for range 200 {
				resp, err := generate(f, nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp.Provider != tt.want {
					t.Fatalf("served by %s, want %s (list order)", resp.Provider, tt.want)
				}
			}
		})
	}

	// When the first listed fails, the next listed serves, in order.
	var calls []string
	var mu sync.Mutex
	route := func(name string, err error) failover.Route {
		return failover.Route{Name: name, Generator: provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
			mu.Lock()
			calls = append(calls, name)
			mu.Unlock()
			if err != nil {
				return nil, err
			}
			return &provider.Response{Provider: name}, nil
		})}
	}
	f := newFailover(t, failover.Config{Breaker: failover.BreakerSettings{ConsecutiveFailures: -1}, Routes: []failover.Route{
		route("first", perr(provider.KindUnavailable)), route("second", perr(provider.KindRateLimited)), route("third", nil)}})
	for range 50 {
		calls = calls[:0]
		if _, err := generate(f, nil); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(calls, ","); got != "first,second,third" {
			t.Fatalf("tried %s, want first,second,third", got)
		}
	}
}

// TestRouteStateConcurrent: RouteState used to append the fallback into
// the spare capacity of the route list shared by every call, a data race
// that -race reports (three routes leave a capacity of four).
func TestRouteStateConcurrent(t *testing.T) {
	t.Parallel()
	f := newFailover(t, failover.Config{
		Routes: []failover.Route{
			{Name: "a", Generator: &fake{name: "a"}}, {Name: "b", Generator: &fake{name: "b"}}, {Name: "c", Generator: &fake{name: "c"}}},
		ContentPolicyFallback: &failover.Route{Name: "fallback", Generator: &fake{name: "fallback"}},
	})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				name := []string{"a", "fallback", "missing"}[i%3]
				if _, ok := f.RouteState(name); ok != (name != "missing") {
					t.Errorf("RouteState(%q) found %v", name, ok)
				}
				if _, err := generate(f, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestNilRequest: a nil request is a typed request error, and no route is
// called.
func TestNilRequest(t *testing.T) {
	t.Parallel()
	g := &fake{name: "g"}
	f := newFailover(t, failover.Config{Routes: []failover.Route{{Generator: g}}})
	if _, err := f.Generate(context.Background(), nil); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("Generate(nil) = %v", err)
	}
	if err := f.CheckRequest(nil); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("CheckRequest(nil) = %v", err)
	}
	if g.calls.Load() != 0 {
		t.Error("a route was called with a nil request")
	}
}

// events collects events, safe for concurrent use.
type events struct {
	mu   sync.Mutex
	list []provider.Event
}

func (e *events) handle(_ context.Context, ev provider.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

// take returns the events so far, as "kind route reason from>to", and
// forgets them.
func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.list {
		s := ev.Kind.String() + " " + ev.Route
		if ev.Reason != "" {
			s += " " + ev.Reason
		}
		if ev.From != "" {
			s += " " + ev.From + ">" + ev.To
		}
		if ev.Kind == provider.EventRouteTried && ev.Err != nil {
			s += " failed"
		}
		out = append(out, s)
	}
	e.list = nil
	return out
}

func TestEvents(t *testing.T) {
	clk := newClock(noon)
	small := &fake{name: "small", caps: provider.Capabilities{MaxImages: 1}}
	primary := &fake{name: "primary"}
	backup := &fake{name: "backup"}
	var reqEvents, breakerEvents events
	f := newFailover(t, failover.Config{Clock: clk,
		Routes: []failover.Route{
			{Name: "small", Generator: small},
			{Name: "primary", Generator: primary},
			{Name: "backup", Generator: backup, Priority: 1},
		},
		Breaker:         failover.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Minute},
		OnBreakerChange: breakerEvents.handle,
	})
	ctx := provider.WithEventHandler(context.Background(), reqEvents.handle)
	req := &provider.Request{Prompt: "p", N: 2}
	step := func(name string, wantReq, wantBreaker []string) {
		t.Helper()
		if _, err := f.Generate(ctx, req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := reqEvents.take(); !slices.Equal(got, wantReq) {
			t.Errorf("%s: request events\n got %q\nwant %q", name, got, wantReq)
		}
		if got := breakerEvents.take(); !slices.Equal(got, wantBreaker) {
			t.Errorf("%s: breaker events\n got %q\nwant %q", name, got, wantBreaker)
		}
	}
	primary.setErr(perr(provider.KindUnavailable))
	step("primary fails",
		[]string{"failover.route.skipped small cannot serve", "failover.route.tried primary failed", "failover.route.tried backup"},
		[]string{"failover.breaker.changed primary closed>open"})
	step("primary open",
		[]string{"failover.route.skipped small cannot serve", "failover.route.skipped primary circuit open", "failover.route.tried backup"},
		nil)
	primary.setErr(nil)
	clk.Advance(time.Minute)
	step("primary probed",
		[]string{"failover.route.skipped small cannot serve", "failover.route.tried primary"},
		[]string{"failover.breaker.changed primary open>half-open", "failover.breaker.changed primary half-open>closed"})

	// A change noticed by RouteState, outside any request, is reported too.
	primary.setErr(perr(provider.KindUnavailable))
	step("primary fails again",
		[]string{"failover.route.skipped small cannot serve", "failover.route.tried primary failed", "failover.route.tried backup"},
		[]string{"failover.breaker.changed primary closed>open"})
	clk.Advance(time.Minute)
	if st, _ := f.RouteState("primary"); st != failover.StateHalfOpen {
		t.Fatalf("state %v", st)
	}
	if got := breakerEvents.take(); !slices.Equal(got, []string{"failover.breaker.changed primary open>half-open"}) {
		t.Errorf("RouteState: breaker events %q", got)
	}
}

func TestEventDetails(t *testing.T) {
	clk := newClock(noon)
	primary := &fake{name: "primary", model: "m1"}
	f := newFailover(t, failover.Config{Clock: clk, Routes: []failover.Route{{Name: "a", Generator: primary}}})
	var got events
	ctx := provider.WithEventHandler(context.Background(), got.handle)
	if _, err := f.Generate(ctx, &provider.Request{Prompt: "p"}); err != nil {
		t.Fatal(err)
	}
	if len(got.list) != 1 {
		t.Fatalf("events %+v", got.list)
	}
	e := got.list[0]
	if e.Kind != provider.EventRouteTried || e.Provider != "primary" || e.Model != "m1" || e.Calls != 1 || e.Err != nil {
		t.Errorf("event %+v", e)
	}
}
