package openaicompat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

const testKey = "sk-test-key-0123456789abcdef"

func TestMain(m *testing.M) {
	// The provider variables the SDKs read are cleared once for the whole
	// process (as providertest.ClearEnv does for one test), so that tests
	// need not clear them with t.Setenv and can run in parallel.
	for _, k := range providertest.EnvVars() {
		os.Setenv(k, "")
	}
	goleak.VerifyTestMain(m)
}

// now is inside the lifecycle of every active model the tests use.
var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// beforeDallEShutdown is when dall-e-3 still answered.
var beforeDallEShutdown = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clearEnv hides the provider variables the SDKs read. TestMain cleared
// them for the process; only a test that set one again (with t.Setenv, so
// not in parallel) has them cleared here.
func clearEnv(t testing.TB) {
	t.Helper()
	for _, k := range providertest.EnvVars() {
		if os.Getenv(k) != "" {
			providertest.ClearEnv(t)
			return
		}
	}
}

// setup starts the emulator and a Generator pointed at it; the base URL
// follows the mode (OpenRouter's images endpoint lives under /api/v1).
func setup(t testing.TB, opts providertest.Options, cfg openaicompat.Config) (*providertest.Server, *openaicompat.Generator) {
	t.Helper()
	clearEnv(t)
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	if opts.Clock == nil {
		opts.Clock = providertest.NewClock(now)
	}
	srv := providertest.NewServer(opts)
	t.Cleanup(srv.Close)
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	cfg.BaseURL = srv.URL() + "/v1"
	if cfg.Mode == openaicompat.ModeOpenRouterImages {
		cfg.BaseURL = srv.URL() + "/api/v1"
	}
	cfg.HTTPClient = srv.Client()
	if cfg.Clock == nil {
		cfg.Clock = providertest.NewClock(now)
	}
	g, err := openaicompat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, g
}

func last(t *testing.T, srv *providertest.Server) providertest.Request {
	t.Helper()
	reqs := srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("no request recorded")
	}
	return reqs[len(reqs)-1]
}

func path(m any, keys ...string) any {
	for _, k := range keys {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{200, 10, 10, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decoded(t *testing.T, img provider.Image) image.Config {
	t.Helper()
	c, format, err := image.DecodeConfig(bytes.NewReader(img.Data))
	if err != nil {
		t.Fatalf("image does not decode: %v", err)
	}
	if "image/"+format != img.MIMEType {
		t.Errorf("MIMEType %q but bytes are %s", img.MIMEType, format)
	}
	return c
}

func kindOf(t *testing.T, err error, want provider.Kind) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	if pe.Kind != want || !errors.Is(err, want.Sentinel()) {
		t.Fatalf("kind = %v, want %v: %v", pe.Kind, want, err)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("the key is in the error: %v", err)
	}
	return pe
}

func TestGenerateDefaults(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, openaicompat.Config{})
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "a red kite", Size: "1536x1024", Quality: "high"})
	if err != nil {
		t.Fatal(err)
	}
	if c := decoded(t, resp.Images[0]); c.Width != 1536 || c.Height != 1024 {
		t.Errorf("image %dx%d", c.Width, c.Height)
	}
	if resp.Provider != "openai" || resp.Model != "gpt-image-2" || resp.Attempts != 1 || len(resp.Images) != 1 {
		t.Errorf("response %s %s attempts %d images %d", resp.Provider, resp.Model, resp.Attempts, len(resp.Images))
	}
	u := resp.Usage
	// The emulator bills as OpenAI does: 5488 tokens for 1536x1024 at high.
	if u.OutputTokens != 5488 || u.OutputImageTokens != 5488 || u.InputTokens == 0 || u.Images != 1 {
		t.Errorf("usage = %+v", u)
	}
	rec := last(t, srv)
	if rec.Path != "/v1/images/generations" || rec.JSON["model"] != "gpt-image-2" || rec.JSON["n"] != float64(1) {
		t.Errorf("request %s %v", rec.Path, rec.JSON)
	}
	if rec.Header.Get("Authorization") != "REDACTED" {
		t.Error("no Authorization header")
	}
}

func TestImagesFieldMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   openaicompat.Config
		req   provider.Request
		check func(t *testing.T, body map[string]any, resp *provider.Response)
	}{
		{"model always sent, n, free size", openaicompat.Config{}, provider.Request{Prompt: "p", N: 3, Size: "2048x1152"},
			func(t *testing.T, b map[string]any, r *provider.Response) {
				if b["model"] != "gpt-image-2" || b["n"] != float64(3) || b["size"] != "2048x1152" || len(r.Images) != 3 {
					t.Errorf("body %v, %d images", b, len(r.Images))
				}
			}},
		{"1K 3:2 is a listed size", openaicompat.Config{}, provider.Request{Prompt: "p", Size: "1k", AspectRatio: "3:2"},
			func(t *testing.T, b map[string]any, _ *provider.Response) {
				if b["size"] != "1536x1024" {
					t.Errorf("size %v", b["size"])
				}
			}},
		{"2K 16:9 is a free size", openaicompat.Config{}, provider.Request{Prompt: "p", Size: "2K", AspectRatio: "16:9"},
			func(t *testing.T, b map[string]any, _ *provider.Response) {
				if b["size"] != "2736x1536" {
					t.Errorf("size %v", b["size"])
				}
			}},
		{"4K 1:1 fits the pixel cap", openaicompat.Config{}, provider.Request{Prompt: "p", Size: "4K"},
			func(t *testing.T, b map[string]any, _ *provider.Response) {
				if b["size"] != "2880x2880" {
					t.Errorf("size %v", b["size"])
				}
			}},
		{"auto", openaicompat.Config{}, provider.Request{Prompt: "p", Size: "auto"},
			func(t *testing.T, b map[string]any, _ *provider.Response) {
				if b["size"] != "auto" {
					t.Errorf("size %v", b["size"])
				}
			}},
		{"xhigh on 2.6, gif", openaicompat.Config{Model: "gpt-image-2.6-flare"}, provider.Request{Prompt: "p", Quality: "XHigh", OutputFormat: "png"},
			func(t *testing.T, b map[string]any, r *provider.Response) {
				if b["quality"] != "xhigh" || b["output_format"] != "png" || b["model"] != "gpt-image-2.6-flare" {
					t.Errorf("body %v", b)
				}
			}},
		{"max quality", openaicompat.Config{Model: "gpt-image-2.5-sunburst"}, provider.Request{Prompt: "p", Quality: "max"},
			func(t *testing.T, b map[string]any, _ *provider.Response) {
				if b["quality"] != "max" {
					t.Errorf("quality %v", b["quality"])
				}
			}},
		{"jpeg, compression 0 is sent, background, moderation", openaicompat.Config{},
			provider.Request{Prompt: "p", OutputFormat: "jpg", Options: provider.Options{openaicompat.Options{OutputCompression: new(0),
				Background: "opaque", Moderation: "low"}}},
			func(t *testing.T, b map[string]any, r *provider.Response) {
				c, present := b["output_compression"]
				if b["output_format"] != "jpeg" || !present || c != float64(0) || b["background"] != "opaque" || b["moderation"] != "low" {
					t.Errorf("body %v", b)
				}
				if r.Images[0].MIMEType != "image/jpeg" {
					t.Errorf("mime %s", r.Images[0].MIMEType)
				}
			}},
		{"transparent background", openaicompat.Config{}, provider.Request{Prompt: "p", OutputFormat: "webp", Options: provider.Options{openaicompat.Options{Background: "transparent"}}},
			func(t *testing.T, b map[string]any, r *provider.Response) {
				if b["background"] != "transparent" || b["output_format"] != "webp" {
					t.Errorf("body %v", b)
				}
				// The emulator sends PNG bytes for webp: the bytes win, with a warning.
				if r.Images[0].MIMEType != "image/png" || len(r.Warnings) == 0 {
					t.Errorf("mime %s warnings %v", r.Images[0].MIMEType, r.Warnings)
				}
			}},
		{"user and safety identifier from config", openaicompat.Config{User: "u-1", SafetyIdentifier: "hash-1"}, provider.Request{Prompt: "p"},
			func(t *testing.T, b map[string]any, _ *provider.Response) {
				if b["user"] != "u-1" || b["safety_identifier"] != "hash-1" {
					t.Errorf("body %v", b)
				}
			}},
		{"user overridden by options", openaicompat.Config{User: "u-1"}, provider.Request{Prompt: "p", Options: provider.Options{openaicompat.Options{User: "u-2", SafetyIdentifier: "h2"}}},
			func(t *testing.T, b map[string]any, _ *provider.Response) {
				if b["user"] != "u-2" || b["safety_identifier"] != "h2" {
					t.Errorf("body %v", b)
				}
			}},
		{"negative prompt in words, seed warned, labels never sent", openaicompat.Config{},
			provider.Request{Prompt: "a cat", NegativePrompt: "dogs", Seed: new(int64), Labels: map[string]string{"team": "secret-label"}},
			func(t *testing.T, b map[string]any, r *provider.Response) {
				raw, _ := json.Marshal(b)
				if !strings.Contains(b["prompt"].(string), "Avoid: dogs") || strings.Contains(string(raw), "secret-label") || strings.Contains(string(raw), "seed") {
					t.Errorf("body %s", raw)
				}
				if !strings.Contains(strings.Join(r.Warnings, ";"), "Seed") {
					t.Errorf("warnings %v", r.Warnings)
				}
			}},
		{"nothing empty is sent", openaicompat.Config{}, provider.Request{Prompt: "p"},
			func(t *testing.T, b map[string]any, _ *provider.Response) {
				for _, k := range []string{"size", "quality", "output_format", "response_format", "background", "user", "output_compression", "image_config"} {
					if _, ok := b[k]; ok {
						t.Errorf("%s sent: %v", k, b)
					}
				}
			}},
		{"unknown model passes through", openaicompat.Config{Model: "brand-new-image-9"}, provider.Request{Prompt: "p", Size: "1008x1008", Quality: "ultra"},
			func(t *testing.T, b map[string]any, _ *provider.Response) {
				if b["model"] != "brand-new-image-9" || b["quality"] != "ultra" {
					t.Errorf("body %v", b)
				}
			}},
		{"AIML API naming", openaicompat.Config{ModelName: openaicompat.VendorPrefix(nil)}, provider.Request{Prompt: "p"},
			func(t *testing.T, b map[string]any, r *provider.Response) {
				if b["model"] != "openai/gpt-image-2" || r.Model != "gpt-image-2" {
					t.Errorf("model %v / %s", b["model"], r.Model)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{}, tt.cfg)
			resp, err := g.Generate(context.Background(), &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, last(t, srv).JSON, resp)
		})
	}
}

