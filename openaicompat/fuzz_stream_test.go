package openaicompat_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/internal/memtest"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// FuzzImageStream serves arbitrary event streams to Generate with
// previews (n = 1 or 2), from memory (no network), through the whole
// client: SSE framing, the event decoder, the image checks. Every result
// is a response with real images or a typed *provider.Error; previews are
// images, in order, at most as many as asked for; the key never shows.
func FuzzImageStream(f *testing.F) {
	png := pngBytes(f, 4, 4)
	b64 := base64.StdEncoding.EncodeToString(png)
	standard := partialEvent("image_generation", 0, png) + completedEvent("image_generation", png)
	seeds := []string{
		standard,
		standard + "data: [DONE]\n\n",
		strings.ReplaceAll(standard, "\n", "\r\n"),
		partialEvent("image_edit", 0, png) + partialEvent("image_edit", 1, png) + completedEvent("image_edit", png) + completedEvent("image_edit", png),
		": keep-alive\n\nevent: image_generation.partial_image\ndata: {\"type\":\"image_generation.partial_image\",\ndata: \"b64_json\":\"" + b64 + "\"}\n\n",
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"server_error\",\"code\":\"server_error\",\"message\":\"The server had an error while processing your request.\",\"param\":null}}\n\n",
		"data: {\"error\":{\"code\":\"rate_limit_exceeded\",\"message\":\"try again in 3s\"}}\n\n",
		"data: {\"type\":\"image_generation.completed\",\"b64_json\":\"" + b64 + "\",\"usage\":{\"input_tokens\":1e30,\"output_tokens\":-5}}\n\n",
		"data: {\"type\":\"image_generation.completed\",\"b64_json\":\"iVBOR\n\n",
		"data: {}]},{\"data\":[{\"b64_json\":\"" + b64 + "\"}]}\n\n",
		"event: image_generation.completed\ndata: {\"b64_json\":\"" + b64 + "\",\"error\":\"nope\"}\n\n",
		"", "data: [DONE]\n\n", "data: null\n\n", "event: error\n\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i))
	}
	clearEnv(f)
	const key = "sk-fuzz-key-0123456789abcdef"
	f.Fuzz(func(t *testing.T, body []byte, pick uint8) {
		g, err := openaicompat.New(openaicompat.Config{APIKey: key, BaseURL: "http://memory.invalid/v1", Clock: providertest.NewClock(now),
			HTTPClient: &http.Client{Transport: memtest.Transport{Body: body, WithLength: pick&1 == 1, ContentType: "text/event-stream"}}})
		if err != nil {
			t.Fatal(err)
		}
		var previews []provider.Preview
		want := int(pick/2)%provider.MaxPreviews + 1
		req := &provider.Request{Prompt: "p", N: 1 + int(pick/8)%2,
			Options: provider.Options{provider.Previews{Count: want, On: func(p provider.Preview) { previews = append(previews, p) }}}}
		resp, err := g.Generate(context.Background(), req)
		if len(previews) > want {
			t.Fatalf("%d previews, asked for %d", len(previews), want)
		}
		for i, p := range previews {
			if p.Index != i || provider.SniffMIME(p.Image.Data) == "" || provider.SniffMIME(p.Image.Data) != p.Image.MIMEType {
				t.Fatalf("preview %d: index %d, %q", i, p.Index, p.Image.MIMEType)
			}
		}
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind == provider.KindUnknown || resp != nil {
				t.Fatalf("untyped failure %T %v (resp %v)", err, err, resp)
			}
			if s := fmt.Sprintf("%v %+v", err, pe); strings.Contains(s, key[:12]) {
				t.Fatalf("the key shows: %v", s)
			}
			return
		}
		if resp == nil || len(resp.Images) == 0 || len(resp.Images) > req.N {
			t.Fatalf("success with %d images", len(resp.Images))
		}
		for _, img := range resp.Images {
			if mt := provider.SniffMIME(img.Data); mt == "" || mt != img.MIMEType {
				t.Fatalf("image labelled %q sniffs as %q", img.MIMEType, mt)
			}
		}
		if u := resp.Usage; u.InputTokens < 0 || u.OutputTokens < 0 || u.Previews < len(previews) || u.OutputImageTokens < 0 {
			t.Fatalf("usage %+v with %d previews", u, len(previews))
		}
	})
}
