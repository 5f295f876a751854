package catalog_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/provider"
)

// TestPreviewFacts: the GPT image models that stream bill 100 image output
// tokens per partial image (OpenAI's guide); dall-e and Gemini have no
// such fact, and Gemini's thought images cite why.
func TestPreviewFacts(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	tests := []struct {
		model  string
		tokens int
		source string // a substring of the source's URL; "" for none
	}{
		{"gpt-image-1", 100, "developers.openai.com/api/docs/guides/image-generation#partial-images-cost"},
		{"gpt-image-1-mini", 100, "partial-images-cost"},
		{"gpt-image-1.5", 100, "partial-images-cost"},
		{"gpt-image-2", 100, "partial-images-cost"},
		{"gpt-image-2.5-flare", 100, "partial-images-cost"},
		{"gpt-image-2.6-sunburst", 100, "partial-images-cost"},
		{"dall-e-2", 0, ""},
		{"dall-e-3", 0, ""},
		{"gemini-3-pro-image", 0, "ai.google.dev/gemini-api/docs/image-generation#thinking-process"},
		{"gemini-nano-banana-2.1", 0, "thinking-process"},
		{"gemini-2.5-flash-image", 0, ""},
	}
	for _, tt := range tests {
		m, ok := c.Lookup(tt.model)
		if !ok {
			t.Fatalf("%s not in the catalog", tt.model)
		}
		if m.PreviewOutputTokens != tt.tokens {
			t.Errorf("%s: PreviewOutputTokens = %d, want %d", tt.model, m.PreviewOutputTokens, tt.tokens)
		}
		s, has := m.Sources[catalog.FactPreviewOutputTokens]
		if has != (tt.source != "") || !strings.Contains(s.URL, tt.source) || (has && s.Checked.IsZero()) {
			t.Errorf("%s: source %+v (%v), want one at %q", tt.model, s, has, tt.source)
		}
		if has && tt.tokens == 0 && !strings.Contains(s.Note, "unverified") {
			t.Errorf("%s: the note on unbilled drafts must say it is unverified: %q", tt.model, s.Note)
		}
	}
}

// TestPreviewCost prices billed partial images exactly: Usage.Previews ×
// PreviewOutputTokens × the image-output rate, on top of the rest.
func TestPreviewCost(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	tokens := func(out, previews int) provider.Usage {
		return provider.Usage{OutputTokens: out, OutputImageTokens: out, Images: 1, Previews: previews}
	}
	tests := []struct {
		name   string
		model  string
		req    provider.Request
		usage  provider.Usage
		images int
		want   provider.USD
		method catalog.Method
	}{
		// gpt-image-2: $30/1M image output, so one draft is 100 × 30 = 3000 µ$.
		{"gpt-image-2 no drafts", "gpt-image-2", provider.Request{}, tokens(1000, 0), 1, 30_000, catalog.MethodUsage},
		{"gpt-image-2 two drafts", "gpt-image-2", provider.Request{}, tokens(1000, 2), 1, 36_000, catalog.MethodUsage},
		{"gpt-image-2 three drafts", "gpt-image-2", provider.Request{}, tokens(1000, 3), 1, 39_000, catalog.MethodUsage},
		// gpt-image-1: $40/1M: (4160 + 300) × 40.
		{"gpt-image-1 three drafts", "gpt-image-1", provider.Request{}, tokens(4160, 3), 1, 178_400, catalog.MethodUsage},
		// gpt-image-1-mini: $8/1M: (1000 + 100) × 8.
		{"gpt-image-1-mini one draft", "gpt-image-1-mini", provider.Request{}, tokens(1000, 1), 1, 8_800, catalog.MethodUsage},
		// No token usage: the published $0.211 plus two drafts.
		{"gpt-image-2 per image with drafts", "gpt-image-2", provider.Request{Size: "1024x1024", Quality: "high"},
			provider.Usage{Images: 1, Previews: 2}, 1, 217_000, catalog.MethodPerImage},
		// A failure billed for its drafts only.
		{"gpt-image-2 drafts of a failed call", "gpt-image-2", provider.Request{}, provider.Usage{Previews: 2}, 0, 6_000, catalog.MethodUsage},
		// dall-e-3 sends no drafts: a count is not priced.
		{"dall-e-3 ignores drafts", "dall-e-3", provider.Request{Size: "1024x1024", Quality: "standard"},
			provider.Usage{Images: 1, Previews: 2}, 1, 40_000, catalog.MethodPerImage},
		// Gemini thought images: the thought tokens only (1120 × 120 + 310 × 12).
		{"gemini-3-pro-image thought images", "gemini-3-pro-image", provider.Request{Size: "1K"},
			provider.Usage{OutputTokens: 1120, OutputImageTokens: 1120, ThoughtTokens: 310, Images: 1, Previews: 2}, 1, 138_120, catalog.MethodUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := c.UsageCostOf(tt.model, catalog.TierStandard, &tt.req, tt.usage, tt.images)
			if got.Amount != tt.want || got.Method != tt.method {
				t.Errorf("cost %d µ$ (%s, %v), want %d µ$ (%s)", got.Amount, got.Method, got.Warnings, tt.want, tt.method)
			}
		})
	}
}