func TestDallEURLAndRevisedPrompt(t *testing.T) {
	t.Parallel()
	cfg := openaicompat.Config{Model: "dall-e-3", Clock: providertest.NewClock(beforeDallEShutdown),
		Fetch: openaicompat.FetchPolicy{AllowHTTP: true, AllowPrivate: true}}
	srv, g := setup(t, providertest.Options{}, cfg)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "a kite", Size: "1792x1024",
		Options: provider.Options{openaicompat.Options{ResponseFormat: "url", Style: "vivid"}}})
	if err != nil {
		t.Fatal(err)
	}
	img := resp.Images[0]
	if c := decoded(t, img); c.Width != 1792 || img.URL != "" || !strings.HasPrefix(img.RevisedPrompt, "A detailed rendering") {
		t.Errorf("image %+v revised %q url %q", c, img.RevisedPrompt, img.URL)
	}
	if srv.Stats().PerEndpoint[providertest.EndpointFiles] != 1 {
		t.Error("the URL was not fetched at once")
	}
	b := last(t, srv)
	if b.Endpoint != providertest.EndpointFiles {
		t.Fatalf("last request %s", b.Endpoint)
	}
	gen := srv.Requests()[0].JSON
	if gen["response_format"] != "url" || gen["style"] != "vivid" || gen["output_format"] != nil {
		t.Errorf("body %v", gen)
	}
	if resp.Usage.OutputImageTokens != 0 || resp.Usage.Images != 1 {
		t.Errorf("dall-e reports no tokens: %+v", resp.Usage)
	}
}

