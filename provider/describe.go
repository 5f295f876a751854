package provider

import (
	"context"
	"slices"
	"strings"
)

// Capabilities says what a generator can serve. A zero field means "no
// restriction known", so the zero Capabilities accepts every request.
type Capabilities struct {
	MaxImages     int      // images per request (after any fan-out the adapter does); 0 = any
	MaxReferences int      // reference images; 0 = any, use NoReferences for none
	NoReferences  bool     // the generator accepts no reference images at all
	Edit          bool     // accepts References as edit sources (only checked when EditKnown)
	Mask          bool     // accepts a Mask (only checked when EditKnown)
	EditKnown     bool     // Edit and Mask are meaningful
	Sizes         []string // canonical sizes ("512", "1K", "2K", "4K", "1024x1024"); empty = any
	FreeSize      bool     // accepts any "WIDTHxHEIGHT", not only those listed in Sizes
	AspectRatios  []string // empty = any
	OutputFormats []string // empty = any
}

// Check returns an ErrInvalidRequest *Error naming the first field of req
// that these capabilities cannot serve, or nil.
func (c Capabilities) Check(req *Request) error {
	fail := func(field, format string, args ...any) error { return invalid(field, format, args...) }
	if req == nil {
		return fail("Request", "nil request")
	}
	if c.MaxImages > 0 && req.Count() > c.MaxImages {
		return fail("N", "%d images requested, at most %d supported", req.Count(), c.MaxImages)
	}
	refs := len(req.References)
	if refs > 0 && c.NoReferences {
		return fail("References", "reference images are not supported")
	}
	if c.MaxReferences > 0 && refs > c.MaxReferences {
		return fail("References", "%d reference images, at most %d supported", refs, c.MaxReferences)
	}
	if c.EditKnown {
		if refs > 0 && !c.Edit {
			return fail("References", "image editing is not supported")
		}
		if req.Mask != nil && !c.Mask {
			return fail("Mask", "masks are not supported")
		}
	}
	if req.Size != "" && len(c.Sizes) > 0 {
		sz, err := ParseSize(req.Size)
		if err != nil {
			return err
		}
		switch {
		case sz.Tier != "" && !slices.Contains(c.Sizes, sz.Tier):
			return fail("Size", "%q is not one of %s", req.Size, strings.Join(c.Sizes, ", "))
		case sz.Width > 0 && !c.FreeSize && !slices.Contains(c.Sizes, sz.String()):
			return fail("Size", "%q: free sizes are not supported; use one of %s", req.Size, strings.Join(c.Sizes, ", "))
		}
	}
	if req.AspectRatio != "" && len(c.AspectRatios) > 0 && !slices.Contains(c.AspectRatios, req.AspectRatio) {
		return fail("AspectRatio", "%q is not one of %s", req.AspectRatio, strings.Join(c.AspectRatios, ", "))
	}
	if req.OutputFormat != "" && len(c.OutputFormats) > 0 && !slices.Contains(c.OutputFormats, NormalizeFormat(req.OutputFormat)) {
		return fail("OutputFormat", "%q is not one of %s", req.OutputFormat, strings.Join(c.OutputFormats, ", "))
	}
	return nil
}

// Description says who a generator is: its provider, default model and what
// it can serve.
type Description struct {
	Provider     string
	Model        string
	Capabilities Capabilities
	// MaxCostPerImage, when positive, is the most one image from this
	// generator is declared to cost. A budget reserves it per image for a
	// model its price catalog does not know (a relay's own model ID)
	// instead of its default, the dearest image it knows. Zero declares
	// nothing. Set it on a failover route or a relay generator with
	// pricing.Ceiling.
	MaxCostPerImage USD
}

// Describer is implemented by generators that can describe themselves.
// Adapters implement it; decorators built with Wrap forward it. Describe is
// called on every request by decorators (cache, meter, failover), so
// adapters compute their Description once; its slices are shared and must
// be treated as read-only, like image bytes.
type Describer interface {
	Describe() Description
}

// RequestChecker is implemented by generators that can tell, before any
// network call, whether they can serve a particular request (for example from
// a model catalog). Failover uses it to skip routes.
type RequestChecker interface {
	CheckRequest(req *Request) error
}

// Unwrapper is implemented by decorators to expose the generator they wrap.
type Unwrapper interface {
	Unwrap() Generator
}

// Describe returns what g says of itself, looking through decorators that
// do not describe themselves. It returns the zero Description when nothing in
// the stack does.
func Describe(g Generator) Description {
	for g != nil {
		if d, ok := g.(Describer); ok {
			return d.Describe()
		}
		u, ok := g.(Unwrapper)
		if !ok {
			break
		}
		g = u.Unwrap()
	}
	return Description{}
}

// CheckRequest asks the stack under g whether it can serve req: the first
// RequestChecker found through decorators decides; without one, the
// described Capabilities do. A nil req is an ErrInvalidRequest, whatever
// the stack.
func CheckRequest(g Generator, req *Request) error {
	if req == nil {
		return invalid("Request", "nil request")
	}
	for h := g; h != nil; {
		if c, ok := h.(RequestChecker); ok {
			return c.CheckRequest(req)
		}
		u, ok := h.(Unwrapper)
		if !ok {
			break
		}
		h = u.Unwrap()
	}
	return Describe(g).Capabilities.Check(req)
}

// Wrap returns a Generator that serves requests with fn and forwards
// Describe, CheckRequest and Unwrap to next, so failover and pricing see
// through the decorator. It is the building block of Middleware:
//
//	func Logging(log *slog.Logger) provider.Middleware {
//		return func(next provider.Generator) provider.Generator {
//			return provider.Wrap(next, func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
//				log.Info("generate", "model", req.Model)
//				return next.Generate(ctx, req)
//			})
//		}
//	}
func Wrap(next Generator, fn GeneratorFunc) Generator {
	return &wrapped{next: next, fn: fn}
}

type wrapped struct {
	next Generator
	fn   GeneratorFunc
}

func (w *wrapped) Generate(ctx context.Context, req *Request) (*Response, error) {
	return w.fn(ctx, req)
}

func (w *wrapped) Unwrap() Generator { return w.next }

func (w *wrapped) Describe() Description { return Describe(w.next) }

func (w *wrapped) CheckRequest(req *Request) error { return CheckRequest(w.next, req) }

// Alternatives is implemented by generators that hand a request to one of
// several generators (failover), so that what a budget reserves before the
// call can cover the dearest of them.
type Alternatives interface {
	Alternatives() []Description
}

// Candidates returns the descriptions of every generator that may serve a
// request sent to g: those listed by the first Alternatives found through
// decorators, or Describe(g) alone.
func Candidates(g Generator) []Description {
	for h := g; h != nil; {
		if a, ok := h.(Alternatives); ok {
			return a.Alternatives()
		}
		u, ok := h.(Unwrapper)
		if !ok {
			break
		}
		h = u.Unwrap()
	}
	return []Description{Describe(g)}
}
