package imagen_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/internal/hint"
	"github.com/imagegen-go/imagegen/internal/hostiletest"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// hostileGens starts a hostile server and a generator on each backend
// pointed at it.
func hostileGens(t testing.TB, key string) (*hostiletest.Fixed, []*imagen.Generator) {
	t.Helper()
	clearEnv(t)
	h, srv := hostiletest.NewFixed(t)
	var gens []*imagen.Generator
	for _, cfg := range []imagen.Config{{}, {Backend: imagen.BackendVertex, Project: "p", Location: "us-central1", BearerAuth: true}} {
		cfg.APIKey, cfg.BaseURL, cfg.HTTPClient, cfg.Clock = key, srv.URL, srv.Client(), providertest.NewClock(live)
		g, err := imagen.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		gens = append(gens, g)
	}
	return h, gens
}

func TestNilRequestEverywhere(t *testing.T) {
	t.Parallel()
	_, gens := hostileGens(t, testKey)
	var nilGen *imagen.Generator
	for i, g := range gens {
		for name, f := range map[string]func() error{
			"Generate":              func() error { _, err := g.Generate(context.Background(), nil); return err },
			"CheckRequest":          func() error { return g.CheckRequest(nil) },
			"provider.CheckRequest": func() error { return provider.CheckRequest(g, nil) },
			"nil Generator": func() error {
				_, err := nilGen.Generate(context.Background(), &provider.Request{Prompt: "p"})
				return err
			},
		} {
			if err := f(); !errors.Is(err, provider.ErrInvalidRequest) {
				t.Errorf("backend %d, %s: %v", i, name, err)
			}
		}
	}
}

// An empty, truncated, null or non-object 200 is MALFORMED on both
// backends.
func TestMalformedAnswers(t *testing.T) {
	t.Parallel()
	h, gens := hostileGens(t, testKey)
	for i, g := range gens {
		for _, body := range []string{"", "null", "[]", `"x"`, `{"predictions":[{"bytesBase64Encoded":"iVBOR`, "<html>502</html>"} {
			h.Set(200, body, nil)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindUnavailable || pe.Code != "MALFORMED" || pe.StatusCode != 200 {
				t.Errorf("backend %d, %q: %v", i, body, err)
			}
		}
	}
}

func TestEchoedKeyIsRedacted(t *testing.T) {
	t.Parallel()
	const key = "AIzaSy/k3y+Zr_Q2u-TfW8xv=9"
	h, gens := hostileGens(t, key)
	leaks := func(s string) bool { return hostiletest.Leaks(s, key, 12) }
	for i, g := range gens {
		for _, echo := range []string{key, key[:len(key)-3], url.QueryEscape(key)} {
			for _, ans := range []struct {
				status int
				body   string
			}{
				{400, `{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"API key ` + echo + ` not valid"}}`},
				{200, `{"predictions":[{"raiFilteredReason":"blocked for ` + echo + `"}]}`},
				{200, `{"error":{"code":503,"status":"UNAVAILABLE","message":"relay ` + echo + `"}}`},
			} {
				h.Set(ans.status, ans.body, nil)
				_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
				if err == nil || leaks(err.Error()) {
					t.Errorf("backend %d, %q (%d): %v", i, echo, ans.status, err)
				}
			}
		}
	}
}

func TestHugeHintsAreKeptClamped(t *testing.T) {
	t.Parallel()
	h, gens := hostileGens(t, testKey)
	quota := `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Resource has been exhausted"`
	for i, g := range gens {
		for name, tt := range map[string]struct {
			body   string
			header http.Header
		}{
			"Retry-After 315360000": {quota + `}}`, http.Header{"Retry-After": {"315360000"}}},
			"RetryInfo ten years":   {quota + `,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"315360000s"}]}}`, nil},
		} {
			h.Set(429, tt.body, tt.header)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			if d, ok := provider.RetryAfter(err); !ok || d != hint.Max {
				t.Errorf("backend %d, %s: %v %v (%v)", i, name, d, ok, err)
			}
		}
	}
}

// The enhanced prompt kept as RevisedPrompt is capped and redacted.
func TestRevisedPromptIsCapped(t *testing.T) {
	t.Parallel()
	h, gens := hostileGens(t, testKey)
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	h.Set(200, `{"predictions":[{"mimeType":"image/png","bytesBase64Encoded":"`+png+`","prompt":"`+strings.Repeat("lighthouse ", 20_000)+testKey+`"}]}`, nil)
	for i, g := range gens {
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if err != nil {
			t.Fatalf("backend %d: %v", i, err)
		}
		if rp := resp.Images[0].RevisedPrompt; len(rp) > 64<<10+3 || strings.Contains(rp, testKey[:10]) {
			t.Errorf("backend %d: RevisedPrompt of %d bytes", i, len(rp))
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	for field, cfg := range map[string]imagen.Config{
		"Backend":          {APIKey: testKey, Backend: 3},
		"PersonGeneration": {APIKey: testKey, PersonGeneration: "everyone"},
		"SafetyLevel":      {APIKey: testKey, SafetyLevel: "none"},
		"MaxResponseBytes": {APIKey: testKey, MaxResponseBytes: -1},
		"BaseURL":          {APIKey: testKey, BaseURL: "gopher://x"},
	} {
		_, err := imagen.New(context.Background(), cfg)
		var ce *provider.ConfigError
		if !errors.As(err, &ce) || ce.Field != "imagen.Config."+field || strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: %v", field, err)
		}
	}
}