func TestValidationBeforeAnyCall(t *testing.T) {
	t.Parallel()
	ref := provider.Image{Data: pngBytes(t, 8, 8)}
	tests := []struct {
		name  string
		cfg   openaicompat.Config
		req   provider.Request
		field string
		kind  provider.Kind
	}{
		{"not multiple of 16", openaicompat.Config{}, provider.Request{Prompt: "p", Size: "1000x1000"}, "Size", provider.KindInvalidRequest},
		{"ratio beyond 3:1", openaicompat.Config{}, provider.Request{Prompt: "p", Size: "3200x1024"}, "Size", provider.KindInvalidRequest},
		{"edge beyond 3840", openaicompat.Config{}, provider.Request{Prompt: "p", Size: "4096x2048"}, "Size", provider.KindInvalidRequest},
		{"xhigh on gpt-image-2", openaicompat.Config{}, provider.Request{Prompt: "p", Quality: "xhigh"}, "Quality", provider.KindInvalidRequest},
		{"gif before 2.6", openaicompat.Config{}, provider.Request{Prompt: "p", OutputFormat: "gif"}, "OutputFormat", provider.KindInvalidRequest},
		{"n above 10", openaicompat.Config{}, provider.Request{Prompt: "p", N: 11}, "N", provider.KindInvalidRequest},
		{"dall-e-3 takes n=1", openaicompat.Config{Model: "dall-e-3", Clock: providertest.NewClock(beforeDallEShutdown)}, provider.Request{Prompt: "p", N: 2}, "N", provider.KindInvalidRequest},
		{"17 references", openaicompat.Config{Model: "my-model"}, provider.Request{Prompt: "p", References: make17(ref)}, "References", provider.KindInvalidRequest},
		{"mask needs references", openaicompat.Config{}, provider.Request{Prompt: "p", Mask: &ref}, "Mask", provider.KindInvalidRequest},
		{"mask in chat mode", openaicompat.Config{Mode: openaicompat.ModeChatImages, Model: "x"}, provider.Request{Prompt: "p", References: []provider.Image{ref}, Mask: &ref}, "Mask", provider.KindInvalidRequest},
		{"compression with png", openaicompat.Config{}, provider.Request{Prompt: "p", Options: provider.Options{openaicompat.Options{OutputCompression: new(50)}}}, "Options.OutputCompression", provider.KindInvalidRequest},
		{"transparent jpeg", openaicompat.Config{}, provider.Request{Prompt: "p", OutputFormat: "jpeg", Options: provider.Options{openaicompat.Options{Background: "transparent"}}}, "Options.Background", provider.KindInvalidRequest},
		{"moderation outside its vocabulary", openaicompat.Config{}, provider.Request{Prompt: "p", Options: provider.Options{openaicompat.Options{Moderation: "none"}}}, "Options.Moderation", provider.KindInvalidRequest},
		{"compression above 100", openaicompat.Config{}, provider.Request{Prompt: "p", OutputFormat: "jpeg", Options: provider.Options{openaicompat.Options{OutputCompression: new(101)}}}, "Options.OutputCompression", provider.KindInvalidRequest},
		{"response_format on a GPT image model", openaicompat.Config{}, provider.Request{Prompt: "p", Options: provider.Options{openaicompat.Options{ResponseFormat: "url"}}}, "Options.ResponseFormat", provider.KindInvalidRequest},
		{"WxH in chat mode", openaicompat.Config{Mode: openaicompat.ModeChatImages, Model: "x"}, provider.Request{Prompt: "p", Size: "1024x1024"}, "Size", provider.KindInvalidRequest},
		{"retired model", openaicompat.Config{Model: "gpt-image-1"}, provider.Request{Prompt: "p"}, "use gpt-image-2.5-sunburst", provider.KindModelRetired},
		{"retired via vendor name", openaicompat.Config{Model: "openai/dall-e-3"}, provider.Request{Prompt: "p"}, "shut down", provider.KindModelRetired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{}, tt.cfg)
			err := g.CheckRequest(&tt.req)
			if err == nil {
				t.Fatal("CheckRequest accepted it")
			}
			_, err = g.Generate(context.Background(), &tt.req)
			pe := kindOf(t, err, tt.kind)
			if !strings.Contains(pe.Error(), tt.field) {
				t.Errorf("error does not name %q: %v", tt.field, err)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func make17(img provider.Image) []provider.Image {
	out := make([]provider.Image, 17)
	for i := range out {
		out[i] = img
	}
	return out
}

func TestEditsMultipart(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, openaicompat.Config{})
	refs := []provider.Image{{Data: pngBytes(t, 8, 8)}, {Data: pngBytes(t, 9, 9)}, {Data: pngBytes(t, 10, 10), MIMEType: "image/png"}}
	mask := provider.Image{Data: pngBytes(t, 8, 8)}
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "merge them", References: refs, Mask: &mask, Quality: "low",
		Options: provider.Options{openaicompat.Options{InputFidelity: "high"}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := last(t, srv)
	if rec.Endpoint != providertest.EndpointImagesEdits {
		t.Fatalf("endpoint %s", rec.Endpoint)
	}
	files := rec.Files["image[]"]
	if len(files) != 3 || len(rec.Files["mask"]) != 1 || len(rec.Files["image"]) != 0 {
		t.Fatalf("files %+v", rec.Files)
	}
	for _, f := range append(files, rec.Files["mask"]...) {
		if f.ContentType != "image/png" || !strings.HasSuffix(f.FileName, ".png") {
			t.Errorf("file %+v", f)
		}
	}
	for _, k := range []string{"size", "response_format", "output_format"} {
		if _, ok := rec.Form[k]; ok {
			t.Errorf("%s sent empty: %v", k, rec.Form)
		}
	}
	if got := rec.Form["n"]; len(got) != 1 || got[0] != "1" {
		t.Errorf("n = %v", got)
	}
	if rec.Form["model"][0] != "gpt-image-2" || rec.Form["quality"][0] != "low" || rec.Form["input_fidelity"][0] != "high" {
		t.Errorf("form %v", rec.Form)
	}
	if resp.Usage.InputImageTokens != 3 { // one 32-px patch for each small reference
		t.Errorf("usage %+v", resp.Usage)
	}
	// One reference goes as "image".
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "edit", References: refs[:1]}); err != nil {
		t.Fatal(err)
	}
	if rec := last(t, srv); len(rec.Files["image"]) != 1 {
		t.Errorf("files %+v", rec.Files)
	}
}

func TestChatModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		shape  providertest.ChatShape
		cfg    openaicompat.Config
		req    provider.Request
		images int
		check  func(t *testing.T, body map[string]any, resp *provider.Response)
	}{
		{"OpenRouter message.images", providertest.ChatImages, orConfig(), provider.Request{Prompt: "a fox", Size: "512", AspectRatio: "16:9"}, 1,
			func(t *testing.T, b map[string]any, r *provider.Response) {
				if b["model"] != "google/gemini-3.1-flash-image" || path(b, "image_config", "image_size") != "0.5K" ||
					path(b, "image_config", "aspect_ratio") != "16:9" || fmt.Sprint(b["modalities"]) != "[image text]" || b["stream"] != false {
					t.Errorf("body %v", b)
				}
				if r.Provider != "openrouter" || r.Model != "gemini-3.1-flash-image" || r.Cost <= 0 || r.Text != "Here is your image." {
					t.Errorf("response %s %s cost %s text %q", r.Provider, r.Model, r.Cost, r.Text)
				}
				// The emulator's 0.5K at 16:9 keeps the area: 688x384.
				if c := decoded(t, r.Images[0]); c.Width != 688 || c.Height != 384 {
					t.Errorf("image %dx%d", c.Width, c.Height)
				}
			}},
		{"image only modalities and N calls", providertest.ChatImages, func() openaicompat.Config { c := orConfig(); c.ImageOnly = true; return c }(),
			provider.Request{Prompt: "a fox", N: 3}, 3,
			func(t *testing.T, b map[string]any, r *provider.Response) {
				if fmt.Sprint(b["modalities"]) != "[image]" || r.Attempts != 3 || r.Usage.Images != 3 {
					t.Errorf("modalities %v attempts %d usage %+v", b["modalities"], r.Attempts, r.Usage)
				}
			}},
		{"new-api markdown keeps the final image", providertest.ChatMarkdown, openaicompat.Config{Mode: openaicompat.ModeChatMarkdown, Model: "gemini-3-pro-image"},
			provider.Request{Prompt: "a fox"}, 1,
			func(t *testing.T, b map[string]any, r *provider.Response) {
				if _, ok := b["modalities"]; ok {
					t.Error("modalities sent to a markdown relay")
				}
				if c := decoded(t, r.Images[0]); c.Width != 1024 {
					t.Errorf("kept the %dpx draft, not the final image", c.Width)
				}
				if !strings.Contains(strings.Join(r.Warnings, ";"), "drafts") || strings.Contains(r.Text, "data:") {
					t.Errorf("warnings %v text %q", r.Warnings, r.Text)
				}
			}},
		{"markdown with KeepDrafts", providertest.ChatMarkdown, openaicompat.Config{Mode: openaicompat.ModeChatMarkdown, Model: "gemini-3-pro-image", KeepDrafts: true},
			provider.Request{Prompt: "a fox"}, 2, nil},
		{"markdown keep_drafts option", providertest.ChatMarkdown, openaicompat.Config{Mode: openaicompat.ModeChatMarkdown, Model: "gemini-3-pro-image"},
			provider.Request{Prompt: "a fox", Options: provider.Options{openaicompat.Options{KeepDrafts: new(true)}}}, 2, nil},
		{"content array", providertest.ChatContentArray, openaicompat.Config{Mode: openaicompat.ModeChatContentArray, Model: "gemini-nano-banana-2.1"},
			provider.Request{Prompt: "a fox", Seed: ptr(int64(7))}, 1,
			func(t *testing.T, b map[string]any, r *provider.Response) {
				if b["seed"] != float64(7) || r.Text != "Here is your image." {
					t.Errorf("body %v text %q", b, r.Text)
				}
			}},
		{"references as image_url parts", providertest.ChatImages, orConfig(),
			provider.Request{Prompt: "make it blue", References: []provider.Image{{Data: pngBytes(t, 4, 4)}}}, 1,
			func(t *testing.T, b map[string]any, r *provider.Response) {
				msgs := b["messages"].([]any)
				parts, _ := path(msgs[0], "content").([]any)
				if len(parts) != 2 || path(parts[1], "type") != "image_url" ||
					!strings.HasPrefix(path(parts[1], "image_url", "url").(string), "data:image/png;base64,") {
					t.Errorf("content %.300v", parts)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{ChatShape: tt.shape}, tt.cfg)
			resp, err := g.Generate(context.Background(), &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Images) != tt.images {
				t.Fatalf("%d images, want %d", len(resp.Images), tt.images)
			}
			rec := last(t, srv)
			if rec.Endpoint != providertest.EndpointChatCompletions {
				t.Fatalf("endpoint %s", rec.Endpoint)
			}
			if tt.check != nil {
				tt.check(t, rec.JSON, resp)
			}
		})
	}
}

