package catalog

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // DecodeConfig reads reference sizes for ReferenceTokens
	_ "image/jpeg"
	_ "image/png"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/imagegen-go/imagegen/provider"
)

// ImageTokenFormula gives the image output tokens of one image from its
// size and quality, for models billed by area and quality (OpenAI's
// gpt-image-2 family). With f the quality's factor and long and short the
// image's sides:
//
//	s      = ⌊f·short/long + ½⌋
//	tokens = ⌈f · s · (AreaOffset + width·height) / AreaDivisor⌉
//
// This is the calculator behind OpenAI's image-generation guide: at
// factor 96 ("high") it gives 7,024 tokens for 1024x1024 ($0.211 at $30
// per 1M), 5,488 for 1536x1024 and 13,342 for 3840x2160.
type ImageTokenFormula struct {
	// QualityFactors maps each quality the model accepts to its factor.
	QualityFactors map[string]int `json:"quality_factors"`
	// AutoQuality is the quality a request with no quality, or "auto", is
	// billed at.
	AutoQuality string `json:"auto_quality,omitempty"`
	AreaOffset  int    `json:"area_offset"`
	AreaDivisor int    `json:"area_divisor"`
}

// Tokens returns the output tokens of one width×height image at quality
// ("", "auto" and letter case as a request spells them). ok is false for
// a quality the formula does not list or a size that is not positive.
func (f *ImageTokenFormula) Tokens(width, height int, quality string) (tokens int, ok bool) {
	if f == nil || width <= 0 || height <= 0 || f.AreaDivisor <= 0 {
		return 0, false
	}
	factor, ok := f.QualityFactors[f.quality(quality)]
	if !ok || factor <= 0 {
		return 0, false
	}
	long, short := int64(max(width, height)), int64(min(width, height))
	q := int64(factor)
	s := (2*q*short + long) / (2 * long)
	div := int64(f.AreaDivisor)
	num := q * s * (int64(f.AreaOffset) + int64(width)*int64(height))
	return int((num + div - 1) / div), true
}

// quality resolves "" and "auto" to AutoQuality (the dearest listed
// quality when none is set).
func (f *ImageTokenFormula) quality(q string) string {
	q = strings.ToLower(strings.TrimSpace(q))
	if q != "" && q != "auto" {
		return q
	}
	if f.AutoQuality != "" {
		return f.AutoQuality
	}
	best, bestF := "", 0
	for _, k := range slices.Sorted(maps.Keys(f.QualityFactors)) {
		if v := f.QualityFactors[k]; v > bestF {
			best, bestF = k, v
		}
	}
	return best
}

func (f *ImageTokenFormula) check() []string {
	var bad []string
	if len(f.QualityFactors) == 0 {
		bad = append(bad, "no quality_factors")
	}
	for q, v := range f.QualityFactors {
		if v <= 0 || q != strings.ToLower(q) {
			bad = append(bad, fmt.Sprintf("quality factor %q: %d", q, v))
		}
	}
	if f.AutoQuality != "" {
		if _, ok := f.QualityFactors[f.AutoQuality]; !ok {
			bad = append(bad, fmt.Sprintf("auto_quality %q is not a listed quality", f.AutoQuality))
		}
	}
	if f.AreaDivisor <= 0 || f.AreaOffset < 0 {
		bad = append(bad, "area_divisor must be positive and area_offset not negative")
	}
	return bad
}

// ReferenceTokens says how many input tokens one reference image (or
// mask) is billed: PerImage when set, otherwise ⌈w/PatchSize⌉·⌈h/PatchSize⌉
// patches of PatchTokens each, at most MaxTokens. An image whose size
// cannot be read counts MaxTokens.
type ReferenceTokens struct {
	PerImage    int `json:"per_image,omitempty"`
	PatchSize   int `json:"patch_size,omitempty"`
	PatchTokens int `json:"patch_tokens,omitempty"` // 0 means 1
	MaxTokens   int `json:"max_tokens,omitempty"`
}

// Tokens returns the input tokens of a width×height reference; 0×0 means
// the size is unknown. ok is false when the rule cannot bound it (a patch
// rule without MaxTokens for an image of unknown size).
func (r *ReferenceTokens) Tokens(width, height int) (tokens int, ok bool) {
	switch {
	case r == nil:
		return 0, false
	case r.PerImage > 0:
		return r.PerImage, true
	case r.PatchSize <= 0:
		return 0, false
	case width <= 0 || height <= 0:
		return r.MaxTokens, r.MaxTokens > 0
	}
	per := max(r.PatchTokens, 1)
	t := ((width + r.PatchSize - 1) / r.PatchSize) * ((height + r.PatchSize - 1) / r.PatchSize) * per
	if r.MaxTokens > 0 {
		t = min(t, r.MaxTokens)
	}
	return t, true
}

