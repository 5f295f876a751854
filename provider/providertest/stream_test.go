package providertest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// sseEvent is one server-sent event as a raw client reads it.
type sseEvent struct {
	Event string
	Data  []string // the data: lines, in order
	Lines []string // every line, as sent
}

// parseSSE splits a stream body into events on blank lines ("\n\n" or
// "\r\n\r\n"); sep is the separator it saw ("" when none or mixed).
func parseSSE(t *testing.T, body []byte) (events []sseEvent, sep string) {
	t.Helper()
	switch {
	case bytes.Contains(body, []byte("\r\n\r\n")) && !bytes.Contains(bytes.ReplaceAll(body, []byte("\r\n"), nil), []byte("\n")):
		sep = "\r\n\r\n"
	case !bytes.Contains(body, []byte("\r")):
		sep = "\n\n"
	}
	norm := strings.ReplaceAll(string(body), "\r\n", "\n")
	for block := range strings.SplitSeq(norm, "\n\n") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		var ev sseEvent
		for line := range strings.SplitSeq(block, "\n") {
			ev.Lines = append(ev.Lines, line)
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = append(ev.Data, strings.TrimPrefix(line, "data: "))
			}
		}
		events = append(events, ev)
	}
	return events, sep
}

// postStream sends body to path and returns the response and its whole
// body.
func postStream(t *testing.T, srv *providertest.Server, path string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return resp, b
}

func decodeImage(t *testing.T, b64s string) (image.Config, string) {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64s)
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not an image: %v", err)
	}
	return cfg, format
}

var openaiJSON = http.Header{"Authorization": {"Bearer test-key"}, "Content-Type": {"application/json"}, "Accept": {"application/json"}}

// editForm is a multipart edits body with the given extra fields.
func editForm(t *testing.T, fields map[string]string) (http.Header, []byte) {
	t.Helper()
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("model", "gpt-image-2")
	_ = mw.WriteField("prompt", "a kite")
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("image[]", "a.png")
	_, _ = fw.Write(pngBytes(t, 8, 8))
	_ = mw.Close()
	h := openaiJSON.Clone()
	h.Set("Content-Type", mw.FormDataContentType())
	return h, form.Bytes()
}

// The Images API streams named events, event == type: distinct partial
// images, then one completed event per image with usage.
func TestStreamOpenAIImages(t *testing.T) {
	t.Parallel()
	srv := newServer(t, providertest.Options{})
	editH, editBody := editForm(t, map[string]string{"stream": "true", "partial_images": "2", "size": "64x64"})
	for _, tc := range []struct {
		name     string
		path     string
		header   http.Header
		body     []byte
		prefix   string
		partials int
		n        int
		format   string
	}{
		{"generations, 0 partials", "/v1/images/generations", openaiJSON, []byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":0,"size":"64x64"}`), "image_generation", 0, 1, "png"},
		{"generations, partial_images absent", "/v1/images/generations", openaiJSON, []byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"size":"64x64"}`), "image_generation", 0, 1, "png"},
		{"generations, 1 partial", "/v1/images/generations", openaiJSON, []byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":1,"size":"64x64"}`), "image_generation", 1, 1, "png"},
		{"generations, 3 partials, jpeg", "/v1/images/generations", openaiJSON, []byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":3,"size":"64x64","output_format":"jpeg","quality":"low"}`), "image_generation", 3, 1, "jpeg"},
		{"generations, n=2", "/v1/images/generations", openaiJSON, []byte(`{"model":"gpt-image-1.5","prompt":"a kite","stream":true,"partial_images":2,"n":2,"size":"64x64"}`), "image_generation", 2, 2, "png"},
		{"edits, 2 partials", "/v1/images/edits", editH, editBody, "image_edit", 2, 1, "png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := postStream(t, srv, tc.path, tc.header, tc.body)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") ||
				resp.Header.Get("X-Request-Id") == "" {
				t.Fatalf("%d %q %q: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Request-Id"), body)
			}
			events, sep := parseSSE(t, body)
			if sep != "\n\n" {
				t.Errorf("separator %q", sep)
			}
			if len(events) != tc.partials+tc.n {
				t.Fatalf("%d events, want %d partials and %d completed", len(events), tc.partials, tc.n)
			}
			seen := map[string]bool{}
			for i, ev := range events {
				if len(ev.Data) != 1 || len(ev.Lines) != 2 {
					t.Fatalf("event %d: lines %q", i, ev.Lines)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(ev.Data[0]), &m); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				want := tc.prefix + ".partial_image"
				if i >= tc.partials {
					want = tc.prefix + ".completed"
				}
				if ev.Event != want || m["type"] != want {
					t.Errorf("event %d: event %q, type %v, want %s", i, ev.Event, m["type"], want)
				}
				if m["size"] != "64x64" || m["output_format"] != tc.format || m["background"] != "opaque" || m["quality"] == nil {
					t.Errorf("event %d: %v %v %v %v", i, m["size"], m["output_format"], m["background"], m["quality"])
				}
				if _, ok := m["created_at"].(float64); !ok {
					t.Errorf("event %d: created_at %v", i, m["created_at"])
				}
				cfg, format := decodeImage(t, m["b64_json"].(string))
				if cfg.Width != 64 || cfg.Height != 64 || format != tc.format {
					t.Errorf("event %d: %dx%d %s", i, cfg.Width, cfg.Height, format)
				}
				if seen[m["b64_json"].(string)] {
					t.Errorf("event %d repeats an image", i)
				}
				seen[m["b64_json"].(string)] = true
				if i < tc.partials {
					if m["partial_image_index"] != float64(i) || m["usage"] != nil {
						t.Errorf("partial %d: index %v, usage %v", i, m["partial_image_index"], m["usage"])
					}
					continue
				}
				u, _ := m["usage"].(map[string]any)
				d, _ := u["input_tokens_details"].(map[string]any)
				if _, has := m["partial_image_index"]; has || u == nil || d == nil || d["text_tokens"] == nil || d["image_tokens"] == nil ||
					u["output_tokens"].(float64) <= 0 || u["total_tokens"].(float64) != u["input_tokens"].(float64)+u["output_tokens"].(float64) {
					t.Errorf("completed: %v", m)
				}
				if _, has := u["output_tokens_details"]; has {
					t.Errorf("completed usage has output_tokens_details: %v", u)
				}
			}
		})
	}
}

