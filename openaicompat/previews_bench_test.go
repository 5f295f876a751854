package openaicompat_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/internal/memtest"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// largeStream is an event stream whose completed event holds the
// emulator's 16 MiB noisy PNG, after two small partial images.
func largeStream(b *testing.B) []byte {
	b.Helper()
	raw, _ := largeAnswer(b, "generations")
	var ans struct {
		Data []struct {
			B64JSON string `json:"b64_json"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || len(ans.Data) != 1 {
		b.Fatalf("emulator answer: %v", err)
	}
	var sb strings.Builder
	sb.WriteString(partialEvent("image_generation", 0, pngBytes(b, 64, 64)))
	sb.WriteString(partialEvent("image_generation", 1, pngBytes(b, 64, 64)))
	sb.WriteString("event: image_generation.completed\ndata: {\"type\":\"image_generation.completed\",\"b64_json\":\"")
	sb.WriteString(ans.Data[0].B64JSON)
	sb.WriteString("\",\"created_at\":2,\"size\":\"auto\",\"quality\":\"high\",\"background\":\"opaque\",\"output_format\":\"png\",\"usage\":" + streamUsage + "}\n\n")
	return []byte(sb.String())
}

// emulatorStream is the emulator's own event stream for a 16 MiB final
// image (its drafts stay small), fetched once.
func emulatorStream(b *testing.B) []byte {
	b.Helper()
	clearEnv(b)
	emu := providertest.NewServer(providertest.Options{APIKey: testKey, LargeImageBytes: largeSize})
	defer emu.Close()
	req, _ := http.NewRequest(http.MethodPost, emu.URL()+"/v1/images/generations",
		strings.NewReader(`{"model":"gpt-image-2","prompt":"noise","n":1,"stream":true,"partial_images":2}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := emu.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b.Fatalf("emulator: %d %v %.200s", resp.StatusCode, err, raw)
	}
	return raw
}

// BenchmarkLargeImageSSE measures what a 16 MiB final image costs when it
// arrives in an event stream (two small partials first), replayed from
// memory with and without a Content-Length (a real stream has none), and
// the emulator's own stream, replayed the same way:
// x-image is bytes allocated per call and peak-x-image the heap
// high-water mark of a call, both over the image size (memtest).
//
//	go test -run '^$' -bench LargeImageSSE -benchtime 10x ./openaicompat/
func BenchmarkLargeImageSSE(b *testing.B) {
	bodies := map[string][]byte{"replay": largeStream(b), "emulator": emulatorStream(b)}
	for _, run := range []struct{ source, framing string }{{"replay", "chunked"}, {"replay", "content-length"}, {"emulator", "chunked"}} {
		body, framing := bodies[run.source], run.framing
		b.Run(run.source+"/"+framing, func(b *testing.B) {
			g, err := openaicompat.New(openaicompat.Config{APIKey: testKey, BaseURL: "http://memory.invalid/v1",
				HTTPClient: &http.Client{Transport: memtest.Transport{Body: body, WithLength: framing == "content-length", ContentType: "text/event-stream"}}})
			if err != nil {
				b.Fatal(err)
			}
			previews := 0
			req := &provider.Request{Prompt: "noise", Options: provider.Options{provider.Previews{On: func(provider.Preview) { previews++ }}}}
			got := memtest.ImageMultiples(b, func() int {
				resp, err := g.Generate(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				if resp.Usage.Previews != 2 {
					b.Fatalf("usage %+v", resp.Usage)
				}
				return len(resp.Images[0].Data)
			})
			if got < largeSize*9/10 || previews == 0 {
				b.Fatalf("image is %d bytes, %d previews", got, previews)
			}
		})
	}
}
