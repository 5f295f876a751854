package openaicompat

import (
	"fmt"
	"slices"
	"strings"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/imageconv"
	"github.com/imagegen-go/imagegen/provider"
)

// Options are the per-request settings this adapter reads from
// Request.Options; every field is optional.
//
//	req.Options = provider.Options{openaicompat.Options{Moderation: "low", OutputCompression: new(80)}}
type Options struct {
	// Background ("transparent", "opaque", "auto") sets background;
	// transparent needs png or webp output.
	Background string `json:"background,omitempty"`
	// Moderation ("low", "auto") sets moderation.
	Moderation string `json:"moderation,omitempty"`
	// OutputCompression (0-100) sets output_compression for jpeg and webp
	// output. 0 is sent (maximum compression), unlike go-openai, which
	// drops it.
	OutputCompression *int `json:"output_compression,omitempty"`
	// ResponseFormat ("url", "b64_json") sets response_format; only the
	// dall-e models take it (GPT image models always answer b64_json).
	ResponseFormat string `json:"response_format,omitempty"`
	// Style ("vivid", "natural") sets style (dall-e-3).
	Style string `json:"style,omitempty"`
	// InputFidelity ("high", "low") sets input_fidelity on edits.
	InputFidelity string `json:"input_fidelity,omitempty"`
	// User overrides Config.User.
	User string `json:"user,omitempty"`
	// SafetyIdentifier overrides Config.SafetyIdentifier.
	SafetyIdentifier string `json:"safety_identifier,omitempty"`
	// KeepDrafts, when set, overrides Config.KeepDrafts.
	KeepDrafts *bool `json:"keep_drafts,omitempty"`
}

// OptionOwner makes Options a provider.Option.
func (Options) OptionOwner() string { return "openaicompat" }

// plan is a validated request, ready for the wire.
type plan struct {
	req      *provider.Request
	model    string         // as asked for (may carry a vendor prefix)
	id       string         // catalog ID
	wire     string         // the name sent upstream
	cat      *catalog.Model // nil when the catalog does not know the model
	warnings []string

	prompt         string
	n              int
	size           string // Images API size ("1536x1024", "auto")
	quality        string
	format         string // canonical output format, "" = provider default
	compression    *int
	background     string
	moderation     string
	responseFormat string
	style          string
	inputFidelity  string
	user           string
	safetyID       string
	imageSize      string // image_config.image_size (OpenRouter spelling)
	aspect         string // image_config.aspect_ratio
	keepDrafts     bool
}

func (p *plan) dallE() bool { return strings.HasPrefix(p.id, "dall-e") }

