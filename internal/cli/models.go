package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/provider"
)

const modelsUsage = `Usage: imagegen models [flags]

List the model catalog: each model's provider, lifecycle (active, deprecated,
retired, with dates), the live model to use instead, and the price of one
image at the standard and batch tiers (the range over its sizes and
qualities). --json prints everything the catalog holds, for scripts.

Models of the task APIs carry their service in the ID (kie/nano-banana-pro,
replicate/google/nano-banana-pro, apimart/gemini-3-pro-image-preview) and are
served by the provider of that name; --provider kie lists one service's.
`

// modelInfo is one model in `imagegen models --json`.
type modelInfo struct {
	*catalog.Model
	Status string `json:"status"`
	// UseInstead is the first live model of the replacement chain, when
	// the model is retired or deprecated with a replacement.
	UseInstead string   `json:"use_instead,omitempty"`
	Chain      []string `json:"replacement_chain,omitempty"`
	// PerImage is the range of one image's price per tier.
	PerImage map[catalog.Tier]priceRange `json:"per_image_price,omitempty"`
	Warnings []string                    `json:"warnings,omitempty"`
}

type priceRange struct {
	Min provider.USD `json:"min"`
	Max provider.USD `json:"max"`
}

func (p priceRange) String() string {
	if p.Min == p.Max {
		return p.Min.String()
	}
	return p.Min.String() + "–" + p.Max.String()
}

// Models is `imagegen models`.
func Models(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models", modelsUsage, stderr)
	var (
		asJSON     = fs.Bool("json", false, "print JSON for scripts")
		all        = fs.Bool("all", false, "include retired models")
		prov       = fs.String("provider", "", "only models of this `provider` (google, openai, kie, replicate, apimart) or protocol (gemini, imagen, openai, task)")
		at         = fs.String("at", "", "the `date` (YYYY-MM-DD) to tell lifecycle at; default today")
		configPath = fs.String("config", "", "config `file` whose catalog to use")
		catPath    = fs.String("catalog", "", "a catalog.json `file` to read instead of the embedded one")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return provider.InvalidConfig("arguments", strings.Join(fs.Args(), " "), "flags only")
	}
	when := time.Now()
	if *at != "" {
		d, err := catalog.ParseDate(*at)
		if err != nil {
			return &provider.ConfigError{Field: "--at", Value: *at, Want: "YYYY-MM-DD", Err: err}
		}
		when = d.Time().Add(12 * time.Hour)
	}
	cat := catalog.Default()
	path := *catPath
	if path == "" {
		cfg, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		path = cfg.Catalog
	}
	if path != "" {
		var err error
		if cat, err = catalog.LoadFile(expandHome(path)); err != nil {
			return &provider.ConfigError{Field: "catalog", Value: path, Err: err}
		}
	}
	var infos []modelInfo
	for _, m := range cat.Models() {
		if *prov != "" && m.Provider != *prov && m.Protocol != *prov {
			continue
		}
		st := m.Status(when)
		if st == catalog.StatusRetired && !*all {
			continue
		}
		info := modelInfo{Model: m, Status: st.String(), PerImage: map[catalog.Tier]priceRange{}, Warnings: m.Warnings(when)}
		if st != catalog.StatusActive && m.Lifecycle.Replacement != "" {
			if live, chain, err := cat.Resolve(m.ID, when); err == nil && live.ID != m.ID {
				info.UseInstead, info.Chain = live.ID, chain
			}
		}
		for tier, p := range m.Prices {
			if r, ok := imagePrice(m, p); ok {
				info.PerImage[tier] = r
			}
		}
		infos = append(infos, info)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"as_of": cat.AsOf, "version": cat.Version, "at": when.UTC().Format(time.DateOnly), "models": infos})
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tPROVIDER\tPROTOCOL\tSTATUS\tSHUTDOWN\tUSE INSTEAD\tPER IMAGE\tBATCH")
	for _, in := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.Provider, in.Protocol, in.Status,
			dash(in.Lifecycle.Shutdown.String()), dash(in.UseInstead), priceCell(in.PerImage, catalog.TierStandard),
			priceCell(in.PerImage, catalog.TierBatch))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	hidden := ""
	if !*all {
		hidden = "; --all adds retired models"
	}
	fmt.Fprintf(stdout, "\ncatalog %s (facts checked %s), lifecycle at %s%s\n", cat.Version, cat.AsOf, when.UTC().Format(time.DateOnly), hidden)
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func priceCell(m map[catalog.Tier]priceRange, t catalog.Tier) string {
	if r, ok := m[t]; ok {
		return r.String()
	}
	return "-"
}

// imagePrice returns the range of one image's price over m's sizes and
// qualities at p: the published per-image prices, else the image tokens
// of each size at the image-output rate, else the token formula.
func imagePrice(m *catalog.Model, p catalog.Price) (priceRange, bool) {
	var costs []provider.USD
	for _, v := range p.PerImage {
		costs = append(costs, v)
	}
	if len(costs) == 0 {
		for _, t := range p.ImageTokens {
			costs = append(costs, p.UsageCost(provider.Usage{OutputTokens: t, OutputImageTokens: t}))
		}
	}
	if len(costs) == 0 && m.ImageTokenFormula != nil {
		for _, size := range m.Sizes {
			sz, err := provider.ParseSize(size)
			if err != nil || sz.Width == 0 {
				continue
			}
			for q := range m.ImageTokenFormula.QualityFactors {
				if t, ok := m.ImageTokenFormula.Tokens(sz.Width, sz.Height, q); ok {
					costs = append(costs, p.UsageCost(provider.Usage{OutputTokens: t, OutputImageTokens: t}))
				}
			}
		}
	}
	if len(costs) == 0 {
		return priceRange{}, false
	}
	return priceRange{Min: slices.Min(costs), Max: slices.Max(costs)}, true
}
