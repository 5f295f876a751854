package pricing_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// canned stands in for an adapter: one 1K image of gemini-nano-banana-2.1
// with 1120 image tokens, 20 prompt tokens and 400 thinking tokens.
var canned = provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	return &provider.Response{
		Images:   []provider.Image{{Data: []byte("…"), MIMEType: "image/png"}},
		Provider: "gemini", Model: "gemini-nano-banana-2.1",
		Usage: provider.Usage{InputTokens: 20, OutputTokens: 1120, OutputImageTokens: 1120, ThoughtTokens: 400, Images: 1},
	}, nil
})

func ExampleNewMeter() {
	meter, err := pricing.NewMeter(pricing.MeterConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	gen := provider.Chain(canned, meter.Middleware())

	for _, team := range []string{"search", "ads", "search"} {
		resp, _ := gen.Generate(context.Background(), &provider.Request{
			Prompt: "a lighthouse at dusk", Size: "1K", Labels: map[string]string{"team": team},
		})
		fmt.Println(team, resp.Cost) // 1120 × $30/M + 400 × $7.50/M + 20 × $1.50/M
	}
	t := meter.Totals()
	fmt.Println("total", t.All.Cost, "search", t.ByLabel["team=search"].Cost)
	meter.Report().WriteCSV(os.Stdout)
	// Output:
	// search $0.03663
	// ads $0.03663
	// search $0.03663
	// total $0.10989 search $0.07326
	// dimension,key,calls,failed,reported,unpriced,images,input_tokens,input_image_tokens,output_tokens,output_image_tokens,thought_tokens,cost_usd
	// total,,3,0,0,0,3,60,0,3360,3360,1200,0.10989
	// provider,gemini,3,0,0,0,3,60,0,3360,3360,1200,0.10989
	// model,gemini-nano-banana-2.1,3,0,0,0,3,60,0,3360,3360,1200,0.10989
	// tier,standard,3,0,0,0,3,60,0,3360,3360,1200,0.10989
	// label,team=ads,1,0,0,0,1,20,0,1120,1120,400,0.03663
	// label,team=search,2,0,0,0,2,40,0,2240,2240,800,0.07326
}

func ExampleBudget() {
	clock := providertest.NewClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)) // a fake clock: the example's day
	budget, err := pricing.NewBudget(pricing.BudgetConfig{
		Limits:   pricing.Limits{Daily: 10 * provider.Cent, Monthly: 5 * provider.Dollar},
		PerLabel: map[string]pricing.Limits{"team=ads": {Daily: 5 * provider.Cent}},
		OnAlert: func(a pricing.Alert) {
			fmt.Printf("alert: %s %s at %.0f%%: %v of %v\n", a.Scope, a.Period, a.Threshold*100, a.Spent, a.Limit)
		},
		Clock: clock,
		// Store: a *pricing.FileStore keeps the ledger across restarts.
	})
	if err != nil {
		fmt.Println(err) // a *provider.ConfigError naming the field
		return
	}
	meter, err := pricing.NewMeter(pricing.MeterConfig{Budget: budget, Clock: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	gen := provider.Chain(canned, meter.Middleware())

	for i := range 3 {
		_, err := gen.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse", Model: "gemini-nano-banana-2.1", Size: "1K"})
		switch {
		case errors.Is(err, provider.ErrBudgetExceeded):
			fmt.Println(i, "refused before any network call:", err)
		case err != nil:
			fmt.Println(i, err)
		default:
			fmt.Println(i, "ok")
		}
	}
	// Output:
	// 0 ok
	// alert: overall daily at 50%: $0.07326 of $0.1000
	// 1 ok
	// 2 refused before any network call: gemini-nano-banana-2.1: budget exceeded (daily): daily budget overall: overall/day/2026-11-21: spent $0.07326 + reserved $0.0000 + estimate $0.049002 exceeds $0.1000
}

// A relay serves its own model IDs, which the catalog cannot price: its
// route declares what one image may cost, and the budget reserves that
// instead of the dearest image the catalog knows. A call that costs more
// is still settled in full and reported as an overrun.
func ExampleCeiling() {
	relay := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		// The relay reports what it billed (OpenRouter's usage.cost).
		return &provider.Response{Images: []provider.Image{{Data: []byte("…")}}, Provider: "relay", Model: req.Model, Cost: 12 * provider.Cent}, nil
	})
	tenCents, err := pricing.Ceiling(10 * provider.Cent)
	if err != nil {
		fmt.Println(err) // a *provider.ConfigError: the ceiling must be positive
		return
	}
	budget, err := pricing.NewBudget(pricing.BudgetConfig{
		Limits: pricing.Limits{Daily: provider.Dollar},
		OnAlert: func(a pricing.Alert) {
			if a.Kind == pricing.AlertOverrun {
				fmt.Printf("overrun: reserved %v, cost %v\n", a.Reserved, a.Actual)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	meter, err := pricing.NewMeter(pricing.MeterConfig{Budget: budget, OnRecord: func(r pricing.Record) {
		fmt.Println("reserved", r.Estimate, "cost", r.Cost)
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	route := provider.Chain(relay, tenCents) // a relay generator, or a failover route
	gen := provider.Chain(route, meter.Middleware())
	_, _ = gen.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse", Model: "acme/image-v9", N: 1})
	// Output:
	// overrun: reserved $0.1000, cost $0.1200
	// reserved $0.1000 cost $0.1200
}
