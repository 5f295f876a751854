package gemini

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// The differential test is only worth something if the streaming path
// really ran: check that it did, and that answers under the threshold
// skip it.
func TestStreamingPathTaken(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     providertest.Options
		cfg      Config
		payloads int // 0: not streamed
	}{
		{"forced", providertest.Options{}, Config{StreamThreshold: 1}, 2},                                                                                  // the thought draft and the final image
		{"relay text", providertest.Options{GeminiAuth: providertest.AuthBearer, RelayImageInText: true}, Config{StreamThreshold: 1, BearerAuth: true}, 2}, // inline draft, final in text
		{"image answer, default threshold", providertest.Options{}, Config{}, 2},
		{"answer under the threshold", providertest.Options{}, Config{StreamThreshold: 10 << 20}, 0},
		{"large answer, default threshold", providertest.Options{LargeImageBytes: 1 << 20}, Config{}, 2},
		{"off", providertest.Options{LargeImageBytes: 1 << 20}, Config{StreamThreshold: -1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			providertest.ClearEnv(t)
			tc.opts.APIKey = "k"
			srv := providertest.NewServer(tc.opts)
			defer srv.Close()
			tc.cfg.APIKey, tc.cfg.BaseURL, tc.cfg.HTTPClient = "k", srv.URL(), srv.Client()
			g, err := New(context.Background(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := g.call(context.Background(), plan{model: "gemini-nano-banana-2.1"}, nil, &provider.Request{Prompt: "p"})
			if r.err != nil {
				t.Fatal(r.err)
			}
			got := 0
			if r.streamed != nil {
				got = len(r.streamed.Payloads)
			}
			if got != tc.payloads {
				t.Fatalf("%d payloads streamed, want %d", got, tc.payloads)
			}
		})
	}
}
