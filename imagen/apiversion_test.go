package imagen_test

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// The version in the request path is pinned (v1beta; v1beta1 on Vertex AI)
// whatever genai's default or GOOGLE_GENAI_API_VERSION says, unless the
// caller opts in to the variable: on the direct :predict call, on genai's
// GenerateImages on Vertex, and on the gemini generator a migration builds.
func TestAPIVersionInEveryPath(t *testing.T) {
	const vertexModels = "/projects/p/locations/us-central1/publishers/google/models/"
	tests := []struct {
		name, env string
		fromEnv   bool
		cfg       imagen.Config
		want      string
	}{
		{name: "predict", env: "v1", want: "/v1beta/models/imagen-4.0-generate-001:predict"},
		{name: "predict opted in", env: "v1", fromEnv: true, want: "/v1/models/imagen-4.0-generate-001:predict"},
		{name: "vertex", env: "v1", cfg: vertexConfig(), want: "/v1beta1" + vertexModels + "imagen-4.0-generate-001:predict"},
		{name: "vertex opted in", env: "beta", fromEnv: true, cfg: vertexConfig(), want: "/v1beta1" + vertexModels + "imagen-4.0-generate-001:predict"},
		{name: "migration", env: "v1", cfg: imagen.Config{Migrate: true, Clock: provider.ClockFunc(retiredClock)},
			want: "/v1beta/models/gemini-nano-banana-2.1:generateContent"},
		{name: "migration opted in", env: "v1", fromEnv: true, cfg: imagen.Config{Migrate: true, Clock: provider.ClockFunc(retiredClock)},
			want: "/v1/models/gemini-nano-banana-2.1:generateContent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("GOOGLE_GENAI_API_VERSION", tt.env)
			srv := providertest.NewServer(providertest.Options{APIKey: testKey})
			defer srv.Close()
			cfg := tt.cfg
			cfg.APIKey, cfg.BaseURL, cfg.HTTPClient, cfg.APIVersionFromEnv = testKey, srv.URL(), srv.Client(), tt.fromEnv
			if cfg.Clock == nil {
				cfg.Clock = providertest.NewClock(live)
			}
			g, err := imagen.New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse"}); err != nil {
				t.Fatal(err)
			}
			reqs := srv.Requests()
			if len(reqs) == 0 {
				t.Fatal("no request")
			}
			for _, r := range reqs {
				if r.Path != tt.want {
					t.Errorf("%s %s, want %s", r.Method, r.Path, tt.want)
				}
			}
		})
	}
}
