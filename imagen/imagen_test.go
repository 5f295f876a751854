package imagen_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestDirectPredict(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{PersonGeneration: "ALLOW_ADULT"})
	resp, err := g.Generate(context.Background(), &provider.Request{
		Prompt: "a lighthouse at dawn", N: 3, AspectRatio: "16:9", Size: "2k", OutputFormat: "jpg",
		NegativePrompt: "fog",
		Options:        provider.Options{imagen.Options{SafetySetting: "block_only_high", CompressionQuality: new(80), EnhancePrompt: new(false)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 3 || resp.Usage.Images != 3 || resp.Attempts != 1 {
		t.Fatalf("images=%d usage=%+v attempts=%d", len(resp.Images), resp.Usage, resp.Attempts)
	}
	for _, img := range resp.Images {
		if c := decode(t, img); c.Width <= c.Height || img.MIMEType != "image/jpeg" {
			t.Errorf("image %dx%d %s", c.Width, c.Height, img.MIMEType)
		}
	}
	if resp.Provider != "imagen" || resp.Model != imagen.DefaultModel || len(resp.Warnings) != 0 {
		t.Errorf("provider=%q model=%q warnings=%q", resp.Provider, resp.Model, resp.Warnings)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/v1beta/models/imagen-4.0-generate-001:predict" || r.RawQuery != "" {
		t.Errorf("path %s?%s", r.Path, r.RawQuery)
	}
	if r.Header.Get("X-Goog-Api-Key") != "REDACTED" || r.Header.Get("Authorization") != "" {
		t.Errorf("auth headers %v", r.Header)
	}
	if inst := r.JSON["instances"].([]any)[0].(map[string]any); inst["prompt"] != "a lighthouse at dawn" {
		t.Errorf("instances %v", r.JSON["instances"])
	}
	p := params(t, r)
	want := map[string]any{"sampleCount": 3.0, "aspectRatio": "16:9", "sampleImageSize": "2K", "personGeneration": "allow_adult",
		"safetySetting": "block_only_high", "negativePrompt": "fog", "includeRaiReason": true, "enhancePrompt": false}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("parameters.%s = %v, want %v", k, p[k], v)
		}
	}
	oo, _ := p["outputOptions"].(map[string]any)
	if oo["mimeType"] != "image/jpeg" || oo["compressionQuality"] != 80.0 {
		t.Errorf("outputOptions %v", oo)
	}
	if _, ok := p["seed"]; ok {
		t.Error("seed sent without a Seed")
	}
	if _, ok := p["addWatermark"]; ok {
		t.Error("addWatermark sent without a reason")
	}
}

func TestSeedTurnsOffWatermark(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{})
	seed := int64(42)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Seed: &seed, Quality: "hd"})
	if err != nil {
		t.Fatal(err)
	}
	p := params(t, srv.Requests()[0])
	if p["seed"] != 42.0 || p["addWatermark"] != false || p["sampleCount"] != 1.0 {
		t.Errorf("parameters %v", p)
	}
	if !hasWarning(resp.Warnings, "addWatermark false") || !hasWarning(resp.Warnings, `Quality "hd" ignored`) {
		t.Errorf("warnings %q", resp.Warnings)
	}
	// Asking for the watermark and a seed is a contradiction.
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "p", Seed: &seed, Options: provider.Options{imagen.Options{AddWatermark: new(true)}}})
	if !errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), "add_watermark") {
		t.Errorf("got %v", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestPartialFilterWarns(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{})
	srv.Inject(providertest.EndpointPredict, providertest.PartialFilter(1))
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 2 || resp.Usage.Images != 2 {
		t.Fatalf("images=%d usage=%+v", len(resp.Images), resp.Usage)
	}
	for _, img := range resp.Images {
		decode(t, img)
	}
	if !hasWarning(resp.Warnings, "image 3 of 3 filtered: Unable to show generated images") {
		t.Errorf("warnings %q", resp.Warnings)
	}
}

func TestAllFiltered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault providertest.Fault
		msg   string
	}{
		{"empty body {}", providertest.SafetyBlock(""), "safety filters removed every prediction"},
		{"every prediction filtered", providertest.SafetyBlock("Filtered: violence"), "all 2 images filtered: Filtered: violence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{}, imagen.Config{})
			srv.Inject(providertest.EndpointPredict, tt.fault)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 2})
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindContentBlocked || pe.StatusCode != 200 || pe.Code != "RAI_FILTERED" {
				t.Fatalf("got %#v", err)
			}
			if !strings.Contains(pe.Message, tt.msg) || !errors.Is(err, provider.ErrContentBlocked) {
				t.Errorf("message %q", pe.Message)
			}
			if u, ok := provider.BilledUsage(err); !ok || u.Images != 0 {
				t.Errorf("billed %+v %v", u, ok)
			}
		})
	}
}

