package providertest_test

// Tests of issue 18's defects and unconfirmed points: envelopes under
// /v1/, x-request-id, stream refusal, the version in ModelRetired, Vertex
// quota bodies, files.list and upload URLs.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// rawDo sends a request with the given headers and returns the answer and
// its decoded JSON body (nil when not JSON).
func rawDo(t *testing.T, srv *providertest.Server, method, path string, header http.Header, body []byte) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

// envelope names the error envelope of a JSON body: "google" when
// error.status is a string, "openai" when error.type is.
func envelope(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	if _, ok := e["status"].(string); ok {
		return "google"
	}
	if _, ok := e["type"].(string); ok {
		return "openai"
	}
	return ""
}

// Unknown Google paths under /v1/ (js-genai's and genai ≥ v1.78's default
// version) answer Google's NOT_FOUND envelope; the same paths from an
// OpenAI client keep OpenAI's.
func TestUnknownPathEnvelopes(t *testing.T) {
	clearEnv(t)
	srv := newServer(t, providertest.Options{})
	google := http.Header{"X-Goog-Api-Key": {"test-key"}}
	googleClient := http.Header{"X-Goog-Api-Client": {"google-genai-sdk/3.3.0 gl-node/v22.23.5"}, "X-Goog-Api-Key": {"test-key"}}
	bearer := http.Header{"Authorization": {"Bearer test-key"}}
	for _, tc := range []struct {
		method, path string
		header       http.Header
		want         string
	}{
		{"GET", "/v1/models", google, "google"},
		{"GET", "/v1/models", googleClient, "google"},
		{"GET", "/v1/models?key=test-key", nil, "google"},
		{"GET", "/v1/cachedContents", google, "google"},
		{"GET", "/v1/files/abc/extra", google, "google"},
		{"GET", "/v1beta/models", nil, "google"},
		{"GET", "/v1alpha/tunedModels", nil, "google"},
		{"POST", "/v1/models/gemini-3-pro-image:countTokens", google, "google"},
		{"GET", "/v1/models", bearer, "openai"},
		{"GET", "/v1/files", bearer, "openai"},
		{"GET", "/v1/files/file-abc", bearer, "openai"},
		{"POST", "/v1/responses", bearer, "openai"},
		{"GET", "/nowhere", nil, "openai"},
	} {
		resp, m := rawDo(t, srv, tc.method, tc.path, tc.header, nil)
		if resp.StatusCode != 404 || envelope(m) != tc.want {
			t.Errorf("%s %s %v: %d %v, want 404 in %s's envelope", tc.method, tc.path, tc.header, resp.StatusCode, m, tc.want)
		}
		if got := envelope(m); got == "google" && m["error"].(map[string]any)["status"] != "NOT_FOUND" {
			t.Errorf("%s %s: %v", tc.method, tc.path, m)
		}
	}

	// Through genai itself, on its default version.
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "test-key", Backend: genai.BackendGeminiAPI,
		HTTPClient: srv.Client(), HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(), APIVersion: "v1"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Models.List(context.Background(), nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 404 || ae.Status != "NOT_FOUND" {
		t.Errorf("models.list under v1: %v", err)
	}
}

var requestIDRE = regexp.MustCompile(`^req_[0-9a-f]{32}$`)

// Every OpenAI-style answer carries x-request-id (errors included), as
// the real API does; openai-node exposes it as request_id and
// APIError.requestID. Google answers do not.
func TestRequestIDOnEveryOpenAIAnswer(t *testing.T) {
	clearEnv(t)
	srv := newServer(t, providertest.Options{})
	bearer := http.Header{"Authorization": {"Bearer test-key"}, "Content-Type": {"application/json"}}
	gen := []byte(`{"model":"gpt-image-2","prompt":"a kite"}`)
	for _, tc := range []struct {
		name   string
		fault  providertest.Fault
		path   string
		header http.Header
		body   []byte
		status int
	}{
		{"success", providertest.Fault{}, "/v1/images/generations", bearer, gen, 200},
		{"chat", providertest.Fault{}, "/v1/chat/completions", bearer, []byte(`{"model":"m","messages":[{"role":"user","content":"x"}]}`), 200},
		{"openrouter", providertest.Fault{}, "/api/v1/images", bearer, []byte(`{"model":"m","prompt":"x"}`), 200},
		{"no key", providertest.Fault{}, "/v1/images/generations", http.Header{"Content-Type": {"application/json"}}, gen, 401},
		{"bad request", providertest.Fault{}, "/v1/images/generations", bearer, []byte(`{"model":"gpt-image-2","prompt":"x","size":"7x7"}`), 400},
		{"unknown path", providertest.Fault{}, "/v1/nothing", bearer, nil, 404},
		{"rate limited", providertest.RateLimited(time.Second), "/v1/images/generations", bearer, gen, 429},
		{"unavailable", providertest.Unavailable(), "/v1/images/generations", bearer, gen, 503},
		{"proxy 502", providertest.ProxyHTML502(), "/v1/images/generations", bearer, gen, 502},
		{"stream", providertest.Fault{}, "/v1/images/generations", bearer, []byte(`{"model":"gpt-image-2","prompt":"x","stream":true}`), 200},
		{"stream refused (dall-e)", providertest.Fault{}, "/v1/images/generations", bearer, []byte(`{"model":"dall-e-3","prompt":"x","stream":true}`), 400},
	} {
		srv.ResetRequests()
		if tc.fault.Kind != providertest.KindNone {
			srv.Inject(providertest.EndpointImagesGenerations, tc.fault)
		}
		resp, _ := rawDo(t, srv, http.MethodPost, tc.path, tc.header, tc.body)
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != tc.status || !requestIDRE.MatchString(id) {
			t.Errorf("%s: %d, x-request-id %q", tc.name, resp.StatusCode, id)
			continue
		}
		if rec := srv.Requests(); len(rec) != 1 || rec[0].RequestID != id {
			t.Errorf("%s: recorded %+v, want RequestID %s", tc.name, rec, id)
		}
	}

	// Two answers, two ids; go-openai shows it on a success.
	c := openaiClient(t, srv, "test-key")
	r1, err1 := c.CreateImage(context.Background(), openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"})
	r2, err2 := c.CreateImage(context.Background(), openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"})
	if err1 != nil || err2 != nil || !requestIDRE.MatchString(r1.Header().Get("X-Request-Id")) ||
		r1.Header().Get("X-Request-Id") == r2.Header().Get("X-Request-Id") {
		t.Errorf("go-openai: %v %v, ids %q %q", err1, err2, r1.Header().Get("X-Request-Id"), r2.Header().Get("X-Request-Id"))
	}

	// A truncated answer still names its request.
	srv.Inject(providertest.EndpointImagesGenerations, providertest.Truncated())
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/v1/images/generations", bytes.NewReader(gen))
	req.Header = bearer.Clone()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !requestIDRE.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Errorf("truncated: x-request-id %q", resp.Header.Get("X-Request-Id"))
	}

	// Google's endpoints send none.
	resp, _ = rawDo(t, srv, http.MethodPost, "/v1beta/models/gemini-3-pro-image:generateContent",
		http.Header{"X-Goog-Api-Key": {"test-key"}}, []byte(`{"contents":[{"parts":[{"text":"x"}]}]}`))
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "" {
		t.Errorf("Google answer: %d, x-request-id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
}

// With StreamMode StreamRefused a request for a stream is refused in the
// provider's own words, never answered with JSON an SSE parser would read
// as an empty stream; faults answer before any stream, whatever the mode.
func TestStreamRequestsAreRefused(t *testing.T) {
	clearEnv(t)
	srv := newServer(t, providertest.Options{StreamMode: providertest.StreamRefused})
	bearer := http.Header{"Authorization": {"Bearer test-key"}, "Content-Type": {"application/json"}}

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("model", "gpt-image-2")
	_ = mw.WriteField("prompt", "x")
	_ = mw.WriteField("stream", "true")
	_ = mw.WriteField("partial_images", "2")
	fw, _ := mw.CreateFormFile("image[]", "a.png")
	_, _ = fw.Write(pngBytes(t, 8, 8))
	_ = mw.Close()

	for _, tc := range []struct {
		name, path, contentType string
		body                    []byte
		ep                      providertest.Endpoint
	}{
		{"generations", "/v1/images/generations", "application/json", []byte(`{"model":"gpt-image-2","prompt":"x","stream":true,"partial_images":2}`), providertest.EndpointImagesGenerations},
		{"edits", "/v1/images/edits", mw.FormDataContentType(), form.Bytes(), providertest.EndpointImagesEdits},
		{"chat", "/v1/chat/completions", "application/json", []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`), providertest.EndpointChatCompletions},
		{"openrouter", "/api/v1/images", "application/json", []byte(`{"model":"m","prompt":"x","stream":true}`), providertest.EndpointOpenRouterImages},
	} {
		h := bearer.Clone()
		h.Set("Content-Type", tc.contentType)
		h.Set("Accept", "application/json") // openai-node sends it for streams too
		srv.SetStreamMode(providertest.StreamRefused)
		resp, m := rawDo(t, srv, http.MethodPost, tc.path, h, tc.body)
		e, _ := m["error"].(map[string]any)
		if resp.StatusCode != 400 || e["type"] != "invalid_request_error" || e["param"] != "stream" || e["code"] != "unsupported_value" ||
			!strings.Contains(e["message"].(string), "'stream' does not support true") {
			t.Errorf("%s: %d %v", tc.name, resp.StatusCode, m)
		}
		// Faults still come first, as before a real stream starts.
		srv.SetStreamMode(providertest.StreamEvents)
		srv.Inject(tc.ep, providertest.RateLimited(time.Second))
		if resp, _ := rawDo(t, srv, http.MethodPost, tc.path, h, tc.body); resp.StatusCode != 429 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s with a fault: %d", tc.name, resp.StatusCode)
		}
	}
	// stream: false is an ordinary request.
	if resp, _ := rawDo(t, srv, http.MethodPost, "/v1/images/generations", bearer, []byte(`{"model":"gpt-image-2","prompt":"x","stream":false}`)); resp.StatusCode != 200 {
		t.Errorf("stream false: %d", resp.StatusCode)
	}

	// Gemini: a fault or a rate limit answers before the stream.
	srv.SetLimits(1, 0)
	for i, want := range []int{503, 200, 429} {
		if i == 0 {
			srv.Inject(providertest.EndpointStreamGenerateContent, providertest.Unavailable())
		}
		c := geminiClientVersion(t, srv, "v1beta")
		var got error
		for _, err := range c.Models.GenerateContentStream(context.Background(), "gemini-3-pro-image", genai.Text("x"),
			&genai.GenerateContentConfig{AutomaticContinuation: genai.Ptr(false)}) {
			if err != nil {
				got = err
				break
			}
		}
		var ae genai.APIError
		switch {
		case want == 200 && got != nil:
			t.Errorf("call %d: %v", i, got)
		case want != 200 && (!errors.As(got, &ae) || ae.Code != want):
			t.Errorf("call %d: %v, want %d", i, got, want)
		}
	}
	if n := srv.Stats().PerEndpoint[providertest.EndpointStreamGenerateContent]; n != 3 {
		t.Errorf("%d streamGenerateContent calls recorded, want 3", n)
	}
}

// ModelRetired names the API version the request used, and the method;
// on Vertex AI it names the publisher model.
func TestModelRetiredNamesTheVersion(t *testing.T) {
	clearEnv(t)
	srv := newServer(t, providertest.Options{})
	for _, version := range []string{"v1", "v1beta", "v1alpha"} {
		c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "test-key", Backend: genai.BackendGeminiAPI,
			HTTPClient: srv.Client(), HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(), APIVersion: version}})
		if err != nil {
			t.Fatal(err)
		}
		srv.Inject(providertest.EndpointGenerateContent, providertest.ModelRetired())
		_, err = c.Models.GenerateContent(context.Background(), "gemini-2.0-flash-image", genai.Text("x"), nil)
		var ae genai.APIError
		want := "models/gemini-2.0-flash-image is not found for API version " + version + ", or is not supported for generateContent."
		if !errors.As(err, &ae) || ae.Code != 404 || !strings.Contains(ae.Message, want) {
			t.Errorf("%s: %v, want %q", version, err, want)
		}
	}
	srv.Inject(providertest.EndpointPredict, providertest.ModelRetired())
	resp, m := rawDo(t, srv, http.MethodPost, "/v1/models/imagen-3.0-generate-002:predict",
		http.Header{"X-Goog-Api-Key": {"test-key"}}, []byte(`{"instances":[{"prompt":"x"}]}`))
	if e, _ := m["error"].(map[string]any); resp.StatusCode != 404 ||
		!strings.Contains(e["message"].(string), "imagen-3.0-generate-002 is not found for API version v1, or is not supported for predict.") {
		t.Errorf("predict: %d %v", resp.StatusCode, m)
	}

	v := vertexClient(t, srv, "test-key")
	srv.Inject(providertest.EndpointGenerateContent, providertest.ModelRetired())
	_, err := v.Models.GenerateContent(context.Background(), "gemini-2.0-flash-image", genai.Text("x"), nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 404 ||
		!strings.Contains(ae.Message, "Publisher Model `projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash-image` was not found") {
		t.Errorf("vertex: %v", err)
	}
}

// Vertex AI's 429 has no details (no QuotaFailure, no RetryInfo), from a
// fault or from the emulator's own limiter; the Gemini API's keeps them.
func TestVertexQuotaHasNoDetails(t *testing.T) {
	clearEnv(t)
	clk := newClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk, RequestsPerMinute: 1})
	v := vertexClient(t, srv, "test-key")
	g := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	for _, f := range []providertest.Fault{providertest.RateLimited(7 * time.Second), providertest.DailyQuotaExhausted(), providertest.QuotaZero()} {
		srv.Inject(providertest.EndpointGenerateContent, f)
		_, err := v.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil)
		var ae genai.APIError
		if !errors.As(err, &ae) || ae.Code != 429 || ae.Status != "RESOURCE_EXHAUSTED" || len(ae.Details) != 0 ||
			!strings.Contains(ae.Message, "Resource exhausted. Please try again later.") {
			t.Errorf("vertex generateContent %v: %v %+v", f, err, ae.Details)
		}
	}
	srv.Inject(providertest.EndpointPredict, providertest.RateLimited(7*time.Second))
	_, err := v.Models.GenerateImages(ctx, "imagen-4.0-generate-001", "x", nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 429 || len(ae.Details) != 0 ||
		!strings.Contains(ae.Message, "online_prediction_requests_per_base_model with base model: imagen-4.0-generate-001") {
		t.Errorf("vertex predict: %v", err)
	}
	// The emulator's own limiter: one request a minute.
	if _, err := v.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil); err != nil {
		t.Fatal(err)
	}
	_, err = v.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil)
	if !errors.As(err, &ae) || ae.Code != 429 || len(ae.Details) != 0 {
		t.Errorf("vertex limiter: %v", err)
	}
	_, err = g.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil)
	if !errors.As(err, &ae) || ae.Code != 429 || detail(ae, "RetryInfo", "retryDelay") == nil {
		t.Errorf("Gemini API limiter: %v %+v", err, ae.Details)
	}
}

// files.list pages through the live files, newest first; upload sessions
// keep the version the upload started with.
func TestFilesListAndUploadVersion(t *testing.T) {
	clearEnv(t)
	clk := newClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk})
	ctx := context.Background()
	for _, version := range []string{"v1", "v1beta"} {
		c, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: "test-key", Backend: genai.BackendGeminiAPI,
			HTTPClient: srv.Client(), HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(), APIVersion: version}})
		if err != nil {
			t.Fatal(err)
		}
		srv.ResetRequests()
		if _, err := c.Files.Upload(ctx, strings.NewReader("hello "+version), &genai.UploadFileConfig{MIMEType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
		reqs := srv.Requests()
		if len(reqs) != 2 || reqs[0].Path != "/upload/"+version+"/files" || reqs[1].Path != "/upload/"+version+"/files" {
			t.Errorf("%s upload went to %v", version, reqs)
		}
		clk.Advance(time.Second)
	}
	c := geminiClient(t, srv, "test-key", nil)
	if _, err := c.Files.Upload(ctx, strings.NewReader("third"), &genai.UploadFileConfig{MIMEType: "text/plain", DisplayName: "newest"}); err != nil {
		t.Fatal(err)
	}
	page, err := c.Files.List(ctx, &genai.ListFilesConfig{PageSize: 2})
	if err != nil || len(page.Items) != 2 || page.Items[0].DisplayName != "newest" || page.NextPageToken == "" {
		t.Fatalf("first page: %v %+v", err, page)
	}
	next, err := page.Next(ctx)
	if err != nil || len(next.Items) != 1 || next.NextPageToken != "" {
		t.Fatalf("second page: %v %+v", err, next)
	}
	if n := srv.Stats().PerEndpoint[providertest.EndpointFileList]; n != 2 {
		t.Errorf("%d files.list calls", n)
	}
}
