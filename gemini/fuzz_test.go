package gemini

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider"
)

func FuzzParseResponse(f *testing.F) {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n0000"))
	seeds := []string{
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"draft","thought":true},{"inlineData":{"mimeType":"image/png","data":"` + png + `"},"thoughtSignature":"c2ln"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":1130,"thoughtsTokenCount":50,"candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":1120}]}}`,
		`{"candidates":[{"content":{"parts":[{"text":"here ![image](data:image/png;base64,` + png + `) and ![b](https://x/y.png)"}]},"finishReason":"STOP"}]}`,
		`{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}`,
		`{"candidates":[{"content":{},"finishReason":"IMAGE_SAFETY","finishMessage":"blocked"}],"usageMetadata":{"thoughtsTokenCount":100}}`,
		`{"candidates":[{"content":{"parts":[{"text":"I cannot draw that"}]},"finishReason":"STOP"}]}`,
		`{"candidates":[]}`,
		`{}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	g, err := New(context.Background(), Config{APIKey: "fuzz-key", BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var resp genai.GenerateContentResponse
		if json.Unmarshal(body, &resp) != nil {
			return
		}
		out, err := g.parse("m", &resp)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind == provider.KindUnknown {
				t.Fatalf("untyped error %v", err)
			}
			if out != nil {
				t.Fatal("both a response and an error")
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
