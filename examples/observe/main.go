// Command observe runs the README's production stack on two emulators
// with faults injected, observed by package observe, and prints what a
// team running it would see: the log lines (slog), the spans (the
// OpenTelemetry stdout exporter), the metrics (the stdout metric
// exporter), and the span tree of each request.
//
//	go run ./examples/observe
//
// The stack:
//
//	cache → pricing meter/budget → failover → per provider: retry → rate limit → adapter
//
// Four requests:
//
//  1. Gemini answers 429 with a 0.2 s hint, then serves: two attempt
//     spans, the first rate_limited with reason "hint".
//  2. Gemini is overloaded three times: retry gives up, the route's
//     breaker opens, and the OpenRouter-style relay serves.
//  3. The first prompt again: a cache hit, with no attempt span.
//  4. A new prompt: the Gemini route is skipped (circuit open), the relay
//     serves.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/observe"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: observe\n\nRuns the README's production stack offline on two emulators with faults injected,\nobserved through OpenTelemetry and slog; takes no flags.\nExits with status 1 when a request is not served.\n")
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "observe: unexpected argument %q (see -h)\n", flag.Arg(0))
		os.Exit(2)
	}
	if _, err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "observe:", err)
		os.Exit(1)
	}
}

// prompts are the four requests; the third repeats the first.
var prompts = []string{
	"a lighthouse on a cliff at dusk",
	"a harbour at night",
	"a lighthouse on a cliff at dusk",
	"a fox in the snow",
}

// run sends the four requests and prints what was observed to w. It
// returns every span recorded, for tests.
func run(ctx context.Context, w io.Writer) ([]sdktrace.ReadOnlySpan, error) {
	const key = "emulator-key"
	google := providertest.NewServer(providertest.Options{APIKey: key})
	defer google.Close()
	relay := providertest.NewServer(providertest.Options{APIKey: key})
	defer relay.Close()
	// Request 1: a 429 with a short hint, then success. Request 2: three
	// overloaded answers, as many as retry tries.
	google.Inject(providertest.EndpointGenerateContent,
		providertest.RateLimited(200*time.Millisecond), providertest.FaultNone(),
		providertest.Unavailable(), providertest.Unavailable(), providertest.Unavailable())

	// OpenTelemetry: spans to the stdout exporter (and to a recorder, for
	// the tree at the end), metrics to the stdout metric exporter.
	spanOut, err := stdouttrace.New(stdouttrace.WithWriter(w))
	if err != nil {
		return nil, err
	}
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(spanOut), sdktrace.WithSpanProcessor(recorder))
	metricOut, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricOut)))
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	obs, err := observe.New(observe.Config{TracerProvider: tp, MeterProvider: mp, Logger: logger})
	if err != nil {
		return nil, err
	}

	gen, err := stack(ctx, key, google, relay, obs)
	if err != nil {
		return nil, err
	}

	fmt.Fprintln(w, "== log lines (slog, Info and above)")
	var failed []string
	for i, p := range prompts {
		resp, err := gen.Generate(ctx, &provider.Request{Prompt: p, Size: "1K"})
		if err != nil {
			failed = append(failed, fmt.Sprintf("request %d: %v", i+1, err))
			continue
		}
		fmt.Fprintf(w, "request %d: served by %s (%s), cost %s, cached %v, upstream calls %d\n",
			i+1, resp.Provider, resp.Model, resp.Cost, resp.Cached, resp.Attempts)
	}

	fmt.Fprintln(w, "\n== spans (stdouttrace, one JSON object per span)")
	if err := tp.Shutdown(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "\n== metrics (stdoutmetric)")
	if err := mp.Shutdown(ctx); err != nil {
		return nil, err
	}
	spans := recorder.Ended()
	fmt.Fprintln(w, "\n== span trees")
	printTrees(w, spans)
	if len(failed) > 0 {
		return spans, errors.New(strings.Join(failed, "; "))
	}
	return spans, nil
}