// Streams are refused where OpenAI refuses them, and bad partial_images
// values in OpenAI's words; errors and faults answer before the stream.
func TestStreamOpenAIRefusals(t *testing.T) {
	t.Parallel()
	srv := newServer(t, providertest.Options{})
	for _, tc := range []struct {
		name, body, param, code string
	}{
		{"dall-e-3", `{"model":"dall-e-3","prompt":"x","stream":true}`, "stream", "unsupported_value"},
		{"no model is dall-e-2", `{"prompt":"x","stream":true}`, "stream", "unsupported_value"},
		{"partial_images 4", `{"model":"gpt-image-2","prompt":"x","stream":true,"partial_images":4}`, "partial_images", "integer_above_max_value"},
		{"partial_images -1", `{"model":"gpt-image-2","prompt":"x","stream":true,"partial_images":-1}`, "partial_images", "integer_below_min_value"},
		{"partial_images a string", `{"model":"gpt-image-2","prompt":"x","stream":true,"partial_images":"2"}`, "partial_images", "invalid_type"},
		{"gif output", `{"model":"gpt-image-2","prompt":"x","stream":true,"output_format":"gif"}`, "output_format", "invalid_value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, m := rawDo(t, srv, http.MethodPost, "/v1/images/generations", openaiJSON, []byte(tc.body))
			e, _ := m["error"].(map[string]any)
			if resp.StatusCode != 400 || e["param"] != tc.param || e["code"] != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%d %v", resp.StatusCode, m)
			}
		})
	}
}

// StreamMode emulates relays: without drafts, ignoring "stream" (a JSON
// answer), refusing it.
func TestStreamModes(t *testing.T) {
	t.Parallel()
	body := []byte(`{"model":"gpt-image-2","prompt":"x","stream":true,"partial_images":2,"size":"64x64"}`)
	for _, tc := range []struct {
		mode   providertest.StreamMode
		status int
		ctype  string
		events int
	}{
		{providertest.StreamEvents, 200, "text/event-stream", 3},
		{providertest.StreamFinalOnly, 200, "text/event-stream", 1},
		{providertest.StreamIgnored, 200, "application/json", 0},
		{providertest.StreamRefused, 400, "application/json", 0},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, providertest.Options{StreamMode: tc.mode})
			resp, b := postStream(t, srv, "/v1/images/generations", openaiJSON, body)
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if tc.events > 0 {
				if ev, _ := parseSSE(t, b); len(ev) != tc.events || ev[len(ev)-1].Event != "image_generation.completed" {
					t.Errorf("%d events", len(ev))
				}
			}
			if tc.mode == providertest.StreamIgnored {
				var m struct {
					Data []struct {
						B64JSON string `json:"b64_json"`
					}
				}
				if err := json.Unmarshal(b, &m); err != nil || len(m.Data) != 1 || m.Data[0].B64JSON == "" {
					t.Errorf("%v %.100s", err, b)
				}
			}
			if got := srv.Stats().Streams; (tc.events > 0) != (got == 1) {
				t.Errorf("Stats.Streams %d", got)
			}
			if m, err := providertest.ParseStreamMode(tc.mode.String()); err != nil || m != tc.mode {
				t.Errorf("ParseStreamMode(%q): %v %v", tc.mode, m, err)
			}
		})
	}
}

