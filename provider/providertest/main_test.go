package providertest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"go.uber.org/goleak"
	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clearEnv empties the environment variables the SDKs read.
func clearEnv(t *testing.T) {
	t.Helper()
	providertest.ClearEnv(t)
}

func newClock(t time.Time) *providertest.Clock { return providertest.NewClock(t) }

func newServer(t *testing.T, opts providertest.Options) *providertest.Server {
	t.Helper()
	srv := providertest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

func geminiClient(t *testing.T, srv *providertest.Server, key string, headers http.Header) *genai.Client {
	t.Helper()
	clearEnv(t)
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      key,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  srv.Client(),
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(), APIVersion: "v1beta", Headers: headers},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func vertexClient(t *testing.T, srv *providertest.Server, token string) *genai.Client {
	t.Helper()
	clearEnv(t)
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		Backend:    genai.BackendVertexAI,
		Project:    "p",
		Location:   "us-central1",
		HTTPClient: srv.Client(),
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(),
			Headers: http.Header{"Authorization": {"Bearer " + token}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openaiClient(t *testing.T, srv *providertest.Server, key string) *openai.Client {
	t.Helper()
	clearEnv(t)
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = srv.URL() + "/v1"
	cfg.HTTPClient = srv.Client()
	return openai.NewClientWithConfig(cfg)
}
