package gemini_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// pair makes two generators on one emulator: one that streams every
// answer (StreamThreshold 1) and one that never does (-1).
func pair(t *testing.T, opts providertest.Options, cfg gemini.Config) (*providertest.Server, *gemini.Generator, *gemini.Generator) {
	t.Helper()
	srv, on := setupStream(t, opts, cfg, 1)
	cfg.APIKey, cfg.BaseURL, cfg.HTTPClient = testKey, srv.URL(), srv.Client()
	cfg.StreamThreshold = -1
	off, err := gemini.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, on, off
}

func setupStream(t *testing.T, opts providertest.Options, cfg gemini.Config, thr int64) (*providertest.Server, *gemini.Generator) {
	cfg.StreamThreshold = thr
	return setup(t, opts, cfg)
}

// sameOutcome checks that both paths gave the same Response, or errors of
// the same kind, code, status and billed usage. (Error messages may quote
// genai's or the streaming decoder's own words for a broken body.)
func sameOutcome(t *testing.T, name string, r1 *provider.Response, e1 error, r2 *provider.Response, e2 error) {
	t.Helper()
	if (e1 == nil) != (e2 == nil) {
		t.Fatalf("%s: streaming err %v, normal err %v", name, e1, e2)
	}
	if e1 != nil {
		var p1, p2 *provider.Error
		if !errors.As(e1, &p1) || !errors.As(e2, &p2) {
			t.Fatalf("%s: untyped errors %v / %v", name, e1, e2)
		}
		if p1.Kind != p2.Kind || p1.Code != p2.Code || p1.StatusCode != p2.StatusCode || !reflect.DeepEqual(p1.Usage, p2.Usage) {
			t.Fatalf("%s: streaming %+v\nnormal %+v", name, p1, p2)
		}
		if p1.Kind != provider.KindUnavailable && p1.Message != p2.Message {
			t.Fatalf("%s: messages differ: %q vs %q", name, p1.Message, p2.Message)
		}
		return
	}
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("%s: responses differ\nstreaming %+v\nnormal    %+v", name, summary(r1), summary(r2))
	}
	if len(r1.Images) == 0 {
		t.Fatalf("%s: no image", name)
	}
}

func summary(r *provider.Response) any {
	type img struct {
		N    int
		MIME string
	}
	var imgs []img
	for _, i := range r.Images {
		imgs = append(imgs, img{len(i.Data), i.MIMEType})
	}
	c := *r
	c.Images = nil
	return struct {
		Images []img
		Rest   provider.Response
	}{imgs, c}
}

