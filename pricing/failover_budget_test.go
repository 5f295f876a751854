package pricing_test

import (
	"context"
	"sync"
	"testing"

	"github.com/imagegen-go/imagegen/internal/testutil"

	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
)

// described is a generator that says which model it serves.
type described struct {
	model string
	fn    provider.GeneratorFunc
}

func (d described) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	return d.fn(ctx, req)
}

func (d described) Describe() provider.Description {
	return provider.Description{Provider: "p", Model: d.model}
}

// A budget in front of failover reserves for the dearest route, so that a
// cheap primary failing over to a dear secondary cannot overshoot the cap.
func TestBudgetHoldsThroughFailoverToDearerRoute(t *testing.T) {
	t.Parallel()
	cheapDown := described{"gemini-2.5-flash-image", func(context.Context, *provider.Request) (*provider.Response, error) {
		return nil, &provider.Error{Kind: provider.KindUnavailable}
	}}
	dear := described{"gemini-3-pro-image", func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Provider: "p", Model: "gemini-3-pro-image", Images: []provider.Image{{Data: []byte{1}}},
			Usage: provider.Usage{OutputTokens: 2000, OutputImageTokens: 2000, Images: 1}}, nil // 4K: $0.24
	}}
	routes, err := failover.New(failover.Config{Routes: []failover.Route{
		{Name: "cheap", Generator: cheapDown, Priority: 0},
		{Name: "dear", Generator: dear, Priority: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: provider.Dollar}}))
	meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
	gen := provider.Chain(routes, meter.Middleware())
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() { _, _ = gen.Generate(context.Background(), &provider.Request{Prompt: "p", Size: "4K"}) })
	}
	wg.Wait()
	if spent := meter.Totals().All.Cost; spent > provider.Dollar || spent == 0 {
		t.Errorf("spent %v under a $1.00 cap", spent)
	}
}
