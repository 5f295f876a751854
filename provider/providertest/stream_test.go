package providertest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

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

// readStream posts body and reads the answer event by event as a raw
// client does, calling each(i, event) as it arrives; it returns the
// events and the error that ended the body (nil at a clean end). each
// is first called with -1 once the headers have arrived.
func readStream(ctx context.Context, t *testing.T, srv *providertest.Server, path string, header http.Header, body []byte,
	each func(int, sseEvent)) ([]sseEvent, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if each != nil {
		each(-1, sseEvent{})
	}
	br := bufio.NewReader(resp.Body)
	var events []sseEvent
	var cur sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if line != "" {
				cur.Lines = append(cur.Lines, line)
				events = append(events, cur)
			}
			if errors.Is(err, io.EOF) {
				return events, nil
			}
			return events, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(cur.Lines) > 0 {
				events = append(events, cur)
				if each != nil {
					each(len(events)-1, cur)
				}
			}
			cur = sseEvent{}
			continue
		}
		cur.Lines = append(cur.Lines, line)
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.Event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.Data = append(cur.Data, strings.TrimPrefix(line, "data: "))
		}
	}
}

// streamShape is one kind of stream the fault tests run.
type streamShape struct {
	name    string
	opts    providertest.Options
	ep      providertest.Endpoint
	path    string
	header  http.Header
	body    []byte
	preview func(sseEvent) bool // a draft event
	final   func(sseEvent) bool // a final-image event
	errEv   func(sseEvent) bool // the in-stream error event
	total   int                 // events of a whole stream
}

func streamShapes(t *testing.T) []streamShape {
	gemini := http.Header{"X-Goog-Api-Key": {"test-key"}, "Content-Type": {"application/json"}}
	geminiPart := func(ev sseEvent) map[string]any {
		var c map[string]any
		if len(ev.Data) != 1 || json.Unmarshal([]byte(ev.Data[0]), &c) != nil {
			return nil
		}
		cands, _ := c["candidates"].([]any)
		if len(cands) == 0 {
			return nil
		}
		parts, _ := cands[0].(map[string]any)["content"].(map[string]any)["parts"].([]any)
		if len(parts) == 0 {
			return nil
		}
		return parts[0].(map[string]any)
	}
	chatContent := func(ev sseEvent) string {
		var c struct {
			Choices []struct{ Delta struct{ Content string } }
		}
		if len(ev.Data) != 1 || json.Unmarshal([]byte(ev.Data[0]), &c) != nil || len(c.Choices) == 0 {
			return ""
		}
		return c.Choices[0].Delta.Content
	}
	return []streamShape{
		{
			name: "images.generations, 2 partials", ep: providertest.EndpointImagesGenerations, path: "/v1/images/generations", header: openaiJSON,
			body:    []byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":2,"size":"64x64"}`),
			preview: func(ev sseEvent) bool { return ev.Event == "image_generation.partial_image" },
			final:   func(ev sseEvent) bool { return ev.Event == "image_generation.completed" },
			errEv: func(ev sseEvent) bool {
				return ev.Event == "error" && len(ev.Data) == 1 && strings.Contains(ev.Data[0], `"type":"error"`) && strings.Contains(ev.Data[0], `"server_error"`)
			},
			total: 3,
		},
		{
			name: "images.generations, 0 partials", ep: providertest.EndpointImagesGenerations, path: "/v1/images/generations", header: openaiJSON,
			body:    []byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":0,"size":"64x64"}`),
			preview: func(ev sseEvent) bool { return ev.Event == "image_generation.partial_image" },
			final:   func(ev sseEvent) bool { return ev.Event == "image_generation.completed" },
			errEv:   func(ev sseEvent) bool { return ev.Event == "error" },
			total:   1,
		},
		{
			name: "streamGenerateContent, gemini 3 with thoughts", ep: providertest.EndpointStreamGenerateContent,
			path: "/v1beta/models/gemini-3-pro-image:streamGenerateContent?alt=sse", header: gemini, body: geminiStreamBody(true),
			preview: func(ev sseEvent) bool {
				p := geminiPart(ev)
				return p != nil && p["thought"] == true && p["inlineData"] != nil
			},
			final: func(ev sseEvent) bool {
				p := geminiPart(ev)
				return p != nil && p["thought"] == nil && p["inlineData"] != nil
			},
			errEv: func(ev sseEvent) bool {
				return len(ev.Lines) == 1 && strings.HasPrefix(ev.Lines[0], `data: {"error":{"code":503,`) && strings.Contains(ev.Lines[0], `"status":"UNAVAILABLE"`)
			},
			total: 4,
		},
		{
			name: "chat.completions, markdown, gemini 3", opts: providertest.Options{ChatShape: providertest.ChatMarkdown},
			ep: providertest.EndpointChatCompletions, path: "/v1/chat/completions", header: openaiJSON,
			body: []byte(`{"model":"gemini-3-pro-image","stream":true,"messages":[{"role":"user","content":"a kite"}]}`),
			preview: func(ev sseEvent) bool {
				return strings.Contains(chatContent(ev), "![image](") && !strings.Contains(chatContent(ev), "final")
			},
			final: func(ev sseEvent) bool { return len(ev.Data) == 1 && ev.Data[0] == "[DONE]" },
			errEv: func(ev sseEvent) bool {
				return len(ev.Data) == 1 && strings.Contains(ev.Data[0], `"error":{`) && strings.Contains(ev.Data[0], `"finish_reason":"error"`)
			},
			total: 6, // role, text, draft, final image, finish, [DONE]
		},
	}
}