// Chat completions stream chat.completion.chunk objects and [DONE]; the
// markdown shape sends a Gemini 3 draft before the final image.
func TestStreamChat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		shape  providertest.ChatShape
		model  string
		images int // markdown or delta.images images
	}{
		{providertest.ChatImages, "google/gemini-3-pro-image-preview", 1},
		{providertest.ChatMarkdown, "gemini-3-pro-image", 2},
		{providertest.ChatMarkdown, "gemini-2.5-flash-image", 1},
	} {
		t.Run(tc.shape.String()+" "+tc.model, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, providertest.Options{ChatShape: tc.shape})
			resp, b := postStream(t, srv, "/v1/chat/completions", openaiJSON,
				[]byte(`{"model":"`+tc.model+`","stream":true,"messages":[{"role":"user","content":"a kite"}]}`))
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("%d %.200s", resp.StatusCode, b)
			}
			events, _ := parseSSE(t, b)
			if n := len(events); n < 3 || events[n-1].Data[0] != "[DONE]" {
				t.Fatalf("%d events, last %q", n, events[n-1].Data)
			}
			images, finish := 0, ""
			for _, ev := range events[:len(events)-1] {
				var m struct {
					Object  string
					Usage   map[string]any
					Choices []struct {
						Delta struct {
							Content any
							Images  []any
						}
						FinishReason *string `json:"finish_reason"`
					}
				}
				if ev.Event != "" || len(ev.Data) != 1 || json.Unmarshal([]byte(ev.Data[0]), &m) != nil || m.Object != "chat.completion.chunk" {
					t.Fatalf("chunk %q", ev.Lines)
				}
				images += len(m.Choices[0].Delta.Images)
				if s, ok := m.Choices[0].Delta.Content.(string); ok {
					images += strings.Count(s, "![image](data:image/")
				}
				if f := m.Choices[0].FinishReason; f != nil {
					finish = *f
					if m.Usage == nil {
						t.Error("the finish chunk has no usage")
					}
				}
			}
			if images != tc.images || finish != "stop" {
				t.Errorf("%d images, finish %q", images, finish)
			}
		})
	}
}

// geminiStreamBody asks for an image, with or without thoughts.
func geminiStreamBody(thoughts bool) []byte {
	if thoughts {
		return []byte(`{"contents":[{"role":"user","parts":[{"text":"a kite"}]}],"generationConfig":{"responseModalities":["IMAGE"],"thinkingConfig":{"includeThoughts":true}}}`)
	}
	return []byte(`{"contents":[{"role":"user","parts":[{"text":"a kite"}]}],"generationConfig":{"responseModalities":["IMAGE"]}}`)
}

type gChunk struct {
	Candidates []struct {
		Content struct {
			Role  string
			Parts []struct {
				Text       string
				InlineData *struct {
					MimeType string
					Data     string
				}
				Thought          bool
				ThoughtSignature string
			}
		}
		FinishReason string
	}
	UsageMetadata map[string]any
	ModelVersion  string
	ResponseID    string
	Error         map[string]any
}

