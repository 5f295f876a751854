package imagen_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// imagen3 are the documented Imagen 3 IDs, shut down on 2026-06-30.
var imagen3 = []string{
	"imagen-3.0-generate-002", "imagen-3.0-generate-001", "imagen-3.0-fast-generate-001",
	"imagen-3.0-capability-001", "imagen-3.0-capability-002",
}

// TestImagen3FailsFast: an Imagen 3 ID is no longer an unknown model sent
// upstream; the catalog retires it, and the call fails before any request
// with ErrModelRetired naming the live model its replacement chain leads
// to (gemini-2.5-flash-image → gemini-3.1-flash-image → nano-banana-2.1).
func TestImagen3FailsFast(t *testing.T) {
	srv, g := setup(t, providertest.Options{}, imagen.Config{Clock: provider.ClockFunc(retiredClock)})
	for _, id := range imagen3 {
		req := &provider.Request{Prompt: "p", Model: id}
		_, err := g.Generate(context.Background(), req)
		var pe *provider.Error
		if !errors.As(err, &pe) || !errors.Is(err, provider.ErrModelRetired) {
			t.Fatalf("%s: got %v, want ErrModelRetired", id, err)
		}
		if want := id + " was shut down on 2026-06-30; use gemini-nano-banana-2.1"; !strings.Contains(pe.Message, want) || pe.Provider != "imagen" || pe.Model != id {
			t.Errorf("%s: %v (provider %q model %q), want %q", id, err, pe.Provider, pe.Model, want)
		}
		if err := g.CheckRequest(req); !errors.Is(err, provider.ErrModelRetired) {
			t.Errorf("%s: CheckRequest = %v", id, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests were sent for retired Imagen 3 models", n)
	}
}

// TestImagen3Migrates: with Config.Migrate an Imagen 3 request is served
// by the live replacement through the gemini generator, and says so.
func TestImagen3Migrates(t *testing.T) {
	srv, g := setup(t, providertest.Options{}, imagen.Config{Clock: provider.ClockFunc(retiredClock), Migrate: true})
	for _, id := range imagen3 {
		srv.ResetRequests()
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse", Model: id, AspectRatio: "16:9"})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if resp.Provider != "gemini" || resp.Model != "gemini-nano-banana-2.1" || len(resp.Images) != 1 {
			t.Errorf("%s: served by %s %s with %d images", id, resp.Provider, resp.Model, len(resp.Images))
		}
		decode(t, resp.Images[0])
		if want := id + " was shut down on 2026-06-30; served by gemini-nano-banana-2.1"; len(resp.Warnings) == 0 || resp.Warnings[0] != want {
			t.Errorf("%s: warnings %q, want first %q", id, resp.Warnings, want)
		}
		reqs := srv.Requests()
		if len(reqs) != 1 || reqs[0].Endpoint != providertest.EndpointGenerateContent ||
			!strings.HasSuffix(reqs[0].Path, "/models/gemini-nano-banana-2.1:generateContent") {
			t.Errorf("%s: requests %+v", id, reqs)
		}
	}
}