// stack is the README's production stack over the two emulators, observed
// by obs.
func stack(ctx context.Context, key string, google, relay *providertest.Server, obs *observe.Observer) (provider.Generator, error) {
	geminiGen, err := gemini.New(ctx, gemini.Config{APIKey: key, BaseURL: google.URL(), HTTPClient: google.Client(), Model: "gemini-2.5-flash-image"})
	if err != nil {
		return nil, err
	}
	relayCfg := openaicompat.OpenRouter(key)
	relayCfg.BaseURL, relayCfg.HTTPClient = relay.URL()+"/api/v1", relay.Client()
	relayGen, err := openaicompat.New(relayCfg)
	if err != nil {
		return nil, err
	}
	perProvider := func(g provider.Generator) (provider.Generator, error) {
		retries, err := retry.New(retry.Policy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond}) // short waits for the demo
		if err != nil {
			return nil, err
		}
		limits, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: 60})
		if err != nil {
			return nil, err
		}
		return provider.Chain(g, retries, limits), nil
	}
	primary, err := perProvider(geminiGen)
	if err != nil {
		return nil, err
	}
	secondary, err := perProvider(relayGen)
	if err != nil {
		return nil, err
	}
	routes, err := failover.New(failover.Config{
		Routes: []failover.Route{
			{Name: "gemini", Generator: primary, Priority: 0},
			{Name: "openrouter", Generator: secondary, Priority: 1},
		},
		Breaker:         failover.BreakerSettings{ConsecutiveFailures: 1}, // open at the first failed request, for the demo
		OnBreakerChange: obs.HandleEvent,
	})
	if err != nil {
		return nil, err
	}
	budget, err := pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 20 * provider.Dollar}})
	if err != nil {
		return nil, err
	}
	meter, err := pricing.NewMeter(pricing.MeterConfig{Budget: budget})
	if err != nil {
		return nil, err
	}
	cached, err := cache.New(cache.Config{})
	if err != nil {
		return nil, err
	}
	return provider.Chain(routes, obs.Middleware(), cached, meter.Middleware()), nil
}

// printTrees prints each request's span, its attempts under it, and its
// span events, in the order the requests started.
func printTrees(w io.Writer, spans []sdktrace.ReadOnlySpan) {
	for _, tr := range requestTrees(spans) {
		root := tr.request
		fmt.Fprintf(w, "%s %s\n", root.Name(), summary(root, "imagegen.route", "imagegen.attempts", "imagegen.cached", "imagegen.cost", "error.type"))
		for _, e := range root.Events() {
			fmt.Fprintf(w, "  · %s\n", e.Name)
		}
		for _, k := range tr.attempts {
			fmt.Fprintf(w, "  └ %s %s\n", k.Name(), summary(k, "imagegen.route", "imagegen.attempt", "error.type", "imagegen.reason", "imagegen.retry.wait"))
		}
	}
}

// requestTree is a request's span and its attempts' spans under it.
type requestTree struct {
	request  sdktrace.ReadOnlySpan
	attempts []sdktrace.ReadOnlySpan
}

// requestTrees groups spans by request: requests and each one's attempts
// in the order they started.
func requestTrees(spans []sdktrace.ReadOnlySpan) []requestTree {
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Parent().IsValid() {
			children[s.Parent().SpanID()] = append(children[s.Parent().SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) }
	slices.SortFunc(roots, byStart)
	trees := make([]requestTree, len(roots))
	for i, root := range roots {
		kids := children[root.SpanContext().SpanID()]
		slices.SortFunc(kids, byStart)
		trees[i] = requestTree{request: root, attempts: kids}
	}
	return trees
}

// summary renders the named attributes of s that are set.
func summary(s sdktrace.ReadOnlySpan, keys ...string) string {
	var parts []string
	for _, k := range keys {
		for _, kv := range s.Attributes() {
			if string(kv.Key) == k {
				parts = append(parts, fmt.Sprintf("%s=%v", strings.TrimPrefix(k, "imagegen."), kv.Value.String()))
			}
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}
