package providertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func genCfg(size, ratio string, modalities ...string) *genai.GenerateContentConfig {
	if len(modalities) == 0 {
		modalities = []string{"IMAGE"}
	}
	return &genai.GenerateContentConfig{
		ResponseModalities: modalities,
		ImageConfig:        &genai.ImageConfig{ImageSize: size, AspectRatio: ratio},
	}
}

func finalImage(t *testing.T, resp *genai.GenerateContentResponse) (*genai.Part, image.Config) {
	t.Helper()
	if len(resp.Candidates) == 0 || resp.Candidates[0].Content == nil {
		t.Fatalf("no candidate: %+v", resp)
	}
	var last *genai.Part
	for _, p := range resp.Candidates[0].Content.Parts {
		if p.InlineData != nil && !p.Thought {
			last = p
		}
	}
	if last == nil {
		t.Fatal("no final image")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(last.InlineData.Data))
	if err != nil {
		t.Fatal(err)
	}
	if "image/"+format != last.InlineData.MIMEType {
		t.Errorf("mime %q but bytes are %s", last.InlineData.MIMEType, format)
	}
	return last, cfg
}

func TestGenerateContentSizes(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	c := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	for _, tc := range []struct {
		model, size, ratio string
		w, h, tokens       int
	}{
		{"gemini-3-pro-image", "1K", "", 1024, 1024, 1120},
		{"gemini-3-pro-image", "2K", "1:1", 2048, 2048, 1120},
		{"gemini-nano-banana-2.1", "4K", "", 4096, 4096, 3780},
		{"gemini-3.1-flash-image", "512", "", 512, 512, 747},
		{"gemini-nano-banana-2.1", "1K", "16:9", 1360, 768, 1120},
		{"gemini-2.5-flash-image", "", "", 1024, 1024, 1290},
		{"gemini-2.5-flash-image", "512px", "", 1024, 1024, 1290}, // silently ignored
	} {
		resp, err := c.Models.GenerateContent(ctx, tc.model, genai.Text("a red fox"), genCfg(tc.size, tc.ratio))
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		_, ic := finalImage(t, resp)
		if ic.Width != tc.w || ic.Height != tc.h {
			t.Errorf("%+v: got %dx%d", tc, ic.Width, ic.Height)
		}
		if tc.ratio == "16:9" {
			r := float64(ic.Width) / float64(ic.Height)
			if r < 1.7 || r > 1.85 {
				t.Errorf("ratio %v", r)
			}
		}
		u := resp.UsageMetadata
		var imgTok int32
		for _, d := range u.CandidatesTokensDetails {
			if d.Modality == genai.MediaModalityImage {
				imgTok = d.TokenCount
			}
		}
		if int(imgTok) != tc.tokens {
			t.Errorf("%+v: image tokens %d", tc, imgTok)
		}
		g3 := strings.Contains(tc.model, "gemini-3") || strings.Contains(tc.model, "nano-banana")
		if g3 != (u.ThoughtsTokenCount > 0) {
			t.Errorf("%s: thoughts %d", tc.model, u.ThoughtsTokenCount)
		}
		if u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount+u.ThoughtsTokenCount {
			t.Errorf("total %+v", u)
		}
		if resp.ModelVersion != tc.model || resp.ResponseID == "" {
			t.Errorf("modelVersion %q responseId %q", resp.ModelVersion, resp.ResponseID)
		}
	}
}

func TestGenerateContentThoughtsAndSignatures(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	c := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	resp, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("a blue bird"), genCfg("1K", "", "TEXT", "IMAGE"))
	if err != nil {
		t.Fatal(err)
	}
	parts := resp.Candidates[0].Content.Parts
	if resp.Candidates[0].Content.Role != "model" || resp.Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Errorf("role/finish: %+v", resp.Candidates[0])
	}
	if len(parts) != 4 || !parts[0].Thought || !parts[1].Thought || parts[1].InlineData == nil {
		t.Fatalf("want thought text, draft image, text, image; got %d parts", len(parts))
	}
	if parts[2].Text == "" || len(parts[2].ThoughtSignature) == 0 || len(parts[3].ThoughtSignature) == 0 {
		t.Errorf("signatures missing")
	}
	finalImage(t, resp)

	// Multi-turn: sending the model turn back with signatures works ...
	edit := genai.NewContentFromText("make it green", genai.RoleUser)
	contents := []*genai.Content{genai.NewContentFromText("a blue bird", genai.RoleUser), resp.Candidates[0].Content, edit}
	if _, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", contents, genCfg("1K", "")); err != nil {
		t.Fatal(err)
	}
	// ... without them it is a 400.
	stripped := &genai.Content{Role: "model"}
	for _, p := range resp.Candidates[0].Content.Parts {
		q := *p
		q.ThoughtSignature = nil
		stripped.Parts = append(stripped.Parts, &q)
	}
	contents[1] = stripped
	_, err = c.Models.GenerateContent(ctx, "gemini-3-pro-image", contents, genCfg("1K", ""))
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 400 || ae.Status != "INVALID_ARGUMENT" || !strings.Contains(ae.Message, "thought_signature") {
		t.Fatalf("want 400 signature error, got %v", err)
	}
	// Lowercase size is rejected.
	_, err = c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), genCfg("1k", ""))
	if !errors.As(err, &ae) || ae.Code != 400 {
		t.Fatalf("want 400 for 1k, got %v", err)
	}
}

