package openaicompat_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// sseServer answers every call with its script: raw chunks written one
// after the other, each flushed, as an event stream (or with
// contentType). It records the request's fields (JSON or multipart).
type sseServer struct {
	mu          sync.Mutex
	script      []string
	contentType string
	hang        chan struct{} // when set, the handler waits on it (or the client) after the script
	fields      map[string]any
	calls       int
}

func (s *sseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fields := map[string]any{}
	if mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(part)
			if part.FileName() == "" {
				fields[part.FormName()] = string(b)
			}
		}
	} else {
		_ = json.NewDecoder(r.Body).Decode(&fields)
	}
	s.mu.Lock()
	s.fields, s.calls = fields, s.calls+1
	script, ct, hang := s.script, s.contentType, s.hang
	s.mu.Unlock()
	if ct == "" {
		ct = "text/event-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(200)
	for _, chunk := range script {
		_, _ = io.WriteString(w, chunk)
		w.(http.Flusher).Flush()
	}
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}
}

func (s *sseServer) request() (map[string]any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fields, s.calls
}

func sseGen(t testing.TB, srv *sseServer, cfg openaicompat.Config) *openaicompat.Generator {
	t.Helper()
	clearEnv(t)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	cfg.BaseURL, cfg.HTTPClient = hs.URL+"/v1", hs.Client()
	if cfg.Clock == nil {
		cfg.Clock = providertest.NewClock(now)
	}
	g, err := openaicompat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Event builders, in OpenAI's shape (research-streaming.md §A.3).
func partialEvent(kind string, i int, img []byte) string {
	return fmt.Sprintf("event: %s.partial_image\ndata: {\"type\":\"%s.partial_image\",\"b64_json\":\"%s\",\"created_at\":1,\"size\":\"1024x1024\",\"quality\":\"high\",\"background\":\"opaque\",\"output_format\":\"png\",\"partial_image_index\":%d}\n\n",
		kind, kind, base64.StdEncoding.EncodeToString(img), i)
}

const streamUsage = `{"input_tokens":50,"input_tokens_details":{"image_tokens":0,"text_tokens":50},"output_tokens":4360,"total_tokens":4410}`

func completedEvent(kind string, img []byte) string {
	return fmt.Sprintf("event: %s.completed\ndata: {\"type\":\"%s.completed\",\"b64_json\":\"%s\",\"created_at\":2,\"size\":\"1024x1024\",\"quality\":\"high\",\"background\":\"opaque\",\"output_format\":\"png\",\"usage\":%s}\n\n",
		kind, kind, base64.StdEncoding.EncodeToString(img), streamUsage)
}

// previewsReq is a request with previews, and the previews it received.
func previewsReq(count int, req *provider.Request) (*provider.Request, *[]provider.Preview) {
	got := &[]provider.Preview{}
	req.Options = append(req.Options, provider.Previews{Count: count, On: func(p provider.Preview) { *got = append(*got, p) }})
	return req, got
}

func TestPreviewsGenerationsAndEdits(t *testing.T) {
	t.Parallel()
	final := pngBytes(t, 16, 16)
	for _, kind := range []string{"image_generation", "image_edit"} {
		for _, count := range []int{0, 1, 2, 3} {
			t.Run(fmt.Sprintf("%s/count=%d", kind, count), func(t *testing.T) {
				t.Parallel()
				want := count
				if want == 0 {
					want = provider.DefaultPreviews
				}
				srv := &sseServer{}
				for i := range want {
					srv.script = append(srv.script, partialEvent(kind, i, pngBytes(t, 4+i, 4+i)))
				}
				srv.script = append(srv.script, completedEvent(kind, final))
				g := sseGen(t, srv, openaicompat.Config{})
				base := &provider.Request{Prompt: "a kite"}
				if kind == "image_edit" {
					base.References = []provider.Image{{Data: pngBytes(t, 8, 8)}}
				}
				req, got := previewsReq(count, base)
				resp, err := g.Generate(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				fields, _ := srv.request()
				wantStream, wantPartials := any(true), any(float64(want))
				if kind == "image_edit" {
					wantStream, wantPartials = "true", fmt.Sprint(want)
				}
				if fields["stream"] != wantStream || fields["partial_images"] != wantPartials {
					t.Errorf("request stream=%v partial_images=%v, want %v %v", fields["stream"], fields["partial_images"], wantStream, wantPartials)
				}
				if len(*got) != want {
					t.Fatalf("%d previews, want %d", len(*got), want)
				}
				for i, p := range *got {
					if p.Index != i || p.Provider != "openai" || p.Image.MIMEType != "image/png" {
						t.Errorf("preview %d: index %d provider %q MIME %q", i, p.Index, p.Provider, p.Image.MIMEType)
					}
					if c := decoded(t, p.Image); c.Width != 4+i {
						t.Errorf("preview %d is %dx%d", i, c.Width, c.Height)
					}
				}
				if len(resp.Images) != 1 || string(resp.Images[0].Data) != string(final) || resp.Images[0].MIMEType != "image/png" {
					t.Fatalf("final %+v", resp.Images)
				}
				u := resp.Usage
				if u.Previews != want || u.Images != 1 || u.InputTokens != 50 || u.OutputTokens != 4360 || u.OutputImageTokens != 4360 {
					t.Errorf("usage %+v", u)
				}
				if len(resp.Warnings) != 0 {
					t.Errorf("warnings %q", resp.Warnings)
				}
			})
		}
	}
}

// TestPreviewsFraming serves the same stream framed every way SSE allows.
func TestPreviewsFraming(t *testing.T) {
	t.Parallel()
	p0, final := pngBytes(t, 5, 5), pngBytes(t, 16, 16)
	standard := partialEvent("image_generation", 0, p0) + completedEvent("image_generation", final)
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	cases := map[string][]string{
		"standard":        {standard},
		"with [DONE]":     {standard + "data: [DONE]\n\n"},
		"CRLF":            {strings.ReplaceAll(standard, "\n", "\r\n")},
		"CR":              {strings.ReplaceAll(standard, "\n", "\r")},
		"byte by byte":    strings.Split(standard, ""),
		"comments, ids":   {": keep-alive\n\n", "id: 1\nretry: 10\n" + partialEvent("image_generation", 0, p0), ": ping\n", completedEvent("image_generation", final)},
		"no event names":  {"data: {\"type\":\"image_generation.partial_image\",\"b64_json\":\"" + b64(p0) + "\"}\n\n", "data: {\"type\":\"image_generation.completed\",\"b64_json\":\"" + b64(final) + "\"}\n\n"},
		"only event name": {"event: image_generation.partial_image\ndata: {\"b64_json\":\"" + b64(p0) + "\"}\n\nevent: image_generation.completed\ndata: {\"b64_json\":\"" + b64(final) + "\"}\n\n"},
		"multi-line data": {"event: image_generation.partial_image\ndata: {\"type\":\"image_generation.partial_image\",\ndata: \"b64_json\":\"" + b64(p0) + "\"}\n\n", "event: image_generation.completed\ndata: {\"type\":\"image_generation.completed\",\ndata:\"b64_json\":\"" + b64(final) + "\"}\n\n"},
		"no final blank":  {partialEvent("image_generation", 0, p0) + strings.TrimSuffix(completedEvent("image_generation", final), "\n\n")},
		"unknown events":  {"event: image_generation.progress\ndata: {\"type\":\"image_generation.progress\"}\n\n", "data: {}\n\n", standard},
	}
	for name, script := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := sseGen(t, &sseServer{script: script}, openaicompat.Config{})
			req, got := previewsReq(2, &provider.Request{Prompt: "x"})
			resp, err := g.Generate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if len(*got) != 1 || string((*got)[0].Image.Data) != string(p0) {
				t.Errorf("%d previews", len(*got))
			}
			if string(resp.Images[0].Data) != string(final) || resp.Usage.Previews != 1 {
				t.Errorf("final %d bytes, usage %+v", len(resp.Images[0].Data), resp.Usage)
			}
		})
	}
}

