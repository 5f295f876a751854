package gemini_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth"
	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

const testKey = "test-key-0123456789"

func TestMain(m *testing.M) {
	// The provider variables the SDKs read are cleared once for the whole
	// process (as providertest.ClearEnv does for one test), so that tests
	// need not clear them with t.Setenv and can run in parallel.
	for _, k := range providertest.EnvVars() {
		os.Setenv(k, "")
	}
	goleak.VerifyTestMain(m)
}

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

// now is inside every model's lifecycle the tests rely on.
var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func setup(t testing.TB, opts providertest.Options, cfg gemini.Config) (*providertest.Server, *gemini.Generator) {
	t.Helper()
	clearEnv(t)
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	srv := providertest.NewServer(opts)
	t.Cleanup(srv.Close)
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	cfg.BaseURL = srv.URL()
	cfg.HTTPClient = srv.Client()
	if cfg.Clock == nil {
		cfg.Clock = providertest.NewClock(now)
	}
	g, err := gemini.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, g
}

func decode(t *testing.T, img provider.Image) image.Config {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(img.Data))
	if err != nil {
		t.Fatalf("image does not decode: %v", err)
	}
	if "image/"+format != img.MIMEType {
		t.Errorf("MIMEType %q but bytes are %s", img.MIMEType, format)
	}
	return cfg
}

// lastJSON returns the decoded body of the last recorded request.
func lastJSON(t *testing.T, srv *providertest.Server) map[string]any {
	t.Helper()
	reqs := srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("no request recorded")
	}
	return reqs[len(reqs)-1].JSON
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

func TestGenerateDefaultModel(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{})
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "a red fox in snow", Size: "1k"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 1 {
		t.Fatalf("got %d images; thought drafts must be dropped", len(resp.Images))
	}
	if c := decode(t, resp.Images[0]); c.Width != 1024 || c.Height != 1024 {
		t.Errorf("image is %dx%d, want 1024x1024", c.Width, c.Height)
	}
	if resp.Provider != "gemini" || resp.Model != gemini.DefaultModel || resp.Attempts != 1 {
		t.Errorf("provider/model/attempts = %q %q %d", resp.Provider, resp.Model, resp.Attempts)
	}
	u := resp.Usage
	if u.OutputImageTokens != 1120 || u.OutputTokens < u.OutputImageTokens || u.InputTokens == 0 || u.ThoughtTokens == 0 || u.Images != 1 {
		t.Errorf("usage = %+v", u)
	}
	body := lastJSON(t, srv)
	gc := path(body, "generationConfig")
	if got := path(gc, "imageConfig", "imageSize"); got != "1K" {
		t.Errorf("imageSize on the wire = %v, want 1K", got)
	}
	mods, _ := path(gc, "responseModalities").([]any)
	if len(mods) != 2 {
		t.Errorf("responseModalities = %v", mods)
	}
	if strings.Contains(string(srv.Requests()[0].Body), testKey) {
		t.Error("the API key is in the recorded body")
	}
}

