package failover_test

import (
	"context"
	"errors"
	"slices"
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

// TestPreviewsEndToEnd streams through the README's production stack
// (cache → meter with a budget → failover → retry → rate limit → real
// adapters) over two emulators, an OpenAI-style primary and a Gemini
// secondary, with faults before and in the middle of the primary's stream.
func TestPreviewsEndToEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault func() providertest.Fault
		// want: the provider of each event in order, "error" for the
		// final error.
		want        []string
		interrupted bool
		primary     int // upstream calls to the primary
		secondary   int
	}{
		{"healthy", nil, []string{"primary", "primary", "primary"}, false, 1, 0},
		// A failure before any draft: retry, then another route.
		{"unavailable before the stream", providertest.Unavailable, []string{"primary", "primary", "primary"}, false, 2, 0},
		// After a draft the caller has seen, no retry and no other route.
		{"reset after a draft", providertest.StreamReset, []string{"primary", "error"}, true, 1, 0},
		{"error event after a draft", providertest.StreamError, []string{"primary", "error"}, true, 1, 0},
		{"stream ends without the image", providertest.StreamIncomplete, []string{"primary", "error"}, true, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := providertest.NewClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
			a := providertest.NewServer(providertest.Options{APIKey: chaosKey, Clock: clk})
			t.Cleanup(a.Close)
			b := providertest.NewServer(providertest.Options{APIKey: chaosKey, Clock: clk})
			t.Cleanup(b.Close)
			if tt.fault != nil {
				a.Inject(providertest.EndpointImagesGenerations, tt.fault())
			}
			oa, err := openaicompat.New(openaicompat.Config{Name: "primary", APIKey: chaosKey, BaseURL: a.URL() + "/v1",
				HTTPClient: a.Client(), Clock: clk, Model: "gpt-image-2"})
			if err != nil {
				t.Fatal(err)
			}
			gm, err := gemini.New(context.Background(), gemini.Config{Name: "secondary", APIKey: chaosKey, BaseURL: b.URL(),
				HTTPClient: b.Client(), Clock: clk, Model: "gemini-3-pro-image"})
			if err != nil {
				t.Fatal(err)
			}
			route := func(g provider.Generator) provider.Generator {
				return provider.Chain(g,
					testutil.Must(retry.New(retry.Policy{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, Clock: clk})),
					testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 60, Clock: clk})))
			}
			f := testutil.Must(failover.New(failover.Config{Clock: clk, Routes: []failover.Route{
				{Name: "primary", Generator: route(oa)}, {Name: "secondary", Generator: route(gm)}}}))
			budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 5 * provider.Dollar}, Clock: clk}))
			meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget, Clock: clk}))
			store := testutil.Must(cache.NewMemory(0, clk))
			stack := provider.Chain(f, meter.Middleware(), testutil.Must(cache.New(cache.Config{Store: store, Clock: clk})))

			req := &provider.Request{Prompt: "a paper boat", Size: "1024x1024", Quality: "low",
				Options: provider.Options{provider.Previews{Count: 2}}}
			var got []string
			var last error
			for ev, err := range provider.Stream(context.Background(), stack, req) {
				switch {
				case err != nil:
					got, last = append(got, "error"), err
				case ev.Preview != nil:
					got = append(got, ev.Preview.Provider)
				default:
					got = append(got, ev.Response.Provider)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("events %v, want %v (err %v)", got, tt.want, last)
			}
			if tt.interrupted != errors.Is(last, provider.ErrStreamInterrupted) || (tt.interrupted && !errors.Is(last, provider.ErrUnavailable)) {
				t.Errorf("err = %v; want interrupted %v, matching ErrUnavailable", last, tt.interrupted)
			}
			if pa, sb := a.Stats().Total, b.Stats().Total; pa != tt.primary || sb != tt.secondary {
				t.Errorf("upstream calls: primary %d, secondary %d; want %d, %d", pa, sb, tt.primary, tt.secondary)
			}
			tot := meter.Totals().All
			if tt.interrupted {
				return
			}
			// The drafts are billed: 2 × 100 image output tokens on top of
			// the image, and the budget settled what the meter priced.
			if tot.Usage.Previews != 2 || tot.Cost <= 0 {
				t.Errorf("metered %+v", tot)
			}
			// A second identical stream is a cache hit: one final event.
			got = got[:0]
			for ev, err := range provider.Stream(context.Background(), stack, req) {
				if err != nil {
					t.Fatal(err)
				}
				if ev.Preview != nil {
					got = append(got, "preview")
				} else if ev.Response.Cached {
					got = append(got, "cached")
				}
			}
			if !slices.Equal(got, []string{"cached"}) {
				t.Errorf("replay: %v, want one cached final event", got)
			}
		})
	}
}
