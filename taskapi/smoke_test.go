package taskapi_test

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestSmoke(t *testing.T) {
	for name, cfg := range presets() {
		t.Run(name, func(t *testing.T) {
			srv, clk := emulator(t, providertest.Options{})
			g := generator(t, srv, cfg, clk)
			resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse", N: 2, Size: "2K"})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d images, model %s, cost %v, usage %+v, warnings %v, attempts %d", len(resp.Images), resp.Model, resp.Cost, resp.Usage, resp.Warnings, resp.Attempts)
			for _, ti := range srv.Tasks() {
				t.Logf("%+v", ti)
			}
			t.Logf("waits %v", clk.Waits())
		})
	}
}