// TestPreviewsStreamFailures: every way a stream can fail ends the call
// with a typed error, which carries what was billed before it.
func TestPreviewsStreamFailures(t *testing.T) {
	t.Parallel()
	p0, final := pngBytes(t, 5, 5), pngBytes(t, 16, 16)
	partial := partialEvent("image_generation", 0, p0)
	cases := []struct {
		name     string
		script   []string
		kind     provider.Kind
		code     string
		previews int // Usage.Previews of the error; 0 = no usage
	}{
		{"error event after a partial", []string{partial, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"server_error\",\"code\":\"server_error\",\"message\":\"The server had an error while processing your request.\",\"param\":null}}\n\n"},
			provider.KindUnavailable, "server_error", 1},
		{"rate limit event", []string{"event: error\ndata: {\"error\":{\"type\":\"requests\",\"code\":\"rate_limit_exceeded\",\"message\":\"Rate limit reached, try again in 2s\"}}\n\n"},
			provider.KindRateLimited, "rate_limit_exceeded", 0},
		{"error field without event name", []string{partial, "data: {\"error\":{\"code\":\"moderation_blocked\",\"message\":\"Your request was rejected by the safety system.\"}}\n\n"},
			provider.KindContentBlocked, "moderation_blocked", 1},
		{"bare error event", []string{"event: error\ndata: {\"type\":\"error\",\"code\":\"insufficient_quota\",\"message\":\"You exceeded your current quota\"}\n\n"},
			provider.KindQuotaExhausted, "insufficient_quota", 0},
		{"error event of junk", []string{"event: error\ndata: \"oops\"\n\n"}, provider.KindUnavailable, "", 0},
		{"malformed JSON", []string{partial, "event: image_generation.completed\ndata: {\"type\":\"image_generation.completed\",\"b64_json\":}\n\n"},
			provider.KindUnavailable, "MALFORMED", 1},
		{"two values", []string{"data: {}{}\n\n"}, provider.KindUnavailable, "MALFORMED", 0},
		{"array", []string{"data: []\n\n"}, provider.KindUnavailable, "MALFORMED", 0},
		{"escape from the wrapper", []string{"data: {}]},{\"x\":[{\n\n"}, provider.KindUnavailable, "MALFORMED", 0},
		{"empty data", []string{"data:\n\n"}, provider.KindUnavailable, "MALFORMED", 0},
		{"EOF after partials", []string{partial, partial}, provider.KindUnavailable, openaicompat.CodeStreamTruncated, 2},
		{"[DONE] without completed", []string{partial, "data: [DONE]\n\n"}, provider.KindUnavailable, openaicompat.CodeStreamTruncated, 1},
		{"empty stream", nil, provider.KindUnavailable, openaicompat.CodeStreamTruncated, 0},
		{"EOF inside the completed event", []string{partial, completedEvent("image_generation", final)[:60]}, provider.KindUnavailable, "", 1},
		{"completed without an image", []string{partial, "event: image_generation.completed\ndata: {\"type\":\"image_generation.completed\",\"b64_json\":\"aGVsbG8gd29ybGQ=\",\"usage\":" + streamUsage + "}\n\n"},
			provider.KindUnavailable, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := sseGen(t, &sseServer{script: tc.script}, openaicompat.Config{})
			req, _ := previewsReq(2, &provider.Request{Prompt: "x"})
			resp, err := g.Generate(context.Background(), req)
			if err == nil {
				t.Fatalf("no error; response %+v", resp)
			}
			pe := kindOf(t, err, tc.kind)
			if tc.code != "" && pe.Code != tc.code {
				t.Errorf("code %q, want %q: %v", pe.Code, tc.code, err)
			}
			switch {
			case tc.previews == 0 && pe.Usage != nil && pe.Usage.Previews != 0:
				t.Errorf("usage %+v", pe.Usage)
			case tc.previews > 0 && (pe.Usage == nil || pe.Usage.Previews != tc.previews):
				t.Errorf("usage %+v, want %d previews", pe.Usage, tc.previews)
			}
		})
	}
}

