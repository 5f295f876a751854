package openaicompat_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// pair makes two generators on one emulator: one that streams every
// answer (StreamThreshold 1) and one that never does (-1).
func pair(t *testing.T, opts providertest.Options, cfg openaicompat.Config) (*providertest.Server, *openaicompat.Generator, *openaicompat.Generator) {
	t.Helper()
	cfg.StreamThreshold = 1
	srv, on := setup(t, opts, cfg)
	cfg.StreamThreshold = -1
	cfg.APIKey, cfg.HTTPClient = testKey, srv.Client()
	cfg.BaseURL = srv.URL() + "/v1"
	if cfg.Mode == openaicompat.ModeOpenRouterImages {
		cfg.BaseURL = srv.URL() + "/api/v1"
	}
	if cfg.Clock == nil {
		cfg.Clock = providertest.NewClock(now)
	}
	off, err := openaicompat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, on, off
}

// sameOutcome checks that both paths gave the same Response, or errors of
// the same kind, code, status, usage and (but for broken bodies, where the
// decoders word things differently) message.
func sameOutcome(t *testing.T, r1 *provider.Response, e1 error, r2 *provider.Response, e2 error) {
	t.Helper()
	if (e1 == nil) != (e2 == nil) {
		t.Fatalf("streaming err %v, normal err %v", e1, e2)
	}
	if e1 != nil {
		var p1, p2 *provider.Error
		if !errors.As(e1, &p1) || !errors.As(e2, &p2) {
			t.Fatalf("untyped errors %v / %v", e1, e2)
		}
		if p1.Kind != p2.Kind || p1.Code != p2.Code || p1.StatusCode != p2.StatusCode || !reflect.DeepEqual(p1.Usage, p2.Usage) {
			t.Fatalf("streaming %+v\nnormal %+v", p1, p2)
		}
		if p1.Kind != provider.KindUnavailable && p1.Message != p2.Message {
			t.Fatalf("messages differ: %q vs %q", p1.Message, p2.Message)
		}
		return
	}
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("responses differ\nstreaming %s\nnormal    %s", brief(r1), brief(r2))
	}
}

func brief(r *provider.Response) string {
	var b strings.Builder
	for _, i := range r.Images {
		fmt.Fprintf(&b, "[%d bytes %s %q] ", len(i.Data), i.MIMEType, i.URL)
	}
	c := *r
	c.Images = nil
	fmt.Fprintf(&b, "%+v", c)
	return b.String()
}

