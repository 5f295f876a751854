package imagen_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func retiredClock() time.Time { return retired }

func TestRetiredFailsFast(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{Clock: provider.ClockFunc(retiredClock)})
	tests := []struct{ model, replacement string }{
		{"imagen-4.0-fast-generate-001", "gemini-nano-banana-2.1"},
		{"imagen-4.0-generate-001", "gemini-nano-banana-2.1"},
		{"models/imagen-4.0-ultra-generate-001", "gemini-3-pro-image"},
	}
	for _, tt := range tests {
		req := &provider.Request{Prompt: "p", Model: tt.model}
		_, err := g.Generate(context.Background(), req)
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.KindModelRetired || !errors.Is(err, provider.ErrModelRetired) {
			t.Fatalf("%s: got %v", tt.model, err)
		}
		if !strings.Contains(pe.Message, "shut down on 2026-08-17; use "+tt.replacement) || pe.Provider != "imagen" {
			t.Errorf("%s: %v", tt.model, err)
		}
		if err := g.CheckRequest(req); !errors.Is(err, provider.ErrModelRetired) {
			t.Errorf("CheckRequest: %v", err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests were sent for retired models", n)
	}
}

func TestAllowRetiredSendsTheID(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{Clock: provider.ClockFunc(retiredClock), AllowRetired: true, Migrate: true})
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "imagen-4.0-ultra-generate-001", N: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 2 || resp.Model != "imagen-4.0-ultra-generate-001" || resp.Provider != "imagen" {
		t.Errorf("images=%d model=%q provider=%q", len(resp.Images), resp.Model, resp.Provider)
	}
	if !hasWarning(resp.Warnings, "imagen-4.0-ultra-generate-001 was shut down on 2026-08-17; use gemini-3-pro-image") {
		t.Errorf("warnings %q", resp.Warnings)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Endpoint != providertest.EndpointPredict || reqs[0].Model != "imagen-4.0-ultra-generate-001" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestMigrateServesTheReplacement(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{Clock: provider.ClockFunc(retiredClock), Migrate: true, PersonGeneration: "allow_adult"})
	resp, err := g.Generate(context.Background(), &provider.Request{
		Prompt: "a red bicycle", N: 2, Size: "2K", AspectRatio: "16:9", OutputFormat: "jpeg",
		Options: provider.Options{imagen.Options{SafetySetting: "block_only_high", AddWatermark: new(false)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 2 || resp.Attempts != 2 {
		t.Fatalf("images=%d attempts=%d", len(resp.Images), resp.Attempts)
	}
	for _, img := range resp.Images {
		decode(t, img)
	}
	if resp.Provider != "gemini" || resp.Model != "gemini-nano-banana-2.1" {
		t.Errorf("served by %s %s", resp.Provider, resp.Model)
	}
	if len(resp.Warnings) == 0 || resp.Warnings[0] != "imagen-4.0-generate-001 was shut down on 2026-08-17; served by gemini-nano-banana-2.1" {
		t.Fatalf("warnings %q", resp.Warnings)
	}
	for _, w := range []string{`OutputFormat "jpeg" dropped`, `Config.PersonGeneration "allow_adult" not applied`, "Options.SafetySetting dropped", "Options.AddWatermark dropped"} {
		if !hasWarning(resp.Warnings, w) {
			t.Errorf("no warning %q in %q", w, resp.Warnings)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		if r.Path != "/v1beta/models/gemini-nano-banana-2.1:generateContent" || r.Endpoint != providertest.EndpointGenerateContent {
			t.Errorf("path %s", r.Path)
		}
		ic, _ := r.JSON["generationConfig"].(map[string]any)["imageConfig"].(map[string]any)
		if ic["imageSize"] != "2K" || ic["aspectRatio"] != "16:9" || ic["personGeneration"] != nil {
			t.Errorf("imageConfig %v", ic)
		}
		if r.Header.Get("X-Goog-Api-Key") != "REDACTED" {
			t.Errorf("headers %v", r.Header)
		}
	}
	// The ultra model goes to the Pro model.
	srv.ResetRequests()
	resp, err = g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "imagen-4.0-ultra-generate-001"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "gemini-3-pro-image" || !strings.HasSuffix(srv.Requests()[0].Path, "/gemini-3-pro-image:generateContent") {
		t.Errorf("ultra served by %s at %s", resp.Model, srv.Requests()[0].Path)
	}
	// Failures come from the generator that served.
	srv.Inject(providertest.EndpointGenerateContent, providertest.Unavailable())
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("got %v", err)
	}
	// CheckRequest sees the migrated request: 10 images are fine on Gemini.
	if err := g.CheckRequest(&provider.Request{Prompt: "p", N: 10}); err != nil {
		t.Errorf("CheckRequest: %v", err)
	}
}

func TestMigrateWithOwnGemini(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: testKey})
	defer srv.Close()
	gem, err := gemini.New(context.Background(), gemini.Config{APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client(),
		Name: "relay", Clock: provider.ClockFunc(retiredClock), ImageOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := imagen.New(context.Background(), imagen.Config{APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client(),
		Clock: provider.ClockFunc(retiredClock), Migrate: true, Migrator: gem})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "imagen-4.0-fast-generate-001", Size: "1K"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Provider != "relay" || resp.Model != "gemini-nano-banana-2.1" || len(resp.Images) != 1 {
		t.Errorf("provider=%q model=%q images=%d", resp.Provider, resp.Model, len(resp.Images))
	}
	mods := srv.Requests()[0].JSON["generationConfig"].(map[string]any)["responseModalities"].([]any)
	if len(mods) != 1 || mods[0] != "IMAGE" {
		t.Errorf("the caller's gemini generator was not used: %v", mods)
	}
}

func TestMigrateOnVertex(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, imagen.Config{Backend: imagen.BackendVertex, Clock: provider.ClockFunc(retiredClock), Migrate: true, PersonGeneration: "allow_all"})
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Size: "2K"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Provider != "vertex" || resp.Model != "gemini-nano-banana-2.1" || len(resp.Images) != 1 {
		t.Errorf("provider=%q model=%q images=%d", resp.Provider, resp.Model, len(resp.Images))
	}
	r := srv.Requests()[0]
	if !strings.Contains(r.Path, "publishers/google/models/gemini-nano-banana-2.1:generateContent") {
		t.Errorf("path %s", r.Path)
	}
	ic, _ := r.JSON["generationConfig"].(map[string]any)["imageConfig"].(map[string]any)
	if ic["personGeneration"] != "allow_all" || ic["imageSize"] != "2K" {
		t.Errorf("imageConfig %v", ic)
	}
}

// The migrator may be any provider.Generator: here a gemini generator
// behind a decorator, which sees every migrated request.
func TestMigrateThroughAnyGenerator(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: testKey})
	defer srv.Close()
	gem, err := gemini.New(context.Background(), gemini.Config{APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client(), Clock: provider.ClockFunc(retiredClock)})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	stack := provider.Chain(gem, func(next provider.Generator) provider.Generator {
		return provider.Wrap(next, func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
			seen = append(seen, req.Model)
			return next.Generate(ctx, req)
		})
	})
	g, err := imagen.New(context.Background(), imagen.Config{APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client(),
		Clock: provider.ClockFunc(retiredClock), Migrate: true, Migrator: stack})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "imagen-4.0-fast-generate-001",
		Options: provider.Options{imagen.Options{PersonGeneration: "allow_adult"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "gemini-nano-banana-2.1" || len(resp.Images) != 1 {
		t.Fatalf("decorator saw %v; images %d", seen, len(resp.Images))
	}
	if !hasWarning(resp.Warnings, `Options.PersonGeneration "allow_adult" dropped`) {
		t.Errorf("warnings %q", resp.Warnings)
	}
}
