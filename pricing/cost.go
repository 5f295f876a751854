package pricing

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/imagegen-go/imagegen/provider"
)

// OptionTier is the Request.Options key that names the price tier of a
// request: "standard" (the default) or "batch". A Batch Mode adapter sets it
// on the requests it submits (or implements TierReporter), so the meter
// prices them at half the standard rate and budgets reserve accordingly.
const OptionTier = "pricing_tier"

// TierReporter is implemented by generators that serve every request at a
// fixed price tier, such as a Batch Mode generator. The meter looks for it
// through decorators (provider.Unwrapper) when the request names no tier.
// It returns a Tier's text ("batch") so that adapters need not import this
// package.
type TierReporter interface {
	PricingTier() string
}

// TierOf returns the tier of req: Options[OptionTier] when set ("batch" or
// "standard", case-insensitive; a Tier value is accepted too), otherwise
// the tier that g (or a generator it wraps) reports, otherwise
// TierStandard.
func TierOf(g provider.Generator, req *provider.Request) Tier {
	if req != nil {
		switch v := req.Options[OptionTier].(type) {
		case Tier:
			return normTier(string(v))
		case string:
			return normTier(v)
		}
	}
	for h := g; h != nil; {
		if r, ok := h.(TierReporter); ok {
			return normTier(r.PricingTier())
		}
		u, ok := h.(provider.Unwrapper)
		if !ok {
			break
		}
		h = u.Unwrap()
	}
	return TierStandard
}

func normTier(s string) Tier {
	if strings.EqualFold(strings.TrimSpace(s), string(TierBatch)) {
		return TierBatch
	}
	return TierStandard
}

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
func (p Price) UsageCost(u provider.Usage) provider.USD {
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
	return acc.micro()
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
// costs at p: the published per-image price (or ImageTokens × the
// image-output rate when no price is published for the size). When the
// quality is not given or not listed, the dearest quality of the size is
// used, with a warning.
func (m *Model) imagePrice(p Price, size, quality string) (provider.USD, []string, bool) {
	var warns []string
	sz := ""
	if s, err := provider.ParseSize(size); err == nil {
		sz = s.String()
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
	if t := p.ImageTokens[sz]; t > 0 && p.ImageOutputPerMTok > 0 {
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

// maxImagePrice is the dearest image of the tier: every published
// per-image price and every ImageTokens count at the image-output rate.
func maxImagePrice(p Price) (provider.USD, bool) {
	best, found := provider.USD(0), false
	for _, v := range p.PerImage {
		if v >= best {
			best, found = v, true
		}
	}
	if p.ImageOutputPerMTok > 0 {
		for _, t := range p.ImageTokens {
			var a acc128
			a.add(t, p.ImageOutputPerMTok)
			if v := a.micro(); v >= best {
				best, found = v, true
			}
		}
	}
	return best, found
}

// CostOf prices a response of model (an ID or alias) at tier. A cache hit
// (Response.Cached) costs nothing (MethodCached). A cost the
// response already carries (Response.Cost > 0, set by a relay adapter from
// its own billing, such as OpenRouter's usage.cost) wins, as
// MethodReported. Otherwise reported token usage is priced with
// Price.UsageCost; without token usage, the published per-image price of
// the requested size and quality is multiplied by the images billed
// (Usage.Images, else the images returned). An unknown model costs 0 with
// the warning "no price for model X": the catalog never guesses.
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
	if hasTokens(u) {
		out.Method = MethodUsage
		out.Amount = p.UsageCost(u)
		if miss := p.unpricedTokens(u); len(miss) > 0 {
			out.Warnings = append(out.Warnings, fmt.Sprintf("model %s has no rate for %s", m.ID, strings.Join(miss, ", ")))
		}
		return out
	}
	n := u.Images
	if n <= 0 {
		n = images
	}
	if n <= 0 {
		// Nothing billed that we can see.
		out.Method = MethodUsage
		return out
	}
	var size, quality string
	if req != nil {
		size, quality = req.Size, req.Quality
	}
	each, w, ok := m.imagePrice(p, size, quality)
	out.Warnings = append(out.Warnings, w...)
	if !ok {
		out.Method = MethodUnpriced
		out.Warnings = append(out.Warnings, fmt.Sprintf("no per-image price for model %s at size %q", m.ID, size))
		return out
	}
	out.Method = MethodPerImage
	out.Amount = each * provider.USD(n)
	return out
}

// EstimateConfig sets how Estimate bounds the cost of a request before it
// is made. Zero fields take the documented defaults.
type EstimateConfig struct {
	// ThinkingTokens is the thinking and text output allowed per upstream
	// call, priced at the text-output rate. Default 2048.
	ThinkingTokens int
	// ReferenceTokens is the input tokens allowed per reference image (and
	// mask), priced at the image-input rate. Default 4096.
	ReferenceTokens int
	// UnknownPerImage is the estimate per image for a model the catalog has
	// no usable price for, so that unknown models cannot blow a cap.
	// Default $0.25.
	UnknownPerImage provider.USD
}

func (e EstimateConfig) withDefaults() EstimateConfig {
	if e.ThinkingTokens <= 0 {
		e.ThinkingTokens = 2048
	}
	if e.ReferenceTokens <= 0 {
		e.ReferenceTokens = 4096
	}
	if e.UnknownPerImage <= 0 {
		e.UnknownPerImage = 25 * provider.Cent
	}
	return e
}

// Estimate returns an upper estimate of what req will cost on model at
// tier, for budget reservations: per image, the dearer of the published
// per-image price and ImageTokens × the image-output rate at the requested
// size and quality (the dearest size of the tier when none is requested),
// plus, per upstream call (one per image on models that fan out, else one),
// ThinkingTokens at the text-output rate and the prompt at the
// text-input rate counting one token per byte, plus ReferenceTokens per
// reference image and mask at the image-input rate. A model with no usable
// price is estimated at UnknownPerImage per image; known reports whether
// the catalog priced it.
func (c *Catalog) Estimate(model string, tier Tier, req *provider.Request, cfg EstimateConfig) (est provider.USD, known bool) {
	cfg = cfg.withDefaults()
	n := 1
	if req != nil {
		n = req.Count()
	}
	unknown := cfg.UnknownPerImage * provider.USD(n)
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
	var each provider.USD
	found := false
	if req != nil && req.Size != "" {
		if sz, err := provider.ParseSize(req.Size); err == nil && !sz.Auto {
			each, _, found = m.imagePrice(p, req.Size, req.Quality)
			if t := p.ImageTokens[sz.String()]; t > 0 {
				var a acc128
				a.add(t, p.ImageOutputPerMTok)
				each = max(each, a.ceil())
				found = true
			}
		}
	}
	if !found {
		each, found = maxImagePrice(p)
	}
	if !found {
		return unknown, false
	}
	calls := 1
	if m.FansOut() {
		calls = n
	}
	var a acc128
	if req != nil {
		refs := len(req.References)
		if req.Mask != nil {
			refs++
		}
		imgIn := p.ImageInputPerMTok
		if imgIn == 0 {
			imgIn = p.TextInputPerMTok
		}
		a.add(calls*(len(req.Prompt)+len(req.NegativePrompt)+16), p.TextInputPerMTok)
		a.add(calls*refs*cfg.ReferenceTokens, imgIn)
	}
	a.add(calls*cfg.ThinkingTokens, p.TextOutputPerMTok)
	return each*provider.USD(n) + a.ceil(), true
}
