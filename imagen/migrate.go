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
	opts, _ := provider.OptionOf[Options](mr)
	for _, f := range opts.imagenOnly() {
		drop("Options.%s dropped", f)
	}
	gopts, hasGemini := provider.OptionOf[gemini.Options](mr)
	person := opts.PersonGeneration
	if person == "" {
		person = gopts.PersonGeneration
	}
	switch {
	case g.migratesToVertex():
		// imageConfig.personGeneration exists on Vertex only; the gemini
		// generator reads its own option, not this generator's default.
		if person == "" {
			person = p.personGeneration
		}
	case person != "":
		// genai refuses personGeneration on the Gemini API before sending.
		drop("Options.PersonGeneration %q dropped", person)
		person = ""
	case g.cfg.PersonGeneration != "":
		drop("Config.PersonGeneration %q not applied", g.cfg.PersonGeneration)
	}
	gopts.PersonGeneration = person
	var kept provider.Options
	for _, o := range mr.Options {
		switch o.(type) {
		case Options, *Options, gemini.Options, *gemini.Options:
		default:
			kept = append(kept, o)
		}
	}
	if hasGemini || gopts != (gemini.Options{}) {
		kept = append(kept, gopts)
	}
	mr.Options = kept
	if g.cfg.SafetyLevel != "" {
		drop("Config.SafetyLevel %q not applied", g.cfg.SafetyLevel)
	}
	p.warnings = w
	return p, nil
}

// migratesToVertex reports whether the migrator is a gemini generator on
// Vertex AI, the one backend that takes personGeneration. A migrator
// this package cannot see into is treated as the Gemini API.
func (g *Generator) migratesToVertex() bool {
	var c interface{ Client() *genai.Client }
	for h := g.migrator; h != nil; {
		if v, ok := h.(interface{ Client() *genai.Client }); ok {
			c = v
			break
		}
		u, ok := h.(provider.Unwrapper)
		if !ok {
			break
		}
		h = u.Unwrap()
	}
	return c != nil && c.Client() != nil && c.Client().ClientConfig().Backend == genai.BackendVertexAI
}

// generateMigrated has the migrator serve p.migrate. The response
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