// TestFaults runs every HTTP and transport fault through the direct path.
func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fault  providertest.Fault
		kind   provider.Kind
		status int
		code   string
		retry  time.Duration
		msg    string
	}{
		{"rate limited", providertest.RateLimited(26 * time.Second), provider.KindRateLimited, 429, "RESOURCE_EXHAUSTED", 26 * time.Second, "check your plan and billing details"},
		{"daily quota", providertest.DailyQuotaExhausted(), provider.KindQuotaExhausted, 429, "RESOURCE_EXHAUSTED", 3500 * time.Millisecond, "limit: 250"},
		{"limit 0", providertest.QuotaZero(), provider.KindQuotaExhausted, 429, imagen.CodeFreeTierNoQuota, 0, "no free-tier quota (limit: 0)"},
		{"payment required", providertest.PaymentRequired(), provider.KindQuotaExhausted, 402, "RESOURCE_EXHAUSTED", 0, "prepaid credits"},
		{"model retired", providertest.ModelRetired(), provider.KindModelRetired, 404, "NOT_FOUND", 0, "; use gemini-3.1-flash-image"},
		{"prompt blocked", providertest.PromptBlocked(""), provider.KindContentBlocked, 400, "INVALID_ARGUMENT", 0, "Responsible AI"},
		{"unavailable", providertest.Unavailable(), provider.KindUnavailable, 503, "UNAVAILABLE", 0, "overloaded"},
		{"proxy HTML 502", providertest.ProxyHTML502(), provider.KindUnavailable, 502, "", 0, "502 Bad Gateway"},
		{"reset", providertest.Reset(), provider.KindUnavailable, 0, "", 0, "connection failed"},
		{"truncated", providertest.Truncated(), provider.KindUnavailable, 200, "MALFORMED", 0, "truncated"},
		{"malformed", providertest.Malformed(), provider.KindUnavailable, 200, "MALFORMED", 0, "malformed answer"},
		{"retry-after header", providertest.Status(429, `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`, http.Header{"Retry-After": {"7"}}),
			provider.KindRateLimited, 429, "RESOURCE_EXHAUSTED", 7 * time.Second, "slow down"},
		{"error envelope with 200", providertest.Status(200, `{"error":{"code":503,"message":"upstream overloaded","status":"UNAVAILABLE"}}`, nil),
			provider.KindUnavailable, 503, "UNAVAILABLE", 0, "upstream overloaded"},
		{"invalid key", providertest.Status(400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`, nil),
			provider.KindAuth, 400, "INVALID_ARGUMENT", 0, "API key not valid"},
		{"key echoed back", providertest.Status(400, `{"error":{"code":400,"message":"bad request for key `+testKey+`","status":"INVALID_ARGUMENT"}}`, nil),
			provider.KindInvalidRequest, 400, "INVALID_ARGUMENT", 0, "[REDACTED]"},
		{"not an image", providertest.Status(200, `{"predictions":[{"bytesBase64Encoded":"aGVsbG8=","mimeType":"image/png"}]}`, nil),
			provider.KindNoImage, 200, "NO_IMAGE", 0, "are not an image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{}, imagen.Config{})
			srv.Inject(providertest.EndpointPredict, tt.fault)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			checkErr(t, err, tt.kind, tt.status, tt.code, tt.retry, tt.msg)
		})
	}
}

func checkErr(t *testing.T, err error, kind provider.Kind, status int, code string, retry time.Duration, msg string) {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %T %v", err, err)
	}
	if pe.Kind != kind || pe.StatusCode != status || pe.Code != code || pe.RetryAfter != retry {
		t.Errorf("got kind=%v status=%d code=%q retry=%v: %v", pe.Kind, pe.StatusCode, pe.Code, pe.RetryAfter, err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("%q does not mention %q", err, msg)
	}
	if !errors.Is(err, kind.Sentinel()) {
		t.Errorf("errors.Is(%v) false", kind)
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(pe.Message, "<html") {
		t.Errorf("secret or HTML in %q", err)
	}
	if pe.Provider != "imagen" || pe.Model == "" {
		t.Errorf("provider=%q model=%q", pe.Provider, pe.Model)
	}
}

func TestHangTimesOut(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{})
	srv.Inject(providertest.EndpointPredict, providertest.Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindTimeout, 0, "", 0, "deadline")
	if !provider.IsRetryable(err) {
		t.Error("a timeout should be retryable")
	}
}

func TestUnknownModelNotFound(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{Model: "imagen-9-imaginary"})
	srv.Inject(providertest.EndpointPredict, providertest.ModelRetired())
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindModelNotFound, 404, "NOT_FOUND", 0, "imagen-9-imaginary")
}

func TestValidationBeforeAnyCall(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\n....")
	tests := []struct {
		name string
		req  provider.Request
		want string
	}{
		{"references", provider.Request{Prompt: "p", References: []provider.Image{{Data: png}}}, "References"},
		{"mask", provider.Request{Prompt: "p", References: []provider.Image{{Data: png}}, Mask: &provider.Image{Data: png}}, "References"},
		{"too many", provider.Request{Prompt: "p", N: 5}, "at most 4"},
		{"4K", provider.Request{Prompt: "p", Size: "4K"}, "Size"},
		{"free size", provider.Request{Prompt: "p", Size: "1024x1024"}, "WIDTHxHEIGHT"},
		{"ratio", provider.Request{Prompt: "p", AspectRatio: "21:9"}, "AspectRatio"},
		{"webp", provider.Request{Prompt: "p", OutputFormat: "webp"}, "OutputFormat"},
		{"empty prompt", provider.Request{Prompt: " "}, "Prompt"},
		{"person option", provider.Request{Prompt: "p", Options: provider.Options{imagen.Options{PersonGeneration: "everyone"}}}, "Options.PersonGeneration"},
		{"safety option value", provider.Request{Prompt: "p", Options: provider.Options{imagen.Options{SafetySetting: "block_all"}}}, "Options.SafetySetting"},
		{"compression range", provider.Request{Prompt: "p", OutputFormat: "jpeg", Options: provider.Options{imagen.Options{CompressionQuality: new(101)}}}, "Options.CompressionQuality"},
		{"gemini model", provider.Request{Prompt: "p", Model: "gemini-3-pro-image"}, "speaks gemini"},
	}
	srv, g := setup(t, providertest.Options{}, imagen.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			err := g.CheckRequest(&req)
			if !errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckRequest: %v", err)
			}
			if _, err2 := g.Generate(context.Background(), &req); !errors.Is(err2, provider.ErrInvalidRequest) {
				t.Errorf("Generate: %v", err2)
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
	// The fast model has no 2K; an unknown model passes the catalog.
	if err := g.CheckRequest(&provider.Request{Prompt: "p", Model: "imagen-4.0-fast-generate-001", Size: "2K"}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("fast 2K: %v", err)
	}
	if err := g.CheckRequest(&provider.Request{Prompt: "p", Model: "imagen-5-new", AspectRatio: "21:9", N: 4}); err != nil {
		t.Errorf("unknown model: %v", err)
	}
}

func TestBearerAuth(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{GeminiAuth: providertest.AuthBearer}, imagen.Config{BearerAuth: true})
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 2 {
		t.Fatalf("%d images", len(resp.Images))
	}
	h := srv.Requests()[0].Header
	if h.Get("Authorization") != "REDACTED" || h.Get("X-Goog-Api-Key") != "" {
		t.Errorf("headers %v", h)
	}
	// Without BearerAuth the relay refuses the x-goog-api-key header.
	_, g2 := setup(t, providertest.Options{GeminiAuth: providertest.AuthBearer}, imagen.Config{})
	_, err = g2.Generate(context.Background(), &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindAuth, 401, "UNAUTHENTICATED", 0, "Bearer")
}

func TestWrongKey(t *testing.T) {
	t.Parallel()
	_, g := setup(t, providertest.Options{}, imagen.Config{APIKey: "wrong-key-abcdef"})
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindAuth, 400, "INVALID_ARGUMENT", 0, "API key not valid")
}

func TestNew(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	_, err := imagen.New(ctx, imagen.Config{})
	if !errors.Is(err, provider.ErrAuth) {
		t.Errorf("no key: %v", err)
	}
	t.Setenv("GEMINI_API_KEY", testKey)
	g, err := imagen.New(ctx, imagen.Config{})
	if err != nil {
		t.Fatalf("key from env: %v", err)
	}
	d := g.Describe()
	if d.Provider != "imagen" || d.Model != imagen.DefaultModel || d.Capabilities.MaxImages != 4 || !d.Capabilities.NoReferences || len(d.Capabilities.Sizes) != 2 {
		t.Errorf("Describe = %+v", d)
	}
	if d := provider.Describe(provider.Chain(g, func(next provider.Generator) provider.Generator {
		return provider.Wrap(next, next.Generate)
	})); d.Provider != "imagen" {
		t.Errorf("Describe through a decorator = %+v", d)
	}
	for _, cfg := range []imagen.Config{{PersonGeneration: "kids"}, {SafetyLevel: "block_all"}, {Backend: imagen.Backend(9)}} {
		if _, err := imagen.New(ctx, cfg); !errors.Is(err, provider.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v", cfg, err)
		}
	}
}

func hasWarning(ws []string, sub string) bool {
	for _, w := range ws {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{})
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 2})
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := srv.Stats().PerEndpoint[providertest.EndpointPredict]; n != 8 {
		t.Errorf("%d predict calls", n)
	}
}
