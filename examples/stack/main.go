// Command stack runs the production stack of the README on two emulators:
//
//	cache → pricing meter/budget → failover → per provider: retry → rate limit → adapter
//
// The primary Gemini route answers 503 ("the model is overloaded") to every
// call, so retry gives up on it, failover hands the request to the
// OpenRouter-style relay, the meter prices what the relay served, and a
// repeated prompt is answered by the cache without touching either route.
//
//	go run ./examples/stack
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: stack\n\nRuns the README's production stack offline on two emulators; takes no flags.\nExits with status 1 when a request is not served.\n")
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "stack: unexpected argument %q (see -h)\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	const key = "emulator-key"
	google := providertest.NewServer(providertest.Options{APIKey: key})
	defer google.Close()
	relay := providertest.NewServer(providertest.Options{APIKey: key})
	defer relay.Close()
	google.InjectRandom(providertest.EndpointGenerateContent, 1, providertest.Unavailable())

	geminiGen, err := gemini.New(ctx, gemini.Config{APIKey: key, BaseURL: google.URL(), HTTPClient: google.Client()})
	if err != nil {
		return err
	}
	relayCfg := openaicompat.OpenRouter(key)
	relayCfg.BaseURL, relayCfg.HTTPClient = relay.URL()+"/api/v1", relay.Client()
	relayGen, err := openaicompat.New(relayCfg)
	if err != nil {
		return err
	}

	// Each provider gets its own retry budget and its own limits.
	perProvider := func(g provider.Generator, rpm, rpd int) (provider.Generator, error) {
		retries, err := retry.New(retry.Policy{InitialInterval: 10 * time.Millisecond}) // short waits for the demo
		if err != nil {
			return nil, err
		}
		limits, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: rpm, RequestsPerDay: rpd})
		if err != nil {
			return nil, err
		}
		return provider.Chain(g, retries, limits), nil
	}
	primary, err := perProvider(geminiGen, 60, 1000)
	if err != nil {
		return err
	}
	secondary, err := perProvider(relayGen, 120, 0)
	if err != nil {
		return err
	}
	routes, err := failover.New(failover.Config{Routes: []failover.Route{
		{Name: "gemini", Generator: primary, Priority: 0},
		{Name: "openrouter", Generator: secondary, Priority: 1},
	}})
	if err != nil {
		return err
	}
	budget, err := pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 20 * provider.Dollar}})
	if err != nil {
		return err
	}
	meter, err := pricing.NewMeter(pricing.MeterConfig{Budget: budget})
	if err != nil {
		return err
	}
	store, err := cache.NewMemory(256<<20, nil)
	if err != nil {
		return err
	}
	cached, err := cache.New(cache.Config{Store: store})
	if err != nil {
		return err
	}
	gen := provider.Chain(routes, cached, meter.Middleware())

	req := &provider.Request{Prompt: "a lighthouse on a cliff at dusk", Size: "1K"}
	for i := 1; i <= 2; i++ {
		resp, err := gen.Generate(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "request %d: served by %s (%s), %d image, cost %s, cached %v, upstream calls %d\n",
			i, resp.Provider, resp.Model, len(resp.Images), resp.Cost, resp.Cached, resp.Attempts)
		for _, warn := range resp.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
	}
	t := meter.Totals()
	fmt.Fprintf(w, "metered: %d call, %s; gemini emulator saw %d calls, relay %d\n",
		t.All.Calls, t.All.Cost, google.Stats().Total, relay.Stats().Total)
	return nil
}
