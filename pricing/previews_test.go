package pricing_test

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
)

// streaming is a route that sends drafts through the request's On and
// answers with 1000 image output tokens and the drafts it sent billed.
func streaming(model string, drafts int) described {
	return described{model, func(_ context.Context, req *provider.Request) (*provider.Response, error) {
		sent := 0
		if p, ok := provider.PreviewsOf(req); ok {
			for i := range min(drafts, p.Want()) {
				p.On(provider.Preview{Index: i, Image: provider.Image{Data: []byte{byte(i)}}})
				sent++
			}
		}
		return &provider.Response{Provider: "p", Model: model, Images: []provider.Image{{Data: []byte("final")}},
			Usage: provider.Usage{OutputTokens: 1000, OutputImageTokens: 1000, Images: 1, Previews: sent}}, nil
	}}
}

// TestMeterPricesPreviews: the meter prices the drafts a response reports
// and keeps them in its records and totals.
func TestMeterPricesPreviews(t *testing.T) {
	t.Parallel()
	on := func(provider.Preview) {}
	tests := []struct {
		name     string
		model    string
		previews *provider.Previews
		want     provider.USD
		drafts   int
	}{
		// gpt-image-2, $30/1M image output: 1000 tokens, plus 100 per draft.
		{"gpt-image-2 without previews", "gpt-image-2", nil, 30_000, 0},
		{"gpt-image-2 with two", "gpt-image-2", &provider.Previews{On: on}, 36_000, 2},
		{"gpt-image-2 with three", "gpt-image-2", &provider.Previews{Count: 3, On: on}, 39_000, 3},
		// gpt-image-1-mini, $8/1M.
		{"gpt-image-1-mini with one", "gpt-image-1-mini", &provider.Previews{Count: 1, On: on}, 8_800, 1},
		// gemini-3-pro-image, $120/1M: thought images add nothing.
		{"gemini-3-pro-image with two", "gemini-3-pro-image", &provider.Previews{On: on}, 120_000, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var recs []pricing.Record
			m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{OnRecord: func(r pricing.Record) { recs = append(recs, r) }}))
			g := provider.Chain(streaming(tt.model, 3), m.Middleware())
			req := &provider.Request{Prompt: "p"}
			if tt.previews != nil {
				req.Options = provider.Options{*tt.previews}
			}
			resp, err := g.Generate(context.Background(), req)
			if err != nil || resp.Cost != tt.want {
				t.Fatalf("cost %d µ$, err %v; want %d µ$", resp.Cost, err, tt.want)
			}
			if len(recs) != 1 || recs[0].Usage.Previews != tt.drafts || recs[0].Cost != tt.want {
				t.Errorf("records %+v", recs)
			}
			if tot := m.Totals().All; tot.Usage.Previews != tt.drafts || tot.Cost != tt.want {
				t.Errorf("totals %+v", tot)
			}
		})
	}
}

// TestBudgetReservesPreviews: a request with previews reserves its drafts
// on the dearest route in front of failover; an unknown model's ceiling
// is per image, drafts included.
func TestBudgetReservesPreviews(t *testing.T) {
	t.Parallel()
	on := func(provider.Preview) {}
	budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: provider.Dollar}}))
	plain := &provider.Request{Prompt: "a lighthouse at dusk"}
	three := &provider.Request{Prompt: plain.Prompt, Options: provider.Options{provider.Previews{Count: 3, On: on}}}
	base := budget.Estimate("gpt-image-2", catalog.TierStandard, plain)
	if got := budget.Estimate("gpt-image-2", catalog.TierStandard, three); got != base+9_000 {
		t.Errorf("Budget.Estimate with three drafts = %d µ$, want %d + 9000 (3 × 100 × $30/1M)", got, base)
	}

	tests := []struct {
		name   string
		routes []failover.Route
		req    *provider.Request
		want   provider.USD
	}{
		{"no previews: the dearest route", []failover.Route{
			{Name: "gemini", Generator: streaming("gemini-2.5-flash-image", 0)},
			{Name: "openai", Generator: streaming("gpt-image-2", 0), Priority: 1}}, plain, base},
		{"three drafts on the dearest route", []failover.Route{
			{Name: "gemini", Generator: streaming("gemini-2.5-flash-image", 0)},
			{Name: "openai", Generator: streaming("gpt-image-2", 3), Priority: 1}}, three, base + 9_000},
		{"a relay's ceiling covers its drafts", []failover.Route{
			{Name: "relay", Generator: provider.Chain(provider.Generator(streaming("relay-model", 3)), testutil.Must(pricing.Ceiling(800_000)))}}, three, 800_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: provider.Dollar}}))
			var recs []pricing.Record
			m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: b, OnRecord: func(r pricing.Record) { recs = append(recs, r) }}))
			routes := testutil.Must(failover.New(failover.Config{Routes: tt.routes}))
			if _, err := provider.Chain(routes, m.Middleware()).Generate(context.Background(), tt.req); err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].Estimate != tt.want {
				t.Errorf("reserved %+v, want %d µ$", recs, tt.want)
			}
		})
	}
}