func TestGeminiAuth(t *testing.T) {
	srv := newServer(t, providertest.Options{APIKey: "right-key-123456"})
	c := geminiClient(t, srv, "wrong-key-123456", nil)
	_, err := c.Models.GenerateContent(context.Background(), "gemini-3-pro-image", genai.Text("x"), nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 400 || ae.Status != "INVALID_ARGUMENT" || !strings.Contains(ae.Message, "API key not valid") {
		t.Fatalf("got %v", err)
	}
	if len(ae.Details) == 0 || ae.Details[0]["reason"] != "API_KEY_INVALID" {
		t.Errorf("details %v", ae.Details)
	}
	// ?key= is accepted, and redacted in the record.
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	resp, err := srv.Client().Post(srv.URL()+"/v1beta/models/gemini-2.5-flash-image:generateContent?key=right-key-123456", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, r := range srv.Requests() {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "right-key-123456") || strings.Contains(string(b), "wrong-key-123456") {
			t.Fatalf("key leaked in %s", b)
		}
	}
	if got := srv.Requests()[1].RawQuery; got != "key=REDACTED" {
		t.Errorf("raw query %q", got)
	}
}

func TestGeminiBearerRelay(t *testing.T) {
	srv := newServer(t, providertest.Options{GeminiAuth: providertest.AuthBearer})
	// x-goog-api-key alone is rejected.
	c := geminiClient(t, srv, "test-key", nil)
	_, err := c.Models.GenerateContent(context.Background(), "gemini-3-pro-image", genai.Text("x"), nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 401 {
		t.Fatalf("got %v", err)
	}
	c = geminiClient(t, srv, "unused", http.Header{"Authorization": {"Bearer test-key"}})
	resp, err := c.Models.GenerateContent(context.Background(), "gemini-3-pro-image", genai.Text("x"), genCfg("1K", ""))
	if err != nil {
		t.Fatal(err)
	}
	finalImage(t, resp)
	if h := srv.Requests()[1].Header.Get("Authorization"); h != "REDACTED" {
		t.Errorf("authorization recorded as %q", h)
	}
}

func TestGeminiRelayImageInText(t *testing.T) {
	srv := newServer(t, providertest.Options{GeminiAuth: providertest.AuthBearer, RelayImageInText: true})
	c := geminiClient(t, srv, "unused", http.Header{"Authorization": {"Bearer test-key"}})
	resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash-image", genai.Text("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if txt := resp.Text(); !strings.Contains(txt, "![image](data:image/jpeg;base64,") {
		t.Errorf("text %.80q", txt)
	}
}

func TestVertexImagenAndGenerateContent(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	c := vertexClient(t, srv, "test-key")
	ctx := context.Background()
	resp, err := c.Models.GenerateImages(ctx, "imagen-4.0-generate-001", "a lighthouse", &genai.GenerateImagesConfig{
		NumberOfImages: 2, AspectRatio: "16:9", OutputMIMEType: "image/jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GeneratedImages) != 2 {
		t.Fatalf("got %d images", len(resp.GeneratedImages))
	}
	for _, gi := range resp.GeneratedImages {
		cfg, format, err := image.DecodeConfig(bytes.NewReader(gi.Image.ImageBytes))
		if err != nil || format != "jpeg" || cfg.Width <= cfg.Height {
			t.Errorf("image %v %s %+v", err, format, cfg)
		}
	}
	reqs := srv.Requests()
	if p := reqs[0].Path; p != "/v1beta1/projects/p/locations/us-central1/publishers/google/models/imagen-4.0-generate-001:predict" {
		t.Errorf("path %s", p)
	}
	params := reqs[0].JSON["parameters"].(map[string]any)
	if params["sampleCount"] != float64(2) || params["aspectRatio"] != "16:9" {
		t.Errorf("params %v", params)
	}
	// generateContent on a Vertex path.
	gr, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), genCfg("2K", ""))
	if err != nil {
		t.Fatal(err)
	}
	finalImage(t, gr)
	// Partial filtering and an all-filtered answer.
	srv.Inject(providertest.EndpointPredict, providertest.PartialFilter(1), providertest.SafetyBlock(""))
	resp, err = c.Models.GenerateImages(ctx, "imagen-4.0-generate-001", "x", &genai.GenerateImagesConfig{NumberOfImages: 3, IncludeRAIReason: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GeneratedImages) != 3 || resp.GeneratedImages[2].RAIFilteredReason == "" || resp.GeneratedImages[0].Image == nil {
		t.Errorf("partial filter: %+v", resp.GeneratedImages)
	}
	resp, err = c.Models.GenerateImages(ctx, "imagen-4.0-generate-001", "x", nil)
	if err != nil || len(resp.GeneratedImages) != 0 {
		t.Errorf("all filtered: %v %+v", err, resp)
	}
	// A wrong token on Vertex.
	bad := vertexClient(t, srv, "nope")
	_, err = bad.Models.GenerateImages(ctx, "imagen-4.0-generate-001", "x", nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 400 {
		t.Errorf("got %v", err)
	}
}

func TestBatchLifecycle(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk})
	c := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	src := &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{
		{Contents: genai.Text("a cat"), Metadata: map[string]string{"key": "k1"},
			Config: &genai.GenerateContentConfig{ResponseModalities: []string{"IMAGE"}}},
		{Contents: genai.Text("FAIL_ITEM a dog"), Metadata: map[string]string{"key": "k2"}},
	}}
	job, err := c.Batches.Create(ctx, "gemini-3-pro-image", src, &genai.CreateBatchJobConfig{DisplayName: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	if job.State != genai.JobStatePending || !strings.HasPrefix(job.Name, "batches/") || job.DisplayName != "nightly" {
		t.Fatalf("created %+v", job)
	}
	var sent map[string]any
	_ = json.Unmarshal(srv.Requests()[0].Body, &sent)
	reqs := sent["batch"].(map[string]any)["inputConfig"].(map[string]any)["requests"].(map[string]any)["requests"].([]any)
	if len(reqs) != 2 {
		t.Fatalf("sent %v", sent)
	}
	clk.Advance(31 * time.Second)
	if job, err = c.Batches.Get(ctx, job.Name, nil); err != nil || job.State != genai.JobStateRunning {
		t.Fatalf("running: %v %+v", err, job)
	}
	clk.Advance(30 * time.Second)
	job, err = c.Batches.Get(ctx, job.Name, nil)
	if err != nil || job.State != genai.JobStateSucceeded {
		t.Fatalf("succeeded: %v %+v", err, job)
	}
	if job.Dest == nil || len(job.Dest.InlinedResponses) != 2 {
		t.Fatalf("dest %+v", job.Dest)
	}
	ok, bad := job.Dest.InlinedResponses[0], job.Dest.InlinedResponses[1]
	if ok.Metadata["key"] != "k1" || bad.Metadata["key"] != "k2" {
		t.Errorf("metadata %v %v", ok.Metadata, bad.Metadata)
	}
	finalImage(t, ok.Response)
	if bad.Error == nil || bad.Error.Code == nil || *bad.Error.Code != 13 {
		t.Errorf("item error %+v", bad.Error)
	}

	// Second job: cancel it. Third: expire it.
	j2, err := c.Batches.Create(ctx, "gemini-3-pro-image", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Batches.Cancel(ctx, j2.Name, nil); err != nil {
		t.Fatal(err)
	}
	if j2, _ = c.Batches.Get(ctx, j2.Name, nil); j2.State != genai.JobStateCancelled {
		t.Errorf("cancel: %v", j2.State)
	}
	j3, err := c.Batches.Create(ctx, "gemini-3-pro-image", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.ExpireBatch(j3.Name) {
		t.Fatal("ExpireBatch")
	}
	if j3, _ = c.Batches.Get(ctx, j3.Name, nil); j3.State != genai.JobStateExpired {
		t.Errorf("expire: %v", j3.State)
	}

	// List with paging.
	page, err := c.Batches.List(ctx, &genai.ListBatchJobsConfig{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := len(page.Items)
	if n != 2 || page.NextPageToken == "" {
		t.Fatalf("page 1: %d items, token %q", n, page.NextPageToken)
	}
	page, err = page.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Name != job.Name {
		t.Errorf("page 2: %+v", page.Items)
	}
	// Delete, then Get is 404.
	if _, err := c.Batches.Delete(ctx, job.Name, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Batches.Get(ctx, job.Name, nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 404 {
		t.Errorf("after delete: %v", err)
	}
}

func TestBatchExpiresAfter48h(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk, BatchDuration: 72 * time.Hour})
	c := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	in := uploadJSONL(t, c, `{"key":"k1","request":{"contents":[{"role":"user","parts":[{"text":"slow"}]}]}}`+"\n")
	job, err := c.Batches.Create(ctx, "gemini-3-pro-image", &genai.BatchJobSource{FileName: in.Name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(47 * time.Hour)
	if job, _ = c.Batches.Get(ctx, job.Name, nil); job.State != genai.JobStateRunning {
		t.Errorf("47h: %v", job.State)
	}
	clk.Advance(time.Hour)
	if job, _ = c.Batches.Get(ctx, job.Name, nil); job.State != genai.JobStateExpired {
		t.Errorf("48h: %v", job.State)
	}
}
