package openaicompat_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/internal/memtest"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

const largeSize = 16 << 20

// BenchmarkLargeImageStream compares the streaming decoder with the
// normal decoding (StreamThreshold -1) for one answer holding a 16 MiB
// noisy PNG, made once by the emulator and replayed on loopback by a
// handler that allocates nothing: the Images API (b64_json) and
// OpenRouter's chat images (a data: URI in message.images).
//
//	go test -run '^$' -bench 'LargeImageStream|DecodeLarge' -benchtime 10x ./openaicompat/
//
// x-image and peak-x-image are measured as in the gemini package's
// benchmark of the same name: bytes allocated per call, and the heap
// high-water mark of a call above the heap after a forced GC (sampled from
// runtime/metrics), both as multiples of the image size.
func BenchmarkLargeImageStream(b *testing.B) {
	for _, shape := range []string{"generations", "chat-images"} {
		for _, framing := range []string{"content-length", "chunked"} {
			for _, path := range []struct {
				name string
				thr  int64
			}{{"stream", 0}, {"normal", -1}} {
				b.Run(shape+"/"+framing+"/"+path.name, func(b *testing.B) {
					body, cfg := largeAnswer(b, shape)
					ct, cl := []string{"application/json"}, []string{strconv.Itoa(len(body))}
					withLength := framing == "content-length"
					replay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						_, _ = io.Copy(io.Discard, r.Body)
						h := w.Header()
						h["Content-Type"] = ct
						if withLength {
							h["Content-Length"] = cl
						}
						_, _ = w.Write(body)
					}))
					defer replay.Close()
					cfg.BaseURL, cfg.HTTPClient, cfg.StreamThreshold = replay.URL+"/v1", replay.Client(), path.thr
					runLarge(b, cfg)
				})
			}
		}
	}
}

// largeAnswer fetches one answer body with a 16 MiB image from the
// emulator, and the Config that asks for it.
func largeAnswer(b *testing.B, shape string) ([]byte, openaicompat.Config) {
	b.Helper()
	clearEnv(b)
	emu := providertest.NewServer(providertest.Options{APIKey: testKey, LargeImageBytes: largeSize, ChatShape: providertest.ChatImages})
	defer emu.Close()
	path, body := "/v1/images/generations", `{"model":"gpt-image-2","prompt":"noise","n":1}`
	cfg := openaicompat.Config{APIKey: testKey, Model: "gpt-image-2", Clock: providertest.NewClock(now)}
	if shape == "chat-images" {
		path, body = "/v1/chat/completions", `{"model":"google/gemini-2.5-flash-image","messages":[{"role":"user","content":"noise"}],"modalities":["image","text"]}`
		cfg = orConfig()
		cfg.APIKey, cfg.Model, cfg.Clock = testKey, "gemini-2.5-flash-image", providertest.NewClock(now)
	}
	req, _ := http.NewRequest(http.MethodPost, emu.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := emu.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("emulator: %d %v %.200s", resp.StatusCode, err, raw)
	}
	return raw, cfg
}

func runLarge(b *testing.B, cfg openaicompat.Config) {
	g, err := openaicompat.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	req := &provider.Request{Prompt: "noise"}
	ctx := context.Background()
	var got int
	call := func() {
		resp, err := g.Generate(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		got = len(resp.Images[0].Data)
	}
	got = memtest.ImageMultiples(b, func() int { call(); return got })
	if got < largeSize*9/10 {
		b.Fatalf("image is %d bytes, want about %d", got, largeSize)
	}
}

// BenchmarkDecodeLarge is decode time: the same answer fed from memory
// (no network) through each decoding path to a provider.Response.
func BenchmarkDecodeLarge(b *testing.B) {
	for _, shape := range []string{"generations", "chat-images"} {
		body, cfg := largeAnswer(b, shape)
		for _, path := range []struct {
			name string
			thr  int64
		}{{"stream", 0}, {"normal", -1}} {
			b.Run(shape+"/"+path.name, func(b *testing.B) {
				c := cfg
				c.BaseURL, c.HTTPClient, c.StreamThreshold = "http://memory.invalid/v1", &http.Client{Transport: memtest.Transport{Body: body, WithLength: true}}, path.thr
				runLarge(b, c)
			})
		}
	}
}
