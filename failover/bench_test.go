package failover_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// BenchmarkNothingToDo measures failover over one healthy route, against
// the bare generator.
func BenchmarkNothingToDo(b *testing.B) {
	canned := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Provider: "fake", Model: "m", Attempts: 1}, nil
	})
	f, err := failover.New(failover.Config{Routes: []failover.Route{{Name: "only", Generator: canned}}})
	if err != nil {
		b.Fatal(err)
	}
	req := &provider.Request{Prompt: "p"}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		g    provider.Generator
	}{{"bare", canned}, {"failover", f}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.g.Generate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFullStack compares the bare Gemini adapter with failover → retry
// → rate limit → adapter, both against the emulator on loopback.
func BenchmarkFullStack(b *testing.B) {
	clearEnv(b)
	srv := providertest.NewServer(providertest.Options{APIKey: chaosKey})
	defer srv.Close()
	adapter, err := gemini.New(context.Background(), gemini.Config{APIKey: chaosKey, BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	stack := provider.Chain(adapter,
		testutil.Must(retry.New(retry.Policy{})),
		testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, Burst: 1 << 20, RequestsPerDay: 1 << 30, MaxConcurrent: 64})))
	f, err := failover.New(failover.Config{Routes: []failover.Route{{Name: "gemini", Generator: stack}}})
	if err != nil {
		b.Fatal(err)
	}
	req := &provider.Request{Prompt: "a tiny red square", Size: "512px", Model: "gemini-3.1-flash-image"}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		g    provider.Generator
	}{{"adapter", adapter}, {"failover-retry-ratelimit-adapter", f}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.g.Generate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// noop is the cheapest generator that still behaves like an adapter: it
// describes itself as a catalog model and returns a tiny image with usage.
type noop struct{ img []byte }

func (n noop) Generate(context.Context, *provider.Request) (*provider.Response, error) {
	return &provider.Response{
		Images:   []provider.Image{{Data: n.img, MIMEType: "image/png"}},
		Provider: "gemini", Model: "gemini-3.1-flash-image", Attempts: 1,
		Usage: provider.Usage{InputTokens: 12, OutputTokens: 1120, OutputImageTokens: 1120, Images: 1},
	}, nil
}

func (noop) Describe() provider.Description {
	return provider.Description{Provider: "gemini", Model: "gemini-3.1-flash-image"}
}

// BenchmarkFullStackMiss measures what the README's production stack adds
// to a call that misses the cache: cache (memory store) → pricing meter
// with a budget → failover → retry → rate limit → a no-op generator, every
// call a new prompt. "bare" is the generator alone with the same loop, so
// the difference is the stack's cost. "stack" calls with
// context.Background(); "stack-deadline" with a context that has a
// deadline, as a server's calls do (the cache then runs the upstream call
// in a goroutine of its own, see cache.New).
//
//	go test -run '^$' -bench FullStackMiss -benchmem -count 5 ./failover/
func BenchmarkFullStackMiss(b *testing.B) {
	gen := noop{img: []byte("\x89PNG\r\n\x1a\n tiny")}
	newStack := func() provider.Generator {
		perRoute := provider.Chain(gen,
			testutil.Must(retry.New(retry.Policy{})),
			testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, RequestsPerDay: 1 << 30, MaxConcurrent: 64})))
		routes := testutil.Must(failover.New(failover.Config{Routes: []failover.Route{{Name: "gemini", Generator: perRoute}}}))
		budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 1 << 50}}))
		meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
		return provider.Chain(routes, testutil.Must(cache.New(cache.Config{})), meter.Middleware())
	}
	deadline, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for _, bc := range []struct {
		name string
		g    func() provider.Generator
		ctx  context.Context
	}{
		{"bare", func() provider.Generator { return gen }, context.Background()},
		{"stack", newStack, context.Background()},
		{"stack-deadline", newStack, deadline},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := bc.g()
			req := &provider.Request{Size: "1K", Labels: map[string]string{"team": "search"}}
			prompt := append(make([]byte, 0, 64), "a lighthouse at dusk #"...)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				n++
				req.Prompt = string(strconv.AppendInt(prompt, int64(n), 10)) // one allocation
				resp, err := g.Generate(bc.ctx, req)
				if err != nil || resp.Cached {
					b.Fatal(err, "or a hit")
				}
			}
		})
	}
}

// drafting is noop that also sends n drafts when the request asks for
// previews, as a streaming adapter does, and reports them billed.
type drafting struct {
	noop
	n int
}

func (d drafting) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	resp, _ := d.noop.Generate(ctx, req)
	if p, ok := provider.PreviewsOf(req); ok {
		for i := range d.n {
			p.On(provider.Preview{Index: i, Image: provider.Image{Data: d.img, MIMEType: "image/png"}, Provider: "gemini"})
		}
		resp.Usage.Previews = d.n
	}
	return resp, nil
}

