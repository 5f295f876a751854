package catalog

import (
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/imagegen-go/imagegen/provider"
)

// Method says how a cost was found.
type Method string

// The costing methods.
const (
	MethodUsage    Method = "usage"     // reported tokens × the catalog's rates
	MethodPerImage Method = "per_image" // no token usage: published per-image price × images
	MethodReported Method = "reported"  // the provider or relay reported its own cost (OpenRouter usage.cost)
	MethodUnpriced Method = "unpriced"  // no price known: cost 0, with a warning
	MethodCached   Method = "cached"    // served from a cache: nothing billed
)

// Cost is the price of one response (or of one billed failure) and how it
// was found.
type Cost struct {
	Amount   provider.USD
	Method   Method
	Model    string // the catalog's ID for the model priced ("" when unknown)
	Tier     Tier
	Warnings []string // "no price for model X", a missing tier, an unpriced token kind
}

// UsageCost returns the cost of u at p's rates:
//
//   - text input: (InputTokens − InputImageTokens) × TextInputPerMTok
//   - image input: InputImageTokens × ImageInputPerMTok (TextInputPerMTok
//     when the tier lists no image-input rate)
//   - image output: OutputImageTokens × ImageOutputPerMTok
//   - text output: (OutputTokens − OutputImageTokens) × TextOutputPerMTok
//   - thinking: ThoughtTokens × TextOutputPerMTok; ThoughtTokens are counted
//     apart from OutputTokens, as Gemini reports them (thoughtsTokenCount
//     is not part of candidatesTokenCount)
//
// The products, in micro-dollar·tokens per million, are summed exactly in
// 128 bits and divided by 1e6 once, rounding half up (half a micro-dollar
// or more rounds up). Negative counts count as zero; a result beyond the
// range of USD saturates.
//
// It does not price Usage.Previews, which depends on the model (see
// Catalog.UsageCostOf).
func (p Price) UsageCost(u provider.Usage) provider.USD {
	acc := p.usageAcc(u)
	return acc.micro()
}

// usageAcc is UsageCost before the division.
func (p Price) usageAcc(u provider.Usage) acc128 {
	imgIn := p.ImageInputPerMTok
	if imgIn == 0 {
		imgIn = p.TextInputPerMTok
	}
	var acc acc128
	acc.add(u.InputTokens-u.InputImageTokens, p.TextInputPerMTok)
	acc.add(u.InputImageTokens, imgIn)
	acc.add(u.OutputImageTokens, p.ImageOutputPerMTok)
	acc.add(u.OutputTokens-u.OutputImageTokens, p.TextOutputPerMTok)
	acc.add(u.ThoughtTokens, p.TextOutputPerMTok)
	return acc
}

// previewTokens is the image output tokens that previews drafts are
// billed on m: previews × PreviewOutputTokens, saturating.
func (m *Model) previewTokens(previews int) int {
	if previews <= 0 || m.PreviewOutputTokens <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(previews), uint64(m.PreviewOutputTokens))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int(lo)
}

// unpricedTokens names the token kinds of u that p has no rate for.
func (p Price) unpricedTokens(u provider.Usage) []string {
	var out []string
	if u.InputTokens-u.InputImageTokens > 0 && p.TextInputPerMTok == 0 {
		out = append(out, fmt.Sprintf("%d text input tokens", u.InputTokens-u.InputImageTokens))
	}
	if u.InputImageTokens > 0 && p.ImageInputPerMTok == 0 && p.TextInputPerMTok == 0 {
		out = append(out, fmt.Sprintf("%d image input tokens", u.InputImageTokens))
	}
	if u.OutputImageTokens > 0 && p.ImageOutputPerMTok == 0 {
		out = append(out, fmt.Sprintf("%d image output tokens", u.OutputImageTokens))
	}
	if t := max(u.OutputTokens-u.OutputImageTokens, 0) + max(u.ThoughtTokens, 0); t > 0 && p.TextOutputPerMTok == 0 {
		out = append(out, fmt.Sprintf("%d text/thinking output tokens", t))
	}
	return out
}

// acc128 sums tokens × rate products without overflow.
type acc128 struct{ hi, lo uint64 }

func (a *acc128) add(tokens int, rate provider.USD) {
	if tokens <= 0 || rate <= 0 {
		return
	}
	hi, lo := bits.Mul64(uint64(tokens), uint64(rate))
	var carry uint64
	a.lo, carry = bits.Add64(a.lo, lo, 0)
	a.hi, _ = bits.Add64(a.hi, hi, carry)
}

