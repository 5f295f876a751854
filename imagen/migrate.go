package imagen

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
)

// prepareMigration turns a request for a retired Imagen model into one for
// its live replacement, served by the gemini generator. retiredErr is the
// catalog's ErrModelRetired, returned when no live replacement is known.
func (g *Generator) prepareMigration(req *provider.Request, p *params, retiredErr error) (*params, error) {
	now := g.now()
	live, _, err := g.catalog.Resolve(p.model, now)
	if err != nil || live == nil || live.ID == p.model {
		return nil, provider.WithOrigin(retiredErr, g.name, p.model)
	}
	shutdown := ""
	if m, ok := g.catalog.Lookup(p.model); ok {
		shutdown = " on " + m.Lifecycle.Shutdown.String()
	}
	mr := req.Clone()
	mr.Model = live.ID
	p.migrate = mr
	p.lead = fmt.Sprintf("%s was shut down%s; served by %s", p.model, shutdown, live.ID)
	var w []string
	drop := func(format string, args ...any) {
		w = append(w, fmt.Sprintf(format, args...)+" (not supported by "+live.ID+")")
	}
	if mr.Size != "" {
		sz, _ := provider.ParseSize(mr.Size)
		switch {
		case sz.Tier != "" && slices.Contains(live.Sizes, sz.Tier):
			mr.Size = sz.Tier
		default:
			drop("Size %q dropped", mr.Size)
			mr.Size = ""
		}
	}
	if mr.AspectRatio != "" && len(live.AspectRatios) > 0 && !slices.Contains(live.AspectRatios, mr.AspectRatio) {
		drop("AspectRatio %q dropped", mr.AspectRatio)
		mr.AspectRatio = ""
	}
	if mr.OutputFormat != "" && !slices.Contains(live.OutputFormats, provider.NormalizeFormat(mr.OutputFormat)) {
		drop("OutputFormat %q dropped", mr.OutputFormat)
		mr.OutputFormat = ""
	}
	if mr.Quality != "" && !slices.Contains(live.Qualities, mr.Quality) {
		drop("Quality %q dropped", mr.Quality)
		mr.Quality = ""
	}
	for _, k := range imagenOnly {
		if v, ok := mr.Options[k]; ok {
			drop("Options[%s]=%v dropped", k, v)
			delete(mr.Options, k)
		}
	}
	if g.migrator.Client().ClientConfig().Backend == genai.BackendVertexAI {
		// imageConfig.personGeneration exists on Vertex only. The gemini
		// generator reads the request's option (same key), not our default.
		if _, set := mr.Options[gemini.OptPersonGeneration]; !set && p.personGeneration != "" {
			if mr.Options == nil {
				mr.Options = map[string]any{}
			}
			mr.Options[gemini.OptPersonGeneration] = p.personGeneration
		}
	} else {
		// genai refuses personGeneration on the Gemini API before sending.
		if v, ok := mr.Options[gemini.OptPersonGeneration]; ok {
			drop("Options[%s]=%v dropped", gemini.OptPersonGeneration, v)
			delete(mr.Options, gemini.OptPersonGeneration)
		} else if g.cfg.PersonGeneration != "" {
			drop("Config.PersonGeneration %q not applied", g.cfg.PersonGeneration)
		}
	}
	if g.cfg.SafetyLevel != "" {
		drop("Config.SafetyLevel %q not applied", g.cfg.SafetyLevel)
	}
	p.warnings = w
	return p, nil
}

// generateMigrated has the gemini generator serve p.migrate. The response
// names the generator and model that really served it; its first warning
// says the request was migrated.
func (g *Generator) generateMigrated(ctx context.Context, p *params) (*provider.Response, error) {
	resp, err := g.migrator.Generate(ctx, p.migrate)
	if err != nil {
		return nil, err
	}
	out := *resp
	out.Warnings = append(append([]string{p.lead}, p.warnings...), resp.Warnings...)
	return &out, nil
}