// BenchmarkStreamFullStack measures what streaming previews costs through
// the production stack of BenchmarkFullStackMiss (cache → meter with a
// budget → failover → retry → rate limit → a no-op generator that sends
// drafts), every call a cache miss:
//
//   - generate: Generate without previews (context.Background());
//   - generate-cancel: the same with a cancellable context, which is what
//     Stream passes down (the cache then runs its flight in a goroutine);
//   - generate-on: Generate with a Previews whose On does nothing and 3
//     drafts: the decorators' cost of previews, without Stream;
//   - stream-N: provider.Stream with N drafts, so N preview events and the
//     final one.
//
// The "bare-" variants are the generator alone. (stream-3 − stream-0) / 3
// is the cost of one preview event through the stack; stream-0 −
// generate-cancel what a streamed call costs beyond Generate, per call.
// cpu-ns/op is the process's CPU time per call (every thread), steadier
// than ns/op on a shared machine. Measured 2026-12-04 (2 shared cores,
// load 10-20, medians of 10 runs): a preview event costs about 0.7 µs of
// CPU and one allocation (about 100 B) through the stack, as through a
// bare Stream; a streamed call costs about 7 µs and 28 allocations more
// than Generate, 2 µs and 16 of them the decorators' wrapping of On.
//
//	go test -run '^$' -bench StreamFullStack -benchmem -count 5 ./failover/
func BenchmarkStreamFullStack(b *testing.B) {
	img := []byte("\x89PNG\r\n\x1a\n tiny")
	newStack := func(n int) func() provider.Generator {
		return func() provider.Generator {
			perRoute := provider.Chain(provider.Generator(drafting{noop{img: img}, n}),
				testutil.Must(retry.New(retry.Policy{})),
				testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, RequestsPerDay: 1 << 30, MaxConcurrent: 64})))
			routes := testutil.Must(failover.New(failover.Config{Routes: []failover.Route{{Name: "gemini", Generator: perRoute}}}))
			budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: 1 << 50}}))
			meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
			return provider.Chain(routes, testutil.Must(cache.New(cache.Config{})), meter.Middleware())
		}
	}
	bare := func(n int) func() provider.Generator {
		return func() provider.Generator { return drafting{noop{img: img}, n} }
	}
	cancelled, cancel := context.WithCancel(context.Background())
	defer cancel()
	nop := func(provider.Preview) {}
	type mode int
	const (
		generate mode = iota
		generateOn
		stream
	)
	for _, bc := range []struct {
		name   string
		g      func() provider.Generator
		ctx    context.Context
		mode   mode
		events int
	}{
		{"bare-generate", bare(3), context.Background(), generate, 1},
		{"bare-stream-0", bare(0), context.Background(), stream, 1},
		{"bare-stream-3", bare(3), context.Background(), stream, 4},
		{"generate", newStack(3), context.Background(), generate, 1},
		{"generate-cancel", newStack(3), cancelled, generate, 1},
		{"generate-on", newStack(3), cancelled, generateOn, 1},
		{"stream-0", newStack(0), context.Background(), stream, 1},
		{"stream-1", newStack(1), context.Background(), stream, 2},
		{"stream-3", newStack(3), context.Background(), stream, 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := bc.g()
			req := &provider.Request{Size: "1K", Labels: map[string]string{"team": "search"}}
			if bc.mode == generateOn {
				req.Options = provider.Options{provider.Previews{Count: 3, On: nop}}
			}
			if bc.mode == stream {
				req.Options = provider.Options{provider.Previews{Count: 3}}
			}
			prompt := append(make([]byte, 0, 64), "a lighthouse at dusk #"...)
			n := 0
			b.ReportAllocs()
			cpu0, cpuOK := cpuTime()
			defer func() {
				if cpu1, ok := cpuTime(); ok && cpuOK && n > 0 {
					b.ReportMetric(float64(cpu1-cpu0)/float64(n), "cpu-ns/op")
				}
			}()
			for b.Loop() {
				n++
				req.Prompt = string(strconv.AppendInt(prompt, int64(n), 10)) // one allocation
				if bc.mode != stream {
					resp, err := g.Generate(bc.ctx, req)
					if err != nil || resp.Cached {
						b.Fatal(err, "or a hit")
					}
					continue
				}
				events := 0
				for ev, err := range provider.Stream(bc.ctx, g, req) {
					if err != nil || (ev.Response != nil && ev.Response.Cached) {
						b.Fatal(err, "or a hit")
					}
					events++
				}
				if events != bc.events {
					b.Fatalf("%d events, want %d", events, bc.events)
				}
			}
		})
	}
}
