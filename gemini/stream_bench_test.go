package gemini_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/memtest"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// BenchmarkLargeImageStream compares the streaming decoder with genai's
// own decoding (StreamThreshold -1) for one generateContent answer with a
// 16 MiB noisy PNG, made once by the emulator and replayed on loopback by
// a handler that allocates nothing.
//
//	go test -run '^$' -bench 'LargeImageStream|DecodeLarge' -benchtime 10x ./gemini/
//
// Metrics, all as multiples of the decoded image size:
//
//   - x-image: bytes allocated per call (MemStats.TotalAlloc delta / N);
//   - peak-x-image: the heap high-water mark of one call above the heap
//     after a forced GC just before it. A goroutine samples
//     runtime/metrics /memory/classes/heap/objects:bytes (live objects and
//     dead ones not yet swept, i.e. what the heap really holds) every few
//     microseconds while the call runs, GC running as usual; the largest of
//     three calls is reported. The result's image is live at the end and
//     counts.
//
// "content-length" replays the body with a Content-Length, so the decoder
// sizes the image once; "chunked" without one (as the emulator itself and
// Google's front end answer), so each payload is decoded into chunks and
// copied once into a slice of its exact size.
func BenchmarkLargeImageStream(b *testing.B) {
	for _, m := range []struct{ name, model string }{{"final-only", "gemini-2.5-flash-image"}, {"with-draft", "gemini-nano-banana-2.1"}} {
		for _, framing := range []string{"content-length", "chunked"} {
			for _, path := range []struct {
				name string
				thr  int64
			}{{"stream", 0}, {"genai", -1}} {
				b.Run(m.name+"/"+framing+"/"+path.name, func(b *testing.B) {
					benchLargeStream(b, m.model, framing == "content-length", path.thr)
				})
			}
		}
	}
}

const largeSize = 16 << 20

func benchLargeStream(b *testing.B, model string, withLength bool, thr int64) {
	clearEnv(b)
	emu := providertest.NewServer(providertest.Options{APIKey: testKey, LargeImageBytes: largeSize})
	defer emu.Close()
	body := rawAnswer(b, emu, model)
	ct, cl := []string{"application/json; charset=UTF-8"}, []string{strconv.Itoa(len(body))}
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
	g, err := gemini.New(context.Background(), gemini.Config{APIKey: testKey, BaseURL: replay.URL, HTTPClient: replay.Client(), StreamThreshold: thr})
	if err != nil {
		b.Fatal(err)
	}
	runLarge(b, g, model)
}

// runLarge times g.Generate and reports allocation and peak heap as
// multiples of the image size.
func runLarge(b *testing.B, g *gemini.Generator, model string) {
	req := &provider.Request{Prompt: "a large noisy image", Model: model}
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

// BenchmarkDecodeLarge is decode time: the same 16 MiB answer fed from
// memory (no network) through genai's decoding and through the streaming
// decoder, to a provider.Response.
func BenchmarkDecodeLarge(b *testing.B) {
	clearEnv(b)
	emu := providertest.NewServer(providertest.Options{APIKey: testKey, LargeImageBytes: largeSize})
	defer emu.Close()
	for _, m := range []struct{ name, model string }{{"final-only", "gemini-2.5-flash-image"}, {"with-draft", "gemini-nano-banana-2.1"}} {
		body := rawAnswer(b, emu, m.model)
		for _, path := range []struct {
			name string
			thr  int64
		}{{"stream", 0}, {"genai", -1}} {
			b.Run(m.name+"/"+path.name, func(b *testing.B) {
				g, err := gemini.New(context.Background(), gemini.Config{APIKey: testKey, BaseURL: "http://memory.invalid",
					HTTPClient: &http.Client{Transport: memtest.Transport{Body: body, WithLength: true, ContentType: "application/json; charset=UTF-8"}}, StreamThreshold: path.thr})
				if err != nil {
					b.Fatal(err)
				}
				runLarge(b, g, m.model)
			})
		}
	}
}

// BenchmarkLargeImageSSE is BenchmarkLargeImageStream for previews: a
// streamGenerateContent answer whose final image is a 16 MiB noisy PNG,
// replayed from memory (SSE has no Content-Length), alone ("final-only")
// or after a thought draft as large ("with-draft") or of 0.75 MiB
// ("with-small-draft"). On keeps nothing.
//
//	go test -run '^$' -bench LargeImageSSE -benchtime 10x ./gemini/
func BenchmarkLargeImageSSE(b *testing.B) {
	clearEnv(b)
	img := make([]byte, largeSize)
	for i := range img {
		img[i] = byte(i*7919 + i>>9) // noise enough: no structure jsonimg could exploit
	}
	copy(img, "\x89PNG\r\n\x1a\n")
	enc := base64.StdEncoding.EncodeToString(img)
	final := `data: {"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"` + enc +
		`"}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":1120,"totalTokenCount":1132}}` + "\r\n\r\n"
	draft := `data: {"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"` + enc +
		`"},"thought":true}]},"index":0}]}` + "\r\n\r\n"
	small := `data: {"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"` + enc[:1<<20] +
		`"},"thought":true}]},"index":0}]}` + "\r\n\r\n"
	enc = ""
	for _, tc := range []struct{ name, body string }{{"final-only", final}, {"with-draft", draft + final}, {"with-small-draft", small + final}} {
		b.Run(tc.name, func(b *testing.B) {
			g, err := gemini.New(context.Background(), gemini.Config{APIKey: testKey, BaseURL: "http://memory.invalid",
				HTTPClient: &http.Client{Transport: memtest.Transport{Body: []byte(tc.body), ContentType: "text/event-stream"}}})
			if err != nil {
				b.Fatal(err)
			}
			drafts := 0
			req := &provider.Request{Prompt: "a large noisy image", Model: "gemini-3-pro-image",
				Options: provider.Options{provider.Previews{On: func(p provider.Preview) { drafts += len(p.Image.Data) }}}}
			got := memtest.ImageMultiples(b, func() int {
				resp, err := g.Generate(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				return len(resp.Images[0].Data)
			})
			if got != largeSize {
				b.Fatalf("image is %d bytes, want %d", got, largeSize)
			}
		})
	}
}
