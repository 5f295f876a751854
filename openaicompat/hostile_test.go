package openaicompat_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/internal/hint"
	"github.com/imagegen-go/imagegen/internal/hostiletest"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func hostileGen(t testing.TB, cfg openaicompat.Config) (*hostiletest.Fixed, *openaicompat.Generator) {
	t.Helper()
	clearEnv(t)
	h, srv := hostiletest.NewFixed(t)
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	cfg.BaseURL, cfg.HTTPClient = srv.URL+"/v1", srv.Client()
	if cfg.Clock == nil {
		cfg.Clock = providertest.NewClock(now)
	}
	g, err := openaicompat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, g
}

func imagesAnswer(t testing.TB, extra string) string {
	b64 := base64.StdEncoding.EncodeToString(pngBytes(t, 4, 4))
	return `{"created":1,"data":[{"b64_json":"` + b64 + `"}]` + extra + `}`
}

func chatAnswer(t testing.TB, content, extra string) string {
	return `{"id":"c1","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":` + content + `}}]` + extra + `}`
}

var allModes = []openaicompat.Mode{openaicompat.ModeImages, openaicompat.ModeChatImages, openaicompat.ModeChatMarkdown,
	openaicompat.ModeChatContentArray, openaicompat.ModeOpenRouterImages}

