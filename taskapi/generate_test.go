package taskapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/taskapi"
)

func pngBytes(t testing.TB, side int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = byte(i*31 + i/7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gifBytes(t testing.TB) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.White})
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// requestsTo returns the recorded requests of one endpoint.
func requestsTo(srv *providertest.Server, ep providertest.Endpoint) []providertest.Request {
	var out []providertest.Request
	for _, r := range srv.Requests() {
		if r.Endpoint == ep {
			out = append(out, r)
		}
	}
	return out
}

func TestGenerateEachService(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      taskapi.Config
		req      provider.Request
		images   int
		creates  providertest.Endpoint
		nCreates int
		cost     provider.USD // the cost the service reports; 0 = none
	}{
		{"kie", taskapi.Kie(""), provider.Request{Prompt: "a lighthouse", N: 2, Size: "2K", AspectRatio: "16:9", OutputFormat: "jpeg"},
			2, providertest.EndpointKieCreate, 2, 180_000}, // 18 credits each at $0.005
		{"kie 4K", taskapi.Kie(""), provider.Request{Prompt: "a lighthouse", Size: "4K"},
			1, providertest.EndpointKieCreate, 1, 120_000},
		{"kie gpt-image-2", taskapi.Kie(""), provider.Request{Prompt: "a lighthouse", Model: "kie/gpt-image-2", Size: "1K"},
			1, providertest.EndpointKieCreate, 1, 30_000},
		{"replicate", taskapi.Replicate(""), provider.Request{Prompt: "a lighthouse", N: 3, Size: "4K", AspectRatio: "auto"},
			3, providertest.EndpointReplicateCreate, 3, 0},
		{"replicate seedream", taskapi.Replicate(""), provider.Request{Prompt: "a lighthouse", Model: "replicate/bytedance/seedream-4", Size: "2K"},
			1, providertest.EndpointReplicateCreate, 1, 0},
		{"apimart", taskapi.APIMart(""), provider.Request{Prompt: "a lighthouse", N: 6, Size: "4K", AspectRatio: "21:9"},
			6, providertest.EndpointAPIMartCreate, 2, 240_000}, // 4 + 2 images at $0.04
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, providertest.Options{})
			g := generator(t, srv, tc.cfg, clk)
			req := tc.req
			resp, err := g.Generate(context.Background(), &req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Images) != tc.images || resp.Usage.Images != tc.images {
				t.Fatalf("%d images, %d billed; want %d", len(resp.Images), resp.Usage.Images, tc.images)
			}
			for i, img := range resp.Images {
				if mt := provider.SniffMIME(img.Data); mt == "" || mt != img.MIMEType || img.URL != "" {
					t.Errorf("image %d: sniffed %q, MIMEType %q, URL %q", i, mt, img.MIMEType, img.URL)
				}
			}
			wantModel := req.Model
			if wantModel == "" {
				wantModel = tc.cfg.Model
			}
			if resp.Provider != string(tc.cfg.Service) || resp.Model != wantModel {
				t.Errorf("provider %q model %q; want %s %s", resp.Provider, resp.Model, tc.cfg.Service, wantModel)
			}
			if resp.Cost != tc.cost {
				t.Errorf("cost %v, want %v", resp.Cost, tc.cost)
			}
			if n := len(requestsTo(srv, tc.creates)); n != tc.nCreates || resp.Attempts != tc.nCreates {
				t.Errorf("%d creates, Attempts %d; want %d", n, resp.Attempts, tc.nCreates)
			}
			if len(resp.Warnings) > 0 {
				t.Errorf("warnings %q", resp.Warnings)
			}
		})
	}
}

