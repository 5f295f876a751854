package pricing_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/internal/emutest"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// fourKHigh is the request of the overspend: gpt-image-2 at
// 3840x2160, quality high, billed 13,342 image tokens ($0.40) by OpenAI.
var fourKHigh = provider.Request{Prompt: "a harbour city at night, rain", Size: "3840x2160", Quality: "high"}

// burst sends n requests at once through gen and counts the outcomes.
func burst(gen provider.Generator, n int, req provider.Request) (ok, refused int, other []error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			r := req
			_, err := gen.Generate(context.Background(), &r)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, provider.ErrBudgetExceeded):
				refused++
			default:
				other = append(other, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return ok, refused, other
}

// 200 concurrent gpt-image-2 3840x2160 high requests through the
// openaicompat adapter against the emulator, under a $10 daily cap: spend
// stays within $8..$10. Each reservation is the call's own price ($0.4004
// against $0.4003 billed), so 24 calls fit and the 25th never does, however
// the calls interleave (24 × $0.4003 + $0.4004 > $10).
func TestBudget200Concurrent4KHigh(t *testing.T) {
	providertest.ClearEnv(t)
	// Only the bill matters: a small PNG stands for the 3840x2160 image.
	srv := providertest.NewServer(providertest.Options{APIKey: emutest.Key, LargeImageBytes: 2048, Clock: emutest.Clock()})
	t.Cleanup(srv.Close)
	m, _ := catalog.Default().Lookup("gpt-image-2")
	budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 10 * provider.Dollar},
		Clock: emutest.Clock()}))
	meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
	gen := provider.Chain(emutest.Generator(t, srv, m), meter.Middleware())

	ok, refused, other := burst(gen, 200, fourKHigh)
	for _, err := range other {
		t.Errorf("error other than ErrBudgetExceeded: %v", err)
	}
	st := testutil.Must(budget.Status(context.Background()))
	spent := st[0].Spent
	est := budget.Estimate("gpt-image-2", catalog.TierStandard, &fourKHigh)
	t.Logf("200 concurrent 3840x2160 high under a $10.00 cap: %d served, %d refused; spent %v (reserved %v each, billed %v each)",
		ok, refused, spent, est, meter.Totals().All.Cost/provider.USD(max(ok, 1)))
	if spent > 10*provider.Dollar || spent < 8*provider.Dollar || st[0].Reserved != 0 {
		t.Errorf("spent %v (reserved %v), want $8.00..$10.00", spent, st[0].Reserved)
	}
	if ok+refused != 200 || ok != 24 || srv.Stats().Total != ok {
		t.Errorf("%d served, %d refused, %d upstream calls; want 24 served", ok, refused, srv.Stats().Total)
	}
	if tot := meter.Totals().All; tot.Cost != spent || tot.Calls != ok {
		t.Errorf("meter %v over %d calls, ledger %v", tot.Cost, tot.Calls, spent)
	}
}

// twoGeminiRoutes is the failover: gemini-nano-banana-2.1 first,
// gemini-3-pro-image behind it, both on the emulator.
func twoGeminiRoutes(t *testing.T, srv *providertest.Server) provider.Generator {
	cat := catalog.Default()
	flash, _ := cat.Lookup("gemini-nano-banana-2.1")
	pro, _ := cat.Lookup("gemini-3-pro-image")
	return testutil.Must(failover.New(failover.Config{Routes: []failover.Route{
		{Name: "flash", Generator: emutest.Generator(t, srv, flash)},
		{Name: "pro", Generator: emutest.Generator(t, srv, pro), Priority: 1},
	}}))
}

