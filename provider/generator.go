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
func Chain(g Generator, mws ...Middleware) Generator {
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			g = mws[i](g)
		}
	}
	return g
}
