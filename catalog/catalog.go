package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/imagegen-go/imagegen/provider"
)

//go:embed catalog.json
var embedded []byte

// Protocols a model may speak.
const (
	ProtocolGemini = "gemini" // generateContent; one image per call, adapters fan out
	ProtocolImagen = "imagen" // :predict
	ProtocolOpenAI = "openai" // OpenAI Images API
	// ProtocolTask is a task API (Kie.ai, Replicate, APIMart; package
	// taskapi): submit, then poll or receive a callback. Its IDs carry the
	// service as a prefix ("kie/nano-banana-pro",
	// "replicate/google/nano-banana-pro"), so they never collide with the
	// Google and OpenAI IDs; N images are N tasks.
	ProtocolTask = "task"
)

// Tier is a price tier: how a request is served and billed.
type Tier string

// The price tiers.
const (
	TierStandard Tier = "standard" // interactive calls
	TierBatch    Tier = "batch"    // Gemini Batch Mode: half the standard price
)

// OptionOwner makes a Tier a provider.Option: a request carrying
// TierBatch in its Options is priced, and reserved, at the batch tier by
// the pricing meter.
func (Tier) OptionOwner() string { return "pricing" }

// Control makes a Tier a provider.Control: the tier changes the price,
// not the image, so the cache leaves it out of its keys.
func (Tier) Control() {}

// Catalog is a dated set of model facts. It is immutable once loaded: its
// models are only handed out as copies, so a *Catalog may be shared by any
// number of goroutines.
type Catalog struct {
	AsOf    string // the date the facts were checked, "YYYY-MM-DD"
	Version string // the data file's version
	Note    string // free text from the file

	models []*Model           // sorted by ID; never modified after load
	index  map[string]*Model  // ID and alias → model
	alias  map[string]aliasOf // alias → its model and lifecycle

	dearest func() provider.USD // DearestImage, computed once; shared by header copies
}

type aliasOf struct {
	model     *Model
	lifecycle Lifecycle
}

// Model is what the catalog knows about one model. Values returned by the
// Catalog are deep copies: changing one never changes the catalog.
type Model struct {
	ID       string   `json:"id"`
	Provider string   `json:"provider"` // "google", "openai"
	Protocol string   `json:"protocol"` // ProtocolGemini, ProtocolImagen, ProtocolOpenAI, ProtocolTask
	Aliases  []string `json:"aliases,omitempty"`
	// AliasLifecycle holds the lifecycle of aliases that are retired apart
	// from the model (a "-preview" ID shut down after GA).
	AliasLifecycle map[string]Lifecycle `json:"alias_lifecycle,omitempty"`
	Lifecycle      Lifecycle            `json:"lifecycle"`

	// Sizes lists the accepted sizes in canonical form (provider.ParseSize):
	// tiers "512", "1K", "2K", "4K", fixed "WIDTHxHEIGHT" sizes and "auto".
	Sizes []string `json:"sizes,omitempty"`
	// SizeFixed means the API takes no size parameter at all: Sizes holds
	// the one size it always produces, and adapters must send nothing.
	SizeFixed bool `json:"size_fixed,omitempty"`
	// FreeSize, when set, accepts any "WIDTHxHEIGHT" that passes the rule.
	FreeSize *FreeSizeRule `json:"free_size,omitempty"`
	// AspectRatios lists the accepted "W:H" ratios; empty means the model
	// takes no ratio parameter (with FreeSize, any ratio within its bounds).
	AspectRatios []string `json:"aspect_ratios,omitempty"`
	// MaxReferences is the most reference images per request; 0 means none.
	MaxReferences int `json:"max_references,omitempty"`
	// MaxReferenceBytes is the largest reference image one request may
	// carry, in bytes of the encoded file; 0 means not known.
	MaxReferenceBytes int64 `json:"max_reference_bytes,omitempty"`
	// MaxMaskBytes is the largest mask, in bytes of the encoded file; 0
	// means not known.
	MaxMaskBytes int64 `json:"max_mask_bytes,omitempty"`
	// MaxRequestBytes is the largest request body the provider takes with
	// its images inline (base64 makes them 4/3 larger); 0 means not known.
	MaxRequestBytes int64 `json:"max_request_bytes,omitempty"`
	// ImagesPerCall is the most images one upstream call returns.
	ImagesPerCall  int      `json:"images_per_call,omitempty"`
	ThinkingLevels []string `json:"thinking_levels,omitempty"`
	// Qualities lists the accepted Request.Quality values; empty means the
	// model has no quality parameter (adapters ignore it, with a warning).
	Qualities []string `json:"qualities,omitempty"`
	// OutputFormats lists the canonical formats the caller may choose; empty
	// means the format is not selectable.
	OutputFormats []string          `json:"output_formats,omitempty"`
	Mask          bool              `json:"mask,omitempty"` // accepts an inpainting mask
	Edit          bool              `json:"edit,omitempty"` // accepts References as edit sources
	Prices        map[Tier]Price    `json:"prices,omitempty"`
	Sources       map[string]Source `json:"sources"`
	Notes         string            `json:"notes,omitempty"`

	// ImageTokenFormula, when set, gives the image output tokens of a size
	// and quality (the gpt-image-2 family); it applies at every tier.
	ImageTokenFormula *ImageTokenFormula `json:"image_token_formula,omitempty"`
	// ReferenceTokens, when set, gives the input tokens one reference
	// image (or mask) is billed; budgets estimate references with it.
	ReferenceTokens *ReferenceTokens `json:"reference_tokens,omitempty"`
	// PreviewOutputTokens is the image output tokens each partial image
	// (a draft sent for provider.Previews, counted in Usage.Previews) is
	// billed on top of the final image's; 0 means drafts cost nothing
	// extra, or the model sends none. OpenAI: 100 on the GPT image models.
	PreviewOutputTokens int `json:"preview_output_tokens,omitempty"`

	cat *Catalog // the catalog the model came from, for Warnings
}

