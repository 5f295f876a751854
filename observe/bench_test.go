package observe_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/observe"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// sdkObserver is an Observer on the OpenTelemetry SDK as a service would
// run it: every span sampled and batched to an exporter (here one that
// drops them), metrics aggregated for a reader. logger may be nil.
func sdkObserver(b *testing.B, logger *slog.Logger) *observe.Observer {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	return testutil.Must(observe.New(observe.Config{TracerProvider: tp, MeterProvider: mp, Logger: logger}))
}

func run(b *testing.B, g provider.Generator, req *provider.Request) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Generate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMiddleware measures the middleware around a generator that
// answers at once: its whole cost per request.
func BenchmarkMiddleware(b *testing.B) {
	canned := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Provider: "gemini", Model: "gemini-2.5-flash-image", Attempts: 1,
			Images: []provider.Image{{Data: []byte("x")}}, Usage: provider.Usage{InputTokens: 10, OutputTokens: 1290}}, nil
	})
	req := &provider.Request{Prompt: "a lighthouse", Size: "1K"}
	b.Run("bare", func(b *testing.B) { run(b, canned, req) })
	b.Run("noop-providers", func(b *testing.B) {
		obs := testutil.Must(observe.New(observe.Config{})) // the global providers, no-ops here
		run(b, provider.Chain(canned, obs.Middleware()), req)
	})
	b.Run("sdk", func(b *testing.B) {
		run(b, provider.Chain(canned, sdkObserver(b, nil).Middleware()), req)
	})
	b.Run("sdk+slog", func(b *testing.B) {
		logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
		run(b, provider.Chain(canned, sdkObserver(b, logger).Middleware()), req)
	})
}

// BenchmarkOnEmulator measures the middleware around the Gemini adapter,
// alone and inside failover → retry → rate limit, against the emulator on
// loopback: the difference between each pair is what observing costs.
func BenchmarkOnEmulator(b *testing.B) {
	providertest.ClearEnv(b)
	const key = "emulator-key"
	srv := providertest.NewServer(providertest.Options{APIKey: key})
	defer srv.Close()
	adapter, err := gemini.New(context.Background(), gemini.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	stack := testutil.Must(failover.New(failover.Config{Routes: []failover.Route{{Name: "gemini", Generator: provider.Chain(adapter,
		testutil.Must(retry.New(retry.Policy{})),
		testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, RequestsPerDay: 1 << 30, MaxConcurrent: 64})))}}}))
	req := &provider.Request{Prompt: "a tiny red square", Size: "512px", Model: "gemini-3.1-flash-image"}
	obs := sdkObserver(b, nil)
	b.Run("adapter", func(b *testing.B) { run(b, adapter, req) })
	b.Run("observed-adapter", func(b *testing.B) { run(b, provider.Chain(adapter, obs.Middleware()), req) })
	b.Run("stack", func(b *testing.B) { run(b, stack, req) })
	b.Run("observed-stack", func(b *testing.B) { run(b, provider.Chain(stack, obs.Middleware()), req) })
}

// BenchmarkEventPlumbing measures failover → retry → rate limit around a
// generator that answers at once, with nobody listening to their events
// and with a handler that does nothing: the cost of the events alone.
func BenchmarkEventPlumbing(b *testing.B) {
	canned := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Provider: "fake", Model: "m", Attempts: 1}, nil
	})
	stack := testutil.Must(failover.New(failover.Config{Routes: []failover.Route{{Name: "only", Generator: provider.Chain(canned,
		testutil.Must(retry.New(retry.Policy{})),
		testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, RequestsPerDay: 1 << 30})))}}}))
	req := &provider.Request{Prompt: "p"}
	b.Run("nobody-listens", func(b *testing.B) { run(b, stack, req) })
	b.Run("noop-handler", func(b *testing.B) {
		run(b, provider.Chain(stack, provider.HandleEvents(func(context.Context, provider.Event) {})), req)
	})
}

// BenchmarkSDKSpanAlone is the reference: one span of the same SDK set-up
// with as many attributes as a request span carries, made by hand. The
// middleware's own cost is what it takes beyond this and the bare
// generator.
func BenchmarkSDKSpanAlone(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("bench")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, span := tracer.Start(ctx, "generate_content gemini-2.5-flash-image", trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "generate_content"), attribute.String("gen_ai.provider.name", "gcp.gemini"),
			attribute.String("gen_ai.request.model", "gemini-2.5-flash-image"), attribute.String("gen_ai.output.type", "image"),
			attribute.Int("imagegen.n", 1), attribute.String("imagegen.size", "1K")))
		span.SetAttributes(attribute.String("imagegen.provider", "gemini"), attribute.String("gen_ai.response.model", "gemini-2.5-flash-image"),
			attribute.Int("gen_ai.usage.input_tokens", 10), attribute.Int("gen_ai.usage.output_tokens", 1290),
			attribute.Float64("imagegen.cost", 0.039), attribute.Bool("imagegen.cached", false),
			attribute.Int("imagegen.attempts", 1), attribute.Int("imagegen.images", 1))
		span.End()
	}
}

// BenchmarkProductionStack measures the README's stack (cache → meter and
// budget → failover → retry → rate limit) around a generator that answers
// at once, with and without the middleware on top: misses (a new prompt
// each time, so every layer decides and reports) and hits.
func BenchmarkProductionStack(b *testing.B) {
	canned := fakeGemini{}
	stack := func() provider.Generator {
		routes := testutil.Must(failover.New(failover.Config{Routes: []failover.Route{{Name: "gemini", Generator: provider.Chain(canned,
			testutil.Must(retry.New(retry.Policy{})),
			testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, RequestsPerDay: 1 << 30})))}}}))
		budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 1 << 50}}))
		meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
		return provider.Chain(routes, testutil.Must(cache.New(cache.Config{})), meter.Middleware())
	}
	miss := func(b *testing.B, g provider.Generator) {
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := g.Generate(ctx, &provider.Request{Prompt: "p" + strconv.Itoa(i)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	hit := &provider.Request{Prompt: "a lighthouse"}
	b.Run("miss", func(b *testing.B) { miss(b, stack()) })
	b.Run("observed-miss", func(b *testing.B) { miss(b, provider.Chain(stack(), sdkObserver(b, nil).Middleware())) })
	b.Run("hit", func(b *testing.B) { run(b, stack(), hit) })
	b.Run("observed-hit", func(b *testing.B) { run(b, provider.Chain(stack(), sdkObserver(b, nil).Middleware()), hit) })
}
