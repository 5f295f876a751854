package gemini_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// Images of the streams below: distinct bytes that sniff as PNG or JPEG.
var (
	draftPNG  = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("draft-one "), 20)...)
	draftJPEG = append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte("draft-two "), 20)...)
	finalPNG  = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("the final image "), 40)...)
)

func b64s(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Events of a Gemini stream, as research-streaming.md §B.1 shows them.
var (
	evThoughtText = `{"candidates":[{"content":{"role":"model","parts":[{"text":"**Composing**","thought":true}]},"index":0}],"usageMetadata":{"promptTokenCount":12,"totalTokenCount":12},"modelVersion":"gemini-3-pro-image","responseId":"x1"}`
	evDraft1      = `{"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"` + b64s(draftPNG) + `"},"thought":true}]},"index":0}],"modelVersion":"gemini-3-pro-image"}`
	evDraft2      = `{"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/jpeg","data":"` + b64s(draftJPEG) + `"},"thought":true}]},"index":0}]}`
	evFinal       = `{"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"` + b64s(finalPNG) + `"},"thoughtSignature":"c2ln"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":1120,"thoughtsTokenCount":310,"totalTokenCount":1442,"candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":1120}]},"modelVersion":"gemini-3-pro-image"}`
	evText        = `{"candidates":[{"content":{"role":"model","parts":[{"text":"Here is "}]},"index":0}]}`
	evText2       = `{"candidates":[{"content":{"role":"model","parts":[{"text":"your image."}]},"index":0}]}`
)

func sse(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("data: " + e + "\r\n\r\n")
	}
	return b.String()
}

// streamServer answers every streamGenerateContent with body (written
// event by event, flushed), and records the requests. cut, when set, is
// called after the body to end the connection its way.
type streamServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*recorded
}

type recorded struct {
	path, query string
	body        map[string]any
}

func newStreamServer(t *testing.T, status int, body string, reset bool) *streamServer {
	t.Helper()
	s := &streamServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rec := &recorded{path: r.URL.Path, query: r.URL.RawQuery}
		_ = json.Unmarshal(raw, &rec.body)
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.mu.Unlock()
		if status != 200 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, part := range strings.SplitAfter(body, "\n\n") {
			_, _ = io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}
		if reset {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close() // mid-chunk: the client sees an unexpected EOF
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *streamServer) requests() []*recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*recorded(nil), s.reqs...)
}