func TestRequestMapping(t *testing.T) {
	t.Parallel()
	seed := int64(42)
	png := tinyPNG(t)
	tests := []struct {
		name  string
		req   provider.Request
		cfg   gemini.Config
		check func(t *testing.T, body map[string]any)
	}{
		{"512 tier spelled 512px", provider.Request{Prompt: "p", Model: "gemini-3.1-flash-image", Size: "512px"}, gemini.Config{},
			func(t *testing.T, b map[string]any) {
				if got := path(b, "generationConfig", "imageConfig", "imageSize"); got != "512" {
					t.Errorf("imageSize = %v", got)
				}
			}},
		{"2K 16:9", provider.Request{Prompt: "p", Size: "2k", AspectRatio: "16:9"}, gemini.Config{},
			func(t *testing.T, b map[string]any) {
				ic := path(b, "generationConfig", "imageConfig")
				if path(ic, "imageSize") != "2K" || path(ic, "aspectRatio") != "16:9" {
					t.Errorf("imageConfig = %v", ic)
				}
			}},
		{"2.5 flash sends no imageSize", provider.Request{Prompt: "p", Model: "gemini-2.5-flash-image", Size: "1K"}, gemini.Config{},
			func(t *testing.T, b map[string]any) {
				if got := path(b, "generationConfig", "imageConfig", "imageSize"); got != nil {
					t.Errorf("imageSize = %v, want none", got)
				}
			}},
		{"thinking level, seed, image only", provider.Request{Prompt: "p", Seed: &seed, Options: provider.Options{gemini.Options{ThinkingLevel: "high"}}},
			gemini.Config{ImageOnly: true},
			func(t *testing.T, b map[string]any) {
				gc := path(b, "generationConfig")
				if path(gc, "thinkingConfig", "thinkingLevel") != "HIGH" || path(gc, "seed") != float64(42) {
					t.Errorf("generationConfig = %v", gc)
				}
				if mods, _ := path(gc, "responseModalities").([]any); len(mods) != 1 || mods[0] != "IMAGE" {
					t.Errorf("responseModalities = %v", mods)
				}
			}},
		{"options override the config; other adapters' options are ignored", provider.Request{Prompt: "p", Options: provider.Options{
			gemini.Options{ImageOnly: new(false), SystemInstruction: "be brief"}, foreignOption{}}},
			gemini.Config{ImageOnly: true},
			func(t *testing.T, b map[string]any) {
				gc := path(b, "generationConfig")
				if mods, _ := path(gc, "responseModalities").([]any); len(mods) != 2 {
					t.Errorf("responseModalities = %v, want TEXT and IMAGE", mods)
				}
				if txt := path(b, "systemInstruction", "parts"); txt == nil {
					t.Errorf("no system instruction: %v", b)
				}
			}},
		{"references are inline parts before the prompt", provider.Request{Prompt: "make it blue", References: []provider.Image{{Data: png}}, NegativePrompt: "text"},
			gemini.Config{},
			func(t *testing.T, b map[string]any) {
				contents, _ := b["contents"].([]any)
				parts, _ := path(contents[0], "parts").([]any)
				if len(parts) != 2 || path(parts[0], "inlineData", "mimeType") != "image/png" {
					t.Fatalf("parts = %.300v", parts)
				}
				if txt, _ := path(parts[1], "text").(string); !strings.Contains(txt, "make it blue") || !strings.Contains(txt, "Avoid: text") {
					t.Errorf("text part = %q", txt)
				}
			}},
		{"labels never sent", provider.Request{Prompt: "p", Labels: map[string]string{"customer": "acme-secret-label"}}, gemini.Config{},
			func(t *testing.T, b map[string]any) {
				raw, _ := json.Marshal(b)
				if strings.Contains(string(raw), "acme-secret-label") {
					t.Error("a label was sent upstream")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{}, tt.cfg)
			if _, err := g.Generate(context.Background(), &tt.req); err != nil {
				t.Fatal(err)
			}
			tt.check(t, lastJSON(t, srv))
		})
	}
}

// tinyPNG is enough of a PNG for the adapter, which sniffs only the header.
func tinyPNG(testing.TB) []byte { return append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...) }

func TestValidationBeforeAnyCall(t *testing.T) {
	t.Parallel()
	img := provider.Image{Data: []byte("\x89PNG\r\n\x1a\nxxxx")}
	many := make([]provider.Image, 15)
	for i := range many {
		many[i] = img
	}
	huge := provider.Image{Data: make([]byte, 16<<20)}
	tests := []struct {
		name string
		req  provider.Request
		kind provider.Kind
	}{
		{"empty prompt", provider.Request{}, provider.KindInvalidRequest},
		{"2.1 rejects 512", provider.Request{Prompt: "p", Size: "512"}, provider.KindInvalidRequest},
		{"lite is 1K only", provider.Request{Prompt: "p", Model: "gemini-3.1-flash-lite-image", Size: "2K"}, provider.KindInvalidRequest},
		{"1:4 not on pro", provider.Request{Prompt: "p", Model: "gemini-3-pro-image", AspectRatio: "1:4"}, provider.KindInvalidRequest},
		{"15 references", provider.Request{Prompt: "p", References: many}, provider.KindInvalidRequest},
		{"mask", provider.Request{Prompt: "p", References: []provider.Image{img}, Mask: &img}, provider.KindInvalidRequest},
		{"free size", provider.Request{Prompt: "p", Size: "1024x768"}, provider.KindInvalidRequest},
		{"over 20 MB", provider.Request{Prompt: "p", References: []provider.Image{huge}}, provider.KindInvalidRequest},
		{"bad thinking level", provider.Request{Prompt: "p", Options: provider.Options{gemini.Options{ThinkingLevel: "extreme"}}}, provider.KindInvalidRequest},
		{"retired preview alias", provider.Request{Prompt: "p", Model: "gemini-3-pro-image-preview"}, provider.KindModelRetired},
		{"retired imagen id", provider.Request{Prompt: "p", Model: "imagen-4.0-generate-001"}, provider.KindModelRetired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{}, gemini.Config{})
			_, err := g.Generate(context.Background(), &tt.req)
			if provider.KindOf(err) != tt.kind {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
			if err := g.CheckRequest(&tt.req); provider.KindOf(err) != tt.kind {
				t.Errorf("CheckRequest = %v", err)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests reached the network", n)
			}
		})
	}
}

