package providertest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
	"testing"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func decodeB64(t *testing.T, s string) (image.Config, string) {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, format
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{1, 2, 3, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawPost sends body with the test key and decodes a JSON answer.
func rawPost(t *testing.T, srv *providertest.Server, path, contentType string, body []byte) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer test-key")
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

func TestImagesGenerations(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	c := openaiClient(t, srv, "test-key")
	ctx := context.Background()
	resp, err := c.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "a kite", N: 2, Size: "1536x1024", Quality: "high"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 {
		t.Fatalf("%d images", len(resp.Data))
	}
	cfg, format := decodeB64(t, resp.Data[0].B64JSON)
	if cfg.Width != 1536 || cfg.Height != 1024 || format != "png" {
		t.Errorf("%+v %s", cfg, format)
	}
	if resp.Usage.InputTokens == 0 || resp.Usage.OutputTokens == 0 || resp.Usage.TotalTokens != resp.Usage.InputTokens+resp.Usage.OutputTokens {
		t.Errorf("usage %+v", resp.Usage)
	}
	// jpeg output.
	resp, err = c.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "a kite", OutputFormat: "jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, format := decodeB64(t, resp.Data[0].B64JSON); format != "jpeg" {
		t.Errorf("format %s", format)
	}
	// dall-e URL, fetched from the server.
	resp, err = c.CreateImage(ctx, openai.ImageRequest{Model: "dall-e-3", Prompt: "a kite", ResponseFormat: "url", Size: "1792x1024"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data[0].URL == "" || resp.Data[0].RevisedPrompt == "" {
		t.Fatalf("data %+v", resp.Data[0])
	}
	fr, err := srv.Client().Get(resp.Data[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(fr.Body)
	fr.Body.Close()
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(b)); err != nil || cfg.Width != 1792 {
		t.Errorf("fetched %v %+v", err, cfg)
	}
	// Missing model → dall-e-2, recorded.
	srv.ResetRequests()
	if _, err := c.CreateImage(ctx, openai.ImageRequest{Prompt: "x", Size: "256x256"}); err != nil {
		t.Fatal(err)
	}
	if m := srv.Requests()[0].Model; m != "dall-e-2" {
		t.Errorf("model %q", m)
	}
	// Validation.
	for _, tc := range []struct {
		req   openai.ImageRequest
		param string
	}{
		{openai.ImageRequest{Model: "gpt-image-2", Prompt: "x", N: 11}, "n"},
		{openai.ImageRequest{Model: "gpt-image-2", Prompt: "x", Size: "1000x1000"}, "size"},
		{openai.ImageRequest{Model: "dall-e-2", Prompt: "x", Size: "1536x1024"}, "size"},
		{openai.ImageRequest{Model: "gpt-image-2"}, "prompt"},
	} {
		_, err := c.CreateImage(ctx, tc.req)
		var ae *openai.APIError
		if !errors.As(err, &ae) || ae.HTTPStatusCode != 400 || ae.Param == nil || *ae.Param != tc.param || ae.Type != "invalid_request_error" {
			t.Errorf("%+v: %v", tc.req, err)
		}
	}
	// Raw: usage details and top-level fields that go-openai drops.
	_, m := rawPost(t, srv, "/v1/images/generations", "application/json", []byte(`{"model":"gpt-image-2","prompt":"x","output_format":"webp"}`))
	u := m["usage"].(map[string]any)
	if _, ok := u["output_tokens_details"].(map[string]any)["image_tokens"]; !ok || m["size"] != "1024x1024" || m["output_format"] != "png" {
		t.Errorf("raw %v", m)
	}
}

func TestImagesEdits(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	c := openaiClient(t, srv, "test-key")
	src := pngBytes(t, 64, 64)
	resp, err := c.CreateEditImage(context.Background(), openai.ImageEditRequest{
		Image: openai.WrapReader(bytes.NewReader(src), "in.png", "image/png"), Prompt: "add a hat", Model: "gpt-image-2"})
	if err != nil {
		t.Fatal(err)
	}
	decodeB64(t, resp.Data[0].B64JSON)
	r := srv.Requests()[0]
	if f := r.Files["image"]; len(f) != 1 || f[0].FileName != "in.png" || f[0].ContentType != "image/png" || f[0].Size != len(src) || len(f[0].SHA256) != 64 {
		t.Errorf("files %+v", r.Files)
	}
	if r.Form["prompt"][0] != "add a hat" || r.Model != "gpt-image-2" {
		t.Errorf("form %v", r.Form)
	}

	// Hand-written multipart: three image[] parts and a mask.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := 0; i < 3; i++ {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="image[]"; filename="ref.png"`)
		h.Set("Content-Type", "image/png")
		p, _ := mw.CreatePart(h)
		p.Write(src)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="mask"; filename="mask.png"`)
	h.Set("Content-Type", "image/png")
	p, _ := mw.CreatePart(h)
	p.Write(src)
	mw.WriteField("model", "gpt-image-2")
	mw.WriteField("prompt", "combine")
	mw.WriteField("size", "1024x1536")
	mw.Close()
	hr, m := rawPost(t, srv, "/v1/images/edits", mw.FormDataContentType(), body.Bytes())
	if hr.StatusCode != 200 {
		t.Fatalf("status %d %v", hr.StatusCode, m)
	}
	cfg, _ := decodeB64(t, m["data"].([]any)[0].(map[string]any)["b64_json"].(string))
	if cfg.Width != 1024 || cfg.Height != 1536 {
		t.Errorf("size %+v", cfg)
	}
	r = srv.Requests()[1]
	if len(r.Files["image[]"]) != 3 || len(r.Files["mask"]) != 1 {
		t.Errorf("files %+v", r.Files)
	}
	if it := m["usage"].(map[string]any)["input_tokens_details"].(map[string]any)["image_tokens"].(float64); it == 0 {
		t.Errorf("no input image tokens")
	}
}

var dataURIRE = regexp.MustCompile(`data:image/png;base64,([A-Za-z0-9+/=]+)`)

func TestChatCompletionShapes(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	c := openaiClient(t, srv, "test-key")
	ctx := context.Background()
	rawBody := []byte(`{"model":"google/gemini-3-pro-image","modalities":["image","text"],"image_config":{"aspect_ratio":"16:9","image_size":"0.5K"},
		"messages":[{"role":"user","content":[{"type":"text","text":"a boat"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`)
	sdkReq := openai.ChatCompletionRequest{Model: "google/gemini-3-pro-image",
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "a boat"}}}

	// ChatImages (default).
	_, m := rawPost(t, srv, "/v1/chat/completions", "application/json", rawBody)
	msg := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	url := msg["images"].([]any)[0].(map[string]any)["image_url"].(map[string]any)["url"].(string)
	cfg, _ := decodeB64(t, strings.TrimPrefix(url, "data:image/png;base64,"))
	if cfg.Width <= cfg.Height || cfg.Width*cfg.Height > 300000 {
		t.Errorf("0.5K 16:9 gave %+v", cfg)
	}
	if u := m["usage"].(map[string]any); u["cost"].(float64) <= 0 || u["total_tokens"].(float64) == 0 {
		t.Errorf("usage %v", u)
	}
	if _, err := c.CreateChatCompletion(ctx, sdkReq); err != nil {
		t.Fatal(err)
	}

	// ChatMarkdown: a draft and the final image.
	srv.SetChatShape(providertest.ChatMarkdown)
	resp, err := c.CreateChatCompletion(ctx, sdkReq)
	if err != nil {
		t.Fatal(err)
	}
	all := dataURIRE.FindAllStringSubmatch(resp.Choices[0].Message.Content, -1)
	if len(all) != 2 {
		t.Fatalf("markdown images: %d", len(all))
	}
	if cfg, _ := decodeB64(t, all[1][1]); cfg.Width != 1024 {
		t.Errorf("final %+v", cfg)
	}

	// ChatContentArray: go-openai lands it in MultiContent.
	srv.SetChatShape(providertest.ChatContentArray)
	resp, err = c.CreateChatCompletion(ctx, sdkReq)
	if err != nil {
		t.Fatal(err)
	}
	mc := resp.Choices[0].Message.MultiContent
	if len(mc) != 2 || mc[1].Type != openai.ChatMessagePartTypeImageURL || !strings.HasPrefix(mc[1].ImageURL.URL, "data:image/png;base64,") {
		t.Errorf("content array %+v", mc)
	}

	// ChatHostedURL: a link to /files.
	srv.SetChatShape(providertest.ChatHostedURL)
	resp, err = c.CreateChatCompletion(ctx, sdkReq)
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\((http://[^)]+\.png)\)`).FindStringSubmatch(resp.Choices[0].Message.Content)
	if link == nil {
		t.Fatalf("content %q", resp.Choices[0].Message.Content)
	}
	fr, err := srv.Client().Get(link[1])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(fr.Body)
	fr.Body.Close()
	if _, _, err := image.DecodeConfig(bytes.NewReader(b)); err != nil {
		t.Error(err)
	}
}

func TestOpenRouterImages(t *testing.T) {
	t.Parallel()
	srv := newServer(t, providertest.Options{})
	hr, m := rawPost(t, srv, "/api/v1/images", "application/json", []byte(`{"model":"google/gemini-nano-banana-2.1","prompt":"a tree","image_config":{"aspect_ratio":"1:1","image_size":"2K"}}`))
	if hr.StatusCode != 200 {
		t.Fatalf("status %d", hr.StatusCode)
	}
	cfg, _ := decodeB64(t, m["data"].([]any)[0].(map[string]any)["b64_json"].(string))
	if cfg.Width != 2048 {
		t.Errorf("%+v", cfg)
	}
	if m["usage"].(map[string]any)["cost"].(float64) != 0.039 {
		t.Errorf("usage %v", m["usage"])
	}
}

func TestOpenAIAuth(t *testing.T) {
	srv := newServer(t, providertest.Options{APIKey: "sk-right-0123456789"})
	c := openaiClient(t, srv, "sk-wrong-0123456789abcd")
	_, err := c.CreateImage(context.Background(), openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"})
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.HTTPStatusCode != 401 || ae.Code != "invalid_api_key" {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(ae.Message, "sk-wrong-0123456789") || !strings.Contains(ae.Message, "abcd") {
		t.Errorf("message %q", ae.Message)
	}
	for _, r := range srv.Requests() {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "sk-wrong") || strings.Contains(string(b), "sk-right") {
			t.Errorf("key leaked: %s", b)
		}
	}
	// Unknown path: OpenAI envelope.
	hr, m := rawPost(t, srv, "/v1/nothing", "application/json", []byte(`{}`))
	if hr.StatusCode != 404 || m["error"] == nil {
		t.Errorf("unknown path %d %v", hr.StatusCode, m)
	}
}

func TestLargeImageBytes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, providertest.Options{LargeImageBytes: 1 << 20})
	_, m := rawPost(t, srv, "/v1/images/generations", "application/json", []byte(`{"model":"gpt-image-2","prompt":"x"}`))
	b, err := base64.StdEncoding.DecodeString(m["data"].([]any)[0].(map[string]any)["b64_json"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 900<<10 || len(b) > 1200<<10 {
		t.Errorf("size %d", len(b))
	}
	if _, format, err := image.DecodeConfig(bytes.NewReader(b)); err != nil || format != "png" {
		t.Errorf("%v %s", err, format)
	}
}
