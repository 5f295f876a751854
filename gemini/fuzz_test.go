package gemini

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func FuzzParseResponse(f *testing.F) {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n0000"))
	seeds := []string{
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"draft","thought":true},{"inlineData":{"mimeType":"image/png","data":"` + png + `"},"thoughtSignature":"c2ln"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":1130,"thoughtsTokenCount":50,"candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":1120}]}}`,
		`{"candidates":[{"content":{"parts":[{"text":"here ![image](data:image/png;base64,` + png + `) and ![b](https://x/y.png)"}]},"finishReason":"STOP"}]}`,
		`{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}`,
		`{"candidates":[{"content":{},"finishReason":"IMAGE_SAFETY","finishMessage":"blocked"}],"usageMetadata":{"thoughtsTokenCount":100}}`,
		`{"candidates":[{"content":{"parts":[{"text":"I cannot draw that"}]},"finishReason":"STOP"}]}`,
		`{"candidates":[]}`,
		`{}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	g, err := New(context.Background(), Config{APIKey: "fuzz-key", BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var resp genai.GenerateContentResponse
		if json.Unmarshal(body, &resp) != nil {
			return
		}
		out, err := g.parse("m", &resp)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind == provider.KindUnknown {
				t.Fatalf("untyped error %v", err)
			}
			if out != nil {
				t.Fatal("both a response and an error")
			}
			return
		}
		if len(out.Images) == 0 {
			t.Fatal("success without an image")
		}
		for _, img := range out.Images {
			if provider.SniffMIME(img.Data) != img.MIMEType {
				t.Fatalf("image labelled %q is %q", img.MIMEType, provider.SniffMIME(img.Data))
			}
		}
	})
}

// fuzzStatuses are the statuses FuzzGenerateAnswer serves bodies under.
var fuzzStatuses = []int{200, 200, 200, 400, 401, 403, 404, 429, 500, 503}

// FuzzGenerateAnswer serves arbitrary bodies, under success and error
// statuses, from a loopback server to Generate on both backends, through
// genai and the whole transport (caps, streaming decoder, checks). Every
// result is a response with real images or a typed *provider.Error, and
// the key never shows.
func FuzzGenerateAnswer(f *testing.F) {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	seeds := []string{
		// PROVIDERS.md §2: an image with a thought draft and signatures.
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"draft","thought":true},{"inlineData":{"mimeType":"image/png","data":"` + png + `"},"thoughtSignature":"c2lnbmF0dXJl"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":1300,"thoughtsTokenCount":180,"candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":1290},{"modality":"TEXT","tokenCount":10}],"serviceTier":"standard","trafficType":"ON_DEMAND"},"modelVersion":"gemini-3-pro-image","responseId":"abc"}`,
		`{"candidates":[{"content":{},"finishReason":"IMAGE_SAFETY","finishMessage":"Unable to show the generated image. Try rephrasing the prompt.","index":0}],"usageMetadata":{"promptTokenCount":12,"thoughtsTokenCount":180}}`,
		`{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT","blockReasonMessage":"policy"},"usageMetadata":{"promptTokenCount":8}}`,
		`{"candidates":[{"content":{"parts":[{"text":"I can only describe it."}]},"finishReason":"NO_IMAGE"}]}`,
		`{"candidates":[{"finishReason":"MALFORMED_RESPONSE"}]}`,
		// §6: a relay that flattens the image into markdown text.
		`{"candidates":[{"content":{"parts":[{"text":"![image](data:image/png;base64,` + png + `)"}]},"finishReason":"STOP"}]}`,
		// §7: errors.
		`{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota). Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26s"}]}}`,
		`{"error":{"code":404,"message":"models/gemini-x is not found for API version v1beta, or is not supported for generateContent.","status":"NOT_FOUND"}}`,
		`{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`,
		`[{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}]`,
		`<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>`,
		``, `null`, `{}`, `{"candidates":[null]}`, `{"candidates":[{"content":`, `{"usageMetadata":{"promptTokenCount":1e30}}`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i))
	}
	const key = "fuzz-key-AIzaSy0123456789"
	var mu sync.Mutex
	var status int
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, b := status, body
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	providertest.ClearEnv(f)
	var gens []*Generator
	for _, cfg := range []Config{{}, {Backend: BackendVertex, Project: "p", Location: "us-central1"}} {
		cfg.APIKey, cfg.BaseURL, cfg.HTTPClient = key, srv.URL, srv.Client()
		g, err := New(context.Background(), cfg)
		if err != nil {
			f.Fatal(err)
		}
		gens = append(gens, g)
	}
	f.Fuzz(func(t *testing.T, b []byte, pick uint8) {
		mu.Lock()
		status, body = fuzzStatuses[int(pick)%len(fuzzStatuses)], b
		mu.Unlock()
		g := gens[int(pick/16)%len(gens)]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
		checkResult(t, resp, err, key)
	})
}

// checkResult is the invariant of every call: a response with real images
// and sane usage, or a typed error that does not show the key.
func checkResult(t *testing.T, resp *provider.Response, err error, key string) {
	t.Helper()
	if err != nil {
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind == provider.KindUnknown || resp != nil {
			t.Fatalf("untyped failure %T %v (resp %v)", err, err, resp)
		}
		if strings.Contains(err.Error(), key[:12]) {
			t.Fatalf("the key shows: %v", err)
		}
		if pe.Usage != nil && (pe.Usage.InputTokens < 0 || pe.Usage.OutputTokens < 0 || pe.Usage.ThoughtTokens < 0) {
			t.Fatalf("negative usage %+v", *pe.Usage)
		}
		return
	}
	if resp == nil || len(resp.Images) == 0 {
		t.Fatalf("success without images: %+v", resp)
	}
	for _, img := range resp.Images {
		if mt := provider.SniffMIME(img.Data); mt == "" || mt != img.MIMEType {
			t.Fatalf("image labelled %q sniffs as %q", img.MIMEType, mt)
		}
	}
	u := resp.Usage
	if u.InputTokens < 0 || u.OutputTokens < 0 || u.ThoughtTokens < 0 || u.InputImageTokens < 0 || u.OutputImageTokens < 0 {
		t.Fatalf("negative usage %+v", u)
	}
}
