package main

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/provider"
)

// newOpenAI reaches the OpenAI Images API through go-openai directly.
// TODO(openaicompat): switch to openaicompat.New once the adapter lands.
func newOpenAI(key, baseURL string, hc *http.Client) (provider.Generator, error) {
	cfg := openai.DefaultConfig(key)
	if baseURL != "" {
		cfg.BaseURL = baseURL
	}
	if hc != nil {
		cfg.HTTPClient = hc
	}
	client := openai.NewClientWithConfig(cfg)
	return provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		if err := req.Validate(); err != nil {
			return nil, err
		}
		out, err := client.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: req.Prompt, N: req.Count()})
		if err != nil {
			return nil, &provider.Error{Kind: provider.KindUnavailable, Provider: "openai", Model: "gpt-image-2", Err: err}
		}
		resp := &provider.Response{Provider: "openai", Model: "gpt-image-2", Attempts: 1}
		for _, d := range out.Data {
			b, err := base64.StdEncoding.DecodeString(d.B64JSON)
			if err != nil {
				return nil, &provider.Error{Kind: provider.KindUnavailable, Provider: "openai", Message: "bad base64", Err: err}
			}
			resp.Images = append(resp.Images, provider.Image{Data: b, MIMEType: provider.SniffMIME(b), RevisedPrompt: d.RevisedPrompt})
		}
		return resp, nil
	}), nil
}