// TestPreviewsEchoedKeyRedacted: an error event that echoes the key.
func TestPreviewsEchoedKeyRedacted(t *testing.T) {
	t.Parallel()
	g := sseGen(t, &sseServer{script: []string{"event: error\ndata: {\"error\":{\"code\":\"invalid_api_key\",\"message\":\"Incorrect API key provided: " + testKey + ". Bearer " + testKey + "\"}}\n\n"}}, openaicompat.Config{})
	req, _ := previewsReq(1, &provider.Request{Prompt: "x"})
	_, err := g.Generate(context.Background(), req)
	pe := kindOf(t, err, provider.KindAuth) // kindOf checks the key is absent
	if s := fmt.Sprintf("%+v %#v", err, pe); strings.Contains(s, testKey) || strings.Contains(s, testKey[3:12]) {
		t.Errorf("key in %s", s)
	}
}

// TestPreviewsHostileCounts: more partials than asked for are billed but
// not shown; a partial that is no image is skipped with a warning.
func TestPreviewsHostileCounts(t *testing.T) {
	t.Parallel()
	p, final := pngBytes(t, 5, 5), pngBytes(t, 16, 16)
	script := []string{partialEvent("image_generation", 0, []byte("not an image at all"))}
	for i := range 6 {
		script = append(script, partialEvent("image_generation", i+1, p))
	}
	script = append(script, completedEvent("image_generation", final))
	g := sseGen(t, &sseServer{script: script}, openaicompat.Config{})
	req, got := previewsReq(2, &provider.Request{Prompt: "x"})
	resp, err := g.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(*got) != 2 || resp.Usage.Previews != 7 {
		t.Errorf("%d previews shown, usage %+v", len(*got), resp.Usage)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "partial image 1 dropped") {
		t.Errorf("warnings %q", resp.Warnings)
	}
}

