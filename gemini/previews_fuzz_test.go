package gemini

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/internal/memtest"
	"github.com/imagegen-go/imagegen/provider"
)

func streamSeeds() []string {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n0000"))
	jpg := base64.StdEncoding.EncodeToString([]byte("\xff\xd8\xff\xe00000"))
	draft := `{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/jpeg","data":"` + jpg + `"},"thought":true}]}}]}`
	final := `{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"` + png + `"}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3}}`
	return []string{
		"data: " + draft + "\r\n\r\ndata: " + final + "\r\n\r\n",
		"data: " + draft + "\n\ndata: " + final,
		": ping\n\nevent: x\ndata: {\"candidates\":\ndata: [{\"content\":{\"parts\":[{\"text\":\"hi ![i](data:image/png;base64," + png + ")\"}]},\"finishReason\":\"STOP\"}]}\n\n",
		"data: " + draft + "\n\ndata: {\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"x\"}}\n\n",
		"data: " + draft + "\n\n",
		"data: null\n\n",
		final,
		"[" + final + "]",
		"data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}\n\n",
		"data:\n\n",
		"\r\r\n\n",
	}
}

// FuzzSSEReducer checks the reducer on any body: no panic, and what genai
// is handed is one compact JSON object per `data:` line, events and
// side records in step.
func FuzzSSEReducer(f *testing.F) {
	for _, s := range streamSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := newSSEReducer(io.NopCloser(bytes.NewReader(body)), 1<<20)
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("genai would see a read error: %v", err)
		}
		events := 0
		for _, ev := range strings.SplitAfter(string(out), "\n\n") {
			if ev == "" {
				continue
			}
			events++
			data, ok := strings.CutPrefix(ev, "data: ")
			data, ok2 := strings.CutSuffix(data, "\n\n")
			if !ok || !ok2 || strings.ContainsAny(data, "\r\n") || !json.Valid([]byte(data)) || data[0] != '{' {
				t.Fatalf("event %q", ev)
			}
		}
		if events != len(r.events) {
			t.Fatalf("%d events, %d records", events, len(r.events))
		}
	})
}

// FuzzStreamAnswer runs any body through Generate with previews: a
// response with images (of the type they claim) or a typed error, never
// both, never a panic, never the key.
func FuzzStreamAnswer(f *testing.F) {
	for _, s := range streamSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		g, err := New(context.Background(), Config{APIKey: "fuzz-key-0123456789", BaseURL: "http://memory.invalid",
			HTTPClient: &http.Client{Transport: memtest.Transport{Body: body, ContentType: "text/event-stream"}}})
		if err != nil {
			t.Fatal(err)
		}
		drafts := 0
		req := &provider.Request{Prompt: "p", Model: "gemini-3-pro-image", Options: provider.Options{provider.Previews{On: func(p provider.Preview) {
			if p.Index != drafts || provider.SniffMIME(p.Image.Data) != p.Image.MIMEType {
				t.Fatalf("preview %d: index %d, %q", drafts, p.Index, p.Image.MIMEType)
			}
			drafts++
		}}}}
		out, err := g.Generate(context.Background(), req)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind == provider.KindUnknown {
				t.Fatalf("untyped error %v", err)
			}
			if out != nil {
				t.Fatal("both a response and an error")
			}
			if strings.Contains(err.Error(), "fuzz-key-0123456789") {
				t.Fatal("key in the error")
			}
			return
		}
		if len(out.Images) == 0 {
			t.Fatal("success without an image")
		}
		for _, img := range out.Images {
			if provider.SniffMIME(img.Data) != img.MIMEType {
				t.Fatalf("image labelled %q is %q", img.MIMEType, provider.SniffMIME(img.Data))
			}
		}
	})
}
