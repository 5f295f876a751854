package catalog_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
)

// imageUsage is the usage of one generated image of t tokens.
func imageUsage(t int) provider.Usage {
	return provider.Usage{OutputTokens: t, OutputImageTokens: t, Images: 1}
}

// TestExactCostFromTokens prices every Gemini model's images from their
// token counts, against PROVIDERS.md §8, to the micro-dollar.
func TestExactCostFromTokens(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, tc := range []struct {
		model  string
		size   string
		tokens int
		want   provider.USD // µ$
	}{
		{"gemini-nano-banana-2.1", "1K", 1120, 33_600},
		{"gemini-nano-banana-2.1", "2K", 1680, 50_400},
		{"gemini-nano-banana-2.1", "4K", 3780, 113_400},
		{"gemini-3-pro-image", "1K", 1120, 134_400}, // published $0.134
		{"gemini-3-pro-image", "2K", 1120, 134_400},
		{"gemini-3-pro-image", "4K", 2000, 240_000},
		{"gemini-3.1-flash-lite-image", "1K", 1120, 33_600},
		{"gemini-3.1-flash-image", "512", 747, 44_820}, // published $0.045
		{"gemini-3.1-flash-image", "1K", 1120, 67_200},
		{"gemini-3.1-flash-image", "2K", 1680, 100_800},
		{"gemini-3.1-flash-image", "4K", 2520, 151_200},
		{"gemini-2.5-flash-image", "1K", 1290, 38_700}, // published $0.039
	} {
		req := &provider.Request{Prompt: "x", Size: tc.size}
		got := c.CostOf(tc.model, catalog.TierStandard, req, &provider.Response{Usage: imageUsage(tc.tokens)})
		if got.Amount != tc.want || got.Method != catalog.MethodUsage || len(got.Warnings) != 0 {
			t.Errorf("%s %s: %v (%s, %v), want %v", tc.model, tc.size, got.Amount, got.Method, got.Warnings, tc.want)
		}
		// Batch Mode: exactly half.
		b := c.CostOf(tc.model, catalog.TierBatch, req, &provider.Response{Usage: imageUsage(tc.tokens)})
		if b.Amount != tc.want/2 || b.Tier != catalog.TierBatch {
			t.Errorf("%s %s batch: %v, want %v", tc.model, tc.size, b.Amount, tc.want/2)
		}
		// The token count agrees with the catalog's.
		m, _ := c.Lookup(tc.model)
		if n := m.Prices[catalog.TierStandard].ImageTokens[tc.size]; n != tc.tokens {
			t.Errorf("%s %s: catalog says %d tokens", tc.model, tc.size, n)
		}
	}
}

// TestExactCostThinkingAndInput adds text input, image input and thinking.
func TestExactCostThinkingAndInput(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, tc := range []struct {
		model string
		u     provider.Usage
		want  provider.USD
	}{
		// 1120 image out ($30) + 500 thinking ($7.50) + 100 text in ($1.50).
		{"gemini-nano-banana-2.1", provider.Usage{InputTokens: 100, OutputTokens: 1120, OutputImageTokens: 1120, ThoughtTokens: 500}, 33_600 + 3_750 + 150},
		// Pro: 2000 image out ($120) + 1000 thinking ($12) + 300 text in, 560 image in ($2) + 20 text out ($12).
		{"gemini-3-pro-image", provider.Usage{InputTokens: 860, InputImageTokens: 560, OutputTokens: 2020, OutputImageTokens: 2000, ThoughtTokens: 1000}, 240_000 + 12_000 + 600 + 1_120 + 240},
		// Lite: 1120 out + 64 thinking at $1.50 + 40 in at $0.25.
		{"gemini-3.1-flash-lite-image", provider.Usage{InputTokens: 40, OutputTokens: 1120, OutputImageTokens: 1120, ThoughtTokens: 64}, 33_600 + 96 + 10},
		// 3.1 Flash: 747 out + 200 thinking at $3 + 10 in at $0.50.
		{"gemini-3.1-flash-image", provider.Usage{InputTokens: 10, OutputTokens: 747, OutputImageTokens: 747, ThoughtTokens: 200}, 44_820 + 600 + 5},
		// gpt-image-2: 50 text in ($5), 1000 image in ($8), 4160 image out ($30).
		{"gpt-image-2", provider.Usage{InputTokens: 1050, InputImageTokens: 1000, OutputTokens: 4160, OutputImageTokens: 4160, Images: 1}, 250 + 8_000 + 124_800},
		{"gpt-image-2.5-flare", provider.Usage{InputTokens: 50, OutputTokens: 4160, OutputImageTokens: 4160}, 250 + 124_800},
		{"gpt-image-2.5-sunburst", provider.Usage{InputTokens: 50, OutputTokens: 4160, OutputImageTokens: 4160}, 250 + 124_800},
		{"gpt-image-2.6-flare", provider.Usage{InputTokens: 50, OutputTokens: 4160, OutputImageTokens: 4160}, 250 + 124_800},
		{"gpt-image-2.6-sunburst", provider.Usage{InputTokens: 50, OutputTokens: 4160, OutputImageTokens: 4160}, 250 + 124_800},
		// gpt-image-1: $5 / $10 / $40; 1.5 and chatgpt-image-latest: $5 / $8 / $32; mini $2 / $2.50 / $8.
		{"gpt-image-1", provider.Usage{InputTokens: 20, InputImageTokens: 0, OutputTokens: 4160, OutputImageTokens: 4160}, 100 + 166_400},
		{"gpt-image-1.5", provider.Usage{InputTokens: 20, OutputTokens: 4160, OutputImageTokens: 4160}, 100 + 133_120},
		{"chatgpt-image-latest", provider.Usage{InputTokens: 20, OutputTokens: 4160, OutputImageTokens: 4160}, 100 + 133_120},
		{"gpt-image-1-mini", provider.Usage{InputTokens: 20, InputImageTokens: 10, OutputTokens: 1056, OutputImageTokens: 1056}, 20 + 25 + 8_448},
	} {
		got := c.CostOf(tc.model, catalog.TierStandard, &provider.Request{Prompt: "x"}, &provider.Response{Usage: tc.u})
		if got.Amount != tc.want || got.Method != catalog.MethodUsage {
			t.Errorf("%s %+v: %d µ$ (%s %v), want %d", tc.model, tc.u, got.Amount, got.Method, got.Warnings, tc.want)
		}
	}
}

