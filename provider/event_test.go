package provider_test

import (
	"context"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

func TestEventHandlers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if provider.Listening(ctx) {
		t.Fatal("a bare context listens")
	}
	provider.Emit(ctx, provider.Event{Kind: provider.EventCacheHit}) // no handler: nothing happens
	if got := provider.WithEventHandler(ctx, nil); got != ctx {
		t.Error("a nil handler changed the context")
	}
	var outer, inner []provider.EventKind
	ctx1 := provider.WithEventHandler(ctx, func(_ context.Context, e provider.Event) { outer = append(outer, e.Kind) })
	ctx2 := provider.WithEventHandler(ctx1, func(_ context.Context, e provider.Event) { inner = append(inner, e.Kind) })
	if !provider.Listening(ctx1) || !provider.Listening(ctx2) {
		t.Fatal("Listening false with a handler")
	}
	provider.Emit(ctx2, provider.Event{Kind: provider.EventCacheMiss})
	provider.Emit(ctx1, provider.Event{Kind: provider.EventCacheHit})
	if len(outer) != 2 || len(inner) != 1 || inner[0] != provider.EventCacheMiss {
		t.Errorf("outer %v, inner %v", outer, inner)
	}
}

func TestHandleEvents(t *testing.T) {
	t.Parallel()
	var seen []provider.Event
	inner := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		provider.Emit(ctx, provider.Event{Kind: provider.EventRetryAttempt, Attempt: 1})
		return &provider.Response{}, nil
	})
	g := provider.Chain(describedFunc{inner}, provider.HandleEvents(func(_ context.Context, e provider.Event) { seen = append(seen, e) }))
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Attempt != 1 {
		t.Errorf("seen %+v", seen)
	}
	if d := provider.Describe(g); d.Provider != "fake" {
		t.Errorf("HandleEvents hides the description: %+v", d)
	}
	if g := provider.HandleEvents(nil)(inner); g == nil {
		t.Error("HandleEvents(nil) returned nil")
	}
}

type describedFunc struct{ provider.GeneratorFunc }

func (describedFunc) Describe() provider.Description { return provider.Description{Provider: "fake"} }

func TestEventKindNames(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for k := provider.EventRouteTried; k <= provider.EventCacheError; k++ {
		name := k.String()
		if name == "unknown" || seen[name] || strings.Count(name, ".") < 1 {
			t.Errorf("kind %d: name %q", k, name)
		}
		seen[name] = true
	}
	if got := provider.EventKind(200).String(); got != "unknown" {
		t.Errorf("out of range: %q", got)
	}
}

// BenchmarkEmit measures what a decorator pays to report a decision: with
// nobody listening (the cost every request pays) and with one handler.
func BenchmarkEmit(b *testing.B) {
	e := provider.Event{Kind: provider.EventCacheMiss, Key: "k"}
	deep := context.Background()
	for range 8 { // a context as deep as a server's
		deep = context.WithValue(deep, new(int), 1)
	}
	b.Run("none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			provider.Emit(deep, e)
		}
	})
	b.Run("listening", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		ctx := provider.WithEventHandler(deep, func(context.Context, provider.Event) { n++ })
		for b.Loop() {
			provider.Emit(ctx, e)
		}
	})
}
