package openaicompat_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/hostiletest"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// fuzzStatuses are the statuses FuzzGenerateAnswer serves bodies under.
var fuzzStatuses = []int{200, 200, 200, 400, 401, 402, 404, 429, 500, 503}

// FuzzGenerateAnswer serves arbitrary bodies, under success and error
// statuses, from a loopback server to Generate in every mode, through the
// whole client (caps, streaming decoder, decoding, image checks). Every
// result is a response with real images or a typed *provider.Error, and
// the key never shows. Links are not downloaded (FetchPolicy.NoDownload),
// so no call leaves the loopback server.
func FuzzGenerateAnswer(f *testing.F) {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	seeds := []string{
		// PROVIDERS.md §5: the Images API.
		`{"created":1713833628,"background":"opaque","data":[{"b64_json":"` + png + `","revised_prompt":"a red kite"}],"output_format":"png","quality":"high","size":"1024x1024","usage":{"input_tokens":50,"input_tokens_details":{"image_tokens":40,"text_tokens":10},"output_tokens":4160,"output_tokens_details":{"image_tokens":4160,"text_tokens":0},"total_tokens":4210}}`,
		`{"created":1,"data":[{"url":"https://oaidalleapiprodscus.blob.core.windows.net/private/img.png?sig=x"}]}`,
		`{"error":{"message":"Your request was rejected as a result of our safety system.","type":"image_generation_user_error","param":null,"code":"moderation_blocked"}}`,
		`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
		`{"error":{"message":"Rate limit reached for gpt-image-2 in organization org-x on requests per min (RPM): Limit 5, Used 5. Please try again in 12s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
		// §6: OpenRouter chat images, new-api markdown, content arrays.
		`{"id":"gen-1","model":"google/gemini-3-pro-image","choices":[{"finish_reason":"stop","native_finish_reason":"STOP","message":{"role":"assistant","content":"","images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png + `"}}]}}],"usage":{"prompt_tokens":10,"completion_tokens":1300,"cost":0.134,"completion_tokens_details":{"reasoning_tokens":10,"image_tokens":1290}}}`,
		`{"id":"x","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"![draft](data:image/png;base64,` + png + `)\n\n![image](data:image/png;base64,` + png + `)"}}],"usage":{"prompt_tokens":5,"completion_tokens":1290}}`,
		`{"id":"x","choices":[{"finish_reason":"content_filter","message":{"role":"assistant","content":null}}]}`,
		`{"id":"x","choices":[{"message":{"role":"assistant","content":[{"type":"text","text":"done"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png + `"}}]}}]}`,
		`{"id":"x","choices":[{"message":{"role":"assistant","content":"see https://cdn.relay.example/a.png"}}]}`,
		`{"data":[{"b64_json":"` + png + `"}],"usage":{"cost":"0.04"}}`,
		`{"error":{"message":"Provider returned error","code":429,"metadata":{"provider_name":"Google"}}}`,
		`{"error":"upstream overloaded"}`,
		`<html><head><title>502 Bad Gateway</title></head></html>`,
		``, `null`, `{}`, `{"choices":[]}`, `{"data":[{"b64_json":"iVBOR`, `{"usage":{"input_tokens":1e30}}`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i))
	}
	h, srv := hostiletest.NewFixed(f)
	clearEnv(f)
	const key = "sk-fuzz-key-0123456789abcdef"
	var gens []*openaicompat.Generator
	for _, mode := range allModes {
		g, err := openaicompat.New(openaicompat.Config{APIKey: key, BaseURL: srv.URL + "/v1", HTTPClient: srv.Client(), Mode: mode,
			Fetch: openaicompat.FetchPolicy{NoDownload: true}, Clock: providertest.NewClock(now)})
		if err != nil {
			f.Fatal(err)
		}
		gens = append(gens, g)
	}
	f.Fuzz(func(t *testing.T, body []byte, pick uint8) {
		h.Set(fuzzStatuses[int(pick)%len(fuzzStatuses)], string(body), nil)
		g := gens[int(pick/16)%len(gens)]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind == provider.KindUnknown || resp != nil {
				t.Fatalf("untyped failure %T %v (resp %v)", err, err, resp)
			}
			if strings.Contains(err.Error(), key[:12]) {
				t.Fatalf("the key shows: %v", err)
			}
			return
		}
		if resp == nil || len(resp.Images) == 0 {
			t.Fatalf("success without images: %+v", resp)
		}
		for _, img := range resp.Images {
			if img.Data == nil && img.URL != "" {
				continue // a link, left undownloaded by the policy
			}
			if mt := provider.SniffMIME(img.Data); mt == "" || mt != img.MIMEType {
				t.Fatalf("image labelled %q sniffs as %q", img.MIMEType, mt)
			}
		}
		if u := resp.Usage; u.InputTokens < 0 || u.OutputTokens < 0 || u.ThoughtTokens < 0 || u.InputImageTokens < 0 || u.OutputImageTokens < 0 {
			t.Fatalf("negative usage %+v", u)
		}
	})
}