// TestPerImageModels prices models that bill per image (no usage).
func TestPerImageModels(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, tc := range []struct {
		model, size, quality string
		n                    int
		want                 provider.USD
	}{
		{"imagen-4.0-fast-generate-001", "1K", "", 4, 80_000},
		{"imagen-4.0-generate-001", "2K", "", 2, 80_000},
		{"imagen-4.0-ultra-generate-001", "", "", 1, 60_000},
		{"dall-e-3", "1024x1024", "hd", 1, 80_000},
		{"dall-e-3", "1792x1024", "standard", 1, 80_000},
		{"dall-e-2", "256x256", "", 3, 48_000},
		{"gpt-image-2", "1024x1024", "high", 1, 211_000},
		{"gpt-image-2", "1024x1024", "low", 2, 12_000},
		{"gemini-3-pro-image", "4K", "", 2, 480_000},    // published $0.24
		{"gemini-3.1-flash-image", "1K", "", 1, 67_000}, // published $0.067
	} {
		req := &provider.Request{Prompt: "x", Size: tc.size, Quality: tc.quality, N: tc.n}
		resp := &provider.Response{Images: make([]provider.Image, tc.n)}
		got := c.CostOf(tc.model, catalog.TierStandard, req, resp)
		if got.Amount != tc.want || got.Method != catalog.MethodPerImage {
			t.Errorf("%s %s@%s ×%d: %v (%s %v), want %v", tc.model, tc.size, tc.quality, tc.n, got.Amount, got.Method, got.Warnings, tc.want)
		}
	}
	// Usage.Images wins over the images returned (a filtered image is billed).
	got := c.CostOf("imagen-4.0-generate-001", "", &provider.Request{}, &provider.Response{Usage: provider.Usage{Images: 3}, Images: make([]provider.Image, 1)})
	if got.Amount != 120_000 {
		t.Errorf("3 billed images: %v", got.Amount)
	}
	// No quality given for a model priced per quality: the dearest, with a warning.
	got = c.CostOf("dall-e-3", "", &provider.Request{Size: "1024x1024"}, &provider.Response{Images: make([]provider.Image, 1)})
	if got.Amount != 80_000 || len(got.Warnings) != 1 {
		t.Errorf("no quality: %v %v", got.Amount, got.Warnings)
	}
	// A token formula prices what no table lists: gpt-image-2 with no quality
	// is billed as high (7024 tokens at $30/1M), a 3840x2160 high image
	// 13,342 tokens, gpt-image-2.6 at 1024x1024 high 1756 tokens, and a tier
	// is the size the Images API is sent (4K at 16:9 is 3840x2160).
	for _, tc := range []struct {
		model string
		req   provider.Request
		want  provider.USD
	}{
		{"gpt-image-2", provider.Request{Size: "1024x1024"}, 210_720},
		{"gpt-image-2", provider.Request{Size: "3840x2160", Quality: "high"}, 400_260},
		{"gpt-image-2", provider.Request{Size: "4K", AspectRatio: "16:9", Quality: "high"}, 400_260},
		{"gpt-image-2.6-flare", provider.Request{Size: "1024x1024"}, 52_680},
		{"gpt-image-2.5-sunburst", provider.Request{Size: "1024x1024", Quality: "max"}, 210_720},
	} {
		got = c.CostOf(tc.model, "", &tc.req, &provider.Response{Images: make([]provider.Image, 1)})
		if got.Amount != tc.want || got.Method != catalog.MethodPerImage || len(got.Warnings) != 0 {
			t.Errorf("%s %+v without usage: %+v, want %v", tc.model, tc.req, got, tc.want)
		}
	}
	// A size with neither a price nor a token count: unpriced, with a warning.
	got = c.CostOf("gemini-3.1-flash-lite-image", "", &provider.Request{Size: "4K"}, &provider.Response{Images: make([]provider.Image, 1)})
	if got.Amount != 0 || got.Method != catalog.MethodUnpriced || len(got.Warnings) == 0 {
		t.Errorf("no price for the size: %+v", got)
	}
}

