package openaicompat_test

import (
	"context"
	"fmt"
	"log"

	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// The emulator stands in for api.openai.com; against the real service use
// openaicompat.New(openaicompat.OpenAI(key)).
func ExampleNew() {
	srv := providertest.NewServer(providertest.Options{APIKey: "my-key"})
	defer srv.Close()

	g, err := openaicompat.New(openaicompat.Config{
		APIKey:     "my-key",
		BaseURL:    srv.URL() + "/v1",
		HTTPClient: srv.Client(),
		Model:      "gpt-image-2",
	})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := g.Generate(context.Background(), &provider.Request{
		Prompt:       "a lighthouse at dusk, oil painting",
		Size:         "1K",
		AspectRatio:  "3:2", // sent as size 1536x1024
		Quality:      "high",
		OutputFormat: "jpeg",
		Options:      provider.Options{openaicompat.Options{OutputCompression: new(80)}},
	})
	if err != nil {
		log.Fatal(err)
	}
	img := resp.Images[0]
	fmt.Println(resp.Provider, resp.Model, len(resp.Images), img.MIMEType, img.Extension())
	fmt.Println("output image tokens:", resp.Usage.OutputImageTokens)
	// Output:
	// openai gpt-image-2 1 image/jpeg .jpg
	// output image tokens: 5488
}

// OpenRouter's preset speaks chat completions with modalities and names
// models by vendor; its images endpoint reports the billed cost.
func ExampleOpenRouter() {
	srv := providertest.NewServer(providertest.Options{APIKey: "or-key"})
	defer srv.Close()

	cfg := openaicompat.OpenRouter("or-key")
	cfg.BaseURL = srv.URL() + "/api/v1" // the emulator in place of https://openrouter.ai/api/v1
	cfg.HTTPClient = srv.Client()
	g, err := openaicompat.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "a red fox", Size: "2K", AspectRatio: "16:9"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Provider, srv.Requests()[0].Model, "→", resp.Model, len(resp.Images), "image")

	cfg.Mode = openaicompat.ModeOpenRouterImages
	g, err = openaicompat.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	resp, err = g.Generate(context.Background(), &provider.Request{Prompt: "a red fox", N: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(resp.Images), "images, billed", resp.Cost)
	// Output:
	// openrouter google/gemini-3-pro-image → gemini-3-pro-image 1 image
	// 2 images, billed $0.0780
}