// prepare validates req (common rules, lifecycle, catalog limits, mode
// limits, options) and builds the plan.
func (g *Generator) prepare(req *provider.Request) (*plan, error) {
	if g == nil || g.http == nil {
		return nil, &provider.Error{Kind: provider.KindInvalidRequest, Provider: "openaicompat", Message: "Generator: nil or not built with openaicompat.New"}
	}
	model := g.modelFor(req)
	id := catalogID(model)
	if err := req.Validate(); err != nil {
		return nil, provider.WithOrigin(err, g.name, id)
	}
	p := &plan{req: req, model: model, id: id, wire: model, n: req.Count(), prompt: req.Prompt}
	if g.cfg.ModelName != nil {
		p.wire = g.cfg.ModelName(model)
	}
	if err := g.catalog.CheckLive(id, g.now()); err != nil {
		return nil, provider.WithOrigin(err, g.name, id)
	}
	mode := g.cfg.Mode
	sz, _ := provider.ParseSize(req.Size)
	if m, ok := g.lookup(id); ok {
		p.cat = m
	}
	check := req
	if mode == ModeImages {
		// Tiers and aspect ratios become a WIDTHxHEIGHT first (the catalog's
		// mapping, which the budget estimates from); the catalog then checks
		// the size that will be sent. A nil p.cat (unknown model) takes free
		// sizes.
		s, err := p.cat.ImagesSize(req.Size, req.AspectRatio)
		if err != nil {
			return nil, g.invalid(id, "Size", "Size: %v", err)
		}
		p.size = s
		if s != req.Size {
			check = req.Clone()
			check.Size = s
		}
	}
	if p.cat != nil {
		if err := p.cat.Validate(check); err != nil {
			return nil, provider.WithOrigin(err, g.name, id)
		}
		p.warnings = append(p.warnings, p.cat.Warnings(g.now())...)
	}
	if len(req.References) > MaxReferences {
		return nil, g.invalid(id, "References", "References: %d reference images, at most %d", len(req.References), MaxReferences)
	}
	switch {
	case req.Mask != nil && mode != ModeImages:
		return nil, g.invalid(id, "Mask", "Mask: only the Images API (ModeImages) takes a mask; mode is %s", mode)
	case len(req.References) > 0 && mode == ModeOpenRouterImages:
		return nil, g.invalid(id, "References", "References: OpenRouter's images endpoint takes no reference images here; use ModeChatImages")
	}
	if err := g.checkInputs(p); err != nil {
		return nil, err
	}
	if err := g.readOptions(p); err != nil {
		return nil, err
	}
	switch mode {
	case ModeImages:
		p.quality = strings.ToLower(req.Quality)
		if p.dallE() && p.format == "png" {
			p.format = "" // dall-e takes no output_format; it is always PNG
		}
	default:
		if sz.Width > 0 {
			return nil, g.invalid(id, "Size", "Size: %q: mode %s takes a size tier (512, 1K, 2K, 4K) and an AspectRatio, not WIDTHxHEIGHT", req.Size, mode)
		}
		p.imageSize = openRouterTier(sz.Tier)
		if !strings.EqualFold(req.AspectRatio, "auto") {
			p.aspect = req.AspectRatio
		}
		if mode == ModeChatMarkdown || mode == ModeChatContentArray {
			if p.imageSize != "" || p.aspect != "" {
				p.warnings = append(p.warnings, fmt.Sprintf("Size and AspectRatio are sent as image_config, which %s relays may ignore", mode))
			}
		}
		if mode == ModeOpenRouterImages {
			p.quality = strings.ToLower(req.Quality)
		} else if req.Quality != "" {
			p.warnings = append(p.warnings, "Quality is not a chat completions parameter; ignored")
		}
		if mode.chat() && p.format != "" && !imageconv.CanConvert(p.format) {
			// Chat completions take no output format: PNG and JPEG are
			// converted from whatever comes back, other formats cannot be.
			return nil, g.invalid(id, "OutputFormat", "OutputFormat: %q: mode %s cannot choose the output format; only png and jpeg, converted here, can be asked for", req.OutputFormat, mode)
		}
	}
	if req.NegativePrompt != "" {
		// No negative prompt field on these wires: say it in words.
		p.prompt += "\n\nAvoid: " + req.NegativePrompt
	}
	if req.Seed != nil && !mode.chat() {
		p.warnings = append(p.warnings, "Seed is not an Images API parameter; ignored")
	}
	return p, nil
}

// Input image types each wire takes: the Images API's edits take PNG,
// WebP and JPEG, and a PNG mask
// (platform.openai.com/docs/api-reference/images/createEdit, checked
// 2026-12-04); chat completions take PNG, JPEG, WebP and GIF
// (openrouter.ai/docs/features/multimodal/images, checked 2026-12-04).
var (
	editTypes = []string{"image/png", "image/jpeg", "image/webp"}
	chatTypes = []string{"image/png", "image/jpeg", "image/webp", "image/gif"}
)

// Limits of the Images API's edits for models the catalog does not know
// (platform.openai.com/docs/api-reference/images/createEdit, checked
// 2026-12-04): each image less than 50MB, the mask less than 4MB.
const (
	editMaxReferenceBytes = 50_000_000
	editMaxMaskBytes      = 4_000_000
)