// Each stream fault fires after the first draft (before the final image
// when there is none), as a raw client sees it.
func TestStreamFaults(t *testing.T) {
	t.Parallel()
	for _, sh := range streamShapes(t) {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, sh.opts)
			// The whole stream first.
			events, err := readStream(context.Background(), t, srv, sh.path, sh.header, sh.body, nil)
			if err != nil || len(events) != sh.total {
				t.Fatalf("whole stream: %d events, %v", len(events), err)
			}
			firstPreview := -1
			for i, ev := range events {
				if sh.preview(ev) && firstPreview < 0 {
					firstPreview = i
				}
			}
			// before is how many events precede the fault.
			before := firstPreview + 1
			if firstPreview < 0 {
				for i, ev := range events {
					if sh.final(ev) {
						before = i
						break
					}
				}
			}
			finals := func(evs []sseEvent) int {
				n := 0
				for _, ev := range evs {
					if sh.final(ev) {
						n++
					}
				}
				return n
			}
			for _, tc := range []struct {
				fault providertest.Fault
				check func(t *testing.T, evs []sseEvent, err error)
			}{
				{providertest.StreamReset(), func(t *testing.T, evs []sseEvent, err error) {
					if !errors.Is(err, io.ErrUnexpectedEOF) || len(evs) != before {
						t.Errorf("%d events (want %d), %v (want unexpected EOF)", len(evs), before, err)
					}
				}},
				{providertest.StreamIncomplete(), func(t *testing.T, evs []sseEvent, err error) {
					if err != nil || len(evs) != before || finals(evs) != 0 {
						t.Errorf("%d events (want %d), %v", len(evs), before, err)
					}
				}},
				{providertest.StreamError(), func(t *testing.T, evs []sseEvent, err error) {
					if err != nil || len(evs) != before+1 || !sh.errEv(evs[before]) || finals(evs) != 0 {
						t.Errorf("%d events (want %d and an error), %v: %q", len(evs), before+1, err, evs[len(evs)-1].Lines)
					}
				}},
				{providertest.StreamMalformed(), func(t *testing.T, evs []sseEvent, err error) {
					if err != nil || len(evs) != sh.total+1 {
						t.Fatalf("%d events (want %d), %v", len(evs), sh.total+1, err)
					}
					var v any
					bad := evs[before]
					if len(bad.Data) != 1 || json.Unmarshal([]byte(bad.Data[0]), &v) == nil {
						t.Errorf("event %d is not malformed: %q", before, bad.Lines)
					}
					if finals(evs) == 0 {
						t.Error("the rest of the stream did not follow")
					}
				}},
			} {
				t.Run(tc.fault.Name, func(t *testing.T) {
					srv.Inject(sh.ep, tc.fault)
					evs, err := readStream(context.Background(), t, srv, sh.path, sh.header, sh.body, nil)
					tc.check(t, evs, err)
				})
			}
			t.Run("StreamHang", func(t *testing.T) {
				srv.Inject(sh.ep, providertest.StreamHang())
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				evs, err := readStream(ctx, t, srv, sh.path, sh.header, sh.body, func(i int, _ sseEvent) {
					if i == before-1 {
						cancel() // the client gives up after the last event before the hang
					}
				})
				if !errors.Is(err, context.Canceled) || len(evs) != before || finals(evs) != 0 {
					t.Errorf("%d events (want %d), %v", len(evs), before, err)
				}
			})
			t.Run("a stream fault on a call that does not stream is used up", func(t *testing.T) {
				if sh.ep == providertest.EndpointStreamGenerateContent {
					t.Skip("streamGenerateContent always streams")
				}
				srv.Inject(sh.ep, providertest.StreamReset())
				plain := bytes.Replace(sh.body, []byte(`"stream":true`), []byte(`"stream":false`), 1)
				if resp, m := rawDo(t, srv, http.MethodPost, sh.path, sh.header, plain); resp.StatusCode != 200 || m == nil {
					t.Errorf("%d %v", resp.StatusCode, m)
				}
				if evs, err := readStream(context.Background(), t, srv, sh.path, sh.header, sh.body, nil); err != nil || len(evs) != sh.total {
					t.Errorf("the next stream: %d events, %v", len(evs), err)
				}
			})
		})
	}
}

