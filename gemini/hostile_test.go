package gemini_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/hint"
	"github.com/imagegen-go/imagegen/internal/hostiletest"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// hostileGen starts a hostile server and a generator pointed at it.
func hostileGen(t testing.TB, cfg gemini.Config) (*hostiletest.Fixed, *gemini.Generator) {
	t.Helper()
	clearEnv(t)
	h, srv := hostiletest.NewFixed(t)
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	cfg.BaseURL, cfg.HTTPClient = srv.URL, srv.Client()
	if cfg.Clock == nil {
		cfg.Clock = providertest.NewClock(now)
	}
	if cfg.Backend == gemini.BackendVertex && cfg.Project == "" {
		cfg.Project, cfg.Location = "p", "us-central1"
	}
	g, err := gemini.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, g
}

func pngData(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func imageAnswer(t testing.TB, usage string) string {
	b64 := base64.StdEncoding.EncodeToString(pngData(t))
	return `{"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"` + b64 + `"}}]},"finishReason":"STOP"}]` + usage + `}`
}

// A nil request is an ErrInvalidRequest at every entry point, never a
// panic.
func TestNilRequestEverywhere(t *testing.T) {
	t.Parallel()
	_, g := hostileGen(t, gemini.Config{})
	ctx := context.Background()
	var nilGen *gemini.Generator
	checks := map[string]func() error{
		"Generate":         func() error { _, err := g.Generate(ctx, nil); return err },
		"CheckRequest":     func() error { return g.CheckRequest(nil) },
		"Session.Generate": func() error { _, err := g.NewSession(gemini.SessionOptions{}).Generate(ctx, nil); return err },
		"SubmitBatch nil item": func() error {
			_, err := g.SubmitBatch(ctx, []gemini.BatchItem{{Request: nil}}, gemini.BatchOptions{})
			return err
		},
		"BatchResults nil job":   func() error { _, err := g.BatchResults(nil); return err },
		"provider.CheckRequest":  func() error { return provider.CheckRequest(g, nil) },
		"Capabilities.Check":     func() error { return g.Describe().Capabilities.Check(nil) },
		"nil Generator.Generate": func() error { _, err := nilGen.Generate(ctx, &provider.Request{Prompt: "p"}); return err },
		"nil Generator.CheckReq": func() error { return nilGen.CheckRequest(&provider.Request{Prompt: "p"}) },
		"zero Generator.Generate": func() error {
			_, err := (&gemini.Generator{}).Generate(ctx, &provider.Request{Prompt: "p"})
			return err
		},
	}
	for name, f := range checks {
		if err := f(); !errors.Is(err, provider.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
	if d := provider.Describe(nilGen); d.Provider != "" {
		t.Errorf("Describe(nil) = %+v", d)
	}
}

// A successful answer that is empty, truncated, null or not an object is
// ErrUnavailable with Code MALFORMED, on both backends: never a panic
// (genai ≤ v1.77 panicked on null candidates), never "no candidates".
func TestMalformedAnswers(t *testing.T) {
	t.Parallel()
	for _, backend := range []gemini.Backend{gemini.BackendGeminiAPI, gemini.BackendVertex} {
		h, g := hostileGen(t, gemini.Config{Backend: backend})
		for _, body := range []string{"", " ", "null", "[]", `"x"`, "42", `{"candidates":[{"content":`, `{"candidates":[{"content":{"parts":[{"inlineData":{"data":"AAAA`, "<html>oops</html>", `{"candidates":[null]}`} {
			h.Set(200, body, nil)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			pe := hostiletest.AsError(t, err)
			if pe.Kind != provider.KindUnavailable || pe.Code != "MALFORMED" || pe.StatusCode != 200 {
				t.Errorf("backend %d, body %q: %v (code %q status %d)", backend, body, err, pe.Code, pe.StatusCode)
			}
		}
	}
}

// Gemini's own words reach the error on both backends: finishMessage
// (which genai drops on the Gemini API) and blockReasonMessage; unknown
// finish reasons and MALFORMED_RESPONSE are kept verbatim.
func TestProviderWordsReachTheError(t *testing.T) {
	t.Parallel()
	const safetyMsg = "Unable to show the generated image. The image was filtered out because it violated Google's Responsible AI practices. Support code: 42876398. Try rephrasing the prompt."
	tests := []struct {
		name, body string
		kind       provider.Kind
		code, want string
	}{
		{"IMAGE_SAFETY", `{"candidates":[{"content":{},"finishReason":"IMAGE_SAFETY","finishMessage":"` + safetyMsg + `","index":0}],"usageMetadata":{"promptTokenCount":12,"thoughtsTokenCount":180}}`,
			provider.KindContentBlocked, "IMAGE_SAFETY", "Support code: 42876398"},
		{"IMAGE_OTHER", `{"candidates":[{"content":{"parts":[]},"finishReason":"IMAGE_OTHER","finishMessage":"Try rephrasing the prompt."}]}`,
			provider.KindNoImage, "IMAGE_OTHER", "Try rephrasing the prompt."},
		{"MALFORMED_RESPONSE", `{"candidates":[{"finishReason":"MALFORMED_RESPONSE","finishMessage":"The model produced an invalid image part."}]}`,
			provider.KindUnavailable, "MALFORMED_RESPONSE", "invalid image part"},
		{"unknown reason", `{"candidates":[{"finishReason":"IMAGE_TOO_SPICY_2027","finishMessage":"new in 2027"}]}`,
			provider.KindNoImage, "IMAGE_TOO_SPICY_2027", "IMAGE_TOO_SPICY_2027"},
		{"prompt blocked", `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT","blockReasonMessage":"The prompt violates the Generative AI Prohibited Use policy."}}`,
			provider.KindContentBlocked, "PROHIBITED_CONTENT", "Prohibited Use policy"},
		{"text only", `{"candidates":[{"content":{"parts":[{"text":"I can't draw that, but here is a poem."}]},"finishReason":"STOP"}]}`,
			provider.KindNoImage, "STOP", "here is a poem"},
	}
	for _, backend := range []gemini.Backend{gemini.BackendGeminiAPI, gemini.BackendVertex} {
		h, g := hostileGen(t, gemini.Config{Backend: backend})
		for _, tt := range tests {
			h.Set(200, tt.body, nil)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			pe := hostiletest.AsError(t, err)
			if pe.Kind != tt.kind || pe.Code != tt.code || !strings.Contains(pe.Message, tt.want) {
				t.Errorf("backend %d, %s: %v (kind %v, code %q)", backend, tt.name, err, pe.Kind, pe.Code)
			}
		}
	}
	// Through the emulator, as the existing fault shapes produce it.
	srv, g := setup(t, providertest.Options{}, gemini.Config{})
	srv.Inject(providertest.EndpointGenerateContent, providertest.SafetyBlock("IMAGE_SAFETY"))
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err == nil || !strings.Contains(err.Error(), "Try rephrasing the prompt") {
		t.Errorf("emulator safety block: %v", err)
	}
}

// The key never reaches an error, however an answer echoes it: whole,
// cut short, percent-encoded, JSON-escaped, in a 200's text or an error.
func TestEchoedKeyIsRedacted(t *testing.T) {
	t.Parallel()
	const key = "AIzaSy/k3y+Zr_Q2u-TfW8xv=9"
	h, g := hostileGen(t, gemini.Config{APIKey: key})
	echoes := map[string]string{
		"whole":          key,
		"all but last 3": key[:len(key)-3],
		"first 8":        key[:8],
		"percent":        url.QueryEscape(key),
		"path-escaped":   url.PathEscape(key),
		"json-escaped":   strings.ReplaceAll(strings.ReplaceAll(key, "+", `\\u002b`), "/", `\\/`),
	}
	for name, echo := range echoes {
		for _, ans := range []struct {
			status int
			body   string
		}{
			{200, `{"candidates":[{"content":{"parts":[{"text":"Your key ` + echo + ` is not allowed to draw."}]},"finishReason":"STOP"}]}`},
			{200, `{"candidates":[{"content":{},"finishReason":"IMAGE_SAFETY","finishMessage":"blocked for key ` + echo + `"}]}`},
			{200, `{"promptFeedback":{"blockReason":"OTHER","blockReasonMessage":"key ` + echo + `"}}`},
			{400, `{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"API key ` + echo + ` not valid"}}`},
			{502, `<html><body>bad gateway for ` + echo + `</body></html>`},
		} {
			h.Set(ans.status, ans.body, nil)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			if err == nil {
				t.Fatalf("%s: no error", name)
			}
			msg := err.Error()
			for i := 0; i+8 <= len(key); i++ {
				if strings.Contains(msg, key[i:i+8]) {
					t.Errorf("%s (%d): %q leaks %q", name, ans.status, msg, key[i:i+8])
					break
				}
			}
			if strings.Contains(msg, url.QueryEscape(key)[:12]) {
				t.Errorf("%s: %q leaks the escaped key", name, msg)
			}
		}
	}
}

// Every back-off hint is clamped to hint.Max, never dropped.
func TestHugeHintsAreKeptClamped(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{})
	quota := `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Resource has been exhausted"`
	tests := map[string]struct {
		body   string
		header http.Header
	}{
		"Retry-After 315360000":        {quota + `}}`, http.Header{"Retry-After": {"315360000"}}},
		"Retry-After beyond int64":     {quota + `}}`, http.Header{"Retry-After": {"99999999999999999999"}}},
		"RetryInfo ten years":          {quota + `,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"315360000s"}]}}`, nil},
		"RetryInfo beyond Go duration": {quota + `,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"99999999999999999999s"}]}}`, nil},
		"message":                      {`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Please retry in 99999999 hours."}}`, nil},
	}
	for name, tt := range tests {
		h.Set(429, tt.body, tt.header)
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if d, ok := provider.RetryAfter(err); !ok || d != hint.Max {
			t.Errorf("%s: RetryAfter = %v, %v; want %v (%v)", name, d, ok, hint.Max, err)
		}
	}
}

// Usage counts out of range are dropped with a warning: the image is kept
// and no total goes negative.
func TestUsageOutOfRange(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{})
	for _, usage := range []string{
		`,"usageMetadata":{"promptTokenCount":-5,"candidatesTokenCount":1290,"candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":-1290}]}`,
		`,"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":1e30,"totalTokenCount":99999999999}`,
		`,"usageMetadata":{"promptTokenCount":12.5,"thoughtsTokenCount":"many"}`,
	} {
		h.Set(200, imageAnswer(t, usage), nil)
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if err != nil {
			t.Fatalf("%s: %v", usage, err)
		}
		u := resp.Usage
		if len(resp.Images) != 1 || u.InputTokens < 0 || u.OutputTokens < 0 || u.OutputImageTokens < 0 || u.ThoughtTokens < 0 || u.InputImageTokens < 0 {
			t.Errorf("%s: %d images, usage %+v", usage, len(resp.Images), u)
		}
		if !strings.Contains(strings.Join(resp.Warnings, " "), "usage counts out of range") {
			t.Errorf("%s: warnings %v", usage, resp.Warnings)
		}
	}
	// Good counts are kept as they are.
	h.Set(200, imageAnswer(t, `,"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":1300,"thoughtsTokenCount":40,"candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":1290}]}`), nil)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil || resp.Usage != (provider.Usage{InputTokens: 12, OutputTokens: 1300, OutputImageTokens: 1290, ThoughtTokens: 40, Images: 1}) {
		t.Errorf("usage %+v, %v", resp.Usage, err)
	}
}

// heicData is the start of a HEIC file: an ftyp box with brand heic.
var heicData = append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...)

