package cache_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// readmeStack is the production stack of the README ("A production
// stack", examples/stack) on two emulators: cache → pricing meter/budget
// → failover(gemini, openrouter) → per provider: retry → rate limit →
// adapter.
type readmeStack struct {
	gen           provider.Generator
	budget        *pricing.Budget
	google, relay *providertest.Server
}

func newReadmeStack(t *testing.T) *readmeStack {
	t.Helper()
	providertest.ClearEnv(t)
	const key = "emulator-key"
	ctx := context.Background()
	s := &readmeStack{
		google: providertest.NewServer(providertest.Options{APIKey: key}),
		relay:  providertest.NewServer(providertest.Options{APIKey: key}),
	}
	t.Cleanup(s.google.Close)
	t.Cleanup(s.relay.Close)
	geminiGen, err := gemini.New(ctx, gemini.Config{APIKey: key, BaseURL: s.google.URL(), HTTPClient: s.google.Client()})
	if err != nil {
		t.Fatal(err)
	}
	relayCfg := openaicompat.OpenRouter(key)
	relayCfg.BaseURL, relayCfg.HTTPClient = s.relay.URL()+"/api/v1", s.relay.Client()
	relayGen, err := openaicompat.New(relayCfg)
	if err != nil {
		t.Fatal(err)
	}
	perProvider := func(g provider.Generator, rpm, rpd int) provider.Generator {
		return provider.Chain(g, testutil.Must(retry.New(retry.Policy{})),
			testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: rpm, RequestsPerDay: rpd})))
	}
	routes := testutil.Must(failover.New(failover.Config{Routes: []failover.Route{
		{Name: "gemini", Generator: perProvider(geminiGen, 60, 1000), Priority: 0},
		{Name: "openrouter", Generator: perProvider(relayGen, 120, 0), Priority: 1},
	}}))
	s.budget = testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 20 * provider.Dollar}}))
	meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: s.budget}))
	store := testutil.Must(cache.NewMemory(256<<20, nil))
	s.gen = provider.Chain(routes, testutil.Must(cache.New(cache.Config{Store: store})), meter.Middleware())
	return s
}

// reserved returns what the budget holds reserved today.
func (s *readmeStack) reserved(t *testing.T) provider.USD {
	t.Helper()
	st, err := s.budget.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var r provider.USD
	for _, sc := range st {
		if sc.Period == pricing.PeriodDaily {
			r += sc.Reserved
		}
	}
	return r
}

// TestStackDeadlineReachesRetry: through the README stack, a caller with a
// 2 s deadline whose providers answer 429 with Retry-After 30 s gets
// ErrRateLimited with the 30 s hint at once, not a bare
// context.DeadlineExceeded after 2 s: the cache's shared call carries the
// caller's deadline down to retry and the limiter, which refuse a wait
// that would outlast it. The bound checked is generous (well under the
// 2 s the caller used to wait); the measured latency is logged.
func TestStackDeadlineReachesRetry(t *testing.T) {
	s := newReadmeStack(t)
	s.google.InjectRandom(providertest.EndpointGenerateContent, 1, providertest.RateLimited(30*time.Second))
	s.relay.InjectRandom(providertest.EndpointChatCompletions, 1, providertest.RateLimited(30*time.Second))
	for i, prompt := range []string{"a lighthouse", "a lighthouse, again"} {
		// The second call also meets the limiters' pause learned from the
		// first 429s.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		_, err := s.gen.Generate(ctx, &provider.Request{Prompt: prompt, Size: "1K"})
		took := time.Since(start)
		cancel()
		hint, _ := provider.RetryAfter(err)
		t.Logf("call %d: 2 s caller answered in %v: %v", i+1, took, err)
		// The second call's hint is what is left of the pause.
		if !errors.Is(err, provider.ErrRateLimited) || hint > 30*time.Second || hint < 29*time.Second {
			t.Errorf("call %d: err %v (hint %v), want ErrRateLimited with RetryAfter 30s", i+1, err, hint)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("call %d: the caller's deadline expired", i+1)
		}
		if took > time.Second {
			t.Errorf("call %d: answered after %v; the deadline did not reach retry", i+1, took)
		}
		if r := s.reserved(t); r != 0 {
			t.Errorf("call %d: %v still reserved after Generate returned", i+1, r)
		}
	}
	if n := s.google.Stats().Total; n != 1 {
		t.Errorf("gemini emulator saw %d calls, want 1 (then the limiter's pause)", n)
	}
}

// TestStackGiveUpLeavesNoReservation: through the README stack against
// providers that never answer, callers that give up (deadline or
// cancellation) leave no budget reservation behind once Generate returns,
// alone or several sharing one upstream call.
func TestStackGiveUpLeavesNoReservation(t *testing.T) {
	s := newReadmeStack(t)
	s.google.InjectRandom(providertest.EndpointGenerateContent, 1, providertest.Hang())
	s.relay.InjectRandom(providertest.EndpointChatCompletions, 1, providertest.Hang())

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := s.gen.Generate(ctx, &provider.Request{Prompt: "a lighthouse"})
	cancel()
	if err == nil {
		t.Fatal("a hanging provider served")
	}
	if r := s.reserved(t); r != 0 {
		t.Errorf("%v still reserved after a caller's deadline passed and Generate returned: %v", r, err)
	}

	// Three callers share one call; the last to give up takes it down.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(100*(i+1))*time.Millisecond)
			defer cancel()
			if _, err := s.gen.Generate(ctx, &provider.Request{Prompt: "a harbour"}); err == nil {
				t.Error("a hanging provider served")
			}
		})
	}
	wg.Wait()
	if r := s.reserved(t); r != 0 {
		t.Errorf("%v still reserved after every caller returned", r)
	}

	// Cancellation without a deadline.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.gen.Generate(ctx, &provider.Request{Prompt: "a quay"}); done <- err }()
	for s.reserved(t) == 0 {
		time.Sleep(time.Millisecond) // until the meter reserved
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	if r := s.reserved(t); r != 0 {
		t.Errorf("%v still reserved after a cancelled caller returned", r)
	}
}
