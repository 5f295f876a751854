package gemini_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
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

// BenchmarkLargeImage reports allocated bytes per call as a multiple of a
// 16 MiB image ("x-image"). The answer is made once by the emulator and then
// replayed by a handler that allocates nothing, so B/op is the client's own:
// genai's decoding plus the adapter's.
//
// "final-only" answers carry one image (gemini-2.5-flash-image does not
// think); "with-draft" answers carry a thought draft of the same size before
// the final image, as Gemini 3 models do.
func BenchmarkLargeImage(b *testing.B) {
	b.Run("final-only", func(b *testing.B) { benchLarge(b, "gemini-2.5-flash-image") })
	b.Run("with-draft", func(b *testing.B) { benchLarge(b, "gemini-nano-banana-2.1") })
}

func benchLarge(b *testing.B, model string) {
	const size = 16 << 20
	clearEnv(b)
	emu := providertest.NewServer(providertest.Options{APIKey: testKey, LargeImageBytes: size})
	defer emu.Close()
	body := rawAnswer(b, emu, model)
	replay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer replay.Close()
	g, err := gemini.New(context.Background(), gemini.Config{APIKey: testKey, BaseURL: replay.URL, HTTPClient: replay.Client()})
	if err != nil {
		b.Fatal(err)
	}
	req := &provider.Request{Prompt: "a large noisy image", Model: model}
	ctx := context.Background()
	var got int
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := g.Generate(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		got = len(resp.Images[0].Data)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if got < size*9/10 {
		b.Fatalf("image is %d bytes, want about %d", got, size)
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(got), "x-image")
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