// Reference images are checked before any call: bytes that are no image,
// a MIMEType that is no image or names another type, a format Gemini
// does not take, a request over the catalog's 20 MB.
func TestReferencesCheckedBeforeTheCall(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{Model: "gemini-3-pro-image"})
	h.Set(200, imageAnswer(t, ""), nil)
	pngB := pngData(t)
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	big := append(append([]byte(nil), pngB...), make([]byte, 8<<20)...)
	bad := map[string]struct {
		refs  []provider.Image
		field string
	}{
		"text bytes":            {[]provider.Image{{Data: []byte("hello, I am not an image")}}, "References[0]"},
		"text/evil":             {[]provider.Image{{Data: pngB}, {Data: pngB, MIMEType: "text/evil"}}, "References[1]"},
		"label names jpeg":      {[]provider.Image{{Data: pngB, MIMEType: "image/jpeg"}}, "References[0]"},
		"GIF":                   {[]provider.Image{{Data: gif}}, "References[0]"},
		"over 20 MB in base64":  {[]provider.Image{{Data: big}, {Data: big}}, "References"},
		"empty bytes":           {[]provider.Image{{Data: nil, MIMEType: "image/png"}}, "References[0]"},
		"svg is no input image": {[]provider.Image{{Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)}}, "References[0]"},
	}
	for name, tt := range bad {
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", References: tt.refs})
		if !errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v, want ErrInvalidRequest naming %s", name, err, tt.field)
		}
	}
	if n := h.Calls(); n != 0 {
		t.Fatalf("%d calls sent", n)
	}
	for name, ref := range map[string]provider.Image{
		"png, no MIMEType":  {Data: pngB},
		"png as image/png":  {Data: pngB, MIMEType: "image/png; charset=binary"},
		"heic":              {Data: heicData, MIMEType: "image/heic"},
		"heic as heif":      {Data: heicData, MIMEType: "image/heif"},
		"one 8 MiB is fine": {Data: big},
	} {
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", References: []provider.Image{ref}}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// OutputFormat: png and jpeg are converted from what the model returned,
// with a warning; a format Gemini cannot return is refused before the
// call.
func TestOutputFormat(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{})
	h.Set(200, imageAnswer(t, ""), nil)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", OutputFormat: "jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	if img := resp.Images[0]; img.MIMEType != "image/jpeg" || provider.SniffMIME(img.Data) != "image/jpeg" ||
		!strings.Contains(strings.Join(resp.Warnings, " "), "converted to jpeg") {
		t.Errorf("jpeg: %s, warnings %v", img.MIMEType, resp.Warnings)
	}
	resp, err = g.Generate(context.Background(), &provider.Request{Prompt: "p", OutputFormat: "png"})
	if err != nil || resp.Images[0].MIMEType != "image/png" || len(resp.Warnings) != 0 {
		t.Errorf("png: %v %v", err, resp)
	}
	before := h.Calls()
	for _, f := range []string{"webp", "gif", "svg"} {
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", OutputFormat: f}); !errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), "OutputFormat") {
			t.Errorf("%s: %v", f, err)
		}
	}
	if h.Calls() != before {
		t.Error("a refused OutputFormat reached the network")
	}
}

