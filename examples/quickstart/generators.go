package main

import (
	"context"
	"os"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// pickGenerator returns the real service when a key is set, else the
// emulator. The returned func releases what was started.
func pickGenerator(ctx context.Context) (provider.Generator, string, func(), error) {
	if key := os.Getenv("GEMINI_API_KEY"); key != "" {
		g, err := gemini.New(ctx, gemini.Config{APIKey: key})
		return g, "the Gemini API (GEMINI_API_KEY is set)", func() {}, err
	}
	if key := os.Getenv("OPENAI_API_KEY"); key != "" {
		g, err := openaicompat.New(openaicompat.OpenAI(key))
		return g, "the OpenAI Images API (OPENAI_API_KEY is set)", func() {}, err
	}
	const key = "emulator-key"
	srv := providertest.NewServer(providertest.Options{APIKey: key})
	g, err := gemini.New(ctx, gemini.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		srv.Close()
		return nil, "", nil, err
	}
	return g, "the providertest emulator at " + srv.URL() + " (set GEMINI_API_KEY or OPENAI_API_KEY for a real provider)", srv.Close, nil
}