// micro divides by 1e6, rounding half up, saturating at math.MaxInt64.
func (a acc128) micro() provider.USD { return a.div(500_000) }

// ceil divides by 1e6, rounding up, for upper estimates.
func (a acc128) ceil() provider.USD { return a.div(999_999) }

func (a acc128) div(bias uint64) provider.USD {
	lo, carry := bits.Add64(a.lo, bias, 0)
	hi := a.hi + carry
	if hi >= 1_000_000 {
		return provider.USD(math.MaxInt64)
	}
	q, _ := bits.Div64(hi, lo, 1_000_000)
	if q > math.MaxInt64 {
		return provider.USD(math.MaxInt64)
	}
	return provider.USD(q)
}

// hasTokens reports whether u reports any token count (Usage.Images alone
// does not say what an image cost).
func hasTokens(u provider.Usage) bool {
	return u.InputTokens > 0 || u.InputImageTokens > 0 || u.OutputTokens > 0 ||
		u.OutputImageTokens > 0 || u.ThoughtTokens > 0
}

// price returns m's prices for tier. A tier the model does not list falls
// back to the standard prices (an upper bound), with a warning.
func (m *Model) price(tier Tier) (Price, []string) {
	if p, ok := m.Prices[tier]; ok && !p.IsZero() {
		return p, nil
	}
	if p, ok := m.Prices[TierStandard]; ok && !p.IsZero() && tier != TierStandard {
		return p, []string{fmt.Sprintf("no %s prices for model %s: priced at the standard tier", tier, m.ID)}
	}
	return Price{}, nil
}

// defaultSize is the size a request without one gets, for pricing.
func (m *Model) defaultSize() string {
	if len(m.Sizes) == 1 || m.SizeFixed {
		return m.Sizes[0]
	}
	switch {
	case m.Protocol == ProtocolOpenAI && slices.Contains(m.Sizes, "1024x1024"):
		return "1024x1024"
	case slices.Contains(m.Sizes, "1K"):
		return "1K"
	}
	return ""
}

// imagePrice returns what one image of the request's size and quality
// costs at p: the published per-image price, else the image's tokens
// (ImageTokenFormula, ImageTokens) × the image-output rate. When neither
// knows the quality, the dearest listed quality of the size is used, with
// a warning. A size tier on the Images API is priced as the size the
// adapter sends (ImagesSize).
func (m *Model) imagePrice(p Price, size, aspectRatio, quality string) (provider.USD, []string, bool) {
	var warns []string
	sz := ""
	if s, err := provider.ParseSize(size); err == nil {
		sz = s.String()
	}
	if m.Protocol == ProtocolOpenAI && sz != "" && sz != "auto" {
		// A tier is sent to the Images API as a WIDTHxHEIGHT.
		if s, err := m.ImagesSize(size, aspectRatio); err == nil && s != "" {
			sz = s
		}
	}
	if sz == "" || sz == "auto" {
		if d := m.defaultSize(); d != "" {
			if size != "" {
				warns = append(warns, fmt.Sprintf("size %q priced as %s", size, d))
			}
			sz = d
		}
	}
	if sz == "" {
		return 0, nil, false
	}
	if v, ok := p.ImageCostQuality(sz, quality); ok {
		return v, warns, true
	}
	if t, ok := m.imageTokens(p, sz, quality); ok {
		var a acc128
		a.add(t, p.ImageOutputPerMTok)
		return a.micro(), warns, true
	}
	best, found := provider.USD(0), false
	for k, v := range p.PerImage {
		if strings.HasPrefix(k, sz+"@") && v >= best {
			best, found = v, true
		}
	}
	if found {
		q := quality
		if q == "" {
			q = "unspecified"
		}
		return best, append(warns, fmt.Sprintf("quality %s of %s priced at the dearest listed quality", q, sz)), true
	}
	return 0, nil, false
}

// CostOf prices a response of model (an ID or alias) at tier. A cache hit
// (Response.Cached) costs nothing (MethodCached). A cost the
// response already carries (Response.Cost > 0, set by a relay adapter from
// its own billing, such as OpenRouter's usage.cost) wins, as
// MethodReported. Otherwise reported token usage is priced with
// Price.UsageCost; without token usage, the published per-image price of
// the requested size and quality is multiplied by the images billed
// (Usage.Images, else the images returned). Either way, each partial image
// billed (Usage.Previews) adds the model's PreviewOutputTokens at the
// image-output rate: OpenAI bills 100 image output tokens per partial
// image, taken to be on top of the completed event's usage (whether
// usage.output_tokens already counts them is unverified). An unknown model
// costs 0 with the warning "no price for model X": the catalog never
// guesses.
func (c *Catalog) CostOf(model string, tier Tier, req *provider.Request, resp *provider.Response) Cost {
	if resp == nil {
		return Cost{Method: MethodUnpriced, Tier: tier, Model: model}
	}
	if resp.Cached {
		return Cost{Method: MethodCached, Tier: tier, Model: model}
	}
	if resp.Cost > 0 {
		id := model
		if m, ok := c.lookup(model); ok {
			id = m.ID
		}
		return Cost{Amount: resp.Cost, Method: MethodReported, Model: id, Tier: tier}
	}
	return c.UsageCostOf(model, tier, req, resp.Usage, len(resp.Images))
}

