package openaicompat_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// BenchmarkGenerations compares the adapter with go-openai called
// directly, for one small generations answer (a 1024² two-colour PNG) from
// the emulator on loopback. The go-openai side decodes the base64 too, so
// both end with image bytes. "adapter" and "go-openai" time each alone;
// "ratio" alternates one call of each and reports adapter/go-openai, so
// that a change of load on a shared machine weighs on both alike.
//
//	go test -run '^$' -bench Generations -benchmem -count 5 ./openaicompat/
func BenchmarkGenerations(b *testing.B) {
	adapter := func(b *testing.B) func() {
		_, g := setup(b, providertest.Options{}, openaicompat.Config{})
		ctx := context.Background()
		req := &provider.Request{Prompt: "a red kite", Size: "1024x1024", Quality: "low"}
		return func() {
			resp, err := g.Generate(ctx, req)
			if err != nil || len(resp.Images) != 1 {
				b.Fatal(err)
			}
		}
	}
	goOpenAI := func(b *testing.B) func() {
		clearEnv(b)
		srv := providertest.NewServer(providertest.Options{APIKey: testKey})
		b.Cleanup(srv.Close)
		cfg := openai.DefaultConfig(testKey)
		cfg.BaseURL = srv.URL() + "/v1"
		cfg.HTTPClient = srv.Client()
		c := openai.NewClientWithConfig(cfg)
		ctx := context.Background()
		req := openai.ImageRequest{Model: "gpt-image-2", Prompt: "a red kite", N: 1, Size: "1024x1024", Quality: "low"}
		return func() {
			resp, err := c.CreateImage(ctx, req)
			if err != nil || len(resp.Data) != 1 {
				b.Fatal(err)
			}
			if _, err := base64.StdEncoding.DecodeString(resp.Data[0].B64JSON); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, bc := range []struct {
		name string
		call func(*testing.B) func()
	}{{"adapter", adapter}, {"go-openai", goOpenAI}} {
		b.Run(bc.name, func(b *testing.B) {
			call := bc.call(b)
			b.ReportAllocs()
			for b.Loop() {
				call()
			}
		})
	}
	b.Run("ratio", func(b *testing.B) {
		a, o := adapter(b), goOpenAI(b)
		var ta, to time.Duration
		for b.Loop() {
			t0 := time.Now()
			a()
			t1 := time.Now()
			o()
			ta, to = ta+t1.Sub(t0), to+time.Since(t1)
		}
		b.ReportMetric(float64(ta)/float64(to), "adapter/go-openai")
	})
}