// Lifecycle is when a model (or alias) was released, deprecated and shut
// down, and what replaces it. Zero dates are unknown or not announced.
type Lifecycle struct {
	Released    Date   `json:"released,omitzero"`
	Deprecated  Date   `json:"deprecated,omitzero"`
	Shutdown    Date   `json:"shutdown,omitzero"`
	Replacement string `json:"replacement,omitempty"` // a model ID or alias in the same catalog
	Note        string `json:"note,omitempty"`        // e.g. a disputed shutdown date
}

// IsZero reports whether nothing is known.
func (l Lifecycle) IsZero() bool { return l == Lifecycle{} }

// FreeSizeRule says which free "WIDTHxHEIGHT" sizes a model accepts.
type FreeSizeRule struct {
	MultipleOf int `json:"multiple_of"` // both sides must be multiples of this
	MaxRatio   int `json:"max_ratio"`   // long side / short side at most this (3 = 1:3..3:1)
	MaxEdge    int `json:"max_edge"`    // longest side in pixels
	MinPixels  int `json:"min_pixels,omitempty"`
	MaxPixels  int `json:"max_pixels,omitempty"`
}

// Check returns a reason the size is refused, or "" when it is accepted.
// Ratio is checked first, then the longest edge, the multiple, the pixels.
func (r FreeSizeRule) Check(w, h int) string {
	long, short := max(w, h), min(w, h)
	switch {
	case r.MaxRatio > 0 && long > short*r.MaxRatio:
		return fmt.Sprintf("aspect ratio beyond 1:%d..%d:1", r.MaxRatio, r.MaxRatio)
	case r.MaxEdge > 0 && long > r.MaxEdge:
		return fmt.Sprintf("longest edge above %d", r.MaxEdge)
	case r.MultipleOf > 1 && (w%r.MultipleOf != 0 || h%r.MultipleOf != 0):
		return fmt.Sprintf("sides must be multiples of %d", r.MultipleOf)
	case r.MinPixels > 0 && w*h < r.MinPixels:
		return fmt.Sprintf("fewer than %d pixels", r.MinPixels)
	case r.MaxPixels > 0 && w*h > r.MaxPixels:
		return fmt.Sprintf("more than %d pixels", r.MaxPixels)
	}
	return ""
}

