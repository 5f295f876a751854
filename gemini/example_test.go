package gemini_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// The emulator stands in for generativelanguage.googleapis.com; against the
// real service, leave BaseURL and HTTPClient empty.
func ExampleNew() {
	srv := providertest.NewServer(providertest.Options{APIKey: "my-key"})
	defer srv.Close()

	g, err := gemini.New(context.Background(), gemini.Config{
		APIKey:     "my-key",
		Model:      "gemini-3-pro-image",
		BaseURL:    srv.URL(),
		HTTPClient: srv.Client(),
	})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := g.Generate(context.Background(), &provider.Request{
		Prompt:      "a lighthouse at dusk, oil painting",
		Size:        "2k", // sent as "2K"
		AspectRatio: "16:9",
	})
	if err != nil {
		log.Fatal(err)
	}
	img := resp.Images[0]
	fmt.Println(resp.Provider, resp.Model, len(resp.Images), img.MIMEType, img.Extension())
	fmt.Println("image tokens:", resp.Usage.OutputImageTokens)
	// Output:
	// gemini gemini-3-pro-image 1 image/jpeg .jpg
	// image tokens: 1120
}

// A session edits the same image turn by turn, and can be saved and resumed
// elsewhere.
func ExampleGenerator_NewSession() {
	srv := providertest.NewServer(providertest.Options{APIKey: "my-key"})
	defer srv.Close()
	g, err := gemini.New(context.Background(), gemini.Config{APIKey: "my-key", BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	s := g.NewSession(gemini.SessionOptions{})
	for _, p := range []string{"a wooden boat on a lake", "paint the boat red"} {
		if _, err := s.Generate(ctx, &provider.Request{Prompt: p}); err != nil {
			log.Fatal(err)
		}
	}
	saved, err := json.Marshal(s)
	if err != nil {
		log.Fatal(err)
	}

	var st gemini.SessionState
	if err := json.Unmarshal(saved, &st); err != nil {
		log.Fatal(err)
	}
	resumed, err := g.ResumeSession(st)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := resumed.Generate(ctx, &provider.Request{Prompt: "now at sunset"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resumed.Turns(), "turns;", len(resp.Images), "image")
	// Output: 3 turns; 1 image
}

// Previews: Gemini 3 models draw drafts while they think; provider.Stream
// yields each as it arrives (through streamGenerateContent), then the
// final response.
func ExampleGenerator_Generate_previews() {
	srv := providertest.NewServer(providertest.Options{APIKey: "my-key"})
	defer srv.Close()
	g, err := gemini.New(context.Background(), gemini.Config{APIKey: "my-key", BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		log.Fatal(err)
	}
	req := &provider.Request{Prompt: "a lighthouse at dusk", Model: "gemini-3-pro-image"}
	for ev, err := range provider.Stream(context.Background(), g, req) {
		switch {
		case err != nil:
			log.Fatal(err)
		case ev.Preview != nil:
			fmt.Println("draft", ev.Preview.Index, ev.Preview.Image.MIMEType)
		default:
			fmt.Println("final", ev.Response.Images[0].MIMEType)
		}
	}
	// Output:
	// draft 0 image/jpeg
	// draft 1 image/jpeg
	// final image/jpeg
}