func TestPreviewsTooLarge(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("AAAA", 1<<19) // 2 MiB of base64
	script := []string{"event: image_generation.completed\ndata: {\"type\":\"image_generation.completed\",\"b64_json\":\"", big, "\"}\n\n"}
	g := sseGen(t, &sseServer{script: script}, openaicompat.Config{MaxResponseBytes: 1 << 20})
	req, _ := previewsReq(1, &provider.Request{Prompt: "x"})
	_, err := g.Generate(context.Background(), req)
	if pe := kindOf(t, err, provider.KindUnavailable); pe.Code != "RESPONSE_TOO_LARGE" {
		t.Errorf("code %q: %v", pe.Code, err)
	}
}

// TestPreviewsSeveralImages: with n = 2 each completed event is the next
// image; identical usage in both is the call's total, counted once.
func TestPreviewsSeveralImages(t *testing.T) {
	t.Parallel()
	a, b := pngBytes(t, 16, 16), pngBytes(t, 17, 17)
	for _, tc := range []struct {
		name      string
		secondUse string
		wantOut   int
	}{
		{"same usage", streamUsage, 4360},
		{"per-image usage", `{"input_tokens":0,"output_tokens":1000}`, 5360},
		{"per-image usage, same details", strings.Replace(streamUsage, "4360", "1000", 1), 5360},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			second := strings.Replace(completedEvent("image_generation", b), streamUsage, tc.secondUse, 1)
			srv := &sseServer{script: []string{partialEvent("image_generation", 0, a), completedEvent("image_generation", a), second}, hang: make(chan struct{})}
			defer close(srv.hang) // the call must end after the second image, without waiting for the end of the stream
			g := sseGen(t, srv, openaicompat.Config{})
			req, _ := previewsReq(1, &provider.Request{Prompt: "x", N: 2})
			resp, err := g.Generate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Images) != 2 || string(resp.Images[1].Data) != string(b) {
				t.Fatalf("%d images", len(resp.Images))
			}
			if resp.Usage.OutputTokens != tc.wantOut || resp.Usage.Images != 2 || resp.Usage.Previews != 1 {
				t.Errorf("usage %+v", resp.Usage)
			}
		})
	}
}