// UsageCostOf prices usage u of model at tier, for a response that
// returned images images (see CostOf). It also prices billed failures:
// pass the usage from provider.BilledUsage and 0 images.
func (c *Catalog) UsageCostOf(model string, tier Tier, req *provider.Request, u provider.Usage, images int) Cost {
	if tier == "" {
		tier = TierStandard
	}
	m, ok := c.lookup(model)
	if !ok {
		name := model
		if name == "" {
			name = "(unnamed)"
		}
		return Cost{Method: MethodUnpriced, Model: model, Tier: tier, Warnings: []string{"no price for model " + name}}
	}
	p, warns := m.price(tier)
	out := Cost{Model: m.ID, Tier: tier, Warnings: warns}
	if p.IsZero() {
		out.Method = MethodUnpriced
		out.Warnings = append(out.Warnings, "no price for model "+m.ID)
		return out
	}
	drafts := m.previewTokens(u.Previews)
	if drafts > 0 && p.ImageOutputPerMTok <= 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("model %s has no rate for %d preview image output tokens", m.ID, drafts))
	}
	if hasTokens(u) {
		out.Method = MethodUsage
		acc := p.usageAcc(u)
		acc.add(drafts, p.ImageOutputPerMTok)
		out.Amount = acc.micro()
		if miss := p.unpricedTokens(u); len(miss) > 0 {
			out.Warnings = append(out.Warnings, fmt.Sprintf("model %s has no rate for %s", m.ID, strings.Join(miss, ", ")))
		}
		return out
	}
	var draftAcc acc128
	draftAcc.add(drafts, p.ImageOutputPerMTok)
	n := u.Images
	if n <= 0 {
		n = images
	}
	if n <= 0 {
		// Nothing billed that we can see, but the drafts.
		out.Method = MethodUsage
		out.Amount = draftAcc.micro()
		return out
	}
	var size, aspect, quality string
	if req != nil {
		size, aspect, quality = req.Size, req.AspectRatio, req.Quality
	}
	each, w, ok := m.imagePrice(p, size, aspect, quality)
	out.Warnings = append(out.Warnings, w...)
	if !ok {
		out.Method = MethodUnpriced
		out.Warnings = append(out.Warnings, fmt.Sprintf("no per-image price for model %s at size %q", m.ID, size))
		return out
	}
	out.Method = MethodPerImage
	out.Amount = addSat(mulSat(each, n), draftAcc.micro())
	return out
}

// EstimateConfig sets how Estimate bounds the cost of a request before it
// is made. Zero fields take the documented defaults.
type EstimateConfig struct {
	// ThinkingTokens is the thinking and text output allowed per upstream
	// call, priced at the text-output rate. Default 2048.
	ThinkingTokens int
	// ReferenceTokens is the input tokens allowed per reference image (and
	// mask) of a model whose catalog entry says nothing of how references
	// are counted (Model.ReferenceTokens), priced at the image-input rate.
	// Default 4096.
	ReferenceTokens int
	// UnknownPerImage is the estimate per image for a model the catalog
	// has no usable price for, so that unknown models cannot blow a cap. A
	// route declares its own with provider.Description.MaxCostPerImage
	// (see Ceiling), which the meter passes here. Default: the dearest
	// image the catalog knows (Catalog.DearestImage).
	UnknownPerImage provider.USD
}

func (e EstimateConfig) withDefaults() EstimateConfig {
	if e.ThinkingTokens <= 0 {
		e.ThinkingTokens = 2048
	}
	if e.ReferenceTokens <= 0 {
		e.ReferenceTokens = 4096
	}
	return e
}

