package imagen_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// ExampleNew generates two images with Imagen's :predict, here against the
// emulator; drop BaseURL and HTTPClient to reach a real endpoint.
func ExampleNew() {
	srv := providertest.NewServer(providertest.Options{APIKey: "my-key"})
	defer srv.Close()

	ctx := context.Background()
	g, err := imagen.New(ctx, imagen.Config{
		APIKey:           "my-key",
		BaseURL:          srv.URL(),
		HTTPClient:       srv.Client(),
		PersonGeneration: "dont_allow",
		// The emulator's models are live on this date; Imagen itself was
		// shut down on 2026-08-17.
		Clock: providertest.NewClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := g.Generate(ctx, &provider.Request{
		Prompt:       "a lighthouse at dawn, watercolour",
		N:            2,
		AspectRatio:  "16:9",
		OutputFormat: "jpeg",
		Options:      provider.Options{imagen.Options{SafetySetting: "block_medium_and_above"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Provider, resp.Model)
	for i, img := range resp.Images {
		fmt.Println(i, img.MIMEType, img.Extension())
	}
	fmt.Println("calls:", resp.Attempts)
	// Output:
	// imagen imagen-4.0-generate-001
	// 0 image/jpeg .jpg
	// 1 image/jpeg .jpg
	// calls: 1
}

// Example_retired shows the default for a retired Imagen ID: a typed error
// naming the live replacement, before any network call.
func Example_retired() {
	ctx := context.Background()
	g, err := imagen.New(ctx, imagen.Config{
		APIKey: "my-key",
		Clock:  providertest.NewClock(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = g.Generate(ctx, &provider.Request{Prompt: "a cat", Model: "imagen-4.0-ultra-generate-001"})
	fmt.Println(errors.Is(err, provider.ErrModelRetired))
	fmt.Println(err)
	// Output:
	// true
	// imagen imagen-4.0-ultra-generate-001: model retired: imagen-4.0-ultra-generate-001 was shut down on 2026-08-17; use gemini-3-pro-image
}

// Example_migration serves requests for a retired Imagen ID with its live
// Gemini replacement: the same request, N calls for N images, and warnings
// saying what changed.
func Example_migration() {
	srv := providertest.NewServer(providertest.Options{APIKey: "my-key"})
	defer srv.Close()

	ctx := context.Background()
	g, err := imagen.New(ctx, imagen.Config{
		APIKey:     "my-key",
		BaseURL:    srv.URL(),
		HTTPClient: srv.Client(),
		Model:      "imagen-4.0-fast-generate-001",
		Migrate:    true,
		Clock:      providertest.NewClock(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := g.Generate(ctx, &provider.Request{
		Prompt:       "a red bicycle against a white wall",
		N:            2,
		AspectRatio:  "4:3",
		OutputFormat: "png",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("served by", resp.Provider, resp.Model)
	fmt.Println("images:", len(resp.Images), "calls:", resp.Attempts)
	for _, w := range resp.Warnings {
		fmt.Println("warning:", w)
	}
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, r.Path)
	}
	// Output:
	// served by gemini gemini-nano-banana-2.1
	// images: 2 calls: 2
	// warning: imagen-4.0-fast-generate-001 was shut down on 2026-08-17; served by gemini-nano-banana-2.1
	// warning: OutputFormat "png" dropped (not supported by gemini-nano-banana-2.1)
	// POST /v1beta/models/gemini-nano-banana-2.1:generateContent
	// POST /v1beta/models/gemini-nano-banana-2.1:generateContent
}