// checkInputs checks the reference images and mask (Request.Validate has
// sniffed them) against the types the wire takes and the size limits in
// the catalog's entry for the model: per image, for the mask, and for the
// whole request with its images base64-encoded.
func (g *Generator) checkInputs(p *plan) error {
	req := p.req
	if len(req.References) == 0 && req.Mask == nil {
		return nil
	}
	types, wire := chatTypes, "chat completions"
	var maxRef, maxMask, maxReq int64
	if g.cfg.Mode == ModeImages {
		types, wire = editTypes, "the Images API's edits"
		maxRef, maxMask = editMaxReferenceBytes, editMaxMaskBytes
	}
	if m := p.cat; m != nil {
		if m.MaxReferenceBytes > 0 {
			maxRef = m.MaxReferenceBytes
		}
		if m.MaxMaskBytes > 0 {
			maxMask = m.MaxMaskBytes
		}
		maxReq = m.MaxRequestBytes
	}
	total := int64(len(p.prompt)) + 1024
	for i, ref := range req.References {
		field := fmt.Sprintf("References[%d]", i)
		if mt := provider.SniffMIME(ref.Data); !slices.Contains(types, mt) {
			return g.invalid(p.id, field, "%s: %s takes no %s input; send %s", field, wire, mt, strings.Join(types, ", "))
		}
		if maxRef > 0 && int64(len(ref.Data)) > maxRef {
			return g.invalid(p.id, field, "%s: %d bytes; %s takes images of at most %d bytes", field, len(ref.Data), p.id, maxRef)
		}
		total += int64(len(ref.Data)+2) / 3 * 4
	}
	if m := req.Mask; m != nil {
		if mt := provider.SniffMIME(m.Data); mt != "image/png" {
			return g.invalid(p.id, "Mask", "Mask: the mask must be a PNG, not %s", mt)
		}
		if maxMask > 0 && int64(len(m.Data)) > maxMask {
			return g.invalid(p.id, "Mask", "Mask: %d bytes; %s takes a mask of at most %d bytes", len(m.Data), p.id, maxMask)
		}
		total += int64(len(m.Data)+2) / 3 * 4
	}
	if maxReq > 0 && total > maxReq {
		return g.invalid(p.id, "References", "References: the request would be about %d bytes with its images in base64; %s takes at most %d", total, p.id, maxReq)
	}
	return nil
}

func (g *Generator) readOptions(p *plan) error {
	opts, _ := provider.OptionOf[Options](p.req)
	bad := func(field, format string, args ...any) error {
		return g.invalid(p.id, "Options."+field, "Options.%s: "+format, append([]any{field}, args...)...)
	}
	word := func(field, v string, allowed ...string) (string, error) {
		v = strings.ToLower(strings.TrimSpace(v))
		if v != "" && !slices.Contains(allowed, v) {
			return "", bad(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
		}
		return v, nil
	}
	var err error
	if p.background, err = word("Background", opts.Background, "transparent", "opaque", "auto"); err != nil {
		return err
	}
	if p.moderation, err = word("Moderation", opts.Moderation, "low", "auto"); err != nil {
		return err
	}
	if p.responseFormat, err = word("ResponseFormat", opts.ResponseFormat, "url", "b64_json"); err != nil {
		return err
	}
	if p.style, err = word("Style", opts.Style, "vivid", "natural"); err != nil {
		return err
	}
	if p.inputFidelity, err = word("InputFidelity", opts.InputFidelity, "high", "low"); err != nil {
		return err
	}
	p.user, p.safetyID = g.cfg.User, g.cfg.SafetyIdentifier
	if opts.User != "" {
		p.user = opts.User
	}
	if opts.SafetyIdentifier != "" {
		p.safetyID = opts.SafetyIdentifier
	}
	p.keepDrafts = g.cfg.KeepDrafts
	if opts.KeepDrafts != nil {
		p.keepDrafts = *opts.KeepDrafts
	}
	if c := opts.OutputCompression; c != nil {
		if *c < 0 || *c > 100 {
			return bad("OutputCompression", "want 0-100, got %d", *c)
		}
		v := *c
		p.compression = &v
	}
	p.format = provider.NormalizeFormat(p.req.OutputFormat)
	if p.compression != nil && p.format != "jpeg" && p.format != "webp" {
		return bad("OutputCompression", "compression applies to jpeg and webp output, not %q", orDefault(p.format, "png (the default)"))
	}
	if p.background == "transparent" && p.format != "" && p.format != "png" && p.format != "webp" {
		return bad("Background", "a transparent background needs png or webp output, not %s", p.format)
	}
	if p.responseFormat != "" && !p.dallE() && g.cfg.Mode == ModeImages && p.cat != nil {
		return bad("ResponseFormat", "%s always answers b64_json; response_format is for dall-e models", p.id)
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// openRouterTier spells a size tier as OpenRouter's image_config does:
// half-K is "0.5K".
func openRouterTier(tier string) string {
	if tier == "512" {
		return "0.5K"
	}
	return tier
}
