package imagen

import (
	"fmt"
	"math"
	"strings"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/provider"
)

// Options are the per-request settings this adapter reads from
// Request.Options; every field is optional. Other adapters' options are
// ignored, so one Request can carry the options of several adapters.
//
//	req.Options = provider.Options{imagen.Options{EnhancePrompt: new(false), CompressionQuality: new(85)}}
type Options struct {
	// PersonGeneration ("allow_adult", "dont_allow", "allow_all") sets
	// parameters.personGeneration, overriding Config.PersonGeneration.
	// Migration to a Gemini model carries it over.
	PersonGeneration string `json:"person_generation,omitempty"`
	// SafetySetting ("block_low_and_above", "block_medium_and_above",
	// "block_only_high", "block_none") sets parameters.safetySetting,
	// overriding Config.SafetyLevel.
	SafetySetting string `json:"safety_setting,omitempty"`
	// EnhancePrompt sets parameters.enhancePrompt, the LLM prompt
	// rewriting; the rewritten prompt comes back as Image.RevisedPrompt.
	EnhancePrompt *bool `json:"enhance_prompt,omitempty"`
	// AddWatermark sets parameters.addWatermark (the invisible SynthID
	// watermark, on by default). Imagen ignores a seed while it is on, so a
	// Request with a Seed turns it off, with a warning; asking for both is
	// an ErrInvalidRequest.
	AddWatermark *bool `json:"add_watermark,omitempty"`
	// CompressionQuality (0-100) sets
	// parameters.outputOptions.compressionQuality for JPEG output.
	CompressionQuality *int `json:"compression_quality,omitempty"`
}

// OptionOwner makes Options a provider.Option.
func (Options) OptionOwner() string { return "imagen" }

// imagenOnly names the options a Gemini model has no use for, when o sets
// them.
func (o Options) imagenOnly() []string {
	var out []string
	if o.SafetySetting != "" {
		out = append(out, "SafetySetting")
	}
	if o.EnhancePrompt != nil {
		out = append(out, "EnhancePrompt")
	}
	if o.AddWatermark != nil {
		out = append(out, "AddWatermark")
	}
	if o.CompressionQuality != nil {
		out = append(out, "CompressionQuality")
	}
	return out
}

var (
	personGenerations = []string{"allow_adult", "dont_allow", "allow_all"}
	safetySettings    = []string{"block_low_and_above", "block_medium_and_above", "block_only_high", "block_none"}
)

// normalize returns the canonical (lower-case) spelling of v when it is in
// list, or "".
func normalize(v string, list []string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	for _, s := range list {
		if s == v {
			return s
		}
	}
	return ""
}

// params is a validated request in Imagen's terms.
type params struct {
	model            string
	prompt           string
	negativePrompt   string
	sampleCount      int
	aspectRatio      string
	imageSize        string // "1K", "2K"
	mimeType         string // "image/png", "image/jpeg"
	compression      *int
	personGeneration string
	safetySetting    string
	enhancePrompt    *bool
	addWatermark     *bool
	seed             *int32
	warnings         []string

	migrate *provider.Request // set when a migrated request goes to gemini
	lead    string            // the migration warning to put first
}

// prepare validates req before any network call and turns it into params.
func (g *Generator) prepare(req *provider.Request) (*params, error) {
	if g == nil || g.http == nil {
		return nil, &provider.Error{Kind: provider.KindInvalidRequest, Provider: "imagen", Message: "Generator: nil or not built with imagen.New"}
	}
	model := g.modelFor(req)
	if err := req.Validate(); err != nil {
		return nil, provider.WithOrigin(err, g.name, model)
	}
	if len(req.References) > 0 {
		return nil, g.invalid(model, "References: Imagen :predict here only generates from text; use the gemini adapter to edit or to pass reference images")
	}
	if req.Mask != nil {
		return nil, g.invalid(model, "Mask: Imagen :predict here only generates from text; mask editing is not supported")
	}
	sz, _ := provider.ParseSize(req.Size)
	if sz.Width > 0 {
		return nil, g.invalid(model, "Size: %q: Imagen takes a size tier (1K, 2K) and an AspectRatio, not WIDTHxHEIGHT", req.Size)
	}
	p := &params{model: model, prompt: req.Prompt, negativePrompt: req.NegativePrompt, sampleCount: req.Count()}
	if err := g.readOptions(req, p); err != nil {
		return nil, err
	}

	m, known := g.catalog.Lookup(model)
	if err := g.catalog.CheckLive(model, g.now()); err != nil {
		switch {
		case g.cfg.AllowRetired:
			// A relay still routes the ID: call it, and say so.
		case g.cfg.Migrate && g.migrator != nil:
			return g.prepareMigration(req, p, err)
		default:
			return nil, provider.WithOrigin(err, g.name, model)
		}
	}
	if known {
		if m.Protocol != catalog.ProtocolImagen {
			return nil, g.invalid(model, "Model: %s speaks %s, not Imagen :predict; use the %s adapter", model, m.Protocol, m.Protocol)
		}
		if err := m.Validate(req); err != nil {
			return nil, provider.WithOrigin(err, g.name, model)
		}
		p.warnings = append(p.warnings, m.Warnings(g.now())...)
	} else if p.sampleCount > MaxSampleCount {
		return nil, g.invalid(model, "N: %d images requested, at most %d per :predict call", p.sampleCount, MaxSampleCount)
	}
	if sz.Tier != "" {
		if !known && sz.Tier != "1K" && sz.Tier != "2K" {
			return nil, g.invalid(model, "Size: %q: Imagen's sampleImageSize is 1K or 2K", req.Size)
		}
		p.imageSize = sz.Tier
	}
	if req.AspectRatio != "" && !strings.EqualFold(req.AspectRatio, "auto") {
		p.aspectRatio = req.AspectRatio
	}
	if f := provider.NormalizeFormat(req.OutputFormat); f != "" {
		if !known && f != "png" && f != "jpeg" {
			return nil, g.invalid(model, "OutputFormat: %q: Imagen returns png or jpeg", req.OutputFormat)
		}
		p.mimeType = "image/" + f
	}
	if p.compression != nil && p.mimeType != "image/jpeg" {
		p.warnings = append(p.warnings, "Options.CompressionQuality only applies to jpeg output; ignored")
		p.compression = nil
	}
	if req.Quality != "" {
		p.warnings = append(p.warnings, fmt.Sprintf("Quality %q ignored: Imagen has no quality parameter", req.Quality))
	}
	if req.Seed != nil {
		if p.addWatermark != nil && *p.addWatermark {
			return nil, g.invalid(model, "Seed: Imagen ignores the seed while add_watermark is true; drop one of them")
		}
		s := *req.Seed % math.MaxInt32
		if s < 0 {
			s = -s
		}
		if s != *req.Seed {
			p.warnings = append(p.warnings, fmt.Sprintf("seed %d reduced to %d (Imagen seeds are 0..%d)", *req.Seed, s, math.MaxInt32-1))
		}
		s32 := int32(s)
		p.seed = &s32
		if p.addWatermark == nil {
			off := false
			p.addWatermark = &off
			p.warnings = append(p.warnings, "a seed needs addWatermark false: these images carry no SynthID watermark")
		}
	}
	return p, nil
}