// Option values outside their vocabulary are ErrInvalidRequest naming the
// field, before any call; wrong types no longer compile (typed Options).
func TestOptionValues(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{})
	for _, opts := range []gemini.Options{{ThinkingLevel: "5"}, {ThinkingLevel: "ultra"}} {
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Options: provider.Options{opts}})
		if !errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), "Options.ThinkingLevel") {
			t.Errorf("%+v: %v", opts, err)
		}
	}
	if h.Calls() != 0 {
		t.Error("a bad option reached the network")
	}
}

// Configuration mistakes are *provider.ConfigError naming the field.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	for field, cfg := range map[string]gemini.Config{
		"Backend":          {APIKey: testKey, Backend: 7},
		"MaxConcurrency":   {APIKey: testKey, MaxConcurrency: -1},
		"MaxResponseBytes": {APIKey: testKey, MaxResponseBytes: -1},
		"StreamThreshold":  {APIKey: testKey, StreamThreshold: -5},
		"BaseURL":          {APIKey: testKey, BaseURL: "ftp://example.com"},
		"ThinkingLevel":    {APIKey: testKey, ThinkingLevel: "max"},
	} {
		_, err := gemini.New(context.Background(), cfg)
		var ce *provider.ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, provider.ErrInvalidConfig) || ce.Field != "gemini.Config."+field {
			t.Errorf("%s: %v", field, err)
		}
		if err != nil && strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: the key is in %q", field, err)
		}
	}
	if _, err := gemini.New(context.Background(), gemini.Config{}); !errors.Is(err, provider.ErrAuth) {
		t.Errorf("no key: %v", err)
	}
}