func orConfig() openaicompat.Config {
	c := openaicompat.OpenRouter("")
	c.Model = "gemini-3.1-flash-image"
	c.ExtraHeaders = http.Header{"Http-Referer": {"https://example.com"}, "X-Title": {"imagegen tests"}}
	return c
}

func ptr[T any](v T) *T { return &v }

func TestOpenRouterPresetHeadersAndDeprecation(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, orConfig())
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	rec := last(t, srv)
	if rec.Header.Get("X-Title") != "imagegen tests" || rec.Header.Get("Http-Referer") != "https://example.com" {
		t.Errorf("headers %v", rec.Header)
	}
	// gemini-3.1-flash-image is deprecated: a warning names the live replacement.
	if !strings.Contains(strings.Join(resp.Warnings, ";"), "use gemini-nano-banana-2.1") {
		t.Errorf("warnings %v", resp.Warnings)
	}
}

func TestOpenRouterImagesCost(t *testing.T) {
	t.Parallel()
	cfg := openaicompat.OpenRouter("")
	cfg.Mode = openaicompat.ModeOpenRouterImages
	srv, g := setup(t, providertest.Options{}, cfg)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 3, Size: "2K", AspectRatio: "4:3", Quality: "high"})
	if err != nil {
		t.Fatal(err)
	}
	rec := last(t, srv)
	if rec.Path != "/api/v1/images" || rec.JSON["model"] != "google/gemini-3-pro-image" || path(rec.JSON, "image_config", "image_size") != "2K" || rec.JSON["n"] != float64(3) {
		t.Errorf("request %s %v", rec.Path, rec.JSON)
	}
	// The emulator bills 0.039 per image as a float: 0.039*3 prints as
	// 0.11699999999999999, which rounds to exactly $0.117.
	if resp.Cost != 117_000 || len(resp.Images) != 3 {
		t.Errorf("cost %s (%d), %d images", resp.Cost, int64(resp.Cost), len(resp.Images))
	}
	if u := resp.Usage; u.OutputImageTokens != 3*1290 || u.Images != 3 {
		t.Errorf("usage %+v", u)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	_, g := setup(t, providertest.Options{}, openaicompat.Config{})
	d := provider.Describe(g)
	if d.Provider != "openai" || d.Model != "gpt-image-2" || d.Capabilities.MaxImages != 10 || d.Capabilities.MaxReferences != 16 ||
		!d.Capabilities.Mask || !d.Capabilities.FreeSize {
		t.Errorf("description %+v", d)
	}
	_, g = setup(t, providertest.Options{}, orConfig())
	d = provider.Describe(g)
	if d.Provider != "openrouter" || d.Capabilities.MaxImages != 10 || d.Capabilities.Mask {
		t.Errorf("description %+v", d)
	}
	if err := provider.CheckRequest(g, &provider.Request{Prompt: "p", Size: "3K"}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("CheckRequest = %v", err)
	}
}

