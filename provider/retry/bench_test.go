package retry_test

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// BenchmarkNothingToDo measures the decorator around a generator that
// succeeds at once, against the bare generator.
func BenchmarkNothingToDo(b *testing.B) {
	canned := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Provider: "fake", Attempts: 1}, nil
	})
	req := &provider.Request{Prompt: "p"}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		g    provider.Generator
	}{{"bare", canned}, {"retry", testutil.Must(retry.New(retry.Policy{}))(canned)}} {
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