// Estimate returns an upper estimate of what req will cost on model at
// tier, for budget reservations. It assumes req is valid
// (provider.Request.Validate and the model's Validate pass): the meter
// checks before it estimates. The estimate is the sum of:
//
//   - per image: the image of the size and quality the request asks for —
//     Size, or the model's own default size when there is none (1K on
//     Gemini; on the Images API "auto" and no size are the dearest listed
//     fixed size, 1024x1024 on the gpt-image-2 family), never the largest
//     the model offers; a size tier on the Images API is the WIDTHxHEIGHT
//     the adapter sends (Model.ImagesSize). Quality is Quality, or the
//     quality "auto" is billed at. The image costs its ImageTokenFormula
//     or ImageTokens tokens at the image-output rate, else its published
//     per-image price (the dearest listed quality of the size when the
//     quality is not listed).
//   - per upstream call (one per image on models that fan out, else one):
//     the prompt at the text-input rate counting one token per byte (an
//     upper bound for the tokenizers in use) plus 16; every reference
//     image and mask at the image-input rate, counted with the model's
//     ReferenceTokens rule from the image's own size (EstimateConfig
//     .ReferenceTokens without a rule); and ThinkingTokens at the
//     text-output rate.
//   - per image, when req asks for provider.Previews: Previews.Want()
//     drafts of PreviewOutputTokens each at the image-output rate (per
//     image rather than per call, an upper bound: whether a call for N
//     images streams Want drafts of each is not documented).
//
// A model with no usable price is estimated at UnknownPerImage per image
// (default: Catalog.DearestImage); known reports whether the catalog
// priced it.
func (c *Catalog) Estimate(model string, tier Tier, req *provider.Request, cfg EstimateConfig) (est provider.USD, known bool) {
	cfg = cfg.withDefaults()
	if req == nil {
		req = &provider.Request{}
	}
	n := req.Count()
	unknownEach := cfg.UnknownPerImage
	if unknownEach <= 0 {
		unknownEach = c.DearestImage()
	}
	unknown := mulSat(unknownEach, n)
	m, ok := c.lookup(model)
	if !ok {
		return unknown, false
	}
	if tier == "" {
		tier = TierStandard
	}
	p, _ := m.price(tier)
	if p.IsZero() {
		return unknown, false
	}
	each, found := m.estimateImage(p, req)
	if !found {
		return unknown, false
	}
	calls := 1
	if m.FansOut() {
		calls = n
	}
	imgIn := p.ImageInputPerMTok
	if imgIn == 0 {
		imgIn = p.TextInputPerMTok
	}
	refs := 0
	for _, img := range req.References {
		refs += m.referenceTokens(img, cfg)
	}
	if req.Mask != nil {
		refs += m.referenceTokens(*req.Mask, cfg)
	}
	var a acc128
	a.add(calls*(len(req.Prompt)+len(req.NegativePrompt)+16), p.TextInputPerMTok)
	a.add(calls*refs, imgIn)
	a.add(calls*cfg.ThinkingTokens, p.TextOutputPerMTok)
	if pv, ok := provider.PreviewsOf(req); ok {
		a.add(m.previewTokens(n*pv.Want()), p.ImageOutputPerMTok)
	}
	return addSat(mulSat(each, n), a.ceil()), true
}

// referenceTokens is what one reference image is estimated to be billed.
func (m *Model) referenceTokens(img provider.Image, cfg EstimateConfig) int {
	if m.ReferenceTokens == nil {
		return cfg.ReferenceTokens
	}
	w, h := 0, 0
	if m.ReferenceTokens.PerImage == 0 {
		w, h = imageDims(img.Data)
	}
	if t, ok := m.ReferenceTokens.Tokens(w, h); ok {
		return t
	}
	return cfg.ReferenceTokens
}

// estimateImage is the upper price of one image of req on m at p (see
// Estimate), rounded up to the micro-dollar.
func (m *Model) estimateImage(p Price, req *provider.Request) (provider.USD, bool) {
	var sizes []string
	if m.Protocol == ProtocolOpenAI {
		s, err := m.ImagesSize(req.Size, req.AspectRatio)
		if err == nil && s != "" && s != "auto" {
			sizes = []string{s}
		} else {
			// The service picks: the dearest size it may pick.
			for _, fs := range m.Sizes {
				if sz, err := provider.ParseSize(fs); err == nil && sz.Width > 0 {
					sizes = append(sizes, fs)
				}
			}
		}
	} else {
		sz, err := provider.ParseSize(req.Size)
		switch {
		case err == nil && sz.Tier != "":
			sizes = []string{sz.Tier}
		case err == nil && sz.Width > 0:
			sizes = []string{sz.String()}
		default:
			if d := m.defaultSize(); d != "" {
				sizes = []string{d}
			}
		}
	}
	best, found := provider.USD(0), false
	for _, s := range sizes {
		if v, ok := m.imageEstimate(p, s, req.Quality); ok && (!found || v > best) {
			best, found = v, true
		}
	}
	if !found {
		return maxImagePrice(m, p)
	}
	return best, true
}

