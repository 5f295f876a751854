package providertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"sync"
)

const maxCachedImages = 64

type imgKey struct {
	format string
	w, h   int
	c1, c2 color.RGBA
}

// imageCache makes and caches deterministic block-colour images.
type imageCache struct {
	seed  int64
	mu    sync.Mutex
	m     map[imgKey][]byte
	order []imgKey
	large []byte
}

func (c *imageCache) init(seed int64) {
	c.seed = seed
	c.m = map[imgKey][]byte{}
}

// makeImage returns the encoded image and its MIME type. format is "png"
// or "jpeg"; seed text picks the colours. Options.LargeImageBytes replaces
// it with the large noisy PNG.
func (s *Server) makeImage(format string, w, h int, seedText string) ([]byte, string) {
	if s.opts.LargeImageBytes > 0 {
		return s.imgs.largePNG(s.opts.LargeImageBytes), "image/png"
	}
	return s.blockImage(format, w, h, seedText)
}

// blockImage is makeImage without LargeImageBytes: streamed drafts stay
// small and distinct from the final image even in benchmarks.
func (s *Server) blockImage(format string, w, h int, seedText string) ([]byte, string) {
	if format != "jpeg" {
		format = "png"
	}
	sum := sha256.Sum256([]byte(seedText))
	k := imgKey{format: format, w: w, h: h,
		c1: color.RGBA{sum[0], sum[1], sum[2], 255},
		c2: color.RGBA{sum[3], sum[4], sum[5], 255}}
	mimeType := "image/" + format
	c := &s.imgs
	c.mu.Lock()
	if b, ok := c.m[k]; ok {
		c.mu.Unlock()
		return b, mimeType
	}
	c.mu.Unlock()
	b := encodeBlocks(k)
	c.mu.Lock()
	if _, ok := c.m[k]; !ok {
		c.m[k] = b
		c.order = append(c.order, k)
		for len(c.order) > maxCachedImages {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.mu.Unlock()
	return b, mimeType
}

// encodeBlocks draws the left half in c1 and the right half in c2.
func encodeBlocks(k imgKey) []byte {
	var buf bytes.Buffer
	half := k.w / 2
	if k.format == "jpeg" {
		img := image.NewYCbCr(image.Rect(0, 0, k.w, k.h), image.YCbCrSubsampleRatio420)
		y1, cb1, cr1 := color.RGBToYCbCr(k.c1.R, k.c1.G, k.c1.B)
		y2, cb2, cr2 := color.RGBToYCbCr(k.c2.R, k.c2.G, k.c2.B)
		row := make([]byte, k.w)
		for x := range row {
			row[x] = y1
			if x >= half {
				row[x] = y2
			}
		}
		for y := 0; y < k.h; y++ {
			copy(img.Y[y*img.YStride:], row)
		}
		cw := (k.w + 1) / 2
		ch := (k.h + 1) / 2
		for y := 0; y < ch; y++ {
			for x := 0; x < cw; x++ {
				i := y*img.CStride + x
				if x*2 >= half {
					img.Cb[i], img.Cr[i] = cb2, cr2
				} else {
					img.Cb[i], img.Cr[i] = cb1, cr1
				}
			}
		}
		_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
		return buf.Bytes()
	}
	img := image.NewPaletted(image.Rect(0, 0, k.w, k.h), color.Palette{k.c1, k.c2})
	row := make([]byte, k.w)
	for x := half; x < k.w; x++ {
		row[x] = 1
	}
	for y := 0; y < k.h; y++ {
		copy(img.Pix[y*img.Stride:], row)
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	_ = enc.Encode(&buf, img)
	return buf.Bytes()
}

// largePNG returns a noisy RGB PNG of about n bytes, built once.
func (c *imageCache) largePNG(n int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.large != nil {
		return c.large
	}
	side := int(math.Ceil(math.Sqrt(float64(n) / 3)))
	if side < 1 {
		side = 1
	}
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	r := rand.New(rand.NewSource(c.seed))
	_, _ = r.Read(img.Pix)
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	_ = enc.Encode(&buf, img)
	c.large = buf.Bytes()
	return c.large
}

// ratioSize returns a size of about base² pixels with the aspect ratio
// ar ("W:H"), both sides multiples of 16.
func ratioSize(base int, ar string) (w, h int, ok bool) {
	if ar == "" {
		return base, base, true
	}
	a, b, found := strings.Cut(ar, ":")
	if !found {
		return 0, 0, false
	}
	fa, err1 := strconv.ParseFloat(a, 64)
	fb, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil || fa <= 0 || fb <= 0 {
		return 0, 0, false
	}
	r := math.Sqrt(fa / fb)
	round := func(x float64) int {
		v := int(math.Round(x/16)) * 16
		if v < 16 {
			v = 16
		}
		return v
	}
	return round(float64(base) * r), round(float64(base) / r), true
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func shortHash(b []byte, n int64) string {
	h := sha256.New()
	h.Write(b)
	var nb [8]byte
	binary.BigEndian.PutUint64(nb[:], uint64(n))
	h.Write(nb[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func dataURI(mimeType string, b []byte) string { return "data:" + mimeType + ";base64," + b64(b) }
