package openaicompat

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// The differential test is only worth something if the streaming path
// really ran: check that it did, and that small answers skip it by
// default.
func TestStreamingPathTaken(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     providertest.Options
		thr      int64
		payloads int // 0: not streamed
	}{
		{"forced", providertest.Options{}, 1, 2},
		{"small answer, default threshold", providertest.Options{}, 0, 0},
		{"large answer, default threshold", providertest.Options{LargeImageBytes: 1 << 20}, 0, 2},
		{"off", providertest.Options{LargeImageBytes: 1 << 20}, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OPENAI_API_KEY", "")
			tc.opts.APIKey = "k"
			srv := providertest.NewServer(tc.opts)
			defer srv.Close()
			g, err := New(Config{APIKey: "k", BaseURL: srv.URL() + "/v1", HTTPClient: srv.Client(), StreamThreshold: tc.thr})
			if err != nil {
				t.Fatal(err)
			}
			p, err := g.prepare(&provider.Request{Prompt: "p", N: 2})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(g.generationsBody(p))
			var ans imagesResponse
			_, streamed, err := g.post(context.Background(), p, "/images/generations", "application/json", body, &ans)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			if streamed != nil {
				got = len(streamed.Payloads)
			}
			if got != tc.payloads {
				t.Fatalf("%d payloads streamed, want %d", got, tc.payloads)
			}
		})
	}
}
