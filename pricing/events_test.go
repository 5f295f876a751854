package pricing_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// TestBudgetEvents: a budget reports every reservation, settlement,
// refusal and alert to the handlers of the request's context, without
// an OnAlert.
func TestBudgetEvents(t *testing.T) {
	clk := providertest.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{
		Limits:   pricing.Limits{Daily: provider.Dollar},
		PerLabel: map[string]pricing.Limits{"team=a": {Daily: 50 * provider.Cent}},
		Clock:    clk,
	}))
	_, rg := relayGen()
	g := provider.Chain(rg, testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: b})).Middleware())
	var got []string
	ctx := provider.WithEventHandler(context.Background(), func(_ context.Context, e provider.Event) {
		s := fmt.Sprintf("%s %s %v", e.Kind, e.Scope, e.Amount)
		if e.Reason != "" {
			s += " " + e.Reason
		}
		got = append(got, s)
	})
	req := &provider.Request{Prompt: "x", Labels: map[string]string{"team": "a"}}
	for range 3 {
		_, _ = g.Generate(ctx, req)
	}
	want := []string{
		"budget.reserved overall,team=a $0.2500",
		"budget.settled overall,team=a $0.2500",
		"budget.alert team=a $0.2500 threshold 50% daily",
		"budget.reserved overall,team=a $0.2500",
		"budget.settled overall,team=a $0.2500",
		"budget.alert overall $0.5000 threshold 50% daily",
		"budget.alert team=a $0.5000 threshold 80% daily",
		"budget.alert team=a $0.5000 threshold 100% daily",
		"budget.refused team=a $0.2500 daily",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}