// TestStreamingMatchesNormalPath runs every emulator fixture through the
// streaming decoder and through genai's own decoding and compares.
func TestStreamingMatchesNormalPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type fixture struct {
		name string
		opts providertest.Options
		cfg  gemini.Config
		req  provider.Request
		f    *providertest.Fault
	}
	var fixtures []fixture
	for _, m := range []struct {
		model string
		sizes []string
	}{
		// 4K once: every model's 4K answer is the same drawing, which the
		// emulator takes a tenth of a second to encode for each fixture.
		{"gemini-nano-banana-2.1", []string{"1K", "2K"}},
		{"gemini-3-pro-image", []string{"1K", "2K"}},
		{"gemini-3.1-flash-lite-image", []string{"1K"}},
		{"gemini-3.1-flash-image", []string{"512", "1K", "4K"}},
		{"gemini-2.5-flash-image", []string{""}},
	} {
		for _, sz := range m.sizes {
			fixtures = append(fixtures,
				fixture{name: m.model + "/" + sz, req: provider.Request{Prompt: "a lighthouse at dusk", Model: m.model, Size: sz}},
				fixture{name: m.model + "/" + sz + "/image-only/16:9", cfg: gemini.Config{ImageOnly: true},
					req: provider.Request{Prompt: "a fox", Model: m.model, Size: sz, AspectRatio: "16:9"}})
		}
	}
	fault := func(f providertest.Fault) *providertest.Fault { return &f }
	fixtures = append(fixtures,
		fixture{name: "N=3", req: provider.Request{Prompt: "three cats", N: 3}},
		fixture{name: "large noisy with draft", opts: providertest.Options{LargeImageBytes: 256 << 10}, req: provider.Request{Prompt: "noise"}},
		fixture{name: "large noisy final only", opts: providertest.Options{LargeImageBytes: 256 << 10}, req: provider.Request{Prompt: "noise", Model: "gemini-2.5-flash-image"}},
		fixture{name: "bearer relay image in text", opts: providertest.Options{GeminiAuth: providertest.AuthBearer, RelayImageInText: true},
			cfg: gemini.Config{BearerAuth: true, Name: "laozhang"}, req: provider.Request{Prompt: "p"}},
		fixture{name: "bearer relay large image in text", opts: providertest.Options{GeminiAuth: providertest.AuthBearer, RelayImageInText: true, LargeImageBytes: 256 << 10},
			cfg: gemini.Config{BearerAuth: true}, req: provider.Request{Prompt: "p"}},
		fixture{name: "safety block", req: provider.Request{Prompt: "p"}, f: fault(providertest.SafetyBlock(""))},
		fixture{name: "prompt blocked", req: provider.Request{Prompt: "p"}, f: fault(providertest.PromptBlocked("PROHIBITED_CONTENT"))},
		fixture{name: "no image", req: provider.Request{Prompt: "p"}, f: fault(providertest.NoImage())},
		fixture{name: "truncated", req: provider.Request{Prompt: "p"}, f: fault(providertest.Truncated())},
		fixture{name: "malformed", req: provider.Request{Prompt: "p"}, f: fault(providertest.Malformed())},
		fixture{name: "rate limited", req: provider.Request{Prompt: "p"}, f: fault(providertest.RateLimited(3 * time.Second))},
		fixture{name: "unavailable", req: provider.Request{Prompt: "p"}, f: fault(providertest.Unavailable())},
		fixture{name: "html 502", req: provider.Request{Prompt: "p"}, f: fault(providertest.ProxyHTML502())},
	)
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			srv, on, off := pair(t, fx.opts, fx.cfg)
			if fx.f != nil {
				srv.Inject(providertest.EndpointGenerateContent, *fx.f)
			}
			r1, e1 := on.Generate(ctx, &fx.req)
			if fx.f != nil {
				srv.Inject(providertest.EndpointGenerateContent, *fx.f)
			}
			r2, e2 := off.Generate(ctx, &fx.req)
			sameOutcome(t, fx.name, r1, e1, r2, e2)
			if fx.f == nil && e1 != nil {
				t.Fatalf("unexpected error %v", e1)
			}
		})
	}
}

// A session in a relay that puts images in text sends the model's turn
// back exactly as it came, base64 and all, on both paths.
func TestStreamingSessionTurnsMatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, on, off := pair(t, providertest.Options{GeminiAuth: providertest.AuthBearer, RelayImageInText: true, LargeImageBytes: 300 << 10},
		gemini.Config{BearerAuth: true})
	var bodies [2][]byte
	for i, g := range []*gemini.Generator{on, off} {
		s := g.NewSession(gemini.SessionOptions{Model: "gemini-2.5-flash-image"})
		for _, p := range []string{"a boat", "make it red"} {
			if _, err := s.Generate(ctx, &provider.Request{Prompt: p}); err != nil {
				t.Fatal(err)
			}
		}
		reqs := srv.Requests()
		bodies[i] = reqs[len(reqs)-1].Body
	}
	if string(bodies[0]) != string(bodies[1]) {
		t.Fatalf("second turns differ: %d vs %d bytes", len(bodies[0]), len(bodies[1]))
	}
	if len(bodies[0]) < 300<<10 {
		t.Fatalf("the image was not sent back (%d bytes)", len(bodies[0]))
	}
}
