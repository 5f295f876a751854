package imageconv

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

func sample(t *testing.T, format string) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 32, 16))
	for x := range 32 {
		for y := range 16 {
			img.Set(x, y, color.NRGBA{uint8(x * 8), uint8(y * 16), 90, 255})
		}
	}
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestEnsure(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ from, to string }{{"jpeg", "png"}, {"png", "jpeg"}, {"png", "png"}} {
		in := provider.Image{Data: sample(t, tt.from), MIMEType: "image/" + tt.from}
		out, warn := Ensure(in, tt.to)
		if out.MIMEType != "image/"+tt.to || provider.SniffMIME(out.Data) != out.MIMEType {
			t.Errorf("%s→%s: got %s (%s)", tt.from, tt.to, out.MIMEType, provider.SniffMIME(out.Data))
		}
		if (tt.from != tt.to) != strings.Contains(warn, "converted to "+tt.to) {
			t.Errorf("%s→%s: warning %q", tt.from, tt.to, warn)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(out.Data))
		if err != nil || cfg.Width != 32 || cfg.Height != 16 {
			t.Errorf("%s→%s: %v %v", tt.from, tt.to, cfg, err)
		}
	}
	if _, warn := Ensure(provider.Image{Data: []byte("\x89PNG\r\n\x1a\nbroken")}, "jpeg"); !strings.Contains(warn, "could not be converted") {
		t.Errorf("broken image: %q", warn)
	}
	if _, err := To(sample(t, "png"), "webp"); err == nil {
		t.Error("webp")
	}
}

func TestHugeHeaderIsRefusedBeforeDecoding(t *testing.T) {
	t.Parallel()
	// A PNG header announcing 100000x100000 pixels.
	var b bytes.Buffer
	_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	data := b.Bytes()
	copy(data[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0}) // IHDR width, height
	binary.BigEndian.PutUint32(data[29:33], crc32.ChecksumIEEE(data[12:29]))
	if _, err := To(data, "jpeg"); err == nil || !strings.Contains(err.Error(), "pixels") {
		t.Errorf("To = %v", err)
	}
}