// imageEstimate bounds one image of a canonical size at quality: the
// dearer of its tokens at the image-output rate (rounded up) and its
// published price (the dearest listed quality of the size when the
// quality is not given or not listed), since either may be what is
// charged: tokens when the answer reports usage, the published price when
// it does not.
func (m *Model) imageEstimate(p Price, size, quality string) (provider.USD, bool) {
	best, found := provider.USD(0), false
	consider := func(v provider.USD) {
		if !found || v > best {
			best, found = v, true
		}
	}
	if t, ok := m.imageTokens(p, size, quality); ok {
		var a acc128
		a.add(t, p.ImageOutputPerMTok)
		consider(a.ceil())
	}
	q := strings.ToLower(strings.TrimSpace(quality))
	if v, ok := p.ImageCost(size + "@" + q); ok && q != "" && q != "auto" {
		consider(v)
	} else if v, ok := p.ImageCost(size); ok {
		consider(v)
	} else {
		for k, v := range p.PerImage {
			if strings.HasPrefix(k, size+"@") {
				consider(v)
			}
		}
	}
	return best, found
}

// imageTokens returns the output tokens of one image of a canonical size
// at quality, from ImageTokenFormula (WIDTHxHEIGHT sizes) or ImageTokens.
func (m *Model) imageTokens(p Price, size, quality string) (int, bool) {
	if p.ImageOutputPerMTok <= 0 {
		return 0, false
	}
	if f := m.ImageTokenFormula; f != nil {
		if sz, err := provider.ParseSize(size); err == nil && sz.Width > 0 {
			if t, ok := f.Tokens(sz.Width, sz.Height, quality); ok {
				return t, true
			}
		}
	}
	if t := p.ImageTokens[size]; t > 0 {
		return t, true
	}
	return 0, false
}

// DearestImage returns the dearest single image the catalog prices, at
// any tier, size and quality: every published per-image price, every
// ImageTokens count and every ImageTokenFormula at the model's listed
// sizes and its largest free size, at the image-output rate. It is the
// default estimate per image for unknown models (EstimateConfig
// .UnknownPerImage): $0.71 in the embedded catalog (gpt-image-2 at high
// quality and 2880x2880).
func (c *Catalog) DearestImage() provider.USD {
	if c.dearest != nil {
		return c.dearest()
	}
	return dearestImage(c.models)
}

func dearestImage(models []*Model) provider.USD {
	var best provider.USD
	for _, m := range models {
		for _, p := range m.Prices {
			if v, ok := maxImagePrice(m, p); ok {
				best = max(best, v)
			}
		}
	}
	return best
}

// maxImagePrice is the dearest image of m at p: every published
// per-image price, ImageTokens count and formula size at the image-output
// rate.
func maxImagePrice(m *Model, p Price) (provider.USD, bool) {
	best, found := provider.USD(0), false
	for _, v := range p.PerImage {
		if v >= best {
			best, found = v, true
		}
	}
	tokens := slices.Collect(maps.Values(p.ImageTokens))
	if f := m.ImageTokenFormula; f != nil {
		var sizes [][2]int
		for _, s := range m.Sizes {
			if sz, err := provider.ParseSize(s); err == nil && sz.Width > 0 {
				sizes = append(sizes, [2]int{sz.Width, sz.Height})
			}
		}
		if m.FreeSize != nil {
			if side, ok := largestFreeSquare(m.FreeSize); ok {
				sizes = append(sizes, [2]int{side, side})
			}
		}
		for _, wh := range sizes {
			for q := range f.QualityFactors {
				if t, ok := f.Tokens(wh[0], wh[1], q); ok {
					tokens = append(tokens, t)
				}
			}
		}
	}
	if p.ImageOutputPerMTok > 0 {
		for _, t := range tokens {
			var a acc128
			a.add(t, p.ImageOutputPerMTok)
			if v := a.ceil(); v >= best {
				best, found = v, true
			}
		}
	}
	return best, found
}

// mulSat multiplies a price by a count, saturating.
func mulSat(v provider.USD, n int) provider.USD {
	if v <= 0 || n <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(v), uint64(n))
	if hi != 0 || lo > math.MaxInt64 {
		return provider.USD(math.MaxInt64)
	}
	return provider.USD(lo)
}

// addSat adds two non-negative prices, saturating.
func addSat(a, b provider.USD) provider.USD {
	if a > math.MaxInt64-b {
		return provider.USD(math.MaxInt64)
	}
	return a + b
}
