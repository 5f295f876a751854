package pricing_test

import (
	"context"
	"errors"
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

// Requests no route can serve are request errors, whatever the budget: the
// meter validates before it estimates, reserves nothing and calls nothing.
func TestMeterValidatesBeforeEstimating(t *testing.T) {
	providertest.ClearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: emutest.Key, Clock: emutest.Clock()})
	t.Cleanup(srv.Close)
	cat := catalog.Default()
	model := func(id string) *catalog.Model { m, _ := cat.Lookup(id); return m }
	routes := testutil.Must(failover.New(failover.Config{Routes: []failover.Route{
		{Name: "openai", Generator: emutest.Generator(t, srv, model("gpt-image-2"))},
		{Name: "gemini", Generator: emutest.Generator(t, srv, model("gemini-3.1-flash-lite-image"))},
	}}))
	budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: provider.Dollar}}))
	meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
	gen := provider.Chain(routes, meter.Middleware())

	for _, tc := range []struct {
		name string
		req  *provider.Request
	}{
		{"nil request", nil},
		{"N=10000", &provider.Request{Prompt: "p", N: 10000}},
		{"no prompt", &provider.Request{N: 2}},
		{"size no route offers", &provider.Request{Prompt: "p", Size: "9999x9999"}},
		{"21 references", &provider.Request{Prompt: "p", References: make([]provider.Image, 21)}},
	} {
		_, err := gen.Generate(context.Background(), tc.req)
		if !errors.Is(err, provider.ErrInvalidRequest) || errors.Is(err, provider.ErrBudgetExceeded) {
			t.Errorf("%s: %v, want ErrInvalidRequest", tc.name, err)
		}
	}
	// The nil request is refused by the meter alone, whatever it wraps.
	if _, err := meter.Middleware()(nil).Generate(context.Background(), nil); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("nil request through a bare meter: %v", err)
	}
	st := testutil.Must(budget.Status(context.Background()))
	if st[0].Spent != 0 || st[0].Reserved != 0 || srv.Stats().Total != 0 || meter.Totals().All.Calls != 0 {
		t.Errorf("invalid requests left spent %v reserved %v, %d upstream calls", st[0].Spent, st[0].Reserved, srv.Stats().Total)
	}
	// A valid request still goes through.
	if _, err := gen.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
		t.Fatal(err)
	}
}

// A call that costs more than its reservation is settled in full, counts
// against the cap and fires an AlertOverrun; the next request is refused.
func TestOverrunSettledInFullAndAlerted(t *testing.T) {
	t.Parallel()
	var alerts []pricing.Alert
	budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{
		Limits:  pricing.Limits{Daily: 20 * provider.Cent},
		OnAlert: func(a pricing.Alert) { alerts = append(alerts, a) },
		Clock:   emutest.Clock(),
	}))
	// 100,000 thinking tokens at $7.50/M: $0.75 on top of the image, far
	// beyond the 2048-token allowance.
	g := provider.Chain(gemini21(100_000), testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget})).Middleware())
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	est := budget.Estimate("gemini-nano-banana-2.1", catalog.TierStandard, &provider.Request{Prompt: "p"})
	if resp.Cost <= est || len(resp.Warnings) == 0 {
		t.Fatalf("cost %v, estimate %v, warnings %q", resp.Cost, est, resp.Warnings)
	}
	st := testutil.Must(budget.Status(context.Background()))
	if st[0].Spent != resp.Cost || st[0].Reserved != 0 {
		t.Errorf("ledger spent %v reserved %v, want the full %v", st[0].Spent, st[0].Reserved, resp.Cost)
	}
	var over *pricing.Alert
	for i, a := range alerts {
		if a.Kind == pricing.AlertOverrun {
			over = &alerts[i]
		}
	}
	if over == nil || over.Reserved != est || over.Actual != resp.Cost || over.Spent != resp.Cost ||
		over.Limit != 20*provider.Cent || over.Scope != pricing.ScopeOverall || over.Period != pricing.PeriodDaily || over.Window != "2026-12-04" {
		t.Errorf("overrun alert %+v (all: %+v)", over, alerts)
	}
	if len(alerts) != 4 { // overrun, then 50%, 80% and 100% of the cap
		t.Errorf("alerts %+v", alerts)
	}
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); !errors.Is(err, provider.ErrBudgetExceeded) {
		t.Errorf("after the overrun: %v", err)
	}
}

// Negative counts or costs from a broken answer never lower the totals or
// the ledger.
func TestMeterClampsNegativeUsage(t *testing.T) {
	t.Parallel()
	budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{}))
	m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
	f := &fake{provider: "gemini", model: "gemini-nano-banana-2.1"}
	f.fn = func(*provider.Request) (*provider.Response, error) {
		return &provider.Response{Images: []provider.Image{{Data: []byte("x")}},
			Usage: provider.Usage{InputTokens: -5000, InputImageTokens: -1, OutputTokens: -1120, OutputImageTokens: -1120, ThoughtTokens: -9, Images: -3}}, nil
	}
	g := provider.Chain(f, m.Middleware())
	for range 3 {
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	tot := m.Totals().All
	u := tot.Usage
	if tot.Cost < 0 || u.InputTokens < 0 || u.InputImageTokens < 0 || u.OutputTokens < 0 || u.OutputImageTokens < 0 || u.ThoughtTokens < 0 || u.Images < 0 || tot.Images < 0 {
		t.Errorf("totals went negative: %+v", tot)
	}
	st := testutil.Must(budget.Status(context.Background()))
	if st[0].Spent < 0 {
		t.Errorf("ledger spent %v", st[0].Spent)
	}
	// Settle itself counts a negative actual as zero.
	r := testutil.Must(budget.Reserve(context.Background(), nil, 100))
	if err := budget.Settle(context.Background(), r, -500); err != nil {
		t.Fatal(err)
	}
	if st := testutil.Must(budget.Status(context.Background())); st[0].Spent < 0 {
		t.Errorf("a negative settle lowered spend: %v", st[0].Spent)
	}
}

