package catalog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/imagegen-go/imagegen/provider"
)

// FansOut reports whether adapters serve N images with N upstream calls
// (Gemini generateContent returns one image per call; a task API makes
// one task per image), so that a request may ask for up to provider.MaxN
// images whatever ImagesPerCall says.
func (m *Model) FansOut() bool { return m.Protocol == ProtocolGemini || m.Protocol == ProtocolTask }

// MaxImages returns the most images one Request may ask of m.
func (m *Model) MaxImages() int {
	if m.FansOut() || m.ImagesPerCall <= 0 {
		return provider.MaxN
	}
	return min(m.ImagesPerCall, provider.MaxN)
}

// Capabilities returns what m can serve, for failover filtering. It is
// coarser than Validate: provider.Capabilities cannot express a list of
// fixed WIDTHxHEIGHT sizes or a free-size rule, so any WIDTHxHEIGHT passes
// it when m accepts one; Validate checks them exactly.
func (m *Model) Capabilities() provider.Capabilities {
	c := provider.Capabilities{
		MaxImages:     m.MaxImages(),
		MaxReferences: m.MaxReferences,
		NoReferences:  m.MaxReferences == 0,
		Edit:          m.Edit,
		Mask:          m.Mask,
		EditKnown:     true,
		Sizes:         slices.Clone(m.Sizes),
		FreeSize:      m.FreeSize != nil,
		AspectRatios:  slices.Clone(m.AspectRatios),
		OutputFormats: slices.Clone(m.OutputFormats),
	}
	return c
}

// Validate checks req against what m accepts, before any network call:
// size (tiers against Sizes, WIDTHxHEIGHT against Sizes or FreeSize),
// aspect ratio, reference count, N (up to provider.MaxN for models whose
// adapter fans out, up to ImagesPerCall otherwise), quality, output format
// and mask. A field m has no parameter for (Quality on Gemini) is not an
// error: adapters drop it with a warning. The error is a *provider.Error of
// kind provider.KindInvalidRequest whose Code names the field and whose
// Model is m.ID.
func (m *Model) Validate(req *provider.Request) error {
	fail := func(field, format string, args ...any) error {
		return &provider.Error{Kind: provider.KindInvalidRequest, Model: m.ID, Code: field,
			Message: field + ": " + fmt.Sprintf(format, args...) + " (" + m.ID + ")"}
	}
	if req == nil {
		return fail("Request", "nil request")
	}
	if n := req.Count(); req.N < 0 || n > m.MaxImages() {
		return fail("N", "%d images requested, at most %d", req.N, m.MaxImages())
	}
	if req.Size != "" {
		sz, err := provider.ParseSize(req.Size)
		if err != nil {
			return fail("Size", "%q is not 512, 1K, 2K, 4K, auto or WIDTHxHEIGHT", req.Size)
		}
		if !slices.Contains(m.Sizes, sz.String()) {
			switch {
			case sz.Width > 0 && m.FreeSize != nil:
				if why := m.FreeSize.Check(sz.Width, sz.Height); why != "" {
					return fail("Size", "%q: %s", req.Size, why)
				}
			case len(m.Sizes) == 0 && m.FreeSize == nil:
				return fail("Size", "%q: the model takes no size", req.Size)
			default:
				return fail("Size", "%q is not one of %s", req.Size, m.sizeList())
			}
		}
	}
	if req.AspectRatio != "" {
		w, h, err := provider.ParseAspectRatio(req.AspectRatio)
		switch {
		case err != nil:
			return fail("AspectRatio", "%q is not W:H such as 16:9", req.AspectRatio)
		case len(m.AspectRatios) > 0:
			if !slices.Contains(m.AspectRatios, req.AspectRatio) {
				return fail("AspectRatio", "%q is not one of %s", req.AspectRatio, strings.Join(m.AspectRatios, ", "))
			}
		case m.FreeSize != nil && m.FreeSize.MaxRatio > 0 && w > 0:
			if r := m.FreeSize.MaxRatio; max(w, h) > min(w, h)*r {
				return fail("AspectRatio", "%q is beyond 1:%d..%d:1", req.AspectRatio, r, r)
			}
		}
	}
	if refs := len(req.References); refs > 0 {
		switch {
		case m.MaxReferences == 0:
			return fail("References", "reference images are not supported")
		case refs > m.MaxReferences:
			return fail("References", "%d reference images, at most %d", refs, m.MaxReferences)
		}
	}
	if req.Mask != nil && !m.Mask {
		return fail("Mask", "masks are not supported")
	}
	if req.Quality != "" && len(m.Qualities) > 0 && !slices.Contains(m.Qualities, strings.ToLower(req.Quality)) {
		return fail("Quality", "%q is not one of %s", req.Quality, strings.Join(m.Qualities, ", "))
	}
	if req.OutputFormat != "" && len(m.OutputFormats) > 0 {
		if f := provider.NormalizeFormat(req.OutputFormat); !slices.Contains(m.OutputFormats, f) {
			return fail("OutputFormat", "%q is not one of %s", req.OutputFormat, strings.Join(m.OutputFormats, ", "))
		}
	}
	return nil
}

func (m *Model) sizeList() string {
	s := strings.Join(m.Sizes, ", ")
	if r := m.FreeSize; r != nil {
		s += " or WIDTHxHEIGHT (multiples of " + strconv.Itoa(r.MultipleOf) + ", longest edge ≤ " +
			strconv.Itoa(r.MaxEdge) + ", ratio within 1:" + strconv.Itoa(r.MaxRatio) + ".." + strconv.Itoa(r.MaxRatio) + ":1)"
	}
	return s
}
