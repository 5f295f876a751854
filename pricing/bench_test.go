package pricing_test

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/testutil"

	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
)

func benchGen(b *testing.B, g provider.Generator) {
	req := &provider.Request{Prompt: "a lighthouse at dusk", Size: "1K", Labels: map[string]string{"team": "search"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Generate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMeter compares a canned generator bare, metered, and metered
// with a budget (in-memory ledger).
func BenchmarkMeter(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchGen(b, canned) })
	b.Run("meter", func(b *testing.B) {
		benchGen(b, provider.Chain(canned, testutil.Must(pricing.NewMeter(pricing.MeterConfig{})).Middleware()))
	})
	b.Run("meter+budget", func(b *testing.B) {
		budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 1 << 50}}))
		benchGen(b, provider.Chain(canned, testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget})).Middleware()))
	})
}

// BenchmarkUsageCost: pricing one response from usage.
func BenchmarkUsageCost(b *testing.B) {
	c := catalog.Default()
	resp := &provider.Response{Usage: provider.Usage{InputTokens: 20, OutputTokens: 1120, OutputImageTokens: 1120, ThoughtTokens: 400}}
	b.ReportAllocs()
	for b.Loop() {
		c.CostOf("gemini-nano-banana-2.1", catalog.TierStandard, nil, resp)
	}
}
