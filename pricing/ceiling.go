package pricing

import (
	"context"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/provider"
)

// Ceiling returns a middleware that declares the most one image from the
// generator it wraps may cost: provider.Description.MaxCostPerImage, for
// every generator under it that does not declare its own. A budget
// reserves the ceiling per image when the catalog cannot price the model
// (a relay's own model ID, a model newer than the catalog) instead of the
// default, the dearest image the catalog knows (Catalog.DearestImage).
// Put it on a relay generator, or on one failover route:
//
//	relayOnly, err := pricing.Ceiling(10 * provider.Cent)
//	routes := []failover.Route{
//		{Name: "google", Generator: geminiGen},
//		{Name: "relay", Generator: provider.Chain(relayGen, relayOnly)},
//	}
//
// A call that costs more than was reserved is still settled in full and
// fires an AlertOverrun. perImage must be positive; anything else is a
// *provider.ConfigError.
func Ceiling(perImage provider.USD) (provider.Middleware, error) {
	var e cfgcheck.Errors
	if perImage <= 0 {
		e.Add("pricing.Ceiling perImage", perImage, "more than $0")
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	return func(next provider.Generator) provider.Generator {
		return &ceiling{next: next, perImage: perImage}
	}, nil
}

// ceiling forwards everything to next and declares perImage in the
// descriptions it hands out.
type ceiling struct {
	next     provider.Generator
	perImage provider.USD
}

func (c *ceiling) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	return c.next.Generate(ctx, req)
}

func (c *ceiling) Unwrap() provider.Generator { return c.next }

func (c *ceiling) CheckRequest(req *provider.Request) error {
	return provider.CheckRequest(c.next, req)
}

func (c *ceiling) Describe() provider.Description { return c.declare(provider.Describe(c.next)) }

// Alternatives keeps what failover under the ceiling lists, each route
// declaring the ceiling unless it declares its own.
func (c *ceiling) Alternatives() []provider.Description {
	ds := provider.Candidates(c.next)
	out := make([]provider.Description, len(ds))
	for i, d := range ds {
		out[i] = c.declare(d)
	}
	return out
}

func (c *ceiling) declare(d provider.Description) provider.Description {
	if d.MaxCostPerImage <= 0 {
		d.MaxCostPerImage = c.perImage
	}
	return d
}
