package provider_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/imagegen-go/imagegen/provider"
)

// tag returns a middleware that prints name on the way in and out.
func tag(name string) provider.Middleware {
	return func(next provider.Generator) provider.Generator {
		return provider.Wrap(next, func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
			fmt.Println("enter", name)
			resp, err := next.Generate(ctx, req)
			fmt.Println("leave", name)
			return resp, err
		})
	}
}

// The first middleware given to Chain is the outermost layer, which is how
// the recommended order (cache → meter → failover → retry → rate limit →
// adapter) is written down.
func ExampleChain() {
	adapter := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		fmt.Println("adapter", req.Prompt)
		return &provider.Response{Provider: "fake"}, nil
	})
	g := provider.Chain(adapter, tag("cache"), tag("meter"), tag("retry"))
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "a red fox"}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// enter cache
	// enter meter
	// enter retry
	// adapter a red fox
	// leave retry
	// leave meter
	// leave cache
}

func ExampleUSD() {
	price, err := provider.ParseUSD("0.039")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(price, price*3, int64(price))
	// Output: $0.0390 $0.1170 39000
}

func ExampleError() {
	err := fmt.Errorf("generating: %w", &provider.Error{
		Kind: provider.KindRateLimited, Provider: "gemini", Model: "gemini-3-pro-image",
		StatusCode: 429, Code: "RESOURCE_EXHAUSTED", RetryAfter: 26e9,
	})
	d, _ := provider.RetryAfter(err)
	fmt.Println(errors.Is(err, provider.ErrRateLimited), provider.IsRetryable(err), d)
	fmt.Println(err)
	// Output:
	// true true 26s
	// generating: gemini gemini-3-pro-image: rate limited (429 RESOURCE_EXHAUSTED); retry after 26s
}

func ExampleRequest_Validate() {
	err := (&provider.Request{Prompt: "a lighthouse", Size: "3k"}).Validate()
	fmt.Println(errors.Is(err, provider.ErrInvalidRequest))
	fmt.Println(err)
	// Output:
	// true
	// invalid request: Size: "3k" is not 512, 1K, 2K, 4K, auto or WIDTHxHEIGHT (sides 1-8192)
}

// Decorators report their decisions to the handlers of the request's
// context. HandleEvents attaches one to every request; placed outermost,
// it hears every layer below.
func ExampleHandleEvents() {
	calls := 0
	flaky := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		calls++
		// A decorator (here, a stand-in for retry) emits where it decides.
		provider.Emit(ctx, provider.Event{Kind: provider.EventRetryAttempt, Attempt: calls, Reason: "backoff"})
		return &provider.Response{Provider: "fake"}, nil
	})
	report := func(ctx context.Context, e provider.Event) {
		fmt.Println(e.Kind, "attempt", e.Attempt, e.Reason)
	}
	g := provider.Chain(flaky, provider.HandleEvents(report))
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "a red fox"}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// retry.attempt attempt 1 backoff
}

// Stream yields the drafts of an image as the provider sends them, then
// the final response. A generator that cannot stream yields only the
// final response.
func ExampleStream() {
	// A stand-in for an adapter that streams: it sends two drafts through
	// the request's Previews before answering.
	g := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		if p, ok := provider.PreviewsOf(req); ok {
			for i := range 2 {
				p.On(provider.Preview{Index: i, Image: provider.Image{Data: []byte("draft"), MIMEType: "image/png"}})
			}
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte("final"), MIMEType: "image/png"}}}, nil
	})
	req := &provider.Request{Prompt: "a lighthouse at dusk", Options: provider.Options{provider.Previews{Count: 2}}}
	for ev, err := range provider.Stream(context.Background(), g, req) {
		switch {
		case err != nil:
			fmt.Println("failed:", err)
		case ev.Preview != nil:
			fmt.Println("preview", ev.Preview.Index)
		default:
			fmt.Println("final", len(ev.Response.Images), "image")
		}
	}
	// Output:
	// preview 0
	// preview 1
	// final 1 image
}
