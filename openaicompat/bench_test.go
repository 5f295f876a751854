package openaicompat_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// The adapter against go-openai called directly, for one small generations
// answer (a 1024² two-colour PNG) from the emulator on loopback. The
// go-openai side decodes the base64 too, so both end with image bytes.
//
//	go test -run '^$' -bench 'Generations' -benchmem ./openaicompat/
func BenchmarkGenerationsAdapter(b *testing.B) {
	_, g := setup(b, providertest.Options{}, openaicompat.Config{})
	ctx := context.Background()
	req := &provider.Request{Prompt: "a red kite", Size: "1024x1024", Quality: "low"}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := g.Generate(ctx, req)
		if err != nil || len(resp.Images) != 1 {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerationsGoOpenAI(b *testing.B) {
	clearEnv(b)
	srv := providertest.NewServer(providertest.Options{APIKey: testKey})
	b.Cleanup(srv.Close)
	cfg := openai.DefaultConfig(testKey)
	cfg.BaseURL = srv.URL() + "/v1"
	cfg.HTTPClient = srv.Client()
	c := openai.NewClientWithConfig(cfg)
	ctx := context.Background()
	req := openai.ImageRequest{Model: "gpt-image-2", Prompt: "a red kite", N: 1, Size: "1024x1024", Quality: "low"}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.CreateImage(ctx, req)
		if err != nil || len(resp.Data) != 1 {
			b.Fatal(err)
		}
		if _, err := base64.StdEncoding.DecodeString(resp.Data[0].B64JSON); err != nil {
			b.Fatal(err)
		}
	}
}