// readOptions reads and checks the Options and the Config defaults.
func (g *Generator) readOptions(req *provider.Request, p *params) error {
	opts, _ := provider.OptionOf[Options](req)
	p.personGeneration = normalize(g.cfg.PersonGeneration, personGenerations)
	p.safetySetting = normalize(g.cfg.SafetyLevel, safetySettings)
	for _, o := range []struct {
		field, v string
		list     []string
		dst      *string
	}{{"PersonGeneration", opts.PersonGeneration, personGenerations, &p.personGeneration}, {"SafetySetting", opts.SafetySetting, safetySettings, &p.safetySetting}} {
		if o.v == "" {
			continue
		}
		n := normalize(o.v, o.list)
		if n == "" {
			return g.invalid(p.model, "Options.%s: %.40q is not one of %s", o.field, o.v, strings.Join(o.list, ", "))
		}
		*o.dst = n
	}
	p.enhancePrompt, p.addWatermark = opts.EnhancePrompt, opts.AddWatermark
	if q := opts.CompressionQuality; q != nil {
		if *q < 0 || *q > 100 {
			return g.invalid(p.model, "Options.CompressionQuality: %d is not from 0 to 100", *q)
		}
		v := *q
		p.compression = &v
	}
	return nil
}

// predictBody is the :predict request body.
type predictBody struct {
	Instances  []predictInstance `json:"instances"`
	Parameters predictParameters `json:"parameters"`
}

type predictInstance struct {
	Prompt string `json:"prompt"`
}

type predictParameters struct {
	SampleCount      int            `json:"sampleCount"`
	AspectRatio      string         `json:"aspectRatio,omitempty"`
	SampleImageSize  string         `json:"sampleImageSize,omitempty"`
	PersonGeneration string         `json:"personGeneration,omitempty"`
	SafetySetting    string         `json:"safetySetting,omitempty"`
	NegativePrompt   string         `json:"negativePrompt,omitempty"`
	Seed             *int32         `json:"seed,omitempty"`
	AddWatermark     *bool          `json:"addWatermark,omitempty"`
	EnhancePrompt    *bool          `json:"enhancePrompt,omitempty"`
	IncludeRAIReason bool           `json:"includeRaiReason"`
	OutputOptions    *outputOptions `json:"outputOptions,omitempty"`
}

type outputOptions struct {
	MIMEType           string `json:"mimeType,omitempty"`
	CompressionQuality *int   `json:"compressionQuality,omitempty"`
}

// body builds the :predict request body of p.
func (p *params) body() predictBody {
	b := predictBody{
		Instances: []predictInstance{{Prompt: p.prompt}},
		Parameters: predictParameters{
			SampleCount:      p.sampleCount,
			AspectRatio:      p.aspectRatio,
			SampleImageSize:  p.imageSize,
			PersonGeneration: p.personGeneration,
			SafetySetting:    p.safetySetting,
			NegativePrompt:   p.negativePrompt,
			Seed:             p.seed,
			AddWatermark:     p.addWatermark,
			EnhancePrompt:    p.enhancePrompt,
			IncludeRAIReason: true,
		},
	}
	if p.mimeType != "" || p.compression != nil {
		b.Parameters.OutputOptions = &outputOptions{MIMEType: p.mimeType, CompressionQuality: p.compression}
	}
	return b
}