// streamGenerateContent with alt=sse sends exactly one data line per
// event, separated by "\r\n\r\n": on Gemini 3 with includeThoughts a
// thought text, two distinct drafts, then the final image with STOP and
// the totals; without alt=sse a JSON array.
func TestStreamGeminiRaw(t *testing.T) {
	t.Parallel()
	srv := newServer(t, providertest.Options{})
	t.Cleanup(func() { // after the parallel subtests
		if st := srv.Stats(); st.PerEndpoint[providertest.EndpointStreamGenerateContent] != 8 || st.Streams != 8 {
			t.Errorf("stats %+v", st)
		}
	})
	h := http.Header{"X-Goog-Api-Key": {"test-key"}, "Content-Type": {"application/json"}}
	for _, tc := range []struct {
		name     string
		model    string
		thoughts bool
		drafts   int
		chunks   int
	}{
		{"gemini 3 with thoughts", "gemini-3-pro-image", true, 2, 4},
		{"gemini 3 without thoughts", "gemini-3-pro-image", false, 0, 1},
		{"gemini 3.1 flash with thoughts", "gemini-3.1-flash-image", true, 2, 4},
		{"gemini 2.5 with thoughts", "gemini-2.5-flash-image", true, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, sse := range []bool{true, false} {
				path := "/v1beta/models/" + tc.model + ":streamGenerateContent"
				if sse {
					path += "?alt=sse"
				}
				resp, b := postStream(t, srv, path, h, geminiStreamBody(tc.thoughts))
				var chunks []gChunk
				if sse {
					if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
						t.Fatalf("%d %q", resp.StatusCode, ct)
					}
					events, sep := parseSSE(t, b)
					if sep != "\r\n\r\n" {
						t.Errorf("separator %q", sep)
					}
					for _, ev := range events {
						if len(ev.Lines) != 1 || len(ev.Data) != 1 {
							t.Fatalf("event lines %q: genai Go wants exactly one data line", ev.Lines)
						}
						var c gChunk
						if err := json.Unmarshal([]byte(ev.Data[0]), &c); err != nil {
							t.Fatal(err)
						}
						chunks = append(chunks, c)
					}
				} else {
					if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "application/json") {
						t.Fatalf("%d %q", resp.StatusCode, ct)
					}
					if err := json.Unmarshal(b, &chunks); err != nil {
						t.Fatalf("not a JSON array: %v %.100s", err, b)
					}
				}
				if len(chunks) != tc.chunks {
					t.Fatalf("sse=%v: %d chunks, want %d", sse, len(chunks), tc.chunks)
				}
				drafts, seen := 0, map[string]bool{}
				for i, c := range chunks {
					last := i == len(chunks)-1
					if len(c.Candidates) != 1 || len(c.Candidates[0].Content.Parts) != 1 || c.ModelVersion != tc.model || c.ResponseID == "" {
						t.Fatalf("chunk %d: %+v", i, c)
					}
					p := c.Candidates[0].Content.Parts[0]
					if p.InlineData != nil {
						if seen[p.InlineData.Data] {
							t.Errorf("chunk %d repeats an image", i)
						}
						seen[p.InlineData.Data] = true
						decodeImage(t, p.InlineData.Data)
						if p.Thought {
							drafts++
						}
					}
					if (c.Candidates[0].FinishReason == "STOP") != last {
						t.Errorf("chunk %d: finishReason %q", i, c.Candidates[0].FinishReason)
					}
					if last && (p.InlineData == nil || p.Thought || p.ThoughtSignature == "") {
						t.Errorf("last chunk is not the final image: %+v", p)
					}
				}
				if drafts != tc.drafts {
					t.Errorf("%d drafts, want %d", drafts, tc.drafts)
				}
				u := chunks[len(chunks)-1].UsageMetadata
				total := u["promptTokenCount"].(float64) + u["candidatesTokenCount"].(float64)
				if v, ok := u["thoughtsTokenCount"].(float64); ok {
					total += v
				}
				if u["totalTokenCount"].(float64) != total || u["candidatesTokenCount"].(float64) <= 0 {
					t.Errorf("last usage %v", u)
				}
			}
		})
	}
}

// genai Go's GenerateContentStream reads the drafts, then the final image.
func TestStreamGenaiSDK(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	for _, version := range []string{"v1beta", "v1"} {
		c := geminiClientVersion(t, srv, version)
		var kinds []string
		var usage *genai.GenerateContentResponseUsageMetadata
		for resp, err := range c.Models.GenerateContentStream(context.Background(), "gemini-3-pro-image", genai.Text("a kite"),
			&genai.GenerateContentConfig{AutomaticContinuation: genai.Ptr(false), ResponseModalities: []string{"IMAGE"},
				ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true}}) {
			if err != nil {
				t.Fatalf("%s: %v", version, err)
			}
			for _, p := range resp.Candidates[0].Content.Parts {
				switch {
				case p.InlineData != nil && p.Thought:
					kinds = append(kinds, "draft")
				case p.InlineData != nil:
					kinds = append(kinds, "final")
					if len(p.ThoughtSignature) == 0 || resp.Candidates[0].FinishReason != genai.FinishReasonStop {
						t.Errorf("final: signature %d bytes, finish %q", len(p.ThoughtSignature), resp.Candidates[0].FinishReason)
					}
				case p.Thought:
					kinds = append(kinds, "thought")
				}
			}
			usage = resp.UsageMetadata
		}
		if strings.Join(kinds, ",") != "thought,draft,draft,final" {
			t.Errorf("%s: %v", version, kinds)
		}
		if usage == nil || usage.CandidatesTokenCount <= 0 || usage.TotalTokenCount != usage.PromptTokenCount+usage.CandidatesTokenCount+usage.ThoughtsTokenCount {
			t.Errorf("%s: usage %+v", version, usage)
		}
	}
}

func geminiClientVersion(t *testing.T, srv *providertest.Server, version string) *genai.Client {
	t.Helper()
	clearEnv(t)
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "test-key", Backend: genai.BackendGeminiAPI,
		HTTPClient: srv.Client(), HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(), APIVersion: version}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