func TestRetiredModelNamesLiveReplacement(t *testing.T) {
	t.Parallel()
	_, g := setup(t, providertest.Options{}, gemini.Config{})
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "imagen-4.0-fast-generate-001"})
	if !errors.Is(err, provider.ErrModelRetired) || !strings.Contains(err.Error(), "gemini-nano-banana-2.1") {
		t.Fatalf("err = %v; want ErrModelRetired naming gemini-nano-banana-2.1", err)
	}
}

func TestUnknownModelPassesThrough(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{})
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "gemini-9-ultra-image", Size: "4K", AspectRatio: "8:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[0].Model; got != "gemini-9-ultra-image" {
		t.Errorf("model on the wire = %q", got)
	}
	if len(resp.Images) != 1 || len(resp.Warnings) != 0 {
		t.Errorf("images=%d warnings=%v", len(resp.Images), resp.Warnings)
	}
}

func TestDeprecatedModelWarns(t *testing.T) {
	t.Parallel()
	_, g := setup(t, providertest.Options{}, gemini.Config{Model: "gemini-3.1-flash-image"})
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Size: "512"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Warnings) == 0 || !strings.Contains(strings.Join(resp.Warnings, " "), "deprecated") {
		t.Errorf("warnings = %v", resp.Warnings)
	}
}