// Price is one tier's prices. Token rates are per 1M tokens; thinking
// tokens are billed as text output. PerImage holds the provider's published
// per-image figures (often rounded: Google lists $0.067 for 1120 tokens at
// $60/1M, which is $0.0672) keyed by canonical size ("1K", "1024x1024") or
// by size and quality ("1024x1024@high"); ImageTokens holds the output
// tokens one image of a size costs. Costs computed from usage multiply
// tokens by rates and divide by 1e6 once, at the end.
type Price struct {
	TextInputPerMTok   provider.USD            `json:"text_input_per_mtok,omitzero"`
	ImageInputPerMTok  provider.USD            `json:"image_input_per_mtok,omitzero"`
	TextOutputPerMTok  provider.USD            `json:"text_output_per_mtok,omitzero"`
	ImageOutputPerMTok provider.USD            `json:"image_output_per_mtok,omitzero"`
	PerImage           map[string]provider.USD `json:"per_image,omitempty"`
	ImageTokens        map[string]int          `json:"image_tokens,omitempty"`
}

// IsZero reports whether the tier lists no price at all.
func (p Price) IsZero() bool {
	return p.TextInputPerMTok == 0 && p.ImageInputPerMTok == 0 && p.TextOutputPerMTok == 0 &&
		p.ImageOutputPerMTok == 0 && len(p.PerImage) == 0 && len(p.ImageTokens) == 0
}

// ImageCost returns the published price of one image of the given size
// ("1K", "4k", "1024x1024"; spelled as provider.ParseSize reads it), or of a
// "size@quality" key such as "1024x1024@high".
func (p Price) ImageCost(size string) (provider.USD, bool) {
	key := size
	s, q, hasQ := strings.Cut(size, "@")
	if sz, err := provider.ParseSize(s); err == nil && sz.String() != "" {
		key = sz.String()
		if hasQ {
			key += "@" + strings.ToLower(q)
		}
	}
	v, ok := p.PerImage[key]
	return v, ok
}

// ImageCostQuality returns the published price of one image of the given
// size and quality, trying "size@quality" first and then the size alone.
func (p Price) ImageCostQuality(size, quality string) (provider.USD, bool) {
	if quality != "" {
		if v, ok := p.ImageCost(size + "@" + quality); ok {
			return v, true
		}
	}
	return p.ImageCost(size)
}

// Source says where a fact came from and when it was checked.
type Source struct {
	URL     string `json:"url"`
	Checked Date   `json:"checked,omitzero"`
	Note    string `json:"note,omitempty"`
}

// Fact group names used as keys of Model.Sources. Prices use "prices."
// followed by the tier ("prices.standard", "prices.batch").
const (
	FactLifecycle      = "lifecycle"
	FactAliases        = "aliases"
	FactSizes          = "sizes"
	FactAspectRatios   = "aspect_ratios"
	FactMaxReferences  = "max_references"
	FactImagesPerCall  = "images_per_call"
	FactThinkingLevels = "thinking_levels"
	FactQualities      = "qualities"
	FactOutputFormats  = "output_formats"
	FactEdit           = "edit"
	FactInputLimits    = "input_limits" // max_reference_bytes, max_mask_bytes, max_request_bytes

	// FactImageTokenFormula and FactReferenceTokens source how tokens are
	// counted: ImageTokenFormula and ReferenceTokens.
	FactImageTokenFormula = "image_token_formula"
	FactReferenceTokens   = "reference_tokens"

	// FactPreviewOutputTokens sources PreviewOutputTokens. A model whose
	// drafts are not billed may still cite one, saying so.
	FactPreviewOutputTokens = "preview_output_tokens"
)