func (r *ReferenceTokens) check() []string {
	if r.PerImage < 0 || r.PatchSize < 0 || r.PatchTokens < 0 || r.MaxTokens < 0 {
		return []string{"negative value"}
	}
	if r.PerImage == 0 && r.PatchSize == 0 {
		return []string{"needs per_image or patch_size"}
	}
	return nil
}

// imageDims reads the width and height of an encoded PNG, JPEG or GIF from
// its header; 0, 0 for anything else.
func imageDims(b []byte) (int, int) {
	if len(b) == 0 {
		return 0, 0
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return 0, 0
	}
	return cfg.Width, cfg.Height
}

// imagesTierPixels is the pixel budget of a size tier on the Images API:
// the square of its edge, except 4K, which is the 3840x2160 area (the
// largest a 2.x model accepts).
var imagesTierPixels = map[string]int{"512": 512 * 512, "1K": 1024 * 1024, "2K": 2048 * 2048, "4K": 3840 * 2160}

// ImagesSize returns the size the OpenAI Images API is sent for a
// request's Size and AspectRatio on m, as package openaicompat sends it:
// "" (none), "auto", a WIDTHxHEIGHT as given, a listed fixed size of the
// tier and ratio (1K at 3:2 is 1536x1024), or, on a model that takes free
// sizes, a WIDTHxHEIGHT in multiples of 16 with the tier's pixel budget
// (4K at 16:9 is 3840x2160), checked against the free-size rule. The
// budget estimates a tier from this size, so a tier costs what the
// adapter will ask for.
func (m *Model) ImagesSize(size, aspectRatio string) (string, error) {
	sz, err := provider.ParseSize(size)
	if err != nil {
		return "", err
	}
	if sz.Auto {
		return "auto", nil
	}
	if sz.Width > 0 {
		return sz.String(), nil
	}
	rw, rh := 1, 1
	if aspectRatio != "" && !strings.EqualFold(aspectRatio, "auto") {
		if rw, rh, err = provider.ParseAspectRatio(aspectRatio); err != nil {
			return "", err
		}
	}
	tier := sz.Tier
	if tier == "" {
		if aspectRatio == "" || strings.EqualFold(aspectRatio, "auto") {
			return "", nil
		}
		tier = "1K"
	}
	if m != nil {
		for _, s := range m.Sizes {
			fs, err := provider.ParseSize(s)
			if err != nil || fs.Width == 0 || fs.Width*rh != fs.Height*rw {
				continue
			}
			if imagesSizeTier(fs.Width, fs.Height) == tier {
				return s, nil
			}
		}
		if m.FreeSize == nil {
			return "", fmt.Errorf("%s at %d:%d is not one of %s's sizes (%s)", tier, rw, rh, m.ID, strings.Join(m.Sizes, ", "))
		}
	}
	budget := float64(imagesTierPixels[tier])
	w := round16(math.Sqrt(budget * float64(rw) / float64(rh)))
	h := round16(math.Sqrt(budget * float64(rh) / float64(rw)))
	if long := max(w, h); long > 3840 {
		w, h = round16(float64(w)*3840/float64(long)), round16(float64(h)*3840/float64(long))
	}
	if m != nil && m.FreeSize != nil {
		r := *m.FreeSize
		if r.MaxPixels > 0 && w*h > r.MaxPixels {
			scale := math.Sqrt(float64(r.MaxPixels) / float64(w*h))
			w, h = floor16(float64(w)*scale), floor16(float64(h)*scale)
		}
		if why := r.Check(w, h); why != "" {
			return "", fmt.Errorf("%s at %d:%d would be %dx%d, which %s refuses: %s", tier, rw, rh, w, h, m.ID, why)
		}
	}
	return strconv.Itoa(w) + "x" + strconv.Itoa(h), nil
}

// imagesSizeTier names the tier a fixed size belongs to by its pixel count.
func imagesSizeTier(w, h int) string {
	px := w * h
	switch {
	case px <= 512*512*2:
		return "512"
	case px <= 1792*1024:
		return "1K"
	case px <= 2048*2048*3/2:
		return "2K"
	}
	return "4K"
}

func round16(v float64) int { return max(16, int(math.Round(v/16))*16) }
func floor16(v float64) int { return max(16, int(math.Floor(v/16))*16) }

// largestFreeSquare is the largest square a free-size rule accepts, the
// dearest size under an area-and-quality formula.
func largestFreeSquare(r *FreeSizeRule) (int, bool) {
	side := r.MaxEdge
	if r.MaxPixels > 0 {
		side = min(side, int(math.Sqrt(float64(r.MaxPixels))))
	}
	if r.MultipleOf > 1 {
		side -= side % r.MultipleOf
	}
	return side, side > 0 && r.Check(side, side) == ""
}