func TestFailureShapes(t *testing.T) {
	t.Parallel()
	retryAfter := http.Header{}
	retryAfter.Set("Retry-After", "7")
	tests := []struct {
		name      string
		fault     providertest.Fault
		model     string
		kind      provider.Kind
		status    int
		code      string
		retry     time.Duration
		billed    bool
		noMessage string // must not appear in the error text
	}{
		{"per-minute 429 with RetryInfo", providertest.RateLimited(26 * time.Second), "", provider.KindRateLimited, 429, "RESOURCE_EXHAUSTED", 26 * time.Second, false, ""},
		{"per-day quota", providertest.DailyQuotaExhausted(), "", provider.KindQuotaExhausted, 429, "RESOURCE_EXHAUSTED", -1, false, ""},
		{"limit 0", providertest.QuotaZero(), "", provider.KindQuotaExhausted, 429, gemini.CodeFreeTierNoQuota, 0, false, "; retry after"},
		{"402 prepaid credit", providertest.PaymentRequired(), "", provider.KindQuotaExhausted, 402, "", -1, false, ""},
		{"404 of a known model", providertest.ModelRetired(), "gemini-2.5-flash-image", provider.KindModelRetired, 404, "NOT_FOUND", 0, false, ""},
		{"404 of an unknown model", providertest.ModelRetired(), "gemini-0-nonexistent", provider.KindModelNotFound, 404, "NOT_FOUND", 0, false, ""},
		{"503 overloaded", providertest.Unavailable(), "", provider.KindUnavailable, 503, "UNAVAILABLE", 0, false, ""},
		{"HTML 502 from a proxy", providertest.ProxyHTML502(), "", provider.KindUnavailable, 502, "", 0, false, "<html"},
		{"Retry-After header only", providertest.Status(429, `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`, retryAfter), "", provider.KindRateLimited, 429, "RESOURCE_EXHAUSTED", 7 * time.Second, false, ""},
		{"image safety in HTTP 200", providertest.SafetyBlock("IMAGE_SAFETY"), "", provider.KindContentBlocked, 200, "IMAGE_SAFETY", 0, true, ""},
		{"prohibited content in HTTP 200", providertest.SafetyBlock("PROHIBITED_CONTENT"), "", provider.KindContentBlocked, 200, "PROHIBITED_CONTENT", 0, true, ""},
		{"image recitation", providertest.SafetyBlock("IMAGE_RECITATION"), "", provider.KindContentBlocked, 200, "IMAGE_RECITATION", 0, true, ""},
		{"image other", providertest.SafetyBlock("IMAGE_OTHER"), "", provider.KindNoImage, 200, "IMAGE_OTHER", 0, true, ""},
		{"prompt blocked", providertest.PromptBlocked("PROHIBITED_CONTENT"), "", provider.KindContentBlocked, 200, "PROHIBITED_CONTENT", 0, false, ""},
		{"no image", providertest.NoImage(), "", provider.KindNoImage, 200, "", 0, false, ""},
		{"truncated body", providertest.Truncated(), "", provider.KindUnavailable, 0, "", 0, false, ""},
		{"malformed body", providertest.Malformed(), "", provider.KindUnavailable, 0, "", 0, false, ""},
		{"connection reset", providertest.Reset(), "", provider.KindUnavailable, 0, "", 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{}, gemini.Config{})
			srv.Inject(providertest.EndpointGenerateContent, tt.fault)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: tt.model})
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *provider.Error", err, err)
			}
			if pe.Kind != tt.kind || !errors.Is(err, tt.kind.Sentinel()) {
				t.Errorf("kind = %v, want %v (%v)", pe.Kind, tt.kind, err)
			}
			if tt.status != 0 && pe.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", pe.StatusCode, tt.status)
			}
			if tt.code != "" && pe.Code != tt.code {
				t.Errorf("code = %q, want %q", pe.Code, tt.code)
			}
			if tt.retry > 0 && pe.RetryAfter != tt.retry {
				t.Errorf("RetryAfter = %v, want %v", pe.RetryAfter, tt.retry)
			}
			if tt.billed && (pe.Usage == nil || pe.Usage.ThoughtTokens == 0) {
				t.Errorf("billed usage not kept: %+v", pe.Usage)
			}
			if pe.Provider != "gemini" {
				t.Errorf("provider = %q", pe.Provider)
			}
			msg := err.Error()
			if strings.Contains(msg, testKey) || (tt.noMessage != "" && strings.Contains(msg, tt.noMessage)) {
				t.Errorf("error text leaks: %s", msg)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d upstream calls; genai's own retries must be off", n)
			}
		})
	}
}

func TestHangEndsAtDeadline(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{})
	srv.Inject(providertest.EndpointGenerateContent, providertest.Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
	if !errors.Is(err, provider.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestWrongKeyIsAuthAndNeverEchoed(t *testing.T) {
	t.Parallel()
	_, g := setup(t, providertest.Options{APIKey: "the-right-key-123"}, gemini.Config{APIKey: "sk-wrong-key-456789"})
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if !errors.Is(err, provider.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "sk-wrong-key-456789") {
		t.Errorf("key in error: %v", err)
	}
}

func TestNCallsWithPartialFailure(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{MaxConcurrency: 1})
	srv.Inject(providertest.EndpointGenerateContent, providertest.FaultNone(), providertest.Unavailable(), providertest.SafetyBlock("IMAGE_SAFETY"))
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 2 || resp.Attempts != 4 || resp.Usage.Images != 2 {
		t.Fatalf("images=%d attempts=%d usage=%+v", len(resp.Images), resp.Attempts, resp.Usage)
	}
	joined := strings.Join(resp.Warnings, "\n")
	if strings.Count(joined, "failed") != 2 || !strings.Contains(joined, "content blocked") {
		t.Errorf("failures not reported: %v", resp.Warnings)
	}
	if resp.Usage.ThoughtTokens == 0 {
		t.Error("thinking billed on the blocked call was not added to usage")
	}
}

func TestNCallsAllFail(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{})
	srv.Inject(providertest.EndpointGenerateContent, providertest.SafetyBlock("IMAGE_SAFETY"), providertest.SafetyBlock("IMAGE_SAFETY"))
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 2})
	if !errors.Is(err, provider.ErrContentBlocked) {
		t.Fatalf("err = %v", err)
	}
	if u, ok := provider.BilledUsage(err); !ok || u.ThoughtTokens == 0 {
		t.Errorf("billed usage of both calls lost: %+v %v", u, ok)
	}
}