func TestNilRequestEverywhere(t *testing.T) {
	t.Parallel()
	_, g := hostileGen(t, openaicompat.Config{})
	var nilGen *openaicompat.Generator
	for name, f := range map[string]func() error{
		"Generate":              func() error { _, err := g.Generate(context.Background(), nil); return err },
		"CheckRequest":          func() error { return g.CheckRequest(nil) },
		"provider.CheckRequest": func() error { return provider.CheckRequest(g, nil) },
		"Capabilities.Check":    func() error { return g.Describe().Capabilities.Check(nil) },
		"nil Generator": func() error {
			_, err := nilGen.Generate(context.Background(), &provider.Request{Prompt: "p"})
			return err
		},
	} {
		if err := f(); !errors.Is(err, provider.ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// An empty, truncated or non-object 200 is MALFORMED in every mode.
func TestMalformedAnswers(t *testing.T) {
	t.Parallel()
	for _, mode := range allModes {
		h, g := hostileGen(t, openaicompat.Config{Mode: mode})
		for _, body := range []string{"", "null", "[]", `"ok"`, `{"data":[{"b64_json":"iVBOR`, "<html>502</html>"} {
			h.Set(200, body, nil)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			pe := hostiletest.AsError(t, err)
			if pe.Kind != provider.KindUnavailable || pe.Code != "MALFORMED" || pe.StatusCode != 200 {
				t.Errorf("%s, %q: %v (code %q, status %d)", mode, body, err, pe.Code, pe.StatusCode)
			}
		}
	}
}

// Relays' odd 200s: an error member that is a string or an object with
// a status code is classified, not taken for an empty success.
func TestRelayErrorsIn200(t *testing.T) {
	t.Parallel()
	for _, mode := range []openaicompat.Mode{openaicompat.ModeImages, openaicompat.ModeChatMarkdown} {
		h, g := hostileGen(t, openaicompat.Config{Mode: mode})
		for body, want := range map[string]provider.Kind{
			`{"error":"upstream overloaded"}`: provider.KindUnavailable,
			`{"error":{"message":"Rate limit exceeded: free-models-per-day","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"50"}}}}`: provider.KindRateLimited,
			`{"error":{"message":"Provider returned error","code":502,"metadata":{"raw":"{\"error\":{}}","provider_name":"Google"}}}`:       provider.KindUnavailable,
			`{"error":{"message":["bad","worse"],"type":"invalid_request_error","code":"x"}}`:                                               provider.KindUnavailable,
		} {
			h.Set(200, body, nil)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			if pe := hostiletest.AsError(t, err); pe.Kind != want {
				t.Errorf("%s, %s: %v, want %v", mode, body, err, want)
			}
		}
	}
}

// The key never reaches an error or a response, however an answer
// echoes it: whole, cut short, percent-encoded.
func TestEchoedKeyIsRedacted(t *testing.T) {
	t.Parallel()
	const key = "sk-proj-Ab/cD+eF_gH-iJ=kL0123456789"
	echoes := []string{key, key[:len(key)-3], key[5:13], url.QueryEscape(key), url.PathEscape(key)}
	leaks := func(s string) bool { return hostiletest.Leaks(s, key, 14) }
	h, g := hostileGen(t, openaicompat.LaoZhang(key))
	for _, echo := range echoes {
		for _, ans := range []struct {
			status int
			body   string
		}{
			{200, chatAnswer(t, `"I cannot draw that with key `+echo+`"`, "")},
			{200, `{"error":"invalid token ` + echo + `"}`},
			{401, `{"error":{"message":"Incorrect API key provided: ` + echo + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}`},
			{502, `<html><title>bad gateway ` + echo + `</title></html>`},
		} {
			h.Set(ans.status, ans.body, nil)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			if err == nil || leaks(err.Error()) {
				t.Errorf("echo %q (%d): %v", echo, ans.status, err)
			}
		}
		// Text kept in a successful response is redacted too.
		b64 := base64.StdEncoding.EncodeToString(pngBytes(t, 4, 4))
		h.Set(200, chatAnswer(t, `"Here you go (key `+echo+`) ![image](data:image/png;base64,`+b64+`)"`, ""), nil)
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if err != nil || leaks(resp.Text) || len(resp.Images) != 1 {
			t.Errorf("echo %q in text: %v %+v", echo, err, resp)
		}
	}
	hi, gi := hostileGen(t, openaicompat.Config{APIKey: key})
	hi.Set(200, `{"created":1,"data":[{"b64_json":"`+base64.StdEncoding.EncodeToString(pngBytes(t, 4, 4))+`","revised_prompt":"a cat, key `+key+`"}]}`, nil)
	resp, err := gi.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil || leaks(resp.Images[0].RevisedPrompt) {
		t.Errorf("revised prompt: %v %q", err, resp.Images[0].RevisedPrompt)
	}
}

// Every back-off hint is clamped to hint.Max, never dropped.
func TestHugeHintsAreKeptClamped(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, openaicompat.Config{})
	rl := `{"error":{"message":"Rate limit reached for gpt-image-2","type":"requests","code":"rate_limit_exceeded"}}`
	for name, tt := range map[string]struct {
		body   string
		header http.Header
	}{
		"Retry-After 315360000":        {rl, http.Header{"Retry-After": {"315360000"}}},
		"Retry-After an HTTP date":     {rl, http.Header{"Retry-After": {"Fri, 31 Dec 9999 23:59:59 GMT"}}},
		"retry-after-ms 1e30":          {rl, http.Header{"Retry-After-Ms": {"1e30"}}},
		"x-ratelimit-reset-requests":   {rl, http.Header{"X-Ratelimit-Reset-Requests": {"87600h"}}},
		"try again in 99999999 hours":  {`{"error":{"message":"Please try again in 99999999 hours.","type":"requests","code":"rate_limit_exceeded"}}`, nil},
		"try again in 1e400 seconds":   {`{"error":{"message":"Please try again in ` + strings.Repeat("9", 400) + `s.","type":"requests","code":"rate_limit_exceeded"}}`, nil},
		"a 503 with a ten-year header": {`{"error":{"message":"overloaded","type":"server_error"}}`, http.Header{"Retry-After": {"315360000"}}},
	} {
		status := 429
		if strings.HasPrefix(name, "a 503") {
			status = 503
		}
		h.Set(status, tt.body, tt.header)
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if d, ok := provider.RetryAfter(err); !ok || d != hint.Max {
			t.Errorf("%s: RetryAfter = %v %v, want %v (%v)", name, d, ok, hint.Max, err)
		}
	}
}

// Usage counts out of range are dropped with a warning: the image is kept
// and no total goes negative.
func TestUsageOutOfRange(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, openaicompat.Config{})
	for _, usage := range []string{
		`,"usage":{"input_tokens":-5,"output_tokens":1e30}`,
		`,"usage":{"input_tokens":12,"output_tokens":4160,"input_tokens_details":{"image_tokens":-1,"text_tokens":"12"}}`,
	} {
		h.Set(200, imagesAnswer(t, usage), nil)
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if err != nil {
			t.Fatalf("%s: %v", usage, err)
		}
		u := resp.Usage
		if len(resp.Images) != 1 || u.InputTokens < 0 || u.OutputTokens < 0 || u.InputImageTokens < 0 || u.OutputImageTokens < 0 {
			t.Errorf("%s: %d images, usage %+v", usage, len(resp.Images), u)
		}
		if !strings.Contains(strings.Join(resp.Warnings, " "), "usage counts out of range") {
			t.Errorf("%s: warnings %v", usage, resp.Warnings)
		}
	}
	hc, gc := hostileGen(t, openaicompat.Config{Mode: openaicompat.ModeChatImages, Model: "gemini-3-pro-image"})
	b64 := base64.StdEncoding.EncodeToString(pngBytes(t, 4, 4))
	hc.Set(200, `{"choices":[{"message":{"role":"assistant","content":"","images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,`+b64+`"}}]}}],"usage":{"prompt_tokens":-10,"completion_tokens":99999999999,"cost":0.134}}`, nil)
	resp, err := gc.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil || len(resp.Images) != 1 || resp.Usage.InputTokens < 0 || resp.Usage.OutputTokens < 0 || resp.Cost != 134000 {
		t.Errorf("chat usage: %v %+v", err, resp)
	}
}

// Reference images and masks are checked before any call: bytes that are
// no image, a MIMEType that is no image, types the wire does not take, a
// non-PNG mask, and the catalog's size limits.
func TestInputsCheckedBeforeTheCall(t *testing.T) {
	t.Parallel()
	pngB := pngBytes(t, 8, 8)
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	jpegB := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")
	huge := append(append([]byte(nil), pngB...), make([]byte, 50<<20)...) // 50 MiB
	big := append(append([]byte(nil), pngB...), make([]byte, 16<<20)...)  // 16 MiB: 21.3 MiB in base64
	tests := []struct {
		name  string
		cfg   openaicompat.Config
		req   provider.Request
		field string
	}{
		{"text bytes", openaicompat.Config{}, provider.Request{References: []provider.Image{{Data: []byte("not an image at all")}}}, "References[0]"},
		{"text/evil", openaicompat.Config{}, provider.Request{References: []provider.Image{{Data: pngB, MIMEType: "text/evil"}}}, "References[0]"},
		{"GIF to edits", openaicompat.Config{}, provider.Request{References: []provider.Image{{Data: gif}}}, "References[0]"},
		{"JPEG mask", openaicompat.Config{}, provider.Request{References: []provider.Image{{Data: pngB}}, Mask: &provider.Image{Data: jpegB}}, "Mask"},
		{"mask that is no image", openaicompat.Config{}, provider.Request{References: []provider.Image{{Data: pngB}}, Mask: &provider.Image{Data: []byte("mask")}}, "Mask"},
		{"50 MiB through OpenAI edits", openaicompat.Config{}, provider.Request{References: []provider.Image{{Data: huge}}}, "References[0]"},
		{"50 MiB through OpenRouter", openaicompat.OpenRouter("k"), provider.Request{References: []provider.Image{{Data: huge}}}, "References"},
		{"21 MiB of base64 through OpenRouter to Gemini", openaicompat.OpenRouter("k"), provider.Request{References: []provider.Image{{Data: big}}}, "References"},
		{"50 MiB through LaoZhang to Gemini", openaicompat.LaoZhang("k"), provider.Request{References: []provider.Image{{Data: huge}}}, "References"},
	}
	for _, tt := range tests {
		h, g := hostileGen(t, tt.cfg)
		tt.req.Prompt = "p"
		_, err := g.Generate(context.Background(), &tt.req)
		if !errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v, want ErrInvalidRequest naming %s", tt.name, err, tt.field)
		}
		if h.Calls() != 0 {
			t.Errorf("%s: sent upstream", tt.name)
		}
	}
	// GIF references are fine in chat completions.
	h, g := hostileGen(t, openaicompat.OpenRouter("k"))
	b64 := base64.StdEncoding.EncodeToString(pngB)
	h.Set(200, `{"choices":[{"message":{"role":"assistant","images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,`+b64+`"}}]}}]}`, nil)
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", References: []provider.Image{{Data: gif}}}); err != nil {
		t.Errorf("GIF to chat: %v", err)
	}
}

// OutputFormat in the chat modes: png and jpeg are converted from what
// came back, with a warning; other formats are refused before the call.
func TestOutputFormatInChatModes(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, openaicompat.LaoZhang("k"))
	b64 := base64.StdEncoding.EncodeToString(pngBytes(t, 4, 4))
	h.Set(200, chatAnswer(t, `"![image](data:image/png;base64,`+b64+`)"`, ""), nil)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", OutputFormat: "jpeg"})
	if err != nil || resp.Images[0].MIMEType != "image/jpeg" || provider.SniffMIME(resp.Images[0].Data) != "image/jpeg" ||
		!strings.Contains(strings.Join(resp.Warnings, " "), "converted to jpeg") {
		t.Errorf("jpeg: %v %+v", err, resp)
	}
	calls := h.Calls()
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", OutputFormat: "webp"}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("webp: %v", err)
	}
	if h.Calls() != calls {
		t.Error("refused OutputFormat reached the network")
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	for field, cfg := range map[string]openaicompat.Config{
		"Mode":             {APIKey: testKey, Mode: 42},
		"BaseURL":          {APIKey: testKey, BaseURL: "file:///etc/passwd"},
		"MaxConcurrency":   {APIKey: testKey, MaxConcurrency: -2},
		"MaxResponseBytes": {APIKey: testKey, MaxResponseBytes: -1},
		"StreamThreshold":  {APIKey: testKey, StreamThreshold: -2},
		"Fetch.MaxBytes":   {APIKey: testKey, Fetch: openaicompat.FetchPolicy{MaxBytes: -1}},
	} {
		_, err := openaicompat.New(cfg)
		var ce *provider.ConfigError
		if !errors.As(err, &ce) || ce.Field != "openaicompat.Config."+field {
			t.Errorf("%s: %v", field, err)
		}
		if err != nil && strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: key in %q", field, err)
		}
	}
}
