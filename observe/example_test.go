package observe_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/imagegen-go/imagegen/observe"
	"github.com/imagegen-go/imagegen/provider"
)

// An Observer's middleware, placed outermost, records each request as a
// span (through the global TracerProvider here, a no-op until the
// program sets one), its metrics, and a log line.
func ExampleObserver_Middleware() {
	// A logger without the varying fields, for a stable output.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "imagegen.duration":
				return slog.Attr{}
			}
			return a
		},
	}))
	obs, err := observe.New(observe.Config{Logger: logger})
	if err != nil {
		fmt.Println(err)
		return
	}
	gen := provider.Chain(fakeGemini{}, obs.Middleware())
	if _, err := gen.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse"}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// level=INFO msg=imagegen.generate gen_ai.operation.name=generate_content gen_ai.provider.name=gcp.gemini gen_ai.request.model=gemini-2.5-flash-image gen_ai.output.type=image imagegen.n=1 imagegen.provider=gemini gen_ai.response.model=gemini-2.5-flash-image gen_ai.usage.input_tokens=8 gen_ai.usage.output_tokens=1290 imagegen.cost=0 imagegen.cached=false imagegen.attempts=1 imagegen.images=1
}

// fakeGemini stands in for a Gemini adapter.
type fakeGemini struct{}

func (fakeGemini) Generate(context.Context, *provider.Request) (*provider.Response, error) {
	return &provider.Response{Provider: "gemini", Model: "gemini-2.5-flash-image", Attempts: 1,
		Images: []provider.Image{{Data: []byte("…")}}, Usage: provider.Usage{InputTokens: 8, OutputTokens: 1290}}, nil
}

func (fakeGemini) Describe() provider.Description {
	return provider.Description{Provider: "gemini", Model: "gemini-2.5-flash-image"}
}
