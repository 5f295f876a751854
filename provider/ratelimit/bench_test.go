package ratelimit_test

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

// BenchmarkNothingToDo measures the limiter with generous limits that are
// never hit, against the bare generator.
func BenchmarkNothingToDo(b *testing.B) {
	canned := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Provider: "fake", Attempts: 1}, nil
	})
	req := &provider.Request{Prompt: "p"}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		g    provider.Generator
	}{
		{"bare", canned},
		{"no-limits", testutil.Must(ratelimit.New(ratelimit.Config{}))(canned)},
		{"all-limits", testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1 << 30, Burst: 1 << 20, RequestsPerDay: 1 << 30,
			ImagesPerMinute: 1 << 30, MaxConcurrent: 1 << 10}))(canned)},
	} {
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