func TestNCallsConcurrent(t *testing.T) {
	t.Parallel()
	_, g := setup(t, providertest.Options{Latency: 20 * time.Millisecond}, gemini.Config{MaxConcurrency: 3})
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 6})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 6 || resp.Attempts != 6 {
		t.Errorf("images=%d attempts=%d", len(resp.Images), resp.Attempts)
	}
}

func TestBearerRelay(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{GeminiAuth: providertest.AuthBearer, RelayImageInText: true}, gemini.Config{BearerAuth: true, Name: "laozhang"})
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 1 || resp.Provider != "laozhang" {
		t.Fatalf("images=%d provider=%q", len(resp.Images), resp.Provider)
	}
	decode(t, resp.Images[0])
	h := srv.Requests()[0].Header
	if h.Get("X-Goog-Api-Key") != "" || !strings.HasPrefix(h.Get("Authorization"), "REDACTED") && h.Get("Authorization") == "" {
		t.Errorf("headers = %v", h)
	}
	if strings.Contains(resp.Text, "data:image") {
		t.Error("the data URI was left in Text")
	}
}

func TestVertexBackendExpressKey(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: testKey})
	defer srv.Close()
	g, err := gemini.New(context.Background(), gemini.Config{Backend: gemini.BackendVertex, APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client(), Clock: providertest.NewClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Provider != "vertex" || len(resp.Images) != 1 {
		t.Errorf("provider=%q images=%d", resp.Provider, len(resp.Images))
	}
	if p := srv.Requests()[0].Path; !strings.Contains(p, "publishers/google/models/") {
		t.Errorf("path = %s", p)
	}
}

func TestSessionThreeEditsResendsSignatures(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{Model: "gemini-3-pro-image"})
	s := g.NewSession(gemini.SessionOptions{KeepTurns: 2})
	ctx := context.Background()
	prompts := []string{"a wooden boat on a lake", "make the boat red", "add a sunset"}
	for i, p := range prompts {
		resp, err := s.Generate(ctx, &provider.Request{Prompt: p})
		if err != nil {
			t.Fatalf("turn %d: %v", i+1, err)
		}
		if len(resp.Images) != 1 {
			t.Fatalf("turn %d: %d images", i+1, len(resp.Images))
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, r := range reqs {
		contents, _ := r.JSON["contents"].([]any)
		wantTurns := 2*min(i, 2) + 1
		if len(contents) != wantTurns {
			t.Errorf("request %d sent %d turns, want %d", i+1, len(contents), wantTurns)
		}
		for _, c := range contents {
			if path(c, "role") != "model" {
				continue
			}
			parts, _ := path(c, "parts").([]any)
			signed := 0
			for _, p := range parts {
				if path(p, "thought") == true {
					t.Errorf("request %d re-sent a thought draft", i+1)
				}
				if path(p, "thoughtSignature") != nil {
					signed++
				}
			}
			if signed == 0 {
				t.Errorf("request %d: a model turn lost its thought signatures", i+1)
			}
		}
	}
	if s.Turns() != 2 {
		t.Errorf("session keeps %d turns, want 2", s.Turns())
	}

	// Save, resume in a "new process" and keep editing.
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var st gemini.SessionState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	resumed, err := g.ResumeSession(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resumed.Generate(ctx, &provider.Request{Prompt: "now in winter"}); err != nil {
		t.Fatalf("resumed turn: %v", err)
	}
	if _, err := g.ResumeSession(gemini.SessionState{Version: 99}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("bad state accepted: %v", err)
	}
}

func TestSessionWithoutSignaturesIsRejectedUpstream(t *testing.T) {
	t.Parallel()
	// The emulator, like the API, refuses model turns without signatures:
	// proof that the session test above is not vacuous.
	srv, g := setup(t, providertest.Options{}, gemini.Config{Model: "gemini-3-pro-image"})
	s := g.NewSession(gemini.SessionOptions{})
	if _, err := s.Generate(context.Background(), &provider.Request{Prompt: "a boat"}); err != nil {
		t.Fatal(err)
	}
	st := s.State()
	for i := range st.Turns[1].Parts {
		st.Turns[1].Parts[i].ThoughtSignature = nil
	}
	stripped, err := g.ResumeSession(st)
	if err != nil {
		t.Fatal(err)
	}
	_, err = stripped.Generate(context.Background(), &provider.Request{Prompt: "make it red"})
	if !errors.Is(err, provider.ErrInvalidRequest) {
		t.Fatalf("err = %v, want the upstream 400 as ErrInvalidRequest", err)
	}
	if stripped.Turns() != 1 {
		t.Error("a failed turn changed the history")
	}
	_ = srv
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	_, g := setup(t, providertest.Options{}, gemini.Config{Model: "gemini-3-pro-image"})
	d := provider.Describe(provider.Chain(g, func(next provider.Generator) provider.Generator {
		return provider.Wrap(next, next.Generate)
	}))
	if d.Provider != "gemini" || d.Model != "gemini-3-pro-image" || d.Capabilities.MaxReferences != 14 {
		t.Errorf("Describe = %+v", d)
	}
}

func TestGenaiRefusalIsInvalidRequest(t *testing.T) {
	t.Parallel()
	// On the Gemini API backend genai itself refuses personGeneration
	// before sending anything: that is the caller's request, not an outage.
	srv, g := setup(t, providertest.Options{}, gemini.Config{})
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Options: provider.Options{gemini.Options{PersonGeneration: "allow_adult"}}})
	if !errors.Is(err, provider.ErrInvalidRequest) || len(srv.Requests()) != 0 {
		t.Errorf("err = %v with %d requests sent", err, len(srv.Requests()))
	}
}

type staticToken string

func (s staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(s), Type: "Bearer"}, nil
}