// genai Go sees each Gemini stream fault as an error (or, for a stream
// that just ends, as no final image), after the drafts before it.
func TestStreamFaultsGenaiSDK(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	c := geminiClientVersion(t, srv, "v1beta")
	cfg := &genai.GenerateContentConfig{AutomaticContinuation: genai.Ptr(false), ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true}}
	for _, tc := range []struct {
		fault  providertest.Fault
		drafts int
		check  func(error) bool
	}{
		{providertest.StreamReset(), 1, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{providertest.StreamIncomplete(), 1, func(err error) bool { return err == nil }},
		{providertest.StreamError(), 1, func(err error) bool {
			var ae genai.APIError
			return errors.As(err, &ae) && ae.Code == 503 && ae.Status == "UNAVAILABLE"
		}},
		{providertest.StreamMalformed(), 1, func(err error) bool { return err != nil }},
		{providertest.StreamHang(), 1, func(err error) bool { return errors.Is(err, context.Canceled) }},
	} {
		srv.Inject(providertest.EndpointStreamGenerateContent, tc.fault)
		ctx, cancel := context.WithCancel(context.Background())
		drafts, final := 0, false
		var got error
		for resp, err := range c.Models.GenerateContentStream(ctx, "gemini-3-pro-image", genai.Text("a kite"), cfg) {
			if err != nil {
				got = err
				break
			}
			for _, p := range resp.Candidates[0].Content.Parts {
				switch {
				case p.InlineData != nil && p.Thought:
					drafts++
					if tc.fault.Kind == providertest.KindStreamHang {
						cancel()
					}
				case p.InlineData != nil:
					final = true
				}
			}
		}
		cancel()
		if drafts != tc.drafts || final || !tc.check(got) {
			t.Errorf("%s: %d drafts, final %v, error %v", tc.fault, drafts, final, got)
		}
	}
}

