package providertest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// Point the real genai client at the emulator, script two failures, and
// read what the client sent.
func ExampleNewServer() {
	srv := providertest.NewServer(providertest.Options{APIKey: "test-key"})
	defer srv.Close()

	// The next two calls fail (a 503, then a 429 with a 7 s RetryInfo);
	// the third succeeds.
	srv.Inject(providertest.EndpointGenerateContent, providertest.Unavailable(), providertest.RateLimited(7*time.Second))

	ctx := context.Background()
	client, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      "test-key",
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  srv.Client(),
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(), APIVersion: "v1beta"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		resp, err := client.Models.GenerateContent(ctx, "gemini-nano-banana-2.1", genai.Text("a red fox"), nil)
		var apiErr genai.APIError // genai returns it by value
		switch {
		case errors.As(err, &apiErr):
			fmt.Println(apiErr.Code, apiErr.Status)
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Println("200, finish reason", resp.Candidates[0].FinishReason)
		}
	}
	reqs := srv.Requests()
	fmt.Println(len(reqs), "requests recorded; key header:", reqs[0].Header.Get("X-Goog-Api-Key"))
	// Output:
	// 503 UNAVAILABLE
	// 429 RESOURCE_EXHAUSTED
	// 200, finish reason STOP
	// 3 requests recorded; key header: REDACTED
}

// Stream a Gemini 3 image with genai's GenerateContentStream: the thought
// images (drafts) come first, the final image last; a StreamReset fault
// would cut the stream after the first draft.
func ExampleServer_stream() {
	srv := providertest.NewServer(providertest.Options{})
	defer srv.Close()

	ctx := context.Background()
	client, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      "test-key",
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  srv.Client(),
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(), APIVersion: "v1beta"},
	})
	if err != nil {
		log.Fatal(err)
	}
	cfg := &genai.GenerateContentConfig{
		AutomaticContinuation: genai.Ptr(false),
		// The emulator sends drafts only when thoughts are asked for.
		ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true},
	}
	for resp, err := range client.Models.GenerateContentStream(ctx, "gemini-3-pro-image", genai.Text("a red fox"), cfg) {
		if err != nil {
			log.Fatal(err)
		}
		for _, p := range resp.Candidates[0].Content.Parts {
			switch {
			case p.InlineData != nil && p.Thought:
				fmt.Println("draft", p.InlineData.MIMEType)
			case p.InlineData != nil:
				fmt.Println("final", p.InlineData.MIMEType, resp.Candidates[0].FinishReason)
			}
		}
	}
	fmt.Println(srv.Stats().Streams, "stream")
	// Output:
	// draft image/jpeg
	// draft image/jpeg
	// final image/jpeg STOP
	// 1 stream
}
