package gemini_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// BenchmarkTiny compares one small-image call through the adapter with the
// same call through genai directly, both against the emulator on loopback.
func BenchmarkTiny(b *testing.B) {
	srv, g := setup(b, providertest.Options{}, gemini.Config{})
	req := &provider.Request{Prompt: "a tiny red square", Size: "512px", Model: "gemini-3.1-flash-image"}
	ctx := context.Background()
	b.Run("adapter", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := g.Generate(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("genai", func(b *testing.B) {
		client, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: testKey, Backend: genai.BackendGeminiAPI,
			HTTPClient: srv.Client(), HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL()}})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			off := false
			cfg := &genai.GenerateContentConfig{ResponseModalities: []string{"TEXT", "IMAGE"}, AutomaticContinuation: &off,
				ImageConfig: &genai.ImageConfig{ImageSize: "512"}}
			if _, err := client.Models.GenerateContent(ctx, req.Model, genai.Text(req.Prompt), cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// rawAnswer fetches one generateContent answer body from the emulator.
func rawAnswer(b *testing.B, emu *providertest.Server, model string) []byte {
	b.Helper()
	req, _ := http.NewRequest(http.MethodPost, emu.URL()+"/v1beta/models/"+model+":generateContent",
		strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"a large noisy image"}]}],"generationConfig":{"imageConfig":{"imageSize":"4K"}}}`))
	req.Header.Set("x-goog-api-key", testKey)
	resp, err := emu.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("emulator: %d %v", resp.StatusCode, err)
	}
	return body
}