// A 1K Gemini request with no Size through a failover of two routes
// reserves the dearer route's 1K price (it may serve), not its 4K one.
func TestFailoverNoSizeReservesDefaultSize(t *testing.T) {
	providertest.ClearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: emutest.Key, Clock: emutest.Clock()})
	t.Cleanup(srv.Close)
	var rec pricing.Record
	budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Clock: emutest.Clock()}))
	meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget, OnRecord: func(r pricing.Record) { rec = r }}))
	gen := provider.Chain(twoGeminiRoutes(t, srv), meter.Middleware())
	req := &provider.Request{Prompt: "a lighthouse at dusk"}
	if _, err := gen.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	pro1K := budget.Estimate("gemini-3-pro-image", catalog.TierStandard, req)
	flash1K := budget.Estimate("gemini-nano-banana-2.1", catalog.TierStandard, req)
	t.Logf("no-size request through flash → pro failover: reserved %v (pro at 1K; flash alone %v), billed %v by %s (%.1f×; was $0.26 against $0.035, 7.6×)",
		rec.Estimate, flash1K, rec.Cost, rec.Model, float64(rec.Estimate)/float64(rec.Cost))
	if rec.Estimate != pro1K || rec.Estimate >= 24*provider.Cent || rec.Cost > rec.Estimate || rec.Model != "gemini-nano-banana-2.1" {
		t.Errorf("reserved %v (want %v), billed %v by %s", rec.Estimate, pro1K, rec.Cost, rec.Model)
	}
}

// A $5 budget under 64 concurrent callers for 2,000 requests, through the
// same failover and through its primary alone: the cap holds and the
// ledger agrees with the meter. Refusing at once (the default), how much is
// spent before the refusals depends on how calls interleave, so it is
// measured, not asserted. With WaitForRoom, a request is refused only when
// spend alone leaves no room, so at least $5 minus one reservation is
// spent, however the calls interleave.
func TestFiveDollarBudget64Callers(t *testing.T) {
	providertest.ClearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: emutest.Key, Clock: emutest.Clock()})
	t.Cleanup(srv.Close)
	failoverRoutes := func() provider.Generator { return twoGeminiRoutes(t, srv) }
	flashAlone := func() provider.Generator {
		m, _ := catalog.Default().Lookup("gemini-nano-banana-2.1")
		return emutest.Generator(t, srv, m)
	}
	for _, tc := range []struct {
		name  string
		route func() provider.Generator
		wait  time.Duration
	}{
		{"flash → pro failover", failoverRoutes, 0},
		{"flash alone", flashAlone, 0},
		{"flash → pro failover, WaitForRoom", failoverRoutes, time.Minute},
		{"flash alone, WaitForRoom", flashAlone, time.Minute},
	} {
		budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 5 * provider.Dollar},
			Clock: emutest.Clock(), WaitForRoom: tc.wait}))
		meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
		gen := provider.Chain(tc.route(), meter.Middleware())
		var next, ok, refused atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for next.Add(1) <= 2000 {
					_, err := gen.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse at dusk"})
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, provider.ErrBudgetExceeded):
						refused.Add(1)
					default:
						t.Errorf("%s: %v", tc.name, err)
					}
				}
			})
		}
		wg.Wait()
		st := testutil.Must(budget.Status(context.Background()))
		t.Logf("%s, $5.00 cap, 64 callers, 2,000 requests: %d served, %d refused, spent %v (was 1,716 refused, $2.72 spent)",
			tc.name, ok.Load(), refused.Load(), st[0].Spent)
		if st[0].Spent > 5*provider.Dollar || st[0].Reserved != 0 || ok.Load()+refused.Load() != 2000 || meter.Totals().All.Cost != st[0].Spent {
			t.Errorf("%s: spent %v reserved %v, %d+%d outcomes, meter %v", tc.name, st[0].Spent, st[0].Reserved, ok.Load(), refused.Load(), meter.Totals().All.Cost)
		}
		// The failover reserves its dearer route: pro at 1K.
		if est := budget.Estimate("gemini-3-pro-image", catalog.TierStandard, &provider.Request{Prompt: "a lighthouse at dusk"}); tc.wait > 0 && st[0].Spent < 5*provider.Dollar-est {
			t.Errorf("%s: spent %v, want at least $5.00 - %v", tc.name, st[0].Spent, est)
		}
	}
}