// TestPreviewsDegrade: where previews cannot be had, the call is the usual
// one, the final image only, and nothing the provider would refuse is sent.
func TestPreviewsDegrade(t *testing.T) {
	t.Parallel()
	final := pngBytes(t, 16, 16)
	jsonAnswer := imagesAnswer(t, `,"usage":`+streamUsage)
	cases := []struct {
		name       string
		cfg        openaicompat.Config
		req        provider.Request
		answer     string
		ct         string
		wantStream bool
	}{
		{"relay answers JSON", openaicompat.Config{}, provider.Request{Prompt: "x"}, jsonAnswer, "application/json", true},
		{"relay answers JSON without a type", openaicompat.Config{}, provider.Request{Prompt: "x"}, jsonAnswer, "text/plain", true},
		{"dall-e-3", openaicompat.Config{Model: "dall-e-3", Clock: providertest.NewClock(beforeDallEShutdown)}, provider.Request{Prompt: "x"}, jsonAnswer, "application/json", false},
		{"unknown relay model", openaicompat.Config{Model: "flux-pro"}, provider.Request{Prompt: "x"}, jsonAnswer, "application/json", false},
		{"gif output", openaicompat.Config{Model: "gpt-image-2.6-flare"}, provider.Request{Prompt: "x", OutputFormat: "gif"}, `{"data":[{"b64_json":"` + base64.StdEncoding.EncodeToString([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")) + `"}]}`, "application/json", false},
		{"chat relay", openaicompat.Config{Mode: openaicompat.ModeChatMarkdown}, provider.Request{Prompt: "x"}, chatAnswer(t, `"![image](data:image/png;base64,`+base64.StdEncoding.EncodeToString(final)+`)"`, ""), "application/json", false},
		{"OpenRouter images", openaicompat.Config{Mode: openaicompat.ModeOpenRouterImages, Model: "google/gemini-2.5-flash-image"}, provider.Request{Prompt: "x"}, jsonAnswer, "application/json", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := &sseServer{script: []string{tc.answer}, contentType: tc.ct}
			g := sseGen(t, srv, tc.cfg)
			req, got := previewsReq(2, &tc.req)
			resp, err := g.Generate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			fields, calls := srv.request()
			if streamed := fields["stream"] == true; streamed != tc.wantStream || calls != 1 {
				t.Errorf("stream sent %v, want %v (%d calls)", streamed, tc.wantStream, calls)
			}
			if _, ok := fields["partial_images"]; ok != tc.wantStream {
				t.Errorf("partial_images sent %v", ok)
			}
			if len(*got) != 0 || len(resp.Images) != 1 || resp.Usage.Previews != 0 {
				t.Errorf("%d previews, %d images, usage %+v", len(*got), len(resp.Images), resp.Usage)
			}
		})
	}
}

// TestPreviewsThroughStream: provider.Stream yields the drafts, then the
// final response.
func TestPreviewsThroughStream(t *testing.T) {
	t.Parallel()
	final := pngBytes(t, 16, 16)
	srv := &sseServer{script: []string{partialEvent("image_generation", 0, pngBytes(t, 4, 4)), partialEvent("image_generation", 1, pngBytes(t, 5, 5)), completedEvent("image_generation", final)}}
	g := sseGen(t, srv, openaicompat.Config{})
	var kinds []string
	for ev, err := range provider.Stream(context.Background(), g, &provider.Request{Prompt: "x"}) {
		switch {
		case err != nil:
			t.Fatal(err)
		case ev.Preview != nil:
			kinds = append(kinds, fmt.Sprintf("preview %d", ev.Preview.Index))
		default:
			kinds = append(kinds, fmt.Sprintf("final %d", len(ev.Response.Images)))
		}
	}
	if got := strings.Join(kinds, ", "); got != "preview 0, preview 1, final 1" {
		t.Errorf("events: %s", got)
	}
}

// TestPreviewsHangCancelled: a stream that hangs after its first partial
// ends when the caller gives up, with a typed error that counts the
// partial.
func TestPreviewsHangCancelled(t *testing.T) {
	t.Parallel()
	srv := &sseServer{script: []string{partialEvent("image_generation", 0, pngBytes(t, 4, 4))}, hang: make(chan struct{})}
	defer close(srv.hang)
	g := sseGen(t, srv, openaicompat.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := &provider.Request{Prompt: "x", Options: provider.Options{provider.Previews{On: func(provider.Preview) { cancel() }}}}
	_, err := g.Generate(ctx, req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Usage == nil || pe.Usage.Previews != 1 {
		t.Errorf("err %#v", err)
	}
}