func TestReportedCostWins(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	resp := &provider.Response{Cost: 41_234, Usage: imageUsage(1120)}
	got := c.CostOf("gemini-nano-banana-2.1", catalog.TierStandard, nil, resp)
	if got.Amount != 41_234 || got.Method != catalog.MethodReported {
		t.Errorf("reported: %+v", got)
	}
	got = c.CostOf("some-relay-model", catalog.TierStandard, nil, resp)
	if got.Amount != 41_234 || got.Method != catalog.MethodReported {
		t.Errorf("reported, unknown model: %+v", got)
	}
}

func TestUnknownModelNeverGuessed(t *testing.T) {
	t.Parallel()
	got := catalog.Default().CostOf("flux-9-ultra", catalog.TierStandard, nil, &provider.Response{Usage: imageUsage(1000)})
	if got.Amount != 0 || got.Method != catalog.MethodUnpriced || len(got.Warnings) != 1 || got.Warnings[0] != "no price for model flux-9-ultra" {
		t.Errorf("unknown: %+v", got)
	}
}

func TestAliasAndMissingTier(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	got := c.CostOf("models/gemini-3-pro-image-preview", catalog.TierStandard, nil, &provider.Response{Usage: imageUsage(1120)})
	if got.Amount != 134_400 || got.Model != "gemini-3-pro-image" {
		t.Errorf("alias: %+v", got)
	}
	// OpenAI has no batch tier: standard prices, with a warning.
	got = c.CostOf("gpt-image-2", catalog.TierBatch, nil, &provider.Response{Usage: provider.Usage{OutputTokens: 1000, OutputImageTokens: 1000}})
	if got.Amount != 30_000 || len(got.Warnings) != 1 {
		t.Errorf("missing tier: %+v", got)
	}
	// 2.5 Flash lists no text-output rate: thinking is unpriced, and said so.
	got = c.CostOf("gemini-2.5-flash-image", catalog.TierStandard, nil, &provider.Response{Usage: provider.Usage{OutputTokens: 1290, OutputImageTokens: 1290, ThoughtTokens: 10}})
	if got.Amount != 38_700 || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "10 text/thinking") {
		t.Errorf("no text-out rate: %+v", got)
	}
}

// TestRoundingOnce shows the products are summed before one rounding.
func TestRoundingOnce(t *testing.T) {
	t.Parallel()
	p := catalog.Price{TextInputPerMTok: 250_000, ImageInputPerMTok: 250_000, TextOutputPerMTok: 1_500_000}
	// 2 × $0.25/M = 0.5 µ$ twice: 1 µ$ in all (rounding each part would give 2).
	if got := p.UsageCost(provider.Usage{InputTokens: 4, InputImageTokens: 2}); got != 1 {
		t.Errorf("0.5+0.5 µ$ = %d", got)
	}
	// Half rounds up: 1 token at $1.50/M is 1.5 µ$ → 2.
	if got := p.UsageCost(provider.Usage{OutputTokens: 1}); got != 2 {
		t.Errorf("1.5 µ$ = %d", got)
	}
	// Below half rounds down: 1 token at $0.25/M → 0.
	if got := p.UsageCost(provider.Usage{InputTokens: 1}); got != 0 {
		t.Errorf("0.25 µ$ = %d", got)
	}
	// Negative counts count as zero.
	if got := p.UsageCost(provider.Usage{InputTokens: -5, OutputTokens: -1}); got != 0 {
		t.Errorf("negative = %d", got)
	}
	// No overflow: the products exceed int64 but the sum saturates cleanly.
	big := catalog.Price{ImageOutputPerMTok: provider.USD(math.MaxInt64)}
	if got := big.UsageCost(provider.Usage{OutputTokens: math.MaxInt, OutputImageTokens: math.MaxInt}); got != provider.USD(math.MaxInt64) {
		t.Errorf("saturation = %d", got)
	}
	// Large but representable: 1e9 tokens at $1000/M = $1,000,000 exactly.
	k := catalog.Price{ImageOutputPerMTok: 1000 * provider.Dollar}
	if got := k.UsageCost(provider.Usage{OutputTokens: 1e9, OutputImageTokens: 1e9}); got != 1_000_000*provider.Dollar {
		t.Errorf("1e9 tokens = %v", got)
	}
}

