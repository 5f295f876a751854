package imagen_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// vertexConfig uses the bearer-token form: no Google credentials needed.
func vertexConfig() imagen.Config {
	return imagen.Config{Backend: imagen.BackendVertex, Project: "p", Location: "us-central1", BearerAuth: true,
		SafetyLevel: "block_medium_and_above", PersonGeneration: "dont_allow"}
}

func TestVertexGenerateImages(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, vertexConfig())
	seed := int64(7)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse", N: 2, AspectRatio: "9:16", Size: "1K",
		OutputFormat: "jpeg", Seed: &seed, Options: provider.Options{imagen.Options{CompressionQuality: new(75), EnhancePrompt: new(false)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 2 || resp.Attempts != 1 || resp.Usage.Images != 2 || resp.Provider != "imagen" {
		t.Fatalf("images=%d attempts=%d usage=%+v provider=%q", len(resp.Images), resp.Attempts, resp.Usage, resp.Provider)
	}
	for _, img := range resp.Images {
		if c := decode(t, img); c.Height <= c.Width {
			t.Errorf("9:16 image is %dx%d", c.Width, c.Height)
		}
	}
	if !hasWarning(resp.Warnings, "addWatermark false") {
		t.Errorf("warnings %q", resp.Warnings)
	}
	r := srv.Requests()[0]
	if r.Path != "/v1beta1/projects/p/locations/us-central1/publishers/google/models/imagen-4.0-generate-001:predict" {
		t.Errorf("path %s", r.Path)
	}
	if r.Header.Get("Authorization") != "REDACTED" || r.RawQuery != "" {
		t.Errorf("auth: %v ?%s", r.Header, r.RawQuery)
	}
	p := params(t, r)
	want := map[string]any{"sampleCount": 2.0, "aspectRatio": "9:16", "sampleImageSize": "1K", "personGeneration": "dont_allow",
		"safetySetting": "block_medium_and_above", "includeRaiReason": true, "seed": 7.0, "addWatermark": false, "enhancePrompt": false}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("parameters.%s = %v, want %v", k, p[k], v)
		}
	}
	if oo, _ := p["outputOptions"].(map[string]any); oo["mimeType"] != "image/jpeg" || oo["compressionQuality"] != 75.0 {
		t.Errorf("outputOptions %v", oo)
	}
	if inst := r.JSON["instances"].([]any)[0].(map[string]any); inst["prompt"] != "a lighthouse" {
		t.Errorf("instances %v", r.JSON["instances"])
	}
}

func TestVertexFilteringAndFaults(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, vertexConfig())
	ctx := context.Background()
	srv.Inject(providertest.EndpointPredict, providertest.PartialFilter(2))
	resp, err := g.Generate(ctx, &provider.Request{Prompt: "p", N: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 1 || !hasWarning(resp.Warnings, "image 2 of 3 filtered") || !hasWarning(resp.Warnings, "image 3 of 3 filtered") {
		t.Errorf("images=%d warnings=%q", len(resp.Images), resp.Warnings)
	}

	srv.Inject(providertest.EndpointPredict, providertest.SafetyBlock(""))
	_, err = g.Generate(ctx, &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindContentBlocked, 200, "RAI_FILTERED", 0, "safety filters")

	// Vertex's 429 carries no RetryInfo: no hint, whatever the fault's.
	srv.Inject(providertest.EndpointPredict, providertest.RateLimited(12*time.Second))
	_, err = g.Generate(ctx, &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindRateLimited, 429, "RESOURCE_EXHAUSTED", 0, "online_prediction_requests_per_base_model")
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 429 {
		t.Errorf("genai.APIError not in the chain: %v", err)
	}
	if strings.Count(err.Error(), "Quota exceeded for") != 1 {
		t.Errorf("message repeated: %q", err)
	}

	srv.Inject(providertest.EndpointPredict, providertest.PromptBlocked(""))
	_, err = g.Generate(ctx, &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindContentBlocked, 400, "INVALID_ARGUMENT", 0, "Responsible AI")

	srv.Inject(providertest.EndpointPredict, providertest.ProxyHTML502())
	_, err = g.Generate(ctx, &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindUnavailable, 502, "", 0, "Bad Gateway")

	srv.Inject(providertest.EndpointPredict, providertest.Malformed())
	_, err = g.Generate(ctx, &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindUnavailable, 200, "MALFORMED", 0, "malformed answer")

	srv.Inject(providertest.EndpointPredict, providertest.Hang())
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = g.Generate(tctx, &provider.Request{Prompt: "p"})
	checkErr(t, err, provider.KindTimeout, 0, "", 0, "deadline")
}

func TestVertexExpressKey(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{Backend: imagen.BackendVertex})
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
		t.Fatal(err)
	}
	r := srv.Requests()[0]
	if !strings.Contains(r.Path, "publishers/google/models/imagen-4.0-generate-001:predict") ||
		r.Header.Get("X-Goog-Api-Key") != "REDACTED" || r.RawQuery != "" {
		t.Errorf("path %s headers %v", r.Path, r.Header)
	}
}