// TestStreamingMatchesNormalPath runs every emulator fixture through the
// streaming decoder and through the normal decoding and compares.
func TestStreamingMatchesNormalPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type fixture struct {
		name  string
		opts  providertest.Options
		cfg   openaicompat.Config
		req   provider.Request
		fault *providertest.Fault
		ep    providertest.Endpoint
	}
	fault := func(f providertest.Fault) *providertest.Fault { return &f }
	png1 := pngBytes(t, 32, 24)
	fixtures := []fixture{
		{name: "generations", req: provider.Request{Prompt: "a red kite", Size: "1024x1024", Quality: "low"}},
		{name: "generations n=3 jpeg", req: provider.Request{Prompt: "a red kite", N: 3, OutputFormat: "jpeg"}},
		{name: "generations webp label", req: provider.Request{Prompt: "a red kite", OutputFormat: "webp"}},
		{name: "generations large", opts: providertest.Options{LargeImageBytes: 256 << 10}, req: provider.Request{Prompt: "noise"}},
		{name: "edits one", req: provider.Request{Prompt: "make it blue", References: []provider.Image{{Data: png1}}}},
		{name: "edits two with mask", req: provider.Request{Prompt: "merge", References: []provider.Image{{Data: png1}, {Data: png1}}, Mask: &provider.Image{Data: png1}}},
		{name: "openrouter images", cfg: func() openaicompat.Config {
			c := openaicompat.OpenRouter("")
			c.Mode = openaicompat.ModeOpenRouterImages
			return c
		}(), req: provider.Request{Prompt: "p", N: 2, Size: "2K"}},
		{name: "no image", req: provider.Request{Prompt: "p"}, fault: fault(providertest.NoImage()), ep: providertest.EndpointImagesGenerations},
		{name: "truncated", req: provider.Request{Prompt: "p"}, fault: fault(providertest.Truncated()), ep: providertest.EndpointImagesGenerations},
		{name: "malformed", req: provider.Request{Prompt: "p"}, fault: fault(providertest.Malformed()), ep: providertest.EndpointImagesGenerations},
		{name: "moderation", req: provider.Request{Prompt: "p"}, fault: fault(providertest.SafetyBlock("")), ep: providertest.EndpointImagesGenerations},
		{name: "rate limited", req: provider.Request{Prompt: "p"}, fault: fault(providertest.RateLimited(2 * time.Second)), ep: providertest.EndpointImagesGenerations},
	}
	for _, shape := range []struct {
		name  string
		shape providertest.ChatShape
	}{{"images", providertest.ChatImages}, {"markdown", providertest.ChatMarkdown}, {"content-array", providertest.ChatContentArray}, {"hosted", providertest.ChatHostedURL}} {
		for _, mode := range []openaicompat.Mode{openaicompat.ModeChatImages, openaicompat.ModeChatMarkdown, openaicompat.ModeChatContentArray} {
			for _, model := range []string{"gemini-3-pro-image", "gemini-2.5-flash-image"} {
				for _, keep := range []bool{false, true} {
					cfg := orConfig()
					cfg.Mode, cfg.Model, cfg.KeepDrafts = mode, model, keep
					cfg.Fetch = openaicompat.FetchPolicy{AllowHTTP: true, AllowPrivate: true}
					fixtures = append(fixtures, fixture{name: fmt.Sprintf("chat %s/%s/%s/keep=%v", shape.name, mode, model, keep),
						opts: providertest.Options{ChatShape: shape.shape}, cfg: cfg, req: provider.Request{Prompt: "a fox", N: 2}})
				}
			}
		}
		cfg := orConfig()
		cfg.Mode = openaicompat.ModeChatMarkdown
		fixtures = append(fixtures,
			fixture{name: "chat large " + shape.name, opts: providertest.Options{ChatShape: shape.shape, LargeImageBytes: 256 << 10},
				cfg: func() openaicompat.Config {
					c := cfg
					c.Fetch = openaicompat.FetchPolicy{AllowHTTP: true, AllowPrivate: true}
					return c
				}(),
				req: provider.Request{Prompt: "noise"}},
			fixture{name: "chat too large for the fetch policy " + shape.name, opts: providertest.Options{ChatShape: shape.shape, LargeImageBytes: 256 << 10},
				cfg: func() openaicompat.Config {
					c := cfg
					c.Fetch = openaicompat.FetchPolicy{AllowHTTP: true, AllowPrivate: true, MaxBytes: 128 << 10}
					return c
				}(), req: provider.Request{Prompt: "noise"}},
			fixture{name: "chat safety " + shape.name, opts: providertest.Options{ChatShape: shape.shape}, cfg: cfg,
				req: provider.Request{Prompt: "p"}, fault: fault(providertest.SafetyBlock("")), ep: providertest.EndpointChatCompletions},
			fixture{name: "chat no image " + shape.name, opts: providertest.Options{ChatShape: shape.shape}, cfg: cfg,
				req: provider.Request{Prompt: "p"}, fault: fault(providertest.NoImage()), ep: providertest.EndpointChatCompletions},
		)
	}
	// "large" is 256 KiB of noise: many reads of the streaming decoder,
	// without a MiB of base64 to encode and decode twice per fixture.
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			srv, on, off := pair(t, fx.opts, fx.cfg)
			if fx.fault != nil {
				srv.Inject(fx.ep, *fx.fault)
			}
			r1, e1 := on.Generate(ctx, &fx.req)
			if fx.fault != nil {
				srv.Inject(fx.ep, *fx.fault)
			}
			r2, e2 := off.Generate(ctx, &fx.req)
			sameOutcome(t, r1, e1, r2, e2)
			if fx.fault == nil && e1 != nil && !strings.Contains(fx.name, "too large") {
				t.Fatalf("unexpected error %v", e1)
			}
		})
	}
}

// Relay answers with shapes the emulator does not make: data URIs that
// are not images, bad base64, titles, several images in one string,
// escaped slashes. Both paths must agree on each.
func TestStreamingMatchesOddRelayAnswers(t *testing.T) {
	t.Parallel()
	img := pngBytes(t, 40, 30)
	b := encodeStd(img)
	esc := strings.ReplaceAll(b, "/", `\/`)
	contents := []string{
		`"Here ![a](data:image/png;base64,` + esc + `) and ![b](data:image/png;base64,` + b + ` \"t\")"`,
		`"![x](data:image/png;base64,` + b + ` junk)"`,
		`"data:image/png;base64,` + b + `\nmore text"`,
		`"![x](data:image/jpeg;base64,` + b + `)"`,
		`"![x](data:text/plain;base64,` + b + `)"`,
		`"![x](data:image/png;base64,QUJDRA==)"`,
		`"![x](data:image/png;base64,` + b[:len(b)-4] + `)"`,
		`"![x](https://127.0.0.1:1/data:image/png;base64,` + b + `)"`,
		`[{"type":"image_url","image_url":"data:image/png;base64,` + b + `"},{"type":"output_image","b64_json":"` + b + `"},{"type":"text","text":"t"}]`,
		`[{"type":"image_url","image_url":{"url":"data:application/octet-stream;base64,` + b + `"}}]`,
		`[{"type":"image_url","image_url":{"url":"data:image/png;charset=x;base64,` + b + `"}}]`,
	}
	for i, c := range contents {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			body := `{"model":"m","choices":[{"message":{"role":"assistant","content":` + c + `},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}`
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			var out [2]*provider.Response
			var errs [2]error
			for j, thr := range []int64{1, -1} {
				g, err := openaicompat.New(openaicompat.Config{APIKey: "k", BaseURL: srv.URL, Mode: openaicompat.ModeChatMarkdown, Model: "m",
					HTTPClient: srv.Client(), KeepDrafts: true, StreamThreshold: thr, Clock: providertest.NewClock(now),
					Fetch: openaicompat.FetchPolicy{MaxBytes: int64(len(img) + 10)}})
				if err != nil {
					t.Fatal(err)
				}
				out[j], errs[j] = g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			}
			sameOutcome(t, out[0], errs[0], out[1], errs[1])
		})
	}
}

func encodeStd(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