// TestWireRequests checks what each service is sent, field by field.
func TestWireRequests(t *testing.T) {
	t.Parallel()
	ref := provider.Image{Data: pngBytes(t, 8)}
	t.Run("kie", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := generator(t, srv, taskapi.Kie(""), clk)
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Size: "4k", AspectRatio: "9:16", OutputFormat: "jpg",
			References: []provider.Image{ref, ref}, Options: provider.Options{taskapi.Options{Input: json.RawMessage(`{"google_search":true,"prompt":"overridden?"}`)}}})
		if err != nil {
			t.Fatal(err)
		}
		uploads := requestsTo(srv, providertest.EndpointKieUpload)
		if len(uploads) != 2 || uploads[0].Path != "/kie/api/file-stream-upload" || len(uploads[0].Files["file"]) != 1 ||
			uploads[0].Form["uploadPath"][0] != "imagegen" {
			t.Fatalf("uploads %+v", uploads)
		}
		c := requestsTo(srv, providertest.EndpointKieCreate)[0]
		in := c.JSON["input"].(map[string]any)
		refs := in["image_input"].([]any)
		if c.JSON["model"] != "nano-banana-pro" || in["prompt"] != "p" || in["resolution"] != "4K" || in["aspect_ratio"] != "9:16" ||
			in["output_format"] != "jpg" || in["google_search"] != true || len(refs) != 2 ||
			!strings.HasPrefix(refs[0].(string), srv.URL()+"/kie/files/") || c.JSON["callBackUrl"] != nil {
			t.Errorf("createTask %s", c.Body)
		}
		if got := c.Header.Get("Authorization"); got != "REDACTED" {
			t.Errorf("Authorization recorded as %q", got)
		}
	})
	t.Run("kie image-to-image model", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := generator(t, srv, taskapi.Kie(""), clk)
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "kie/gpt-image-2", References: []provider.Image{ref}}); err != nil {
			t.Fatal(err)
		}
		c := requestsTo(srv, providertest.EndpointKieCreate)[0]
		in := c.JSON["input"].(map[string]any)
		if c.JSON["model"] != "gpt-image-2-image-to-image" || len(in["input_urls"].([]any)) != 1 || in["image_input"] != nil {
			t.Errorf("createTask %s", c.Body)
		}
	})
	t.Run("replicate", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		cfg := taskapi.Replicate("")
		cfg.CancelAfter = 90 * time.Second
		small := provider.Image{Data: pngBytes(t, 1)}
		cfg.DataURIBytes = int64(len(small.Data))
		g := generator(t, srv, cfg, clk)
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Size: "1K", AspectRatio: "auto", OutputFormat: "jpeg",
			References: []provider.Image{small, ref}}); err != nil {
			t.Fatal(err)
		}
		c := requestsTo(srv, providertest.EndpointReplicateCreate)[0]
		in := c.JSON["input"].(map[string]any)
		refs := in["image_input"].([]any)
		if c.Path != "/replicate/v1/models/google/nano-banana-pro/predictions" || c.Header.Get("Prefer") != "wait=60" ||
			c.Header.Get("Cancel-After") != "90s" || in["resolution"] != "1K" || in["aspect_ratio"] != "match_input_image" ||
			in["output_format"] != "jpg" || len(refs) != 2 || !strings.HasPrefix(refs[0].(string), "data:image/png;base64,") ||
			!strings.HasPrefix(refs[1].(string), srv.URL()+"/replicate/files/") {
			t.Errorf("create %s %s %v", c.Path, c.Body, c.Header)
		}
		if n := len(requestsTo(srv, providertest.EndpointReplicateFiles)); n != 1 {
			t.Errorf("%d uploads to the files API, want 1 (the reference over DataURIBytes)", n)
		}
	})
	t.Run("replicate version", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := generator(t, srv, taskapi.Replicate(""), clk)
		v := strings.Repeat("ab", 32)
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "stability-ai/sdxl:" + v})
		if err != nil {
			t.Fatal(err)
		}
		c := requestsTo(srv, providertest.EndpointReplicateCreate)[0]
		if c.Path != "/replicate/v1/predictions" || c.JSON["version"] != v || resp.Model != "replicate/stability-ai/sdxl:"+v {
			t.Errorf("create %s %s, model %s", c.Path, c.Body, resp.Model)
		}
	})
	t.Run("apimart", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := generator(t, srv, taskapi.APIMart(""), clk)
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 3, Size: "2K", AspectRatio: "auto",
			References: []provider.Image{ref}}); err != nil {
			t.Fatal(err)
		}
		c := requestsTo(srv, providertest.EndpointAPIMartCreate)[0]
		if c.JSON["model"] != "gemini-3-pro-image-preview" || c.JSON["n"] != float64(3) || c.JSON["size"] != "auto" ||
			c.JSON["resolution"] != "2K" || len(c.JSON["image_urls"].([]any)) != 1 ||
			c.Header.Get("Idempotency-Key") == "" || c.Header.Get("X-Apimart-Response-Version") == "" {
			t.Errorf("create %s %v", c.Body, c.Header)
		}
		if n := len(requestsTo(srv, providertest.EndpointAPIMartUpload)); n != 1 {
			t.Errorf("%d uploads, want 1", n)
		}
	})
}

