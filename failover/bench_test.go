package failover_test

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/testutil"
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
