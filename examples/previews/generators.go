package main

import (
	"context"
	"os"
	"time"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// pickGenerator returns the real service when a key is set, else the
// emulator, as examples/quickstart does. The returned func releases what
// was started. The key itself never leaves this function.
func pickGenerator(ctx context.Context) (provider.Generator, string, func(), error) {
	if key := os.Getenv("GEMINI_API_KEY"); key != "" {
		g, err := gemini.New(ctx, gemini.Config{APIKey: key})
		return g, "the Gemini API (GEMINI_API_KEY is set)", func() {}, err
	}
	if key := os.Getenv("OPENAI_API_KEY"); key != "" {
		g, err := openaicompat.New(openaicompat.OpenAI(key))
		return g, "the OpenAI Images API (OPENAI_API_KEY is set)", func() {}, err
	}
	// Half a second before each event of a stream: slow enough to watch
	// the drafts arrive (a real model takes 10 to 60 s).
	return emulated(ctx, providertest.Options{StreamInterval: 500 * time.Millisecond})
}

// emulated starts the providertest emulator with opts and returns
// Gemini's adapter on it: its streamGenerateContent sends five events, a
// thought, two draft images, the answer's text and the final image.
func emulated(ctx context.Context, opts providertest.Options) (provider.Generator, string, func(), error) {
	const key = "emulator-key"
	opts.APIKey = key
	srv := providertest.NewServer(opts)
	g, err := gemini.New(ctx, gemini.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		srv.Close()
		return nil, "", nil, err
	}
	return g, "the providertest emulator at " + srv.URL() + " (set GEMINI_API_KEY or OPENAI_API_KEY for a real provider)", srv.Close, nil
}

// buildStack wraps adapter in the production layers, outermost first:
//
//	cache → meter/budget → retry → adapter
//
// A cache hit is replayed as the final image alone (no previews) and costs
// nothing; the meter prices the drafts the provider bills and the budget
// refuses a call that would overspend; retry tries again only until the
// first draft has reached the browser.
func buildStack(adapter provider.Generator, daily provider.USD) (provider.Generator, error) {
	store, err := cache.NewMemory(128<<20, nil)
	if err != nil {
		return nil, err
	}
	cached, err := cache.New(cache.Config{Store: store})
	if err != nil {
		return nil, err
	}
	budget, err := pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: daily}})
	if err != nil {
		return nil, err
	}
	meter, err := pricing.NewMeter(pricing.MeterConfig{Budget: budget})
	if err != nil {
		return nil, err
	}
	retries, err := retry.New(retry.Policy{MaxAttempts: 3})
	if err != nil {
		return nil, err
	}
	return provider.Chain(adapter, cached, meter.Middleware(), retries), nil
}
