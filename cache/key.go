package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/imagegen-go/imagegen/provider"
)

// Mode is the per-request cache control, carried in Request.Options
// (provider.Options{cache.Skip}). It is a provider.Control, so it is left
// out of the cache key.
type Mode string

// The modes.
const (
	// Skip bypasses the cache entirely: no read, no write, no
	// de-duplication.
	Skip Mode = "skip"
	// Refresh skips the read but writes the new response, replacing what
	// was cached; identical in-flight refreshes are still de-duplicated.
	Refresh Mode = "refresh"
)

// OptionOwner makes Mode a provider.Option.
func (Mode) OptionOwner() string { return "cache" }

// Control makes Mode a provider.Control.
func (Mode) Control() {}

// String returns "skip" or "refresh".
func (m Mode) String() string { return string(m) }

// keyVersion is part of every key; bump it when the encoding changes.
const keyVersion = "imagegen-cache-v2"

// The canonical encoding hashed into a key is the JSON object
//
//	{"v":…,"ns":…,"model":…,"prompt":…,"negative_prompt":…,"n":…,"size":…,
//	 "aspect_ratio":…,"quality":…,"output_format":…,"seed":…,
//	 "references":[…],"mask":…,"options":{…}}
//
// in that order ("ns" only when set; "seed" null when unset; references
// and mask as the hex SHA-256 of appendImageHash), byte for byte what
// encoding/json writes for the equivalent struct. It is written by hand
// (appendKey) because encoding/json took 2.7 µs and 4 allocations a key,
// more than the rest of a cache hit; TestKeyMatchesJSON and
// FuzzKeyMatchesJSON hold it to encoding/json's output, so keys are the
// same as before.

// appendImageHash appends the hex SHA-256 of im's MIME type, URL and bytes.
func appendImageHash(dst []byte, im provider.Image) []byte {
	var pre [48]byte
	p := strconv.AppendInt(pre[:0], int64(len(im.MIMEType)), 10)
	p = append(p, ':')
	h := sha256.New()
	h.Write(p)
	io.WriteString(h, im.MIMEType)
	p = strconv.AppendInt(append(pre[:0], 0), int64(len(im.URL)), 10)
	p = append(p, ':')
	h.Write(p)
	io.WriteString(h, im.URL)
	h.Write([]byte{0})
	h.Write(im.Data)
	var sum [sha256.Size]byte
	return hex.AppendEncode(dst, h.Sum(sum[:0]))
}

// Key returns the content address of req served by model: the hex SHA-256
// of a canonical, versioned encoding of the model, the prompt exactly as
// given (no trimming or case folding), the negative prompt, the image
// count (Request.Count), size, aspect ratio, quality, output format, seed,
// the Options except controls (each as its type and its JSON, sorted by
// type), and the SHA-256
// of each reference image and of the mask. Labels are excluded: they tag a
// request, they do not change the image. Keys never contain the prompt or
// anything else in clear. It fails only when Options cannot be encoded as
// JSON.
func Key(req *provider.Request, model string) (string, error) {
	return key("", req, model)
}

func key(namespace string, req *provider.Request, model string) (string, error) {
	var buf [512]byte
	b, err := appendKey(buf[:0], namespace, req, model)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:]), nil
}

// appendKey appends the canonical encoding of req (see keyVersion).
func appendKey(b []byte, namespace string, req *provider.Request, model string) ([]byte, error) {
	b = append(b, `{"v":"`+keyVersion+`"`...)
	if namespace != "" {
		b = appendJSONString(append(b, `,"ns":`...), namespace)
	}
	b = appendJSONString(append(b, `,"model":`...), model)
	b = appendJSONString(append(b, `,"prompt":`...), req.Prompt)
	b = appendJSONString(append(b, `,"negative_prompt":`...), req.NegativePrompt)
	b = strconv.AppendInt(append(b, `,"n":`...), int64(req.Count()), 10)
	b = appendJSONString(append(b, `,"size":`...), req.Size)
	b = appendJSONString(append(b, `,"aspect_ratio":`...), req.AspectRatio)
	b = appendJSONString(append(b, `,"quality":`...), req.Quality)
	b = appendJSONString(append(b, `,"output_format":`...), req.OutputFormat)
	b = append(b, `,"seed":`...)
	if req.Seed == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *req.Seed, 10)
	}
	b = append(b, `,"references":[`...)
	for i, im := range req.References {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendImageHash(append(b, '"'), im), '"')
	}
	b = append(b, `],"mask":"`...)
	if req.Mask != nil {
		b = appendImageHash(b, *req.Mask)
	}
	b = append(b, `","options":`...)
	if !hasKeyedOptions(req.Options) {
		return append(b, "{}}"...), nil
	}
	b, err := appendOptions(b, req.Options)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as encoding/json writes a string (with its
// default HTML escaping): <, >, & and control characters as \u00XX (but
// \b, \f, \n, \r, \t), invalid UTF-8 as \ufffd, U+2028 and U+2029
// escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}

// hasKeyedOptions reports whether opts holds an option that is keyed (not
// a control).
func hasKeyedOptions(opts provider.Options) bool {
	for _, o := range opts {
		if _, ok := o.(provider.Control); !ok && o != nil {
			return true
		}
	}
	return false
}

// appendOptions appends the options that change the images: every option
// but controls, as {"type": JSON} with the types (as reflect spells them,
// pointers followed) sorted, so the order options are listed in does not
// matter; of two options of one type (which Request.Validate refuses) the
// last counts. It is what encoding/json writes for a map[string]
// json.RawMessage, without building the map.
func appendOptions(out []byte, opts provider.Options) ([]byte, error) {
	type keyed struct {
		name string
		json []byte
	}
	var buf [4]keyed
	list := buf[:0]
	for _, o := range opts {
		if _, ok := o.(provider.Control); ok || o == nil {
			continue
		}
		t := reflect.TypeOf(o)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		b, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("cache: option %s cannot be keyed: %w", t, err)
		}
		name := t.PkgPath() + "." + t.Name()
		if i := slices.IndexFunc(list, func(k keyed) bool { return k.name == name }); i >= 0 {
			list[i].json = b
			continue
		}
		list = append(list, keyed{name, b})
	}
	slices.SortFunc(list, func(a, b keyed) int { return strings.Compare(a.name, b.name) })
	out = append(out, '{')
	for i, k := range list {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(appendJSONString(out, k.name), ':')
		out = append(out, k.json...)
	}
	return append(out, '}'), nil
}

// validKey reports whether k looks like a key: 64 lower-case hex digits.
// Stores refuse anything else, so a key can never name a path outside
// their directory.
func validKey(k string) bool {
	if len(k) != 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