// Text cut for an error is cut on a character boundary, after redaction.
func TestTextCutOnCharacterBoundary(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{})
	h.Set(200, `{"candidates":[{"content":{"parts":[{"text":"`+strings.Repeat("日本語", 400)+`"}]},"finishReason":"STOP"}]}`, nil)
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err == nil || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), "…") {
		t.Errorf("%q", err)
	}
	h.Set(400, `{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"`+strings.Repeat("é", 600)+`"}}`, nil)
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err == nil || !utf8.ValidString(err.Error()) {
		t.Errorf("%q", err)
	}
}

// A 200 answer whose text is huge is cut in the Response.
func TestKeptTextIsCapped(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{})
	b64 := base64.StdEncoding.EncodeToString(pngData(t))
	h.Set(200, `{"candidates":[{"content":{"parts":[{"text":"`+strings.Repeat("word ", 100_000)+`"},{"inlineData":{"mimeType":"image/png","data":"`+b64+`"}}]},"finishReason":"STOP"}]}`, nil)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Text) > 64<<10+len("…") || !strings.HasSuffix(resp.Text, "…") {
		t.Errorf("Text is %d bytes", len(resp.Text))
	}
}

// A batch job's inline results keep Gemini's finishMessage (genai drops
// it) and their images are decoded as the answer streams in.
func TestBatchInlineResultsKeepProviderWords(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{})
	b64 := base64.StdEncoding.EncodeToString(pngData(t))
	items := `{"inlinedResponses":{"inlinedResponses":[` +
		`{"response":{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"` + b64 + `"}}]},"finishReason":"STOP"}]},"metadata":{"key":"ok"}},` +
		`{"response":{"candidates":[{"content":{},"finishReason":"IMAGE_SAFETY","finishMessage":"Support code: 42876398"}]},"metadata":{"key":"blocked"}}]}}`
	h.Set(200, `{"name":"batches/b1","metadata":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch","model":"models/gemini-nano-banana-2.1","state":"BATCH_STATE_SUCCEEDED","output":`+items+`},"done":true,"response":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",`+items[1:len(items)-1]+`}}`, nil)
	job, err := g.Batch(context.Background(), "batches/b1")
	if err != nil {
		t.Fatal(err)
	}
	results, err := g.BatchResults(job)
	if err != nil || len(results) != 2 {
		t.Fatalf("%v %v", results, err)
	}
	if r := results[0]; r.Err != nil || len(r.Response.Images) != 1 || !bytes.Equal(r.Response.Images[0].Data, pngData(t)) {
		t.Errorf("ok item: %+v", r)
	}
	if r := results[1]; !errors.Is(r.Err, provider.ErrContentBlocked) || !strings.Contains(r.Err.Error(), "Support code: 42876398") {
		t.Errorf("blocked item: %v", r.Err)
	}
	for _, body := range []string{"", "null", `{"name":`} {
		h.Set(200, body, nil)
		if _, err := g.Batch(context.Background(), "batches/b1"); err == nil || !strings.Contains(err.Error(), "MALFORMED") {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// Gemini-native relays that answer 200 with an error envelope are
// classified as the error they are, not as an answer without candidates.
func TestRelayErrorEnvelopeIn200(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{BearerAuth: true})
	for body, want := range map[string]provider.Kind{
		`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Resource has been exhausted","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`: provider.KindRateLimited,
		`{"error":{"message":"当前分组上游负载已饱和，请稍后再试","type":"new_api_error","code":"upstream_error"}}`:                                                                                        provider.KindUnavailable,
		`{"error":"upstream overloaded"}`:                                             provider.KindUnavailable,
		`{"error":{"code":401,"message":"invalid token","status":"UNAUTHENTICATED"}}`: provider.KindAuth,
	} {
		h.Set(200, body, nil)
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if pe := hostiletest.AsError(t, err); pe.Kind != want {
			t.Errorf("%s: %v, want %v", body, err, want)
		}
	}
}

// Real error shapes beside genai's own: the one-element list streaming
// endpoints send, and an envelope without a status.
func TestErrorEnvelopeShapes(t *testing.T) {
	t.Parallel()
	h, g := hostileGen(t, gemini.Config{})
	tests := []struct {
		status int
		body   string
		kind   provider.Kind
		code   string
		retry  time.Duration
	}{
		{429, `[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26s"}]}}]`, provider.KindRateLimited, "RESOURCE_EXHAUSTED", 26 * time.Second},
		{503, `[{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}]`, provider.KindUnavailable, "UNAVAILABLE", 0},
		{403, `{"error":{"code":403,"message":"Your API key was reported as leaked. Please use another API key.","status":"PERMISSION_DENIED"}}`, provider.KindAuth, "PERMISSION_DENIED", 0},
		{400, `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`, provider.KindInvalidRequest, "FAILED_PRECONDITION", 0},
		{500, `{"error":{"message":"An internal error has occurred."}}`, provider.KindUnavailable, "", 0},
	}
	for _, tt := range tests {
		h.Set(tt.status, tt.body, nil)
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		pe := hostiletest.AsError(t, err)
		if pe.Kind != tt.kind || pe.Code != tt.code || pe.StatusCode != tt.status || pe.RetryAfter != tt.retry {
			t.Errorf("%s: %v (code %q, status %d, retry %v)", tt.body, err, pe.Code, pe.StatusCode, pe.RetryAfter)
		}
	}
}