func TestEstimateIsAnUpperBound(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	cfg := catalog.EstimateConfig{}
	for _, m := range c.Models() {
		for tier, p := range m.Prices {
			for size, tokens := range p.ImageTokens {
				req := &provider.Request{Prompt: "a lighthouse at dusk", Size: size, N: 2}
				est, known := c.Estimate(m.ID, tier, req, cfg)
				u := provider.Usage{InputTokens: 8, OutputTokens: 2 * tokens, OutputImageTokens: 2 * tokens, ThoughtTokens: 2 * 2048}
				actual := c.CostOf(m.ID, tier, req, &provider.Response{Usage: u}).Amount
				if !known || est < actual {
					t.Errorf("%s %s %s: estimate %v < actual %v", m.ID, tier, size, est, actual)
				}
			}
			for key, price := range p.PerImage {
				size, q, _ := strings.Cut(key, "@")
				req := &provider.Request{Prompt: "x", Size: size, Quality: q}
				if est, _ := c.Estimate(m.ID, tier, req, cfg); est < price {
					t.Errorf("%s %s: estimate %v < price %v", m.ID, key, est, price)
				}
			}
		}
	}
	// No size: the model's own default (1K), not its largest.
	est, _ := c.Estimate("gemini-3-pro-image", catalog.TierStandard, &provider.Request{Prompt: "x"}, cfg)
	if want := provider.USD(134_400 + 24_576 + 34); est != want {
		t.Errorf("pro without size: %v, want %v (1K, 2048 thinking tokens, 17 prompt tokens)", est, want)
	}
	// Unknown model: the dearest image the catalog knows × N.
	dearest := c.DearestImage()
	if dearest != 711_570 {
		t.Errorf("dearest image %v, want $0.71157 (gpt-image-2 high at 2880x2880: 23,719 tokens)", dearest)
	}
	est, known := c.Estimate("flux-9", catalog.TierStandard, &provider.Request{N: 3}, cfg)
	if known || est != 3*dearest {
		t.Errorf("unknown: %v %v", est, known)
	}
	est, _ = c.Estimate("flux-9", catalog.TierStandard, &provider.Request{}, catalog.EstimateConfig{UnknownPerImage: provider.Dollar})
	if est != provider.Dollar {
		t.Errorf("configured unknown: %v", est)
	}
}

type batchGen struct{ provider.GeneratorFunc }

func (batchGen) PricingTier() string { return "batch" }

func TestTierOf(t *testing.T) {
	t.Parallel()
	plain := provider.GeneratorFunc(func(ctx context.Context, r *provider.Request) (*provider.Response, error) { return nil, nil })
	if got := pricing.TierOf(plain, &provider.Request{}); got != catalog.TierStandard {
		t.Errorf("plain: %s", got)
	}
	if got := pricing.TierOf(plain, &provider.Request{Options: provider.Options{catalog.TierBatch}}); got != catalog.TierBatch {
		t.Errorf("option: %s", got)
	}
	wrapped := provider.Wrap(batchGen{plain}, plain)
	if got := pricing.TierOf(wrapped, &provider.Request{}); got != catalog.TierBatch {
		t.Errorf("reporter through Wrap: %s", got)
	}
	if got := pricing.TierOf(wrapped, &provider.Request{Options: provider.Options{catalog.TierStandard}}); got != catalog.TierStandard {
		t.Errorf("option wins: %s", got)
	}
}

func TestCachedResponsesCostNothing(t *testing.T) {
	t.Parallel()
	c := catalog.Default().CostOf("gemini-2.5-flash-image", catalog.TierStandard, &provider.Request{Prompt: "p"},
		&provider.Response{Cached: true, Images: []provider.Image{{Data: []byte{1}}}})
	if c.Amount != 0 || c.Method != catalog.MethodCached {
		t.Errorf("a cache hit priced %v (%s)", c.Amount, c.Method)
	}
}