// TestInvalidBeforeNetwork: a request no service could serve is
// ErrInvalidRequest before any call.
func TestInvalidBeforeNetwork(t *testing.T) {
	t.Parallel()
	big := provider.Image{Data: append(pngBytes(t, 4), make([]byte, 30_000_001)...)}
	refs := func(n int) []provider.Image {
		out := make([]provider.Image, n)
		for i := range out {
			out[i] = provider.Image{Data: pngBytes(t, 2)}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		cfg  taskapi.Config
		req  *provider.Request
		want string
	}{
		{"nil", taskapi.Kie(""), nil, "nil request"},
		{"empty prompt", taskapi.Kie(""), &provider.Request{}, "Prompt"},
		{"mask", taskapi.Kie(""), &provider.Request{Prompt: "p", References: refs(1), Mask: &provider.Image{Data: pngBytes(t, 2)}}, "Mask"},
		{"pixels", taskapi.Kie(""), &provider.Request{Prompt: "p", Size: "1024x1024"}, "Size"},
		{"size the model lacks", taskapi.Kie(""), &provider.Request{Prompt: "p", Model: "kie/flux-2-pro", Size: "4K"}, "Size"},
		{"ratio the model lacks", taskapi.Replicate(""), &provider.Request{Prompt: "p", AspectRatio: "8:1"}, "AspectRatio"},
		{"too many references", taskapi.Kie(""), &provider.Request{Prompt: "p", References: refs(9)}, "References"},
		{"gif on kie", taskapi.Kie(""), &provider.Request{Prompt: "p", References: []provider.Image{{Data: gifBytes(t)}}}, "image/gif"},
		{"reference too large", taskapi.Kie(""), &provider.Request{Prompt: "p", References: []provider.Image{big}}, "bytes"},
		{"not an image", taskapi.Replicate(""), &provider.Request{Prompt: "p", References: []provider.Image{{Data: []byte("hello")}}}, "not an image"},
		{"another service's model", taskapi.Kie(""), &provider.Request{Prompt: "p", Model: "replicate/google/nano-banana-pro"}, "replicate"},
		{"google model kie lacks", taskapi.Kie(""), &provider.Request{Prompt: "p", Model: "gemini-2.5-flash-image"}, "google"},
		{"bad replicate name", taskapi.Replicate(""), &provider.Request{Prompt: "p", Model: "just-a-name"}, "owner/name"},
		{"Options.Input not an object", taskapi.Kie(""), &provider.Request{Prompt: "p", Options: provider.Options{taskapi.Options{Input: json.RawMessage(`[1]`)}}}, "Input"},
		{"CancelAfter too short", taskapi.Replicate(""), &provider.Request{Prompt: "p", Options: provider.Options{taskapi.Options{CancelAfter: time.Second}}}, "CancelAfter"},
		{"N", taskapi.APIMart(""), &provider.Request{Prompt: "p", N: 11}, "N"},
		{"quality on apimart kept out", taskapi.APIMart(""), &provider.Request{Prompt: "p", OutputFormat: "webp", Model: "apimart/gemini-3-pro-image-preview", Size: "8K"}, "Size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, providertest.Options{})
			g := generator(t, srv, tc.cfg, clk)
			_, err := g.Generate(context.Background(), tc.req)
			if !errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v; want ErrInvalidRequest mentioning %q", err, tc.want)
			}
			if cerr := g.CheckRequest(tc.req); cerr == nil {
				t.Errorf("CheckRequest passed what Generate refused")
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests reached the service", n)
			}
		})
	}
}

// TestSameModel: a Google ID of a model the service serves is served as
// the service's model, with a warning.
func TestSameModel(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{})
	g := generator(t, srv, taskapi.Kie(""), clk)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "gemini-3-pro-image"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "kie/nano-banana-pro" || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "served as kie/nano-banana-pro") {
		t.Errorf("model %s warnings %q", resp.Model, resp.Warnings)
	}
	// A bare name gets the prefix.
	resp, err = g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "nano-banana-2"})
	if err != nil || resp.Model != "kie/nano-banana-2" {
		t.Fatalf("%v %v", resp, err)
	}
}

// TestDroppedFields: fields a model has no input for are dropped with a
// warning, never sent.
func TestDroppedFields(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{})
	g := generator(t, srv, taskapi.Kie(""), clk)
	seed := int64(7)
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "kie/gpt-image-2", OutputFormat: "png", Quality: "high", Seed: &seed, NegativePrompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Warnings) != 4 {
		t.Errorf("warnings %q; want OutputFormat, Quality, Seed and NegativePrompt", resp.Warnings)
	}
	in := requestsTo(srv, providertest.EndpointKieCreate)[0].JSON["input"].(map[string]any)
	if len(in) != 1 {
		t.Errorf("input %v; want the prompt alone", in)
	}
}
