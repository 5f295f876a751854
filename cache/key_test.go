package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

// jsonCanonical is the struct encoding/json encoded into keys before
// appendKey wrote the same bytes by hand; the tests below hold appendKey
// to it, so that keys never change by accident.
type jsonCanonical struct {
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

func jsonImageHash(im provider.Image) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s\x00%d:%s\x00", len(im.MIMEType), im.MIMEType, len(im.URL), im.URL)
	h.Write(im.Data)
	return hex.EncodeToString(h.Sum(nil))
}

func jsonOptionsKey(t testing.TB, opts provider.Options) json.RawMessage {
	if len(opts) == 0 {
		return json.RawMessage("{}")
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
			panic(err)
		}
		m[t.PkgPath()+"."+t.Name()] = b
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonKeyEncoding(t testing.TB, namespace string, req *provider.Request, model string) []byte {
	c := jsonCanonical{
		V: keyVersion, Namespace: namespace, Model: model,
		Prompt: req.Prompt, NegativePrompt: req.NegativePrompt, N: req.Count(),
		Size: req.Size, AspectRatio: req.AspectRatio, Quality: req.Quality, OutputFormat: req.OutputFormat,
		Seed: req.Seed, References: []string{},
	}
	for _, im := range req.References {
		c.References = append(c.References, jsonImageHash(im))
	}
	if req.Mask != nil {
		c.Mask = jsonImageHash(*req.Mask)
	}
	c.Options = jsonOptionsKey(t, req.Options)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkKeyMatchesJSON(t testing.TB, namespace string, req *provider.Request, model string) {
	t.Helper()
	want := jsonKeyEncoding(t, namespace, req, model)
	got, err := appendKey(nil, namespace, req, model)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("appendKey:\n%s\nencoding/json:\n%s", got, want)
	}
}

// optKey is one more option type, carrying text JSON must escape.
type optKey struct{ K string }

func (optKey) OptionOwner() string { return "k" }

// TestKeyMatchesJSON: the hand-written canonical encoding is byte for
// byte what encoding/json writes, for every byte and the awkward runes.
func TestKeyMatchesJSON(t *testing.T) {
	t.Parallel()
	seed := int64(-42)
	reqs := []*provider.Request{
		{},
		{Prompt: "a red fox", Size: "1K", AspectRatio: "16:9", Quality: "high", OutputFormat: "png", N: 3, Seed: &seed,
			NegativePrompt: "snow", Options: provider.Options{optA{1}, Skip, &optB{"<x>"}}},
		{Options: provider.Options{optB{"b"}, optA{2}, optKey{"\u2028"}, optB{"last wins"}}},
		{Prompt: "édition <b>&</b> \u2028\u2029 \x7f \xff\xfe 日本", References: []provider.Image{{Data: []byte{1}}, {URL: "https://x/y", MIMEType: "image/png"}},
			Mask: &provider.Image{Data: []byte("m"), MIMEType: "image/png"}},
		{Options: provider.Options{Refresh}},
	}
	for i := range 256 {
		reqs = append(reqs, &provider.Request{Prompt: "a" + string(rune(i)) + "b" + string([]byte{byte(i)}) + "c"})
	}
	for _, r := range reqs {
		checkKeyMatchesJSON(t, "", r, "m")
		checkKeyMatchesJSON(t, "ns\"<1>", r, "model/é")
	}
}

func FuzzKeyMatchesJSON(f *testing.F) {
	f.Add("a lighthouse", "m", "1K", "", int64(0), []byte(nil))
	f.Add("\u2028<&>\"\\\x00\x1f\xff", "\xc3", "x", "ns", int64(-1), []byte{0})
	f.Fuzz(func(t *testing.T, prompt, model, size, ns string, seed int64, ref []byte) {
		req := &provider.Request{Prompt: prompt, NegativePrompt: model + prompt, Size: size, Quality: ns, Seed: &seed}
		if ref != nil {
			req.References = []provider.Image{{Data: ref, MIMEType: size, URL: prompt}}
			req.Mask = &req.References[0]
		}
		checkKeyMatchesJSON(t, ns, req, model)
	})
}
