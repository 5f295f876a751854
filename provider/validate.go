package provider

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits applied to every request, whatever the provider.
const (
	// MaxN is the most images one Request may ask for. OpenAI's n tops out at
	// 10; adapters that fan out (Gemini makes one call per image) use the same
	// cap so that a typo cannot start a hundred billed calls.
	MaxN = 10
	// MaxPromptRunes is the longest prompt accepted, in characters (OpenAI's
	// GPT image models accept 32,000).
	MaxPromptRunes = 32_000
	// MaxSide is the longest image side accepted in a "WIDTHxHEIGHT" size.
	MaxSide = 8192
)

// Size is a parsed Request.Size: either a tier ("512", "1K", "2K", "4K"), a
// free Width×Height, or Auto. The zero Size means "provider default".
type Size struct {
	Tier          string // canonical: "512", "1K", "2K" or "4K"
	Width, Height int
	Auto          bool
}

// String returns the canonical spelling: "1K", "512", "1536x1024", "auto".
func (s Size) String() string {
	switch {
	case s.Auto:
		return "auto"
	case s.Tier != "":
		return s.Tier
	case s.Width > 0:
		return strconv.Itoa(s.Width) + "x" + strconv.Itoa(s.Height)
	}
	return ""
}

// ParseSize reads a size the way a caller might type it and returns it in
// canonical form. Tiers are "512" (also "0.5K" and "512px"), "1K", "2K" and
// "4K" in either case; adapters turn them into each wire's strict spelling.
// "WIDTHxHEIGHT" (also "W*H") is a free size and "auto" leaves the choice to
// the provider. An empty string gives the zero Size.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	switch strings.ToUpper(t) {
	case "":
		return Size{}, nil
	case "AUTO":
		return Size{Auto: true}, nil
	case "512", "512PX", "0.5K":
		return Size{Tier: "512"}, nil
	case "1K":
		return Size{Tier: "1K"}, nil
	case "2K":
		return Size{Tier: "2K"}, nil
	case "4K":
		return Size{Tier: "4K"}, nil
	}
	ws, hs, ok := strings.Cut(strings.ToLower(t), "x")
	if !ok {
		ws, hs, ok = strings.Cut(t, "*")
	}
	if ok {
		w, errW := strconv.Atoi(ws)
		h, errH := strconv.Atoi(hs)
		if errW == nil && errH == nil && w > 0 && h > 0 && w <= MaxSide && h <= MaxSide {
			return Size{Width: w, Height: h}, nil
		}
	}
	return Size{}, invalid("Size", "%q is not 512, 1K, 2K, 4K, auto or WIDTHxHEIGHT (sides 1-%d)", s, MaxSide)
}

// ParseAspectRatio reads "W:H" with positive integer sides (or "auto").
func ParseAspectRatio(s string) (w, h int, err error) {
	if strings.EqualFold(s, "auto") {
		return 0, 0, nil
	}
	ws, hs, ok := strings.Cut(s, ":")
	if ok {
		w, errW := strconv.Atoi(ws)
		h, errH := strconv.Atoi(hs)
		if errW == nil && errH == nil && w > 0 && h > 0 && w <= 100 && h <= 100 {
			return w, h, nil
		}
	}
	return 0, 0, invalid("AspectRatio", "%q is not W:H such as 16:9", s)
}

// outputFormats maps every accepted spelling to its canonical format name.
var outputFormats = map[string]string{
	"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp", "gif": "gif", "svg": "svg",
	"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif", "image/svg+xml": "svg",
}

// NormalizeFormat returns the canonical name of an output format ("jpg" and
// "image/jpeg" become "jpeg"), or "" when it is not one.
func NormalizeFormat(f string) string { return outputFormats[strings.ToLower(strings.TrimSpace(f))] }

// Validate checks what every provider requires of a request and returns an
// ErrInvalidRequest *Error naming the field at fault. Adapters call it
// before any network call; providers' own limits are checked on top.
func (r *Request) Validate() error {
	if r == nil {
		return invalid("Request", "nil request")
	}
	if strings.TrimSpace(r.Prompt) == "" {
		return invalid("Prompt", "empty prompt")
	}
	if !utf8.ValidString(r.Prompt) {
		return invalid("Prompt", "not valid UTF-8")
	}
	if n := utf8.RuneCountInString(r.Prompt); n > MaxPromptRunes {
		return invalid("Prompt", "%d characters, at most %d", n, MaxPromptRunes)
	}
	if r.N < 0 || r.N > MaxN {
		return invalid("N", "%d images requested; want 0 to %d", r.N, MaxN)
	}
	if _, err := ParseSize(r.Size); err != nil {
		return err
	}
	if r.AspectRatio != "" {
		if _, _, err := ParseAspectRatio(r.AspectRatio); err != nil {
			return err
		}
	}
	if r.OutputFormat != "" && NormalizeFormat(r.OutputFormat) == "" {
		return invalid("OutputFormat", "%q is not png, jpeg, webp, gif or svg", r.OutputFormat)
	}
	for i, ref := range r.References {
		if _, err := CheckInputImage(fmt.Sprintf("References[%d]", i), ref); err != nil {
			return err
		}
	}
	if r.Mask != nil {
		if len(r.References) == 0 {
			return invalid("Mask", "a mask needs a source image in References")
		}
		if _, err := CheckInputImage("Mask", *r.Mask); err != nil {
			return err
		}
	}
	if err := checkOptions(r.Options); err != nil {
		return err
	}
	for k := range r.Labels {
		if k == "" {
			return invalid("Labels", "empty label name")
		}
	}
	return nil
}