func TestVertexCredentials(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: "oauth-token-123"})
	defer srv.Close()
	creds := auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: staticToken("oauth-token-123")})
	g, err := gemini.New(context.Background(), gemini.Config{Backend: gemini.BackendVertex, Project: "p", Location: "us-central1",
		Credentials: creds, BaseURL: srv.URL(), HTTPClient: srv.Client(), Clock: providertest.NewClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
		t.Fatal(err)
	}
	if p := srv.Requests()[0].Path; !strings.Contains(p, "/projects/p/locations/us-central1/publishers/google/models/") {
		t.Errorf("path = %s", p)
	}
}

func TestVertexNeedsCredentialsOrKey(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	_, err := gemini.New(context.Background(), gemini.Config{Backend: gemini.BackendVertex, Project: "p", Location: "us-central1"})
	if !errors.Is(err, provider.ErrAuth) {
		t.Errorf("err = %v", err)
	}
}

func TestVertexBearer(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: testKey})
	defer srv.Close()
	g, err := gemini.New(context.Background(), gemini.Config{Backend: gemini.BackendVertex, Project: "p", Location: "us-central1",
		APIKey: testKey, BearerAuth: true, BaseURL: srv.URL(), HTTPClient: srv.Client(), Clock: providertest.NewClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
		t.Fatal(err)
	}
	h := srv.Requests()[0].Header
	if h.Get("Authorization") == "" || h.Get("X-Goog-Api-Key") != "" {
		t.Errorf("headers = %v", h)
	}
}

// An upstream that echoes the key near the end of a long message must not
// leak a prefix of it when the message is shortened.
func TestKeyRedactedBeforeMessageIsCut(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{})
	body := `{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"` + strings.Repeat("x", 490) + ` key=` + testKey + `"}}`
	srv.Inject(providertest.EndpointGenerateContent, providertest.Status(400, body, nil))
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err == nil || strings.Contains(err.Error(), testKey[:8]) {
		t.Errorf("key prefix in error: %v", err)
	}
}

// Earlier turns that would push the request past 20 MB are not re-sent.
func TestSessionKeepsRequestUnder20MB(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{Model: "gemini-3-pro-image"})
	big := provider.Image{Data: append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 9<<20)...)}
	s := g.NewSession(gemini.SessionOptions{KeepTurns: 5})
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.Generate(ctx, &provider.Request{Prompt: "edit", References: []provider.Image{big}}); err != nil {
			t.Fatalf("turn %d: %v", i+1, err)
		}
	}
	for i, r := range srv.Requests() {
		if len(r.Body) > gemini.MaxRequestBytes {
			t.Errorf("request %d is %d MB", i+1, len(r.Body)>>20)
		}
	}
}

// foreignOption is another adapter's option: gemini ignores it.
type foreignOption struct{ Moderation string }

func (foreignOption) OptionOwner() string { return "other" }
