package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// BenchmarkTimeToFirstPreview measures, as the browser's EventSource sees
// it, the time from sending GET /generate to the first "preview" event
// and to the "final" event, through the whole server: HTTP, cache, meter,
// budget, retry, provider.Stream, base64 data URLs and SSE framing.
//
//	go test -run '^$' -bench TimeToFirstPreview -benchtime 10x ./examples/previews
//
// The emulator cases run the real adapters against providertest with
// 300 ms before each event of a stream. Gemini streams five events: a
// thought, two draft images, the answer's text and the final image, so
// its first preview is the second event (600 ms) and its final image the
// fifth (1500 ms). OpenAI's Images API streams three partial images and
// the completed image: first preview at 300 ms, final at 1200 ms. What is
// above those figures is the whole path's cost. "instant" is a fake
// provider that sends 3 drafts and the final image with no pause: its
// times are the server's own cost for a 4-event stream.
func BenchmarkTimeToFirstPreview(b *testing.B) {
	for _, bc := range []struct {
		name string
		gen  func(b *testing.B) provider.Generator
	}{
		{"emulator-gemini", func(b *testing.B) provider.Generator {
			g, _, _ := onEmulator(b, "gemini", providertest.Options{StreamInterval: 300 * time.Millisecond})
			return g
		}},
		{"emulator-openai", func(b *testing.B) provider.Generator {
			g, _, _ := onEmulator(b, "openai", providertest.Options{StreamInterval: 300 * time.Millisecond})
			return g
		}},
		{"instant", func(*testing.B) provider.Generator { return &drafter{drafts: 3} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := newTestServer(b, bc.gen(b), config{Previews: 3})
			var first, final time.Duration
			i := 0
			for b.Loop() {
				i++
				_, events := open(b, b.Context(), srv, fmt.Sprintf("a lighthouse, take %d", i)) // a new prompt: no cache hit
				var sawFirst bool
				for ev := range events {
					switch ev.name {
					case "preview":
						if !sawFirst {
							first += ev.at
							sawFirst = true
						}
					case "final":
						final += ev.at
					default:
						b.Fatalf("%s event: %s", ev.name, ev.data)
					}
				}
				if !sawFirst {
					b.Fatal("no preview")
				}
			}
			n := float64(i)
			b.ReportMetric(float64(first.Microseconds())/1000/n, "ms-to-first-preview")
			b.ReportMetric(float64(final.Microseconds())/1000/n, "ms-to-final")
		})
	}
}

// BenchmarkPreviewEvent is the server's cost for one preview event of a
// 256 KiB PNG: sniffing, base64 into a data: URL, JSON, SSE framing and
// the write (to a discarding writer, so no network).
//
//	go test -run '^$' -bench PreviewEvent -benchmem ./examples/previews
func BenchmarkPreviewEvent(b *testing.B) {
	img := provider.Image{Data: append(testPNG(8, 1), make([]byte, 256<<10)...), MIMEType: "image/png"}
	rec := httptest.NewRecorder()
	out := &sseWriter{w: io.Discard, rc: http.NewResponseController(rec), timeout: time.Second}
	b.SetBytes(int64(len(img.Data)))
	b.ReportAllocs()
	for b.Loop() {
		shown, ok := displayable(img)
		if !ok {
			b.Fatal("not an image")
		}
		if err := out.event("preview", previewEvent{Index: 0, ElapsedMS: 1}, shown); err != nil {
			b.Fatal(err)
		}
	}
}