func streamGen(t *testing.T, url string, cfg gemini.Config) *gemini.Generator {
	t.Helper()
	cfg.APIKey, cfg.BaseURL = testKey, url
	if cfg.Clock == nil {
		cfg.Clock = providertest.NewClock(now)
	}
	g, err := gemini.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

type collected struct {
	previews []provider.Preview
}

func (c *collected) on(p provider.Preview) { c.previews = append(c.previews, p) }

func previewReq(model string, c *collected) *provider.Request {
	return &provider.Request{Prompt: "a lighthouse", Model: model, Options: provider.Options{provider.Previews{On: c.on}}}
}

func TestPreviewsStream(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	type want struct {
		previews [][]byte
		final    []byte
		text     string
		usage    provider.Usage
		kind     error  // error sentinel, nil for success
		code     string // Error.Code
		retry    time.Duration
	}
	fullUsage := provider.Usage{InputTokens: 12, OutputTokens: 1120, OutputImageTokens: 1120, ThoughtTokens: 310, Images: 1}
	for _, tc := range []struct {
		name   string
		model  string
		status int
		body   string
		reset  bool
		want   want
	}{
		{name: "drafts then final", body: sse(evThoughtText, evDraft1, evDraft2, evFinal),
			want: want{previews: [][]byte{draftPNG, draftJPEG}, final: finalPNG, usage: fullUsage}},
		{name: "final only", model: "gemini-2.5-flash-image", body: sse(evFinal),
			want: want{final: finalPNG, usage: fullUsage}},
		{name: "text deltas joined", body: sse(evDraft1, evText, evText2, evFinal),
			want: want{previews: [][]byte{draftPNG}, final: finalPNG, text: "Here is your image.", usage: fullUsage}},
		{name: "LF framing, keep-alives, multi-line data, other fields",
			body: ": keep-alive\n\nevent: message\nid: 1\ndata: " + evDraft1 + "\n\n: ping\n\ndata: {\"candidates\":\ndata: " + strings.TrimPrefix(evFinal, `{"candidates":`) + "\n\n",
			want: want{previews: [][]byte{draftPNG}, final: finalPNG, usage: fullUsage}},
		{name: "no blank line at the end", body: "data: " + evDraft1 + "\n\ndata: " + evFinal,
			want: want{previews: [][]byte{draftPNG}, final: finalPNG, usage: fullUsage}},
		{name: "relay's [DONE] marker", body: sse(evDraft1, evFinal) + "data: [DONE]\n\n",
			want: want{previews: [][]byte{draftPNG}, final: finalPNG, usage: fullUsage}},
		{name: "relay answered one JSON object", body: evFinal,
			want: want{final: finalPNG, usage: fullUsage}},
		{name: "429 chunk after a draft",
			body: sse(evDraft1, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Resource exhausted. Please retry.","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`),
			want: want{previews: [][]byte{draftPNG}, kind: provider.ErrRateLimited, retry: 7 * time.Second}},
		{name: "503 chunk", body: sse(evThoughtText, `{"error":{"code":503,"message":"This model is currently experiencing high demand.","status":"UNAVAILABLE"}}`),
			want: want{kind: provider.ErrUnavailable}},
		{name: "error chunk quoting the key", body: sse(`{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"API key ` + testKey + ` not valid"}}`),
			want: want{kind: provider.ErrInvalidRequest, code: "INVALID_ARGUMENT"}},
		{name: "truncated after a draft", body: sse(evThoughtText, evDraft1),
			want: want{previews: [][]byte{draftPNG}, kind: provider.ErrUnavailable, code: "MALFORMED"}},
		{name: "empty stream", body: "",
			want: want{kind: provider.ErrUnavailable, code: "MALFORMED"}},
		{name: "cut inside an event", body: sse(evDraft1) + "data: " + evFinal[:len(evFinal)/2],
			want: want{previews: [][]byte{draftPNG}, kind: provider.ErrUnavailable, code: "MALFORMED"}},
		{name: "reset after the first draft", body: sse(evDraft1) + "data: " + evFinal[:40], reset: true,
			want: want{previews: [][]byte{draftPNG}, kind: provider.ErrUnavailable}},
		{name: "malformed event", body: sse(evDraft1, `{"candidates":[`+"\x01"+`]}`),
			want: want{previews: [][]byte{draftPNG}, kind: provider.ErrUnavailable, code: "MALFORMED"}},
		{name: "null event", body: sse("null"),
			want: want{kind: provider.ErrUnavailable, code: "MALFORMED"}},
		{name: "null candidate", body: sse(`{"candidates":[null]}`),
			want: want{kind: provider.ErrUnavailable, code: "MALFORMED"}},
		{name: "JSON array stream", body: "[" + evFinal + "]",
			want: want{kind: provider.ErrUnavailable, code: "MALFORMED"}},
		{name: "image safety after a draft",
			body: sse(evDraft1, `{"candidates":[{"content":{"role":"model","parts":[]},"finishReason":"IMAGE_SAFETY","finishMessage":"withheld","index":0}],"usageMetadata":{"promptTokenCount":12,"totalTokenCount":12}}`),
			want: want{previews: [][]byte{draftPNG}, kind: provider.ErrContentBlocked, code: "IMAGE_SAFETY"}},
		{name: "prompt blocked", body: sse(`{"promptFeedback":{"blockReason":"SAFETY","blockReasonMessage":"no"}}`),
			want: want{kind: provider.ErrContentBlocked, code: "SAFETY"}},
		{name: "stop without an image", body: sse(evThoughtText, `{"candidates":[{"content":{"role":"model","parts":[{"text":"I cannot draw that."}]},"finishReason":"STOP","index":0}]}`),
			want: want{kind: provider.ErrNoImage}},
		{name: "HTTP 429 before the stream", status: 429,
			body: `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}`,
			want: want{kind: provider.ErrRateLimited, retry: 3 * time.Second}},
		{name: "HTTP 503 before the stream", status: 503, body: `{"error":{"code":503,"status":"UNAVAILABLE","message":"overloaded"}}`,
			want: want{kind: provider.ErrUnavailable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status := tc.status
			if status == 0 {
				status = 200
			}
			srv := newStreamServer(t, status, tc.body, tc.reset)
			g := streamGen(t, srv.URL, gemini.Config{HTTPClient: srv.Client()})
			model := tc.model
			if model == "" {
				model = "gemini-3-pro-image"
			}
			var c collected
			resp, err := g.Generate(context.Background(), previewReq(model, &c))
			if len(c.previews) != len(tc.want.previews) {
				t.Fatalf("%d previews, want %d (err %v)", len(c.previews), len(tc.want.previews), err)
			}
			for i, p := range c.previews {
				if p.Index != i || !bytes.Equal(p.Image.Data, tc.want.previews[i]) || p.Provider != "gemini" || p.Image.MIMEType != provider.SniffMIME(tc.want.previews[i]) {
					t.Errorf("preview %d: index %d, %d bytes %s from %q", i, p.Index, len(p.Image.Data), p.Image.MIMEType, p.Provider)
				}
			}
			if tc.want.kind != nil {
				var pe *provider.Error
				if !errors.Is(err, tc.want.kind) || !errors.As(err, &pe) {
					t.Fatalf("err %v, want %v", err, tc.want.kind)
				}
				if tc.want.code != "" && pe.Code != tc.want.code {
					t.Errorf("code %q, want %q (%v)", pe.Code, tc.want.code, err)
				}
				if pe.RetryAfter != tc.want.retry {
					t.Errorf("RetryAfter %v, want %v", pe.RetryAfter, tc.want.retry)
				}
				if strings.Contains(fmt.Sprintf("%v %+v %#v", err, pe, pe), testKey) {
					t.Errorf("key in the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Images) != 1 || !bytes.Equal(resp.Images[0].Data, tc.want.final) {
				t.Fatalf("images %+v", summary(resp))
			}
			if resp.Text != tc.want.text {
				t.Errorf("text %q, want %q", resp.Text, tc.want.text)
			}
			if resp.Usage != tc.want.usage {
				t.Errorf("usage %+v, want %+v", resp.Usage, tc.want.usage)
			}
			reqs := srv.requests()
			if len(reqs) != 1 || !strings.HasSuffix(reqs[0].path, ":streamGenerateContent") || !strings.Contains(reqs[0].query, "alt=sse") {
				t.Fatalf("requests %+v", reqs)
			}
			gc, _ := reqs[0].body["generationConfig"].(map[string]any)
			tcfg, _ := gc["thinkingConfig"].(map[string]any)
			if thinks := strings.HasPrefix(model, "gemini-3"); (tcfg["includeThoughts"] == true) != thinks {
				t.Errorf("thinkingConfig %v for %s", tcfg, model)
			}
		})
	}
}

// Without Previews the adapter keeps calling generateContent.
func TestPreviewsOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{})
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "gemini-3-pro-image"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Requests() {
		if strings.Contains(r.Path, "stream") {
			t.Fatalf("streamed: %s", r.Path)
		}
	}
}

// N images are N streams; every draft reaches On on the calling
// goroutine, indexed in arrival order, before Generate returns.
func TestPreviewsSeveralImages(t *testing.T) {
	t.Parallel()
	srv := newStreamServer(t, 200, sse(evDraft1, evDraft2, evFinal), false)
	g := streamGen(t, srv.URL, gemini.Config{HTTPClient: srv.Client()})
	var c collected
	req := previewReq("gemini-3-pro-image", &c)
	req.N = 3
	resp, err := g.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 3 || len(c.previews) != 6 {
		t.Fatalf("%d images, %d previews", len(resp.Images), len(c.previews))
	}
	for i, p := range c.previews {
		if p.Index != i {
			t.Fatalf("preview %d has index %d", i, p.Index)
		}
	}
}

// provider.Stream drives the adapter: previews, then the final response.
func TestPreviewsThroughStream(t *testing.T) {
	t.Parallel()
	srv := newStreamServer(t, 200, sse(evThoughtText, evDraft1, evDraft2, evFinal), false)
	g := streamGen(t, srv.URL, gemini.Config{HTTPClient: srv.Client()})
	var got []string
	for ev, err := range provider.Stream(context.Background(), g, &provider.Request{Prompt: "p", Model: "gemini-3-pro-image"}) {
		switch {
		case err != nil:
			t.Fatal(err)
		case ev.Preview != nil:
			got = append(got, fmt.Sprintf("preview %d %s", ev.Preview.Index, ev.Preview.Image.MIMEType))
		default:
			got = append(got, fmt.Sprintf("final %d", len(ev.Response.Images)))
		}
	}
	if want := "preview 0 image/png,preview 1 image/jpeg,final 1"; strings.Join(got, ",") != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// A panic in On is the caller's: it is raised again, not an error.
func TestPreviewsOnPanics(t *testing.T) {
	t.Parallel()
	srv := newStreamServer(t, 200, sse(evDraft1, evFinal), false)
	g := streamGen(t, srv.URL, gemini.Config{HTTPClient: srv.Client()})
	defer func() {
		if v := recover(); v != "boom" {
			t.Fatalf("recovered %v, want boom", v)
		}
	}()
	req := &provider.Request{Prompt: "p", Model: "gemini-3-pro-image", Options: provider.Options{provider.Previews{On: func(provider.Preview) { panic("boom") }}}}
	_, _ = g.Generate(context.Background(), req)
	t.Fatal("no panic")
}

// The stream's total is capped by MaxResponseBytes, and the JSON around
// the images by its own cap.
func TestPreviewsCaps(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), 3<<20)
	big = append([]byte("\x89PNG\r\n\x1a\n"), big...)
	ev := `{"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"` + b64s(big) + `"},"thought":true}]},"index":0}]}`
	srv := newStreamServer(t, 200, sse(ev, ev, evFinal), false)
	g := streamGen(t, srv.URL, gemini.Config{HTTPClient: srv.Client(), MaxResponseBytes: 6 << 20})
	var c collected
	_, err := g.Generate(context.Background(), previewReq("gemini-3-pro-image", &c))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Code != "RESPONSE_TOO_LARGE" || !errors.Is(err, provider.ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	if len(c.previews) != 1 {
		t.Fatalf("%d previews before the cap, want 1", len(c.previews))
	}
}

// Vertex AI streams the same way; its answers differ only in fields genai
// maps.
func TestPreviewsVertex(t *testing.T) {
	t.Parallel()
	srv := newStreamServer(t, 200, sse(evThoughtText, evDraft1, evFinal), false)
	g := streamGen(t, srv.URL, gemini.Config{Backend: gemini.BackendVertex, HTTPClient: srv.Client()})
	var c collected
	resp, err := g.Generate(context.Background(), previewReq("gemini-3-pro-image", &c))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.previews) != 1 || c.previews[0].Provider != "vertex" || !bytes.Equal(resp.Images[0].Data, finalPNG) {
		t.Fatalf("%d previews, response %+v", len(c.previews), summary(resp))
	}
	if reqs := srv.requests(); !strings.HasSuffix(reqs[0].path, "/models/gemini-3-pro-image:streamGenerateContent") || !strings.Contains(reqs[0].query, "alt=sse") {
		t.Fatalf("request %+v", reqs[0])
	}
}

// A caller that gives up after a draft (its context ends while the
// stream hangs) gets a typed cancellation, and On is not called again.
func TestPreviewsCanceledAfterDraft(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, sse(evDraft1))
		w.(http.Flusher).Flush()
		select { // hang until the client goes
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	g := streamGen(t, srv.URL, gemini.Config{HTTPClient: srv.Client()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	req := &provider.Request{Prompt: "p", Model: "gemini-3-pro-image", Options: provider.Options{provider.Previews{On: func(provider.Preview) { n++; cancel() }}}}
	_, err := g.Generate(ctx, req)
	var pe *provider.Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &pe) || n != 1 {
		t.Fatalf("err %v after %d previews", err, n)
	}
}