// FactGroups returns the names of m's non-empty fact groups, each of which
// must have a source.
func (m *Model) FactGroups() []string {
	var g []string
	add := func(ok bool, name string) {
		if ok {
			g = append(g, name)
		}
	}
	add(!m.Lifecycle.IsZero() || len(m.AliasLifecycle) > 0, FactLifecycle)
	add(len(m.Aliases) > 0, FactAliases)
	add(len(m.Sizes) > 0 || m.FreeSize != nil, FactSizes)
	add(len(m.AspectRatios) > 0, FactAspectRatios)
	add(m.MaxReferences > 0, FactMaxReferences)
	add(m.ImagesPerCall > 0, FactImagesPerCall)
	add(len(m.ThinkingLevels) > 0, FactThinkingLevels)
	add(len(m.Qualities) > 0, FactQualities)
	add(len(m.OutputFormats) > 0, FactOutputFormats)
	add(m.Edit || m.Mask, FactEdit)
	add(m.MaxReferenceBytes > 0 || m.MaxMaskBytes > 0 || m.MaxRequestBytes > 0, FactInputLimits)
	add(m.ImageTokenFormula != nil, FactImageTokenFormula)
	add(m.ReferenceTokens != nil, FactReferenceTokens)
	add(m.PreviewOutputTokens > 0, FactPreviewOutputTokens)
	for _, t := range slices.Sorted(maps.Keys(m.Prices)) {
		add(!m.Prices[t].IsZero(), "prices."+string(t))
	}
	return g
}

// file is the JSON layout of a catalog file.
type file struct {
	AsOf    string   `json:"as_of"`
	Version string   `json:"version"`
	Note    string   `json:"note,omitempty"`
	Models  []*Model `json:"models"`
}

// defaultCatalog parses the embedded file once. The result is never
// modified; Default hands out shallow copies of the Catalog header.
var defaultCatalog = sync.OnceValues(func() (*Catalog, error) {
	return Load(bytes.NewReader(embedded))
})

// Default returns the catalog embedded in the package (see its AsOf). The
// embedded data is parsed once; each call returns its own *Catalog header
// over the same immutable model data, so changing AsOf or Version on one
// never affects another. It panics if the embedded file is invalid, which
// the package's tests rule out.
func Default() *Catalog {
	c, err := defaultCatalog()
	if err != nil {
		panic(err)
	}
	cp := *c
	return &cp
}

