// Package imageconv re-encodes an image between PNG and JPEG with the
// standard library, for adapters whose model cannot be told which of the
// two to return.
package imageconv

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // decoders for what a provider may send
	"image/jpeg"
	"image/png"

	"github.com/imagegen-go/imagegen/provider"
)

// JPEGQuality is the quality of JPEG files written by To.
const JPEGQuality = 92

// MaxPixels bounds the images To decodes: 64 MP (8192x8192, provider.MaxSide
// squared), whose RGBA form is 256 MiB. A header claiming more is refused
// before any pixel is decoded.
const MaxPixels = 64 << 20

// CanConvert reports whether To can produce format ("png" or "jpeg", as
// provider.NormalizeFormat spells them).
func CanConvert(format string) bool { return format == "png" || format == "jpeg" }

// To re-encodes data, an image in any format the standard library reads
// (PNG, JPEG, GIF), as format ("png" or "jpeg"). Transparent areas become
// white in a JPEG.
func To(data []byte, format string) ([]byte, error) {
	if !CanConvert(format) {
		return nil, fmt.Errorf("imageconv: cannot write %q", format)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("imageconv: %w", err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("imageconv: %dx%d is more than %d pixels", cfg.Width, cfg.Height, MaxPixels)
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("imageconv: %w", err)
	}
	var out bytes.Buffer
	switch format {
	case "png":
		// draw has a fast path from YCbCr (JPEG) to RGBA, and png from RGBA.
		rgba, ok := src.(*image.RGBA)
		if !ok {
			rgba = image.NewRGBA(src.Bounds())
			draw.Draw(rgba, rgba.Bounds(), src, src.Bounds().Min, draw.Src)
		}
		err = png.Encode(&out, rgba)
	case "jpeg":
		if _, opaque := src.(*image.YCbCr); !opaque {
			flat := image.NewRGBA(src.Bounds())
			draw.Draw(flat, flat.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
			draw.Draw(flat, flat.Bounds(), src, src.Bounds().Min, draw.Over)
			src = flat
		}
		err = jpeg.Encode(&out, src, &jpeg.Options{Quality: JPEGQuality})
	}
	if err != nil {
		return nil, fmt.Errorf("imageconv: %w", err)
	}
	return out.Bytes(), nil
}

// Ensure returns img in format when it is not already: transcoded, with a
// warning saying so. An image it cannot convert is returned as it is,
// with a warning. format "" returns img unchanged.
func Ensure(img provider.Image, format string) (provider.Image, string) {
	got := provider.NormalizeFormat(provider.SniffMIME(img.Data))
	if format == "" || got == format || len(img.Data) == 0 {
		return img, ""
	}
	data, err := To(img.Data, format)
	if err != nil {
		return img, fmt.Sprintf("asked for %s output, got %s, which could not be converted: %v", format, got, err)
	}
	out := img
	out.Data, out.MIMEType = data, "image/"+format
	return out, fmt.Sprintf("the model returned %s; converted to %s as OutputFormat asked", got, format)
}