// The control endpoint injects stream faults by name.
func TestStreamFaultsThroughControl(t *testing.T) {
	t.Parallel()
	srv := newServer(t, providertest.Options{Control: true})
	if code, m := control(t, srv, "POST", "faults", "", `{"endpoint":"images.generations","faults":[{"kind":"StreamIncomplete"}]}`); code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	if code, m := control(t, srv, "POST", "settings", "", `{"streamInterval":"1ms","streamMode":"final-only"}`); code != 200 ||
		m["streamInterval"] != "1ms" || m["streamMode"] != "final-only" {
		t.Fatalf("%d %v", code, m)
	}
	evs, err := readStream(context.Background(), t, srv, "/v1/images/generations", openaiJSON,
		[]byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":2,"size":"64x64"}`), nil)
	if err != nil || len(evs) != 0 {
		t.Errorf("final-only with StreamIncomplete: %d events, %v", len(evs), err)
	}
	if code, m := control(t, srv, "GET", "stats", "", ""); code != 200 || m["streams"] != float64(1) || m["faulted"] != float64(1) {
		t.Errorf("stats %v", m)
	}
	if code, _ := control(t, srv, "POST", "settings", "", `{"streamMode":"sideways"}`); code != 400 {
		t.Errorf("a bad stream mode: %d", code)
	}
	srv.Reset()
	if _, m := control(t, srv, "GET", "settings", "", ""); m["streamInterval"] != "0s" || m["streamMode"] != "events" {
		t.Errorf("after Reset: %v", m)
	}
}

// StreamInterval pauses before each event, after the headers: with a
// pause longer than any test, a client has the 200 and no event.
func TestStreamInterval(t *testing.T) {
	t.Parallel()
	srv := newServer(t, providertest.Options{StreamInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, err := readStream(ctx, t, srv, "/v1/images/generations", openaiJSON,
		[]byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":1,"size":"64x64"}`),
		func(i int, _ sseEvent) {
			if i == -1 {
				cancel() // the headers came at once
			}
		})
	if !errors.Is(err, context.Canceled) || len(evs) != 0 {
		t.Errorf("%d events, %v", len(evs), err)
	}
	srv.SetStreamInterval(0)
	if evs, err := readStream(context.Background(), t, srv, "/v1/images/generations", openaiJSON,
		[]byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":1,"size":"64x64"}`), nil); err != nil || len(evs) != 2 {
		t.Errorf("without the interval: %d events, %v", len(evs), err)
	}
}

// StreamMode applies to streamGenerateContent too: a relay that strips
// the thoughts, answers generateContent's JSON, or lacks the method.
func TestStreamModesGemini(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-Goog-Api-Key": {"test-key"}, "Content-Type": {"application/json"}}
	for _, tc := range []struct {
		mode   providertest.StreamMode
		status int
		ctype  string
		chunks int
	}{
		{providertest.StreamEvents, 200, "text/event-stream", 4},
		{providertest.StreamFinalOnly, 200, "text/event-stream", 1},
		{providertest.StreamIgnored, 200, "application/json", 0},
		{providertest.StreamRefused, 404, "application/json", 0},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, providertest.Options{StreamMode: tc.mode})
			resp, b := postStream(t, srv, "/v1beta/models/gemini-3-pro-image:streamGenerateContent?alt=sse", h, geminiStreamBody(true))
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			switch tc.mode {
			case providertest.StreamEvents, providertest.StreamFinalOnly:
				if ev, _ := parseSSE(t, b); len(ev) != tc.chunks {
					t.Errorf("%d chunks", len(ev))
				}
			case providertest.StreamIgnored:
				var c gChunk
				if err := json.Unmarshal(b, &c); err != nil || len(c.Candidates) != 1 || c.Candidates[0].FinishReason != "STOP" {
					t.Errorf("%v %.100s", err, b)
				}
			case providertest.StreamRefused:
				if !bytes.Contains(b, []byte("not supported for streamGenerateContent")) {
					t.Errorf("%s", b)
				}
			}
		})
	}
}

// NoImage streams no event at all; StreamError on a stream without
// drafts is the only event, in place of the completed one.
func TestStreamFaultOnEmptyStream(t *testing.T) {
	t.Parallel()
	srv := newServer(t, providertest.Options{})
	body := []byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":2,"size":"64x64"}`)
	srv.Inject(providertest.EndpointImagesGenerations, providertest.NoImage())
	if evs, err := readStream(context.Background(), t, srv, "/v1/images/generations", openaiJSON, body, nil); err != nil || len(evs) != 0 {
		t.Errorf("NoImage: %d events, %v", len(evs), err)
	}
	srv.Inject(providertest.EndpointImagesGenerations, providertest.StreamError())
	evs, err := readStream(context.Background(), t, srv, "/v1/images/generations", openaiJSON,
		[]byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"size":"64x64"}`), nil)
	if err != nil || len(evs) != 1 || evs[0].Event != "error" {
		t.Errorf("StreamError without drafts: %d events, %v", len(evs), err)
	}
}

// BenchmarkStream is the emulator's cost per streamed answer read by a
// raw client, 1024² images: what a test pays per stream, and per event.
func BenchmarkStream(b *testing.B) {
	srv := providertest.NewServer(providertest.Options{})
	defer srv.Close()
	gemini := http.Header{"X-Goog-Api-Key": {"test-key"}, "Content-Type": {"application/json"}}
	for _, bc := range []struct {
		name, path string
		header     http.Header
		body       []byte
		events     int
	}{
		{"openai-3-partials", "/v1/images/generations", openaiJSON,
			[]byte(`{"model":"gpt-image-2","prompt":"a kite","stream":true,"partial_images":3,"size":"1024x1024"}`), 4},
		{"gemini-3-drafts", "/v1beta/models/gemini-3-pro-image:streamGenerateContent?alt=sse", gemini, geminiStreamBody(true), 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL()+bc.path, bytes.NewReader(bc.body))
				req.Header = bc.header.Clone()
				resp, err := srv.Client().Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if n == 0 {
					b.Fatal("empty stream")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.events), "ns/event")
		})
	}
}