// A route serving a model the catalog does not know is reserved at the
// ceiling it declares, else at the dearest image the catalog knows.
func TestCeilingDeclaredByRoute(t *testing.T) {
	t.Parallel()
	relayModel := func(model string) *fake {
		f := &fake{provider: "relay", model: model}
		f.fn = func(req *provider.Request) (*provider.Response, error) {
			return &provider.Response{Images: make([]provider.Image, req.Count()), Cost: 3 * provider.Cent * provider.USD(req.Count())}, nil
		}
		return f
	}
	ten := testutil.Must(pricing.Ceiling(10 * provider.Cent))
	dearest := catalog.Default().DearestImage()
	flash := gemini21(100)
	flashEst := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{})).Estimate("gemini-nano-banana-2.1", catalog.TierStandard, &provider.Request{Prompt: "p", N: 2})
	for _, tc := range []struct {
		name string
		gen  provider.Generator
		want provider.USD
	}{
		{"bare unknown model", relayModel("acme/v9"), 2 * dearest},
		{"relay with a ceiling", provider.Chain(relayModel("acme/v9"), ten), 2 * 10 * provider.Cent},
		{"failover route with a ceiling", testutil.Must(failover.New(failover.Config{Routes: []failover.Route{
			{Name: "flash", Generator: flash},
			{Name: "relay", Generator: provider.Chain(relayModel("acme/v9"), ten)},
		}})), max(flashEst, 2*10*provider.Cent)},
		{"ceiling around failover", provider.Chain(testutil.Must(failover.New(failover.Config{Routes: []failover.Route{
			{Name: "a", Generator: relayModel("acme/a")},
			{Name: "b", Generator: provider.Chain(relayModel("acme/b"), testutil.Must(pricing.Ceiling(provider.Cent)))},
		}})), ten), 2 * 10 * provider.Cent},
		{"known model ignores the ceiling", provider.Chain(gemini21(100), ten), flashEst},
	} {
		var rec pricing.Record
		m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: testutil.Must(pricing.NewBudget(pricing.BudgetConfig{})),
			OnRecord: func(r pricing.Record) { rec = r }}))
		if _, err := provider.Chain(tc.gen, m.Middleware()).Generate(context.Background(), &provider.Request{Prompt: "p", N: 2}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rec.Estimate != tc.want {
			t.Errorf("%s: reserved %v, want %v", tc.name, rec.Estimate, tc.want)
		}
	}
	if d := provider.Describe(provider.Chain(relayModel("x"), ten)); d.MaxCostPerImage != 10*provider.Cent || d.Model != "x" {
		t.Errorf("Describe through the ceiling: %+v", d)
	}
}

// cancelOnLimit cancels a context once its store has refused a
// reservation, so that a test sees a waiter's context end while it waits.
type cancelOnLimit struct {
	pricing.Store
	cancel context.CancelFunc
}

func (s cancelOnLimit) Reserve(ctx context.Context, keys []string, limits []provider.USD, amount provider.USD) (string, error) {
	id, err := s.Store.Reserve(ctx, keys, limits, amount)
	var le *pricing.LimitError
	if errors.As(err, &le) {
		s.cancel()
	}
	return id, err
}

// With WaitForRoom a request that only open reservations keep out waits
// for them to settle; one that spend alone keeps out is refused at once;
// a waiter whose context ends is refused with the context's error too.
func TestWaitForRoom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: provider.Dollar}, WaitForRoom: time.Hour}))
	r1 := testutil.Must(b.Reserve(ctx, nil, 60*provider.Cent))
	got := make(chan error, 1)
	var r2 *pricing.Reservation
	go func() {
		var err error
		r2, err = b.Reserve(ctx, nil, 60*provider.Cent) // fits once r1 settles below $0.40
		got <- err
	}()
	if err := b.Settle(ctx, r1, 30*provider.Cent); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	// Spent $0.30 + $0.80 > $1.00: no settle can make room.
	if _, err := b.Reserve(ctx, nil, 80*provider.Cent); !errors.Is(err, provider.ErrBudgetExceeded) {
		t.Fatalf("over the cap by spend alone: %v", err)
	}
	if err := b.Settle(ctx, r2, 60*provider.Cent); err != nil {
		t.Fatal(err)
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	store := pricing.NewMemoryStore()
	w := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: provider.Dollar}, WaitForRoom: time.Hour,
		Store: cancelOnLimit{store, cancel}}))
	open := testutil.Must(w.Reserve(ctx, nil, 90*provider.Cent))
	_, err := w.Reserve(wctx, nil, 20*provider.Cent)
	if !errors.Is(err, provider.ErrBudgetExceeded) || !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter whose context ended: %v", err)
	}
	if st := testutil.Must(w.Status(ctx)); st[0].Reserved != open.Amount {
		t.Errorf("reserved %v, want only the open %v", st[0].Reserved, open.Amount)
	}
}