// TestPreviewEstimate: the estimate reserves Want() drafts per image at
// the model's preview tokens, so that a budget holds for them.
func TestPreviewEstimate(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	on := func(provider.Preview) {}
	tests := []struct {
		model    string
		n        int
		previews *provider.Previews // nil: none asked for
		extra    provider.USD       // over the estimate without previews
	}{
		{"gpt-image-2", 1, &provider.Previews{On: on}, 6_000}, // default 2 × 100 × $30/1M
		{"gpt-image-2", 1, &provider.Previews{Count: 1, On: on}, 3_000},
		{"gpt-image-2", 1, &provider.Previews{Count: 3, On: on}, 9_000},
		{"gpt-image-2", 2, &provider.Previews{Count: 3, On: on}, 18_000},
		{"gpt-image-1-mini", 1, &provider.Previews{Count: 3, On: on}, 2_400}, // 300 × $8/1M
		{"gpt-image-1", 1, &provider.Previews{Count: 2, On: on}, 8_000},      // 200 × $40/1M
		{"gpt-image-2", 1, &provider.Previews{Count: 3}, 0},                  // no On: nothing asked
		{"dall-e-3", 1, &provider.Previews{Count: 3, On: on}, 0},
		{"gemini-3-pro-image", 1, &provider.Previews{Count: 2, On: on}, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s n=%d %+v", tt.model, tt.n, tt.previews), func(t *testing.T) {
			t.Parallel()
			plain := &provider.Request{Prompt: "a lighthouse", N: tt.n}
			with := *plain
			with.Options = provider.Options{*tt.previews}
			base, ok1 := c.Estimate(tt.model, catalog.TierStandard, plain, catalog.EstimateConfig{})
			got, ok2 := c.Estimate(tt.model, catalog.TierStandard, &with, catalog.EstimateConfig{})
			if !ok1 || !ok2 || got-base != tt.extra {
				t.Errorf("estimate %d µ$ with previews, %d without (known %v %v): extra %d, want %d", got, base, ok1, ok2, got-base, tt.extra)
			}
		})
	}
}

// TestPreviewTokensValidated: a negative count, or a count without a
// source, makes the file invalid.
func TestPreviewTokensValidated(t *testing.T) {
	t.Parallel()
	const file = `{"as_of":"2026-12-04","version":"t","models":[{"id":"m","provider":"p","protocol":"openai",
		"preview_output_tokens":%d,"sources":{%s}}]}`
	src := `"preview_output_tokens":{"url":"https://example.com/x","checked":"2026-12-04"}`
	tests := []struct {
		name    string
		tokens  int
		sources string
		wantErr string
	}{
		{"sourced", 100, src, ""},
		{"negative", -1, src, "preview_output_tokens: negative"},
		{"no source", 100, "", `missing source for "preview_output_tokens"`},
		{"a source for a zero count is allowed", 0, src, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := catalog.Load(strings.NewReader(fmt.Sprintf(file, tt.tokens, tt.sources)))
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Load: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestPreviewCostSaturates: an absurd count from a loaded file or a broken
// answer saturates instead of wrapping around.
func TestPreviewCostSaturates(t *testing.T) {
	t.Parallel()
	const file = `{"as_of":"2026-12-04","version":"t","models":[{"id":"m","provider":"p","protocol":"openai",
		"sizes":["1024x1024"],"preview_output_tokens":9000000000000000000,
		"prices":{"standard":{"image_output_per_mtok":"30","per_image":{"1024x1024":"0.01"}}},
		"sources":{"preview_output_tokens":{"url":"https://example.com/x","checked":"2026-12-04"},
		"sizes":{"url":"https://example.com/x","checked":"2026-12-04"},
		"prices.standard":{"url":"https://example.com/x","checked":"2026-12-04"}}}]}`
	c, err := catalog.Load(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, previews := range []int{1, 3, math.MaxInt} {
		got := c.UsageCostOf("m", catalog.TierStandard, &provider.Request{}, provider.Usage{OutputTokens: 1, OutputImageTokens: 1, Previews: previews}, 1)
		if got.Amount != math.MaxInt64 {
			t.Errorf("%d drafts: %d µ$, want saturation", previews, got.Amount)
		}
	}
	est, _ := c.Estimate("m", catalog.TierStandard, &provider.Request{Prompt: "p", Options: provider.Options{provider.Previews{Count: 3, On: func(provider.Preview) {}}}}, catalog.EstimateConfig{})
	if est != math.MaxInt64 {
		t.Errorf("estimate %d µ$, want saturation", est)
	}
}