func TestNewConfig(t *testing.T) {
	clearEnv(t)
	if _, err := openaicompat.New(openaicompat.Config{}); !errors.Is(err, provider.ErrAuth) {
		t.Errorf("no key: %v", err)
	}
	t.Setenv("OPENAI_API_KEY", "sk-from-env-123456")
	if _, err := openaicompat.New(openaicompat.Config{}); err != nil {
		t.Errorf("OPENAI_API_KEY not read for OpenAI: %v", err)
	}
	if _, err := openaicompat.New(openaicompat.LaoZhang("")); !errors.Is(err, provider.ErrAuth) {
		t.Errorf("the OpenAI key must not go to a relay: %v", err)
	}
	if _, err := openaicompat.New(openaicompat.Config{APIKey: "k", Mode: 99}); !errors.Is(err, provider.ErrInvalidConfig) {
		t.Errorf("bad mode: %v", err)
	}
	for _, c := range []openaicompat.Config{openaicompat.OpenAI("k"), openaicompat.OpenRouter("k"), openaicompat.LaoZhang("k"), openaicompat.AIMLAPI("k")} {
		if !strings.HasPrefix(c.BaseURL, "https://") || c.Name == "" {
			t.Errorf("preset %+v", c)
		}
	}
}

// countingImageServer serves a PNG and counts requests.
func countingImageServer(t *testing.T, contentType string, body []byte) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// relay answers chat completions with the given message content.
func relay(t *testing.T, content string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "c1", "model": "gemini-3-pro-image",
			"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 5, "completion_tokens": 1300, "cost": "0.0001234567"},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func relayGen(t *testing.T, base string, fp openaicompat.FetchPolicy) *openaicompat.Generator {
	t.Helper()
	clearEnv(t)
	g, err := openaicompat.New(openaicompat.Config{Name: "relay", APIKey: testKey, BaseURL: base, Mode: openaicompat.ModeChatMarkdown,
		Model: "gemini-3-pro-image", Fetch: fp, Clock: providertest.NewClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestLoopbackURLNotFetchedByDefault(t *testing.T) {
	t.Parallel()
	imgSrv, hits := countingImageServer(t, "image/png", pngBytes(t, 16, 16))
	rl := relay(t, "Done.\n\n![image]("+imgSrv.URL+"/out.png?sig=s3cr3t)")
	_, err := relayGen(t, rl.URL, openaicompat.FetchPolicy{}).Generate(context.Background(), &provider.Request{Prompt: "p"})
	pe := kindOf(t, err, provider.KindInvalidRequest)
	if pe.Code != "url_blocked" || pe.Usage == nil || pe.Usage.OutputTokens != 1300 {
		t.Errorf("error %+v", pe)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the link's query is in the error: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the loopback server saw %d requests", hits.Load())
	}
	// https-only also refuses it once private addresses are allowed.
	_, err = relayGen(t, rl.URL, openaicompat.FetchPolicy{AllowPrivate: true}).Generate(context.Background(), &provider.Request{Prompt: "p"})
	kindOf(t, err, provider.KindInvalidRequest)
	if hits.Load() != 0 {
		t.Fatalf("the loopback server saw %d requests", hits.Load())
	}
	// Allowed explicitly, it is fetched.
	resp, err := relayGen(t, rl.URL, openaicompat.FetchPolicy{AllowPrivate: true, AllowHTTP: true}).Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 || decoded(t, resp.Images[0]).Width != 16 || resp.Text != "Done." {
		t.Errorf("hits %d text %q", hits.Load(), resp.Text)
	}
	if resp.Cost != 123 { // $0.0001234567 rounds to 123 micro-dollars
		t.Errorf("cost %d", resp.Cost)
	}
}

func TestEmulatorHostedURL(t *testing.T) {
	t.Parallel()
	cfg := openaicompat.Config{Mode: openaicompat.ModeChatMarkdown, Model: "gemini-nano-banana-2.1"}
	srv, g := setup(t, providertest.Options{ChatShape: providertest.ChatHostedURL}, cfg)
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	kindOf(t, err, provider.KindInvalidRequest)
	if n := srv.Stats().PerEndpoint[providertest.EndpointFiles]; n != 0 {
		t.Fatalf("the emulator's file was fetched %d times", n)
	}

	cfg.Fetch = openaicompat.FetchPolicy{NoDownload: true}
	srv, g = setup(t, providertest.Options{ChatShape: providertest.ChatHostedURL}, cfg)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if img := resp.Images[0]; !strings.HasPrefix(img.URL, srv.URL()+"/files/") || img.Data != nil || srv.Stats().PerEndpoint[providertest.EndpointFiles] != 0 {
		t.Errorf("image %+v", img)
	}

	cfg.Fetch = openaicompat.FetchPolicy{AllowHTTP: true, AllowPrivate: true, MaxBytes: 100}
	_, g = setup(t, providertest.Options{ChatShape: providertest.ChatHostedURL}, cfg)
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if pe := kindOf(t, err, provider.KindUnavailable); !strings.Contains(pe.Message, "too large") {
		t.Errorf("error %v", err)
	}
}

func TestContentTypeMismatch(t *testing.T) {
	t.Parallel()
	page, _ := countingImageServer(t, "text/html", pngBytes(t, 4, 4))
	rl := relay(t, "![a]("+page.URL+"/x.png)")
	_, err := relayGen(t, rl.URL, openaicompat.FetchPolicy{AllowPrivate: true, AllowHTTP: true}).Generate(context.Background(), &provider.Request{Prompt: "p"})
	if pe := kindOf(t, err, provider.KindUnavailable); !strings.Contains(pe.Message, "not an image") {
		t.Errorf("error %v", err)
	}
	// A different image type is accepted with the sniffed type and a warning.
	jpegLabel, _ := countingImageServer(t, "image/jpeg", pngBytes(t, 4, 4))
	rl = relay(t, "![a]("+jpegLabel.URL+"/x.jpg)")
	resp, err := relayGen(t, rl.URL, openaicompat.FetchPolicy{AllowPrivate: true, AllowHTTP: true}).Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Images[0].MIMEType != "image/png" || !strings.Contains(strings.Join(resp.Warnings, ";"), "declared image/jpeg is image/png") {
		t.Errorf("mime %s warnings %v", resp.Images[0].MIMEType, resp.Warnings)
	}
}

func TestKeyRedactedBeforeBodyIsCut(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, openaicompat.Config{})
	srv.Inject(providertest.EndpointImagesGenerations, providertest.Status(502, strings.Repeat("y", 280)+" Bearer "+testKey, nil))
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err == nil || strings.Contains(err.Error(), testKey[:8]) {
		t.Errorf("key prefix in error: %v", err)
	}
}
