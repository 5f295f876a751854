package provider_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

type describedGen struct{}

func (describedGen) Generate(context.Context, *provider.Request) (*provider.Response, error) {
	return &provider.Response{}, nil
}

func (describedGen) Describe() provider.Description {
	return provider.Description{Provider: "p", Model: "m", Capabilities: provider.Capabilities{MaxImages: 2}}
}

// A middleware written as a plain GeneratorFunc hides nothing: Chain gives
// it the Describe and CheckRequest of what it wraps.
func TestChainSeesThroughOpaqueMiddleware(t *testing.T) {
	t.Parallel()
	opaque := func(next provider.Generator) provider.Generator {
		return provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
			return next.Generate(ctx, req)
		})
	}
	g := provider.Chain(describedGen{}, opaque, opaque)
	if d := provider.Describe(g); d.Provider != "p" || d.Model != "m" {
		t.Errorf("Describe through opaque layers = %+v", d)
	}
	if err := provider.CheckRequest(g, &provider.Request{Prompt: "x", N: 3}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("CheckRequest through opaque layers = %v", err)
	}
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "x"}); err != nil {
		t.Fatal(err)
	}
}

func TestComposeIsAStackValue(t *testing.T) {
	t.Parallel()
	var order []string
	mark := func(name string) provider.Middleware {
		return func(next provider.Generator) provider.Generator {
			return provider.Wrap(next, func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
				order = append(order, name)
				return next.Generate(ctx, req)
			})
		}
	}
	stack := provider.Compose(mark("a"), nil, mark("b"))
	g := provider.Chain(describedGen{}, mark("outer"), stack, mark("inner"))
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "outer,a,b,inner" {
		t.Errorf("order = %s", got)
	}
	if d := provider.Describe(g); d.Model != "m" {
		t.Errorf("Describe = %+v", d)
	}
}

type upstreamCalls int

func (n upstreamCalls) Error() string         { return "tried" }
func (n upstreamCalls) UpstreamAttempts() int { return int(n) }

func TestAttemptsOf(t *testing.T) {
	t.Parallel()
	local := &provider.Error{Kind: provider.KindRateLimited, Code: provider.CodeLocalLimit}
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("plain"), 1},
		{local, 0},
		{&provider.Error{Kind: provider.KindBudgetExceeded, Code: "daily"}, 0},
		{fmt.Errorf("wrapped: %w", upstreamCalls(3)), 3},
	} {
		if got := provider.AttemptsOf(tt.err); got != tt.want {
			t.Errorf("AttemptsOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
