package openaicompat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/internal/memtest"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
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

// BenchmarkLargeImageSSE measures what a 16 MiB final image costs when it
// arrives in an event stream (two small partials first), replayed from
// memory with and without a Content-Length (a real stream has none):
// x-image is bytes allocated per call and peak-x-image the heap
// high-water mark of a call, both over the image size (memtest).
//
//	go test -run '^$' -bench LargeImageSSE -benchtime 10x ./openaicompat/
func BenchmarkLargeImageSSE(b *testing.B) {
	body := largeStream(b)
	for _, framing := range []string{"chunked", "content-length"} {
		b.Run(framing, func(b *testing.B) {
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
