package cache_test

import (
	"context"
	"fmt"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/provider"
)

func ExampleNew() {
	calls := 0
	adapter := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		calls++
		return &provider.Response{
			Images: []provider.Image{{Data: []byte("…png…"), MIMEType: "image/png"}},
			Model:  "gemini-nano-banana-2.1", Cost: 33_600, Attempts: 1,
		}, nil
	})
	// Memory store bounded to 64 MiB; cache.OpenDisk for a persistent one.
	store, err := cache.NewMemory(64<<20, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	cached, err := cache.New(cache.Config{Store: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	gen := provider.Chain(adapter, cached)

	req := &provider.Request{Prompt: "a lighthouse at dusk", Model: "gemini-nano-banana-2.1"}
	for range 2 {
		resp, _ := gen.Generate(context.Background(), req)
		fmt.Println("cached:", resp.Cached, "cost:", resp.Cost, "attempts:", resp.Attempts)
	}
	skip := &provider.Request{Prompt: req.Prompt, Model: req.Model, Options: provider.Options{cache.Skip}}
	resp, _ := gen.Generate(context.Background(), skip)
	fmt.Println("skip: cached:", resp.Cached, "upstream calls:", calls)
	// Output:
	// cached: false cost: $0.0336 attempts: 1
	// cached: true cost: $0.0000 attempts: 0
	// skip: cached: false upstream calls: 2
}
