package catalog_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/catalog"
)

// The gpt-image-2 formula reproduces the counts OpenAI's calculator shows
// (quoted on community.openai.com) and its published 1024x1024 prices.
func TestImageTokenFormulaMatchesOpenAI(t *testing.T) {
	t.Parallel()
	m, _ := catalog.Default().Lookup("gpt-image-2")
	f := m.ImageTokenFormula
	for _, tc := range []struct {
		w, h    int
		quality string
		want    int
	}{
		{1024, 1024, "high", 7024},
		{1536, 1024, "high", 5488},
		{1792, 1024, "high", 5063},
		{3584, 2048, "high", 12329},
		{3840, 2160, "high", 13342},
		{1024, 1024, "medium", 1756}, // $0.0527, published $0.053
		{1024, 1024, "low", 196},     // $0.0059, published $0.006
		{1024, 1024, "auto", 7024},   // billed as high
		{1024, 1024, "", 7024},
		{1024, 1024, "HIGH", 7024},
	} {
		if got, ok := f.Tokens(tc.w, tc.h, tc.quality); !ok || got != tc.want {
			t.Errorf("%dx%d %q: %d tokens, want %d", tc.w, tc.h, tc.quality, got, tc.want)
		}
	}
	if _, ok := f.Tokens(1024, 1024, "xhigh"); ok {
		t.Error("gpt-image-2 has no xhigh")
	}
	m25, _ := catalog.Default().Lookup("gpt-image-2.5-flare")
	for q, want := range map[string]int{"low": 196, "medium": 439, "high": 1756, "xhigh": 3122, "max": 7024} {
		if got, _ := m25.ImageTokenFormula.Tokens(1024, 1024, q); got != want {
			t.Errorf("2.5 %s: %d, want %d", q, got, want)
		}
	}
}

func TestReferenceTokens(t *testing.T) {
	t.Parallel()
	patches := catalog.ReferenceTokens{PatchSize: 32, MaxTokens: 1536}
	tiles := catalog.ReferenceTokens{PatchSize: 768, PatchTokens: 258, MaxTokens: 4128}
	for _, tc := range []struct {
		rule catalog.ReferenceTokens
		w, h int
		want int
	}{
		{patches, 1024, 1024, 1024},
		{patches, 33, 1, 2},
		{patches, 4096, 4096, 1536}, // capped
		{patches, 0, 0, 1536},       // size unknown
		{tiles, 384, 384, 258},
		{tiles, 1024, 1024, 4 * 258},
		{catalog.ReferenceTokens{PerImage: 560}, 4096, 4096, 560},
	} {
		if got, ok := tc.rule.Tokens(tc.w, tc.h); !ok || got != tc.want {
			t.Errorf("%+v %dx%d: %d, want %d", tc.rule, tc.w, tc.h, got, tc.want)
		}
	}
	if _, ok := (&catalog.ReferenceTokens{PatchSize: 32}).Tokens(0, 0); ok {
		t.Error("a patch rule without a cap bounded an image of unknown size")
	}
}

// A tier becomes the size openaicompat sends to the Images API.
func TestImagesSize(t *testing.T) {
	t.Parallel()
	m, _ := catalog.Default().Lookup("gpt-image-2")
	for _, tc := range []struct{ size, aspect, want string }{
		{"", "", ""},
		{"auto", "", "auto"},
		{"1536x1024", "", "1536x1024"},
		{"1K", "3:2", "1536x1024"}, // a listed fixed size of the tier
		{"1K", "", "1024x1024"},
		{"4K", "16:9", "3840x2160"},
		{"4K", "1:1", "2880x2880"}, // scaled to the 8,294,400-pixel cap
		{"", "16:9", "1360x768"},   // a ratio alone is 1K
	} {
		if got, err := m.ImagesSize(tc.size, tc.aspect); err != nil || got != tc.want {
			t.Errorf("%q at %q: %q, %v; want %q", tc.size, tc.aspect, got, err, tc.want)
		}
	}
	old, _ := catalog.Default().Lookup("gpt-image-1")
	if _, err := old.ImagesSize("4K", "16:9"); err == nil {
		t.Error("gpt-image-1 has no 4K size")
	}
}

func TestLoadRejectsBadTokenRules(t *testing.T) {
	t.Parallel()
	base := `{"as_of":"2026-12-04","version":"t","models":[{"id":"m","provider":"p","protocol":"openai","qualities":["low","high"],
		"image_token_formula":%s,"reference_tokens":%s,"sources":{"qualities":{"url":"u","checked":"2026-12-04"},
		"image_token_formula":{"url":"u","checked":"2026-12-04"},"reference_tokens":{"url":"u","checked":"2026-12-04"}}}]}`
	good := `{"quality_factors":{"low":16,"high":96},"auto_quality":"high","area_offset":2000000,"area_divisor":4000000}`
	for _, tc := range []struct{ formula, refs, want string }{
		{`{"quality_factors":{"low":16},"area_divisor":4000000}`, `{"per_image":1}`, `no factor for quality "high"`},
		{`{"quality_factors":{"low":16,"high":0},"area_divisor":4000000}`, `{"per_image":1}`, `quality factor "high"`},
		{`{"quality_factors":{"low":16,"high":96},"auto_quality":"max","area_divisor":4000000}`, `{"per_image":1}`, `auto_quality "max"`},
		{`{"quality_factors":{"low":16,"high":96}}`, `{"per_image":1}`, "area_divisor"},
		{good, `{}`, "needs per_image or patch_size"},
		{good, `{"patch_size":-1}`, "negative"},
	} {
		_, err := catalog.Load(strings.NewReader(fmt.Sprintf(base, tc.formula, tc.refs)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want %q", tc.formula, tc.refs, err, tc.want)
		}
	}
	if _, err := catalog.Load(strings.NewReader(fmt.Sprintf(base, good, `{"patch_size":32,"max_tokens":1536}`))); err != nil {
		t.Errorf("valid rules refused: %v", err)
	}
}
