package googleauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"cloud.google.com/go/auth"

	"github.com/imagegen-go/imagegen/internal/capture"
)

func TestKey(t *testing.T) {
	t.Setenv("GEMINI_API_KEY", "")
	t.Setenv("GOOGLE_API_KEY", "from-google")
	if got := Key("", true); got != "from-google" {
		t.Errorf("Key from env = %q", got)
	}
	t.Setenv("GEMINI_API_KEY", "from-gemini")
	if got := Key("", true); got != "from-gemini" {
		t.Errorf("GEMINI_API_KEY first: %q", got)
	}
	if Key("given", true) != "given" || Key("", false) != "" {
		t.Error("an explicit key or Vertex must not read the environment")
	}
}

type token string

func (s token) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(s), Type: "Bearer"}, nil
}

func TestClient(t *testing.T) {
	t.Parallel()
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	send := func(c *http.Client) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("X-Goog-Api-Key", "k1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	c, _ := Client(srv.Client(), "k1", true, nil, capture.Limits{})
	send(c)
	if got.Get("Authorization") != "Bearer k1" || got.Get("X-Goog-Api-Key") != "" {
		t.Errorf("bearer: %v", got)
	}
	c, err := Client(srv.Client(), "", false, auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: token("oauth")}), capture.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	send(c)
	if got.Get("Authorization") != "Bearer oauth" {
		t.Errorf("credentials: %v", got)
	}
}

func TestAPIVersion(t *testing.T) {
	tests := []struct {
		name, version, env string
		fromEnv, vertex    bool
		want               string
	}{
		{name: "pinned", want: "v1beta"},
		{name: "pinned vertex", vertex: true, want: "v1beta1"},
		{name: "env ignored", env: "v1", want: "v1beta"},
		{name: "env ignored vertex", env: "v1", vertex: true, want: "v1beta1"},
		{name: "explicit", version: "v1alpha", env: "v1", fromEnv: true, want: "v1alpha"},
		{name: "env opted in", env: "v1", fromEnv: true, want: "v1"},
		{name: "env opted in vertex", env: "v1", fromEnv: true, vertex: true, want: "v1"},
		{name: "env beta", env: "beta", fromEnv: true, want: "v1beta"},
		{name: "env beta vertex", env: "beta", fromEnv: true, vertex: true, want: "v1beta1"},
		{name: "env empty", fromEnv: true, want: "v1beta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(APIVersionEnv, tt.env)
			if got := APIVersion(tt.version, tt.fromEnv, tt.vertex); got != tt.want {
				t.Errorf("APIVersion(%q, %v, %v) with %s=%q = %q, want %q", tt.version, tt.fromEnv, tt.vertex, APIVersionEnv, tt.env, got, tt.want)
			}
		})
	}
}
