package gemini

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/secret"
	"github.com/imagegen-go/imagegen/provider"
)

// Options are the per-request settings this adapter reads from
// Request.Options; every field is optional.
//
//	req.Options = provider.Options{gemini.Options{ThinkingLevel: "high", ImageOnly: new(true)}}
type Options struct {
	// ThinkingLevel ("minimal", "low", "medium", "high") sets
	// thinkingConfig.thinkingLevel for models that think, overriding
	// Config.ThinkingLevel.
	ThinkingLevel string `json:"thinking_level,omitempty"`
	// ImageOnly, when set, asks for ["IMAGE"] only (true) or for text and
	// image (false), overriding Config.ImageOnly.
	ImageOnly *bool `json:"image_only,omitempty"`
	// SystemInstruction is sent as the system instruction.
	SystemInstruction string `json:"system_instruction,omitempty"`
	// PersonGeneration (e.g. "allow_adult") sets
	// imageConfig.personGeneration where the model supports it.
	PersonGeneration string `json:"person_generation,omitempty"`
}

// OptionOwner makes Options a provider.Option.
func (Options) OptionOwner() string { return "gemini" }

func userTurn(req *provider.Request) *genai.Content {
	parts := make([]*genai.Part, 0, len(req.References)+1)
	for _, ref := range req.References {
		parts = append(parts, genai.NewPartFromBytes(ref.Data, refMIME(ref)))
	}
	prompt := req.Prompt
	if req.NegativePrompt != "" {
		// generateContent has no negative prompt field; say it in words.
		prompt += "\n\nAvoid: " + req.NegativePrompt
	}
	parts = append(parts, genai.NewPartFromText(prompt))
	return genai.NewContentFromParts(parts, genai.RoleUser)
}

// refMIME is the sniffed type: Request.Validate has checked that the
// bytes are an image and that a declared MIMEType names the same type.
func refMIME(img provider.Image) string {
	if mt := provider.SniffMIME(img.Data); mt != "" {
		return mt
	}
	return "image/png"
}

// wireSize turns a parsed size tier into imageConfig.imageSize's strict
// spelling: "512" without a K, "1K"/"2K"/"4K" with an uppercase one.
func wireSize(tier string) string {
	switch tier {
	case "512", "1K", "2K", "4K":
		return tier
	}
	return ""
}

func (g *Generator) thinkingLevel(opts Options) string {
	if opts.ThinkingLevel != "" {
		return strings.ToLower(opts.ThinkingLevel)
	}
	return strings.ToLower(g.cfg.ThinkingLevel)
}

// config builds a fresh GenerateContentConfig for one call; info is the
// catalog's entry for the model, nil when it does not know it.
func (g *Generator) config(req *provider.Request, info *catalog.Model) *genai.GenerateContentConfig {
	off := false
	cfg := &genai.GenerateContentConfig{
		ResponseModalities:    []string{"TEXT", "IMAGE"},
		AutomaticContinuation: &off, // a continuation is a second, billed call
	}
	opts, _ := provider.OptionOf[Options](req)
	imageOnly := g.cfg.ImageOnly
	if opts.ImageOnly != nil {
		imageOnly = *opts.ImageOnly
	}
	if imageOnly {
		cfg.ResponseModalities = []string{"IMAGE"}
	}
	ic := &genai.ImageConfig{}
	if req.AspectRatio != "" && !strings.EqualFold(req.AspectRatio, "auto") {
		ic.AspectRatio = req.AspectRatio
	}
	if sz, err := provider.ParseSize(req.Size); err == nil && sz.Tier != "" {
		if info == nil || len(info.Sizes) > 1 {
			// Single-size models (2.5 Flash) take no imageSize at all.
			ic.ImageSize = wireSize(sz.Tier)
		}
	}
	ic.PersonGeneration = opts.PersonGeneration
	if *ic != (genai.ImageConfig{}) {
		cfg.ImageConfig = ic
	}
	if lvl := g.thinkingLevel(opts); lvl != "" {
		cfg.ThinkingConfig = &genai.ThinkingConfig{ThinkingLevel: genai.ThinkingLevel(strings.ToUpper(lvl))}
	}
	if req.Seed != nil {
		s := int32(*req.Seed % math.MaxInt32)
		cfg.Seed = &s
	}
	if opts.SystemInstruction != "" {
		cfg.SystemInstruction = genai.NewContentFromText(opts.SystemInstruction, genai.RoleUser)
	}
	return cfg
}

// String names the generator, its provider and default model, for logs.
func (g *Generator) String() string {
	if g == nil {
		return "gemini.Generator(nil)"
	}
	return fmt.Sprintf("gemini.Generator(%s, %s)", g.name, g.model)
}

// Format prints String under every verb; %#v adds the field names. No
// verb reaches the key through reflection.
func (g *Generator) Format(f fmt.State, verb rune) {
	secret.FormatGenerator(f, verb, g == nil, g.String, func() string {
		return fmt.Sprintf("&gemini.Generator{Provider:%q, Model:%q}", g.name, g.model)
	})
}
