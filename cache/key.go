package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

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

// canonical is the encoding hashed into a key. Field order is fixed by the
// struct; Options are encoded by optionsKey.
type canonical struct {
	V              string          `json:"v"`
	Namespace      string          `json:"ns,omitempty"`
	Model          string          `json:"model"`
	Prompt         string          `json:"prompt"`
	NegativePrompt string          `json:"negative_prompt"`
	N              int             `json:"n"`
	Size           string          `json:"size"`
	AspectRatio    string          `json:"aspect_ratio"`
	Quality        string          `json:"quality"`
	OutputFormat   string          `json:"output_format"`
	Seed           *int64          `json:"seed"`
	References     []string        `json:"references"`
	Mask           string          `json:"mask"`
	Options        json.RawMessage `json:"options"`
}

// imageHash identifies an input image by the SHA-256 of its MIME type, URL
// and bytes.
func imageHash(im provider.Image) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s\x00%d:%s\x00", len(im.MIMEType), im.MIMEType, len(im.URL), im.URL)
	h.Write(im.Data)
	return hex.EncodeToString(h.Sum(nil))
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
	c := canonical{
		V: keyVersion, Namespace: namespace, Model: model,
		Prompt: req.Prompt, NegativePrompt: req.NegativePrompt, N: req.Count(),
		Size: req.Size, AspectRatio: req.AspectRatio, Quality: req.Quality, OutputFormat: req.OutputFormat,
		Seed: req.Seed, References: []string{},
	}
	for _, im := range req.References {
		c.References = append(c.References, imageHash(im))
	}
	if req.Mask != nil {
		c.Mask = imageHash(*req.Mask)
	}
	opts, err := optionsKey(req.Options)
	if err != nil {
		return "", err
	}
	c.Options = opts
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// optionsKey encodes the options that change the images: every option
// but controls, as {"type": JSON} with the types (as reflect spells them,
// pointers followed) sorted, so the order options are listed in does not
// matter.
func optionsKey(opts provider.Options) (json.RawMessage, error) {
	if len(opts) == 0 {
		return json.RawMessage("{}"), nil
	}
	m := make(map[string]json.RawMessage, len(opts))
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
		m[t.PkgPath()+"."+t.Name()] = b
	}
	return json.Marshal(m) // map keys are sorted
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