// CheckInputImage checks an image given to a provider (a reference or a
// mask): its bytes must be an image format SniffMIME knows, and its
// MIMEType, when set, must name that format. It returns the MIME type to
// send, the sniffed one, or an ErrInvalidRequest *Error naming field.
// Adapters check on top which formats their provider accepts.
func CheckInputImage(field string, img Image) (string, error) {
	if len(img.Data) == 0 {
		return "", invalid(field, "empty image data")
	}
	sniffed := SniffMIME(img.Data)
	if sniffed == "" {
		return "", invalid(field, "the bytes are not an image (PNG, JPEG, WebP, GIF, HEIC or HEIF)")
	}
	if img.MIMEType != "" {
		declared := canonicalMIME(img.MIMEType)
		if !sameImageType(declared, sniffed) {
			return "", invalid(field, "MIMEType %.60q does not match the bytes, which are %s", img.MIMEType, sniffed)
		}
	}
	return sniffed, nil
}

// canonicalMIME lower-cases a MIME type, drops its parameters and maps
// common aliases ("image/jpg", "image/x-png") to their standard names.
func canonicalMIME(mt string) string {
	mt = strings.ToLower(strings.TrimSpace(mt))
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	switch mt {
	case "image/jpg", "image/pjpeg":
		return "image/jpeg"
	case "image/x-png":
		return "image/png"
	case "image/heic-sequence":
		return "image/heic"
	case "image/heif-sequence":
		return "image/heif"
	}
	return mt
}

// sameImageType reports whether a declared MIME type names the sniffed
// format. HEIC is a kind of HEIF, so either name covers both.
func sameImageType(declared, sniffed string) bool {
	heif := func(s string) bool { return s == "image/heic" || s == "image/heif" }
	return declared == sniffed || heif(declared) && heif(sniffed)
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalidRequest, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// SniffMIME returns the MIME type of encoded image bytes from their
// signature ("image/png", "image/jpeg", "image/webp", "image/gif",
// "image/heic", "image/heif", "image/svg+xml"), or "" when they are not a
// known image format.
func SniffMIME(b []byte) string {
	if mt := sniffHEIF(b); mt != "" {
		return mt
	}
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	case len(b) >= 12 && bytes.Equal(b[:4], []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WEBP")):
		return "image/webp"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "image/gif"
	}
	head := b
	if len(head) > 512 {
		head = head[:512]
	}
	head = bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	if bytes.HasPrefix(head, []byte("<svg")) || (bytes.HasPrefix(head, []byte("<?xml")) && bytes.Contains(head, []byte("<svg"))) {
		return "image/svg+xml"
	}
	return ""
}

// sniffHEIF recognises an ISO-BMFF file whose ftyp box names a HEIF
// image brand: "image/heic" for HEVC-coded brands, "image/heif" for the
// generic ones. AVIF and video brands are not HEIF images here.
func sniffHEIF(b []byte) string {
	if len(b) < 16 || string(b[4:8]) != "ftyp" {
		return ""
	}
	size := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if size < 16 || size > len(b) || size > 4096 {
		size = min(len(b), 4096)
	}
	generic := false
	// The major brand at 8, then compatible brands from 16, 4 bytes each.
	for i := 8; i+4 <= size; i += 4 {
		if i == 12 {
			continue // minor version
		}
		switch string(b[i : i+4]) {
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs":
			return "image/heic"
		case "mif1", "msf1":
			generic = true
		case "avif", "avis":
			return ""
		}
	}
	if generic {
		return "image/heif"
	}
	return ""
}

// Extension returns the file extension, with its dot, that matches the
// image's bytes (".png", ".jpg", ...), falling back to its MIMEType, then
// to ".bin".
func (img Image) Extension() string {
	mt := SniffMIME(img.Data)
	if mt == "" {
		mt = img.MIMEType
	}
	switch NormalizeFormat(mt) {
	case "png":
		return ".png"
	case "jpeg":
		return ".jpg"
	case "webp":
		return ".webp"
	case "gif":
		return ".gif"
	case "svg":
		return ".svg"
	}
	switch canonicalMIME(mt) {
	case "image/heic":
		return ".heic"
	case "image/heif":
		return ".heif"
	}
	return ".bin"
}