// LoadFile reads and validates a catalog file, such as a newer copy of
// catalog.json shipped apart from the binary.
func LoadFile(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	defer f.Close()
	c, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Load reads a catalog in the layout of catalog.json and validates it:
// dates are well formed and in order, IDs and aliases are unique,
// replacements name known models and form no cycle, prices parse, and every
// non-empty fact group of every model has a source with a URL and a checked
// date. All problems found are reported together.
func Load(r io.Reader) (*Catalog, error) {
	var f file
	if err := json.NewDecoder(r).Decode(&f); err != nil {
		return nil, fmt.Errorf("catalog: decoding catalog: %w", err)
	}
	c := &Catalog{AsOf: f.AsOf, Version: f.Version, Note: f.Note, index: map[string]*Model{}, alias: map[string]aliasOf{}}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if _, err := ParseDate(f.AsOf); err != nil {
		fail("as_of: %v", err)
	}
	if strings.TrimSpace(f.Version) == "" {
		fail("version: missing")
	}
	if len(f.Models) == 0 {
		fail("models: none")
	}
	for i, m := range f.Models {
		if m == nil || m.ID == "" {
			fail("models[%d]: missing id", i)
			continue
		}
		m.cat = c
		if _, dup := c.index[m.ID]; dup {
			fail("model %q: duplicate id or alias", m.ID)
			continue
		}
		c.index[m.ID] = m
		c.models = append(c.models, m)
	}
	for _, m := range c.models {
		for _, a := range m.Aliases {
			if a == "" {
				fail("model %q: empty alias", m.ID)
				continue
			}
			if _, dup := c.index[a]; dup {
				fail("model %q: alias %q is already an id or alias", m.ID, a)
				continue
			}
			c.index[a] = m
			c.alias[a] = aliasOf{model: m, lifecycle: m.AliasLifecycle[a]}
		}
		for a := range m.AliasLifecycle {
			if !slices.Contains(m.Aliases, a) {
				fail("model %q: alias_lifecycle names %q, which is not one of its aliases", m.ID, a)
			}
		}
	}
	for _, m := range c.models {
		for _, e := range validateModel(c, m) {
			fail("model %q: %v", m.ID, e)
		}
	}
	// Replacement cycles, following models and aliases alike.
	for _, m := range c.models {
		seen := map[*Model]bool{m: true}
		path := []string{m.ID}
		for cur := m; cur.Lifecycle.Replacement != ""; {
			next, ok := c.index[cur.Lifecycle.Replacement]
			if !ok {
				break // reported by validateModel
			}
			path = append(path, cur.Lifecycle.Replacement)
			if seen[next] {
				fail("model %q: replacement cycle %s", m.ID, strings.Join(path, " → "))
				break
			}
			seen[next] = true
			cur = next
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("catalog: invalid catalog: %w", errors.Join(errs...))
	}
	sort.Slice(c.models, func(i, j int) bool { return c.models[i].ID < c.models[j].ID })
	models := c.models
	c.dearest = sync.OnceValue(func() provider.USD { return dearestImage(models) })
	return c, nil
}

var knownProtocols = []string{ProtocolGemini, ProtocolImagen, ProtocolOpenAI, ProtocolTask}

func validateModel(c *Catalog, m *Model) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if m.Provider == "" {
		fail("provider: missing")
	}
	if !slices.Contains(knownProtocols, m.Protocol) {
		fail("protocol %q: want one of %s", m.Protocol, strings.Join(knownProtocols, ", "))
	}
	checkLC := func(what string, l Lifecycle, self string) {
		if !l.Deprecated.IsZero() && !l.Released.IsZero() && l.Deprecated.Before(l.Released) {
			fail("%s: deprecated %s before released %s", what, l.Deprecated, l.Released)
		}
		if !l.Shutdown.IsZero() && !l.Released.IsZero() && l.Shutdown.Before(l.Released) {
			fail("%s: shutdown %s before released %s", what, l.Shutdown, l.Released)
		}
		if !l.Shutdown.IsZero() && !l.Deprecated.IsZero() && l.Shutdown.Before(l.Deprecated) {
			fail("%s: shutdown %s before deprecated %s", what, l.Shutdown, l.Deprecated)
		}
		if l.Replacement != "" {
			if _, ok := c.index[l.Replacement]; !ok {
				fail("%s: unknown replacement %q", what, l.Replacement)
			} else if l.Replacement == self {
				fail("%s: replaces itself", what)
			}
		}
	}
	checkLC("lifecycle", m.Lifecycle, m.ID)
	for a, l := range m.AliasLifecycle {
		checkLC("alias "+a, l, a)
	}
	for _, s := range m.Sizes {
		sz, err := provider.ParseSize(s)
		if err != nil || sz.String() != s {
			fail("sizes: %q is not a canonical size", s)
		}
	}
	if m.SizeFixed && len(m.Sizes) != 1 {
		fail("size_fixed needs exactly one size")
	}
	if r := m.FreeSize; r != nil && (r.MultipleOf < 0 || r.MaxRatio < 0 || r.MaxEdge < 0) {
		fail("free_size: negative limit")
	}
	for _, a := range m.AspectRatios {
		if _, _, err := provider.ParseAspectRatio(a); err != nil {
			fail("aspect_ratios: %q is not W:H", a)
		}
	}
	for _, f := range m.OutputFormats {
		if provider.NormalizeFormat(f) != f {
			fail("output_formats: %q is not a canonical format", f)
		}
	}
	if m.MaxReferences < 0 || m.ImagesPerCall < 0 || m.MaxReferenceBytes < 0 || m.MaxMaskBytes < 0 || m.MaxRequestBytes < 0 {
		fail("negative limit")
	}
	for t, p := range m.Prices {
		if t != TierStandard && t != TierBatch {
			fail("prices: unknown tier %q", t)
		}
		if t == TierBatch && m.Protocol == ProtocolImagen {
			fail("prices: Imagen models cannot be batched")
		}
		for k, v := range p.PerImage {
			if v < 0 {
				fail("prices.%s: negative per-image price for %q", t, k)
			}
		}
		for _, v := range []provider.USD{p.TextInputPerMTok, p.ImageInputPerMTok, p.TextOutputPerMTok, p.ImageOutputPerMTok} {
			if v < 0 {
				fail("prices.%s: negative rate", t)
			}
		}
	}
	if f := m.ImageTokenFormula; f != nil {
		for _, e := range f.check() {
			fail("image_token_formula: %s", e)
		}
		for _, q := range m.Qualities {
			if _, ok := f.QualityFactors[q]; !ok && q != "auto" {
				fail("image_token_formula: no factor for quality %q", q)
			}
		}
	}
	if m.PreviewOutputTokens < 0 {
		fail("preview_output_tokens: negative")
	}
	if r := m.ReferenceTokens; r != nil {
		for _, e := range r.check() {
			fail("reference_tokens: %s", e)
		}
	}
	groups := m.FactGroups()
	for _, g := range groups {
		s, ok := m.Sources[g]
		switch {
		case !ok:
			fail("missing source for %q", g)
		case strings.TrimSpace(s.URL) == "":
			fail("source %q: missing url", g)
		case s.Checked.IsZero():
			fail("source %q: missing checked date", g)
		}
	}
	for k := range m.Sources {
		if !slices.Contains(groups, k) && !isFactName(k) {
			fail("source %q: not a fact group", k)
		}
	}
	return errs
}

func isFactName(k string) bool {
	switch k {
	case FactLifecycle, FactAliases, FactSizes, FactAspectRatios, FactMaxReferences, FactImagesPerCall,
		FactThinkingLevels, FactQualities, FactOutputFormats, FactEdit, FactInputLimits,
		FactImageTokenFormula, FactReferenceTokens, FactPreviewOutputTokens:
		return true
	}
	return k == "prices."+string(TierStandard) || k == "prices."+string(TierBatch)
}

// normalizeID strips the "models/" prefix Google's API uses in resource
// names. IDs are otherwise case-sensitive, as the providers use them.
func normalizeID(id string) string { return strings.TrimPrefix(strings.TrimSpace(id), "models/") }

// lookup returns the catalog's own model for an ID or alias.
func (c *Catalog) lookup(id string) (*Model, bool) {
	m, ok := c.index[normalizeID(id)]
	return m, ok
}

// Lookup returns a copy of the model with the given ID or alias. IDs are
// case-sensitive; a "models/" prefix is accepted.
func (c *Catalog) Lookup(id string) (*Model, bool) {
	m, ok := c.lookup(id)
	if !ok {
		return nil, false
	}
	return m.clone(), true
}

// Models returns copies of all models, sorted by ID.
func (c *Catalog) Models() []*Model {
	out := make([]*Model, len(c.models))
	for i, m := range c.models {
		out[i] = m.clone()
	}
	return out
}

// clone returns a deep copy of m.
func (m *Model) clone() *Model {
	cp := *m
	cp.Aliases = slices.Clone(m.Aliases)
	cp.AliasLifecycle = maps.Clone(m.AliasLifecycle)
	cp.Sizes = slices.Clone(m.Sizes)
	if m.FreeSize != nil {
		r := *m.FreeSize
		cp.FreeSize = &r
	}
	cp.AspectRatios = slices.Clone(m.AspectRatios)
	cp.ThinkingLevels = slices.Clone(m.ThinkingLevels)
	cp.Qualities = slices.Clone(m.Qualities)
	cp.OutputFormats = slices.Clone(m.OutputFormats)
	if m.Prices != nil {
		cp.Prices = make(map[Tier]Price, len(m.Prices))
		for t, p := range m.Prices {
			p.PerImage = maps.Clone(p.PerImage)
			p.ImageTokens = maps.Clone(p.ImageTokens)
			cp.Prices[t] = p
		}
	}
	if f := m.ImageTokenFormula; f != nil {
		c := *f
		c.QualityFactors = maps.Clone(f.QualityFactors)
		cp.ImageTokenFormula = &c
	}
	if r := m.ReferenceTokens; r != nil {
		c := *r
		cp.ReferenceTokens = &c
	}
	cp.Sources = maps.Clone(m.Sources)
	return &cp
}
