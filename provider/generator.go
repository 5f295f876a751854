package provider

import "context"

// Generator produces images. Implementations are safe for concurrent use.
type Generator interface {
	Generate(ctx context.Context, req *Request) (*Response, error)
}

// GeneratorFunc adapts a function to the Generator interface.
type GeneratorFunc func(ctx context.Context, req *Request) (*Response, error)

// Generate calls f(ctx, req).
func (f GeneratorFunc) Generate(ctx context.Context, req *Request) (*Response, error) {
	return f(ctx, req)
}

// Middleware decorates a Generator with one production concern.
type Middleware func(Generator) Generator

// Chain wraps g in mws; mws[0] is the outermost layer, so a request passes
// through mws[0], then mws[1], ..., then g. Nil middlewares are skipped.
//
// A middleware cannot hide what it wraps from the decorators that look
// through the stack (failover's capability checks, the meter's prices): a
// layer that neither describes itself nor exposes what it wraps (such as
// a plain GeneratorFunc) is given the Describe, CheckRequest and Unwrap of
// the generator it was applied to, as if it had been built with Wrap.
func Chain(g Generator, mws ...Middleware) Generator {
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] == nil {
			continue
		}
		next := g
		g = mws[i](next)
		if g != nil && opaque(g) {
			g = Wrap(next, g.Generate)
		}
	}
	return g
}

// opaque reports whether g hides the stack under it: it neither describes
// itself nor unwraps.
func opaque(g Generator) bool {
	switch g.(type) {
	case Describer, Unwrapper, RequestChecker, Alternatives:
		return false
	}
	return true
}

// Compose returns the middleware that applies mws in order, so that a
// stack is a value: Chain(g, Compose(a, b)) is Chain(g, a, b).
//
//	perProvider := provider.Compose(retries, limits)
//	gemini := provider.Chain(geminiGen, perProvider)
func Compose(mws ...Middleware) Middleware {
	mws = append([]Middleware(nil), mws...)
	return func(g Generator) Generator { return Chain(g, mws...) }
}
