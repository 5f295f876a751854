package providertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StreamMode selects how the server answers a request for a stream:
// "stream": true (stream=true in a multipart form) on the OpenAI-style
// endpoints (images generations and edits, chat completions, OpenRouter's
// images), and Gemini's streamGenerateContent. The modes other than
// StreamEvents emulate relays.
type StreamMode int

const (
	// StreamEvents streams as the providers do: OpenAI's partial images
	// then completed images, Gemini's drafts then the final image (see
	// the package doc, Streams).
	StreamEvents StreamMode = iota
	// StreamFinalOnly streams without drafts: partial_images is dropped
	// (only the completed events come), chat streams carry the final
	// image alone, Gemini streams lose their thought parts, as a relay
	// that passes "stream" but not "partial_images" through, or strips
	// thoughts.
	StreamFinalOnly
	// StreamIgnored answers the ordinary JSON body (Gemini: the
	// generateContent answer, one object), as a relay that does not
	// stream answers: a client must read the Content-Type
	// (application/json) and treat the body as the single, final answer.
	StreamIgnored
	// StreamRefused refuses the stream before it starts. OpenAI-style:
	// 400 invalid_request_error, param "stream", code "unsupported_value",
	// "Unsupported value: 'stream' does not support true with this model.
	// Supported values are: false.", what OpenAI answers for a model
	// without streaming (https://github.com/github/gh-models/issues/31,
	// checked 2026-12-04). Gemini: 404 NOT_FOUND "models/X is not found
	// for API version V, or is not supported for streamGenerateContent.
	// ...", Google's answer for a model without the method.
	StreamRefused
)

// streamModeNames are StreamMode's names, as String and ParseStreamMode use them.
func streamModeNames() []string { return []string{"events", "final-only", "ignored", "refused"} }

// String returns the mode's name: "events", "final-only", "ignored" or
// "refused".
func (m StreamMode) String() string {
	if n := streamModeNames(); m >= 0 && int(m) < len(n) {
		return n[m]
	}
	return "StreamMode(" + strconv.Itoa(int(m)) + ")"
}

// ParseStreamMode reads a mode's name as String writes it (case ignored).
func ParseStreamMode(name string) (StreamMode, error) {
	for i, n := range streamModeNames() {
		if strings.EqualFold(n, strings.TrimSpace(name)) {
			return StreamMode(i), nil
		}
	}
	return 0, fmt.Errorf("providertest: unknown stream mode %q; want one of %s", name, strings.Join(streamModeNames(), ", "))
}

// SetStreamMode changes Options.StreamMode for the requests that follow.
func (s *Server) SetStreamMode(m StreamMode) {
	s.mu.Lock()
	s.streamMode = m
	s.mu.Unlock()
}

// SetStreamInterval changes Options.StreamInterval for the requests that
// follow.
func (s *Server) SetStreamInterval(d time.Duration) { s.streamInterval.Store(int64(d)) }

// streamFraming is how a stream's events are written.
type streamFraming int

const (
	framingOpenAI     streamFraming = iota // "event: NAME\ndata: JSON\n\n"
	framingChat                            // "data: JSON\n\n", then "data: [DONE]\n\n"
	framingGoogleSSE                       // "data: JSON\r\n\r\n", nothing else (genai Go's parser)
	framingGoogleJSON                      // a JSON array, one element per chunk
)

// streamEvent is one event of a stream.
type streamEvent struct {
	name    string // OpenAI's event name; "" for the data-only framings
	data    []byte // the JSON object
	preview bool   // carries a draft image
	final   bool   // carries a final image
}

// streamPlan is a whole stream, written by sendStream.
type streamPlan struct {
	framing   streamFraming
	events    []streamEvent
	errEvent  streamEvent // what StreamError sends
	malformed streamEvent // what StreamMalformed sends
}

func jsonBytes(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{}`)
	}
	return b
}

// serveStream answers a request for a streamed answer: Gemini's
// streamGenerateContent, or "stream": true (stream=true in a multipart
// form) on the OpenAI-style endpoints. It runs after authentication,
// faults and rate limits, so an injected fault or a 429 still answers
// first, as it would before a real stream starts; a stream fault
// (StreamReset, StreamHang, ...) fires mid-stream, in sendStream.
//
// Options.StreamMode (SetStreamMode) decides; in StreamEvents mode GPT
// image models stream and DALL·E models are refused as OpenAI refuses a
// model without streaming (400 unsupported_value on "stream").
func (s *Server) serveStream(w http.ResponseWriter, c *call) {
	s.mu.Lock()
	mode := s.streamMode
	s.mu.Unlock()
	google := c.rt.wire == wireGoogle
	switch {
	case mode == StreamRefused && google:
		writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", modelNotFoundMessage(c.rt, c.rt.model), nil)
		return
	case mode == StreamRefused:
		refuseStream(w)
		return
	case mode == StreamIgnored && google:
		s.handleGenerateContent(w, c.r, c.rt, c.body, c.f)
		return
	case mode == StreamIgnored:
		c.rt.stream = false
		s.dispatch(w, c)
		return
	}
	st := &streamReq{c: c, finalOnly: mode == StreamFinalOnly}
	if google {
		s.handleStreamGenerateContent(w, st)
		return
	}
	switch c.rt.ep {
	case EndpointImagesGenerations, EndpointOpenRouterImages:
		s.handleImagesGenerations(w, c.rt, c.rec, c.f, st)
	case EndpointImagesEdits:
		s.handleImagesEdits(w, c.rec, c.f, st)
	case EndpointChatCompletions:
		s.handleChat(w, c.rec, c.f, st)
	default:
		s.dispatch(w, c)
	}
}

// streamReq is a request being answered as a stream.
type streamReq struct {
	c         *call
	finalOnly bool // StreamFinalOnly: no drafts
}

func refuseStream(w http.ResponseWriter) {
	writeOpenAIError(w, http.StatusBadRequest,
		"Unsupported value: 'stream' does not support true with this model. Supported values are: false.",
		"invalid_request_error", "stream", "unsupported_value", nil)
}

// sendStream writes p's events with Options.StreamInterval before each,
// flushing every one, and fires a stream fault at the cut point: after
// the first draft, or just before the first final image when there is no
// draft.
func (s *Server) sendStream(w http.ResponseWriter, c *call, p streamPlan) {
	ct := "text/event-stream; charset=utf-8"
	if p.framing == framingGoogleJSON {
		ct = "application/json; charset=UTF-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flush(w)
	s.mu.Lock()
	s.stats.Streams++
	s.mu.Unlock()

	cut := streamCut(p.events)
	fault := c.f.Kind
	if !isStreamFault(fault) {
		fault = KindNone
	}
	ctx := c.r.Context()
	written := 0
	emit := func(ev streamEvent) {
		_, _ = w.Write(frame(p.framing, ev, written == 0))
		flush(w)
		written++
	}
	for i := 0; i <= len(p.events); i++ { // one more turn: a fault may cut an empty stream
		if i == cut && fault != KindNone {
			switch fault {
			case KindStreamReset:
				s.hijackClose(w, false)
				return
			case KindStreamHang:
				s.hang(ctx)
				return
			case KindStreamIncomplete:
				return
			case KindStreamError:
				emit(p.errEvent)
				if p.framing == framingGoogleJSON {
					_, _ = w.Write([]byte("]"))
				}
				return
			case KindStreamMalformed:
				emit(p.malformed)
			}
		}
		if i == len(p.events) {
			break
		}
		if d := time.Duration(s.streamInterval.Load()); d > 0 && !s.wait(ctx, d) {
			return
		}
		emit(p.events[i])
	}
	switch p.framing {
	case framingChat:
		_, _ = w.Write([]byte("data: [DONE]\n\n"))
	case framingGoogleJSON:
		if written == 0 {
			_, _ = w.Write([]byte("["))
		}
		_, _ = w.Write([]byte("]"))
	}
	flush(w)
}

// streamCut is where a stream fault fires: after the first draft, or
// before the first final image (the last event when none is marked).
func streamCut(events []streamEvent) int {
	for i, ev := range events {
		if ev.preview {
			return i + 1
		}
	}
	for i, ev := range events {
		if ev.final {
			return i
		}
	}
	return max(len(events)-1, 0)
}

// frame renders one event; first is true for the first in the stream.
func frame(f streamFraming, ev streamEvent, first bool) []byte {
	var b []byte
	switch f {
	case framingOpenAI:
		b = append(b, "event: "...)
		b = append(b, ev.name...)
		b = append(b, "\ndata: "...)
		b = append(b, ev.data...)
		b = append(b, "\n\n"...)
	case framingChat:
		b = append(b, "data: "...)
		b = append(b, ev.data...)
		b = append(b, "\n\n"...)
	case framingGoogleSSE:
		b = append(b, "data: "...)
		b = append(b, ev.data...)
		b = append(b, "\r\n\r\n"...)
	case framingGoogleJSON:
		if first {
			b = append(b, '[')
		} else {
			b = append(b, ",\r\n"...)
		}
		b = append(b, ev.data...)
	}
	return b
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// --- OpenAI Images API ---

// imageEvent is an Images API stream event, its fields in the order of
// OpenAI's reference.
type imageEvent struct {
	Type              string         `json:"type"`
	B64JSON           string         `json:"b64_json"`
	CreatedAt         int64          `json:"created_at"`
	Size              string         `json:"size"`
	Quality           string         `json:"quality"`
	Background        string         `json:"background"`
	OutputFormat      string         `json:"output_format"`
	PartialImageIndex *int           `json:"partial_image_index,omitempty"`
	Usage             map[string]any `json:"usage,omitempty"`
}

// imagesStream answers an Images API stream: partial_image events with
// distinct drafts, then one completed event per image, each with the
// request's usage (the same as the JSON answer's: the 100 output tokens
// OpenAI bills per partial image are not added).
func (s *Server) imagesStream(w http.ResponseWriter, st *streamReq, ep Endpoint, p imageParams, format string,
	wd, ht int, images [][]byte, usage map[string]any) {
	prefix := "image_generation"
	if ep == EndpointImagesEdits {
		prefix = "image_edit"
	}
	q := billedQuality(p.quality)
	bg := p.background
	if bg == "" || bg == "auto" {
		bg = "opaque"
	}
	size := strconv.Itoa(wd) + "x" + strconv.Itoa(ht)
	created := s.now().Unix()
	base := func(typ string, img []byte) imageEvent {
		return imageEvent{Type: typ, B64JSON: b64(img), CreatedAt: created, Size: size,
			Quality: q, Background: bg, OutputFormat: format}
	}
	partials := p.partials
	if st.finalOnly || len(images) == 0 {
		partials = 0
	}
	plan := streamPlan{framing: framingOpenAI}
	for i := range partials {
		img, _ := s.blockImage(format, wd, ht, "partial|"+strconv.Itoa(i)+"|"+p.prompt+"|"+p.model)
		ev := base(prefix+".partial_image", img)
		ev.PartialImageIndex = &i
		plan.events = append(plan.events, streamEvent{name: ev.Type, data: jsonBytes(ev), preview: true})
	}
	for _, img := range images {
		ev := base(prefix+".completed", img)
		ev.Usage = usage
		plan.events = append(plan.events, streamEvent{name: ev.Type, data: jsonBytes(ev), final: true})
	}
	plan.errEvent = streamEvent{name: "error", data: jsonBytes(map[string]any{"type": "error", "error": map[string]any{
		"type": "server_error", "code": "server_error",
		"message": "The server had an error while processing your request.", "param": nil}})}
	plan.malformed = streamEvent{name: prefix + ".partial_image",
		data: []byte(`{"type":"` + prefix + `.partial_image","b64_json":"iVBORw0KGgoAAAANSUhEUgAA`)}
	s.sendStream(w, st.c, plan)
}

// --- chat completions ---

// chatStream answers a chat completion stream as OpenRouter and the
// new-api relays send it: chat.completion.chunk objects (the role, the
// text, each image as its own delta: message.images in delta.images,
// markdown images in delta.content), a last chunk with finish_reason and
// usage, then "data: [DONE]".
func (s *Server) chatStream(w http.ResponseWriter, st *streamReq, resp map[string]any, model string) {
	choice := resp["choices"].([]any)[0].(map[string]any)
	msg := choice["message"].(map[string]any)
	chunk := func(delta map[string]any, finish any, extra map[string]any) []byte {
		ch := map[string]any{"index": 0, "delta": delta, "finish_reason": finish}
		for k, v := range extra {
			ch[k] = v
		}
		m := map[string]any{"id": resp["id"], "object": "chat.completion.chunk", "created": resp["created"],
			"model": model, "choices": []any{ch}}
		return jsonBytes(m)
	}
	plan := streamPlan{framing: framingChat}
	add := func(ev streamEvent) { plan.events = append(plan.events, ev) }
	add(streamEvent{data: chunk(map[string]any{"role": "assistant", "content": ""}, nil, nil)})
	switch c := msg["content"].(type) {
	case string:
		// Markdown images each get a chunk: the drafts before the last
		// are previews, the last is the final image.
		pieces := strings.Split(c, "\n\n")
		nImages := 0
		for _, pc := range pieces {
			if strings.HasPrefix(pc, "![") {
				nImages++
			}
		}
		seen := 0
		for i, pc := range pieces {
			if i > 0 {
				pc = "\n\n" + pc
			}
			ev := streamEvent{}
			if strings.HasPrefix(strings.TrimSpace(pc), "![") {
				seen++
				ev.final = seen == nImages
				ev.preview = !ev.final
				if ev.preview && st.finalOnly {
					continue
				}
			}
			if pc == "" {
				continue
			}
			ev.data = chunk(map[string]any{"content": pc}, nil, nil)
			add(ev)
		}
	case []any:
		add(streamEvent{data: chunk(map[string]any{"content": c}, nil, nil), final: true})
	}
	if imgs, ok := msg["images"]; ok {
		add(streamEvent{data: chunk(map[string]any{"images": imgs}, nil, nil), final: true})
	}
	add(streamEvent{data: jsonBytes(map[string]any{"id": resp["id"], "object": "chat.completion.chunk",
		"created": resp["created"], "model": model, "usage": resp["usage"],
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": choice["finish_reason"],
			"native_finish_reason": choice["native_finish_reason"]}}})})
	plan.errEvent = streamEvent{data: jsonBytes(map[string]any{"id": resp["id"], "object": "chat.completion.chunk",
		"created": resp["created"], "model": model,
		"error":   map[string]any{"code": "server_error", "message": "The server had an error while processing your request."},
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": ""}, "finish_reason": "error"}}})}
	plan.malformed = streamEvent{data: []byte(`{"id":"` + fmt.Sprint(resp["id"]) + `","object":"chat.completion.chunk","choices":[{"delta":{"images":[{"image_url":{"url":"data:image/png;base64,iVBOR`)}
	s.sendStream(w, st.c, plan)
}

// --- Gemini streamGenerateContent ---

// handleStreamGenerateContent answers models/{model}:streamGenerateContent.
// With ?alt=sse (what genai Go and js-genai send) every chunk is one
// "data: {GenerateContentResponse}" line and a blank line ("\r\n\r\n"),
// with no event: or comment lines, which genai Go would reject. Without
// alt=sse the chunks form a JSON array, as Google answers.
//
// The chunks are the generateContent answer cut into parts: on Gemini 3
// image models, and only when generationConfig.thinkingConfig.includeThoughts
// is true, a thought text and two draft images (parts with "thought":
// true and inlineData, each distinct from the final image); then the
// text part when TEXT was asked for; then the final image part (with its
// thoughtSignature), finishReason STOP and the whole usageMetadata. The
// first chunk carries usageMetadata with the prompt's tokens only; the
// last one the totals. A content fault (SafetyBlock, PromptBlocked,
// NoImage) is one chunk holding generateContent's answer.
func (s *Server) handleStreamGenerateContent(w http.ResponseWriter, st *streamReq) {
	c := st.c
	var req gRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error(), nil)
		return
	}
	if len(req.Contents) == 0 {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n", nil)
		return
	}
	resp, gerr := s.generate(c.rt.model, &req, c.f)
	if gerr != nil {
		writeGoogleError(w, gerr.code, gerr.status, gerr.message, nil)
		return
	}
	framing := framingGoogleJSON
	if strings.EqualFold(c.r.URL.Query().Get("alt"), "sse") {
		framing = framingGoogleSSE
	}
	plan := streamPlan{framing: framing}
	thoughts, _ := req.GenerationConfig.ThinkingConfig["includeThoughts"].(bool)
	if st.finalOnly {
		thoughts = false
	}
	plan.events = s.geminiChunks(resp, thoughts, c.rt.model)
	plan.errEvent = streamEvent{data: jsonBytes(map[string]any{"error": map[string]any{
		"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}})}
	plan.malformed = streamEvent{data: []byte(`{"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/jpeg","data":"/9j/4AAQSkZJRgABAQ`)}
	s.sendStream(w, c, plan)
}

// gChunkOut is one streamed GenerateContentResponse, its fields in
// Google's order (mimeType before data, usage before the model version).
type gChunkOut struct {
	Candidates    []gCandOut `json:"candidates"`
	UsageMetadata any        `json:"usageMetadata,omitempty"`
	ModelVersion  string     `json:"modelVersion"`
	ResponseID    any        `json:"responseId"`
}

type gCandOut struct {
	Content struct {
		Parts []gPartOut `json:"parts"`
		Role  string     `json:"role"`
	} `json:"content"`
	FinishReason  any `json:"finishReason,omitempty"`
	FinishMessage any `json:"finishMessage,omitempty"`
	Index         int `json:"index"`
}

type gPartOut struct {
	Text       string `json:"text,omitempty"`
	InlineData *struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData,omitempty"`
	Thought          bool   `json:"thought,omitempty"`
	ThoughtSignature string `json:"thoughtSignature,omitempty"`
}

// partOut converts a part of generate's answer.
func partOut(p map[string]any) gPartOut {
	var o gPartOut
	o.Text, _ = p["text"].(string)
	o.Thought, _ = p["thought"].(bool)
	o.ThoughtSignature, _ = p["thoughtSignature"].(string)
	if d, ok := p["inlineData"].(map[string]any); ok {
		o.InlineData = &struct {
			MimeType string `json:"mimeType"`
			Data     string `json:"data"`
		}{fmt.Sprint(d["mimeType"]), fmt.Sprint(d["data"])}
	}
	return o
}

// geminiChunks cuts a generateContent answer into stream chunks (see
// handleStreamGenerateContent).
func (s *Server) geminiChunks(resp map[string]any, includeThoughts bool, model string) []streamEvent {
	cands, _ := resp["candidates"].([]any)
	var cand map[string]any
	if len(cands) == 1 {
		cand, _ = cands[0].(map[string]any)
	}
	content, _ := cand["content"].(map[string]any)
	parts, _ := content["parts"].([]any)
	if len(parts) == 0 {
		return []streamEvent{{data: jsonBytes(resp), final: true}}
	}
	var out []any
	for _, raw := range parts {
		p, _ := raw.(map[string]any)
		if p["thought"] != true {
			out = append(out, p)
			continue
		}
		if !includeThoughts {
			continue
		}
		out = append(out, p)
		if _, img := p["inlineData"]; img {
			// The real models send up to two drafts; the emulator sends
			// two, the second larger and of other colours.
			// Seeded by the first draft, so that it is cached per prompt.
			first, _ := p["inlineData"].(map[string]any)
			draft, mt := s.blockImage("jpeg", 512, 512, "draft2|"+fmt.Sprint(first["data"]))
			out = append(out, map[string]any{"inlineData": map[string]any{"mimeType": mt, "data": b64(draft)}, "thought": true})
		}
	}
	usage, _ := resp["usageMetadata"].(map[string]any)
	firstUsage := map[string]any{"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
	if d, ok := usage["promptTokensDetails"]; ok {
		firstUsage["promptTokensDetails"] = d
	}
	events := make([]streamEvent, 0, len(out))
	for i, raw := range out {
		p := partOut(raw.(map[string]any))
		last := i == len(out)-1
		cd := gCandOut{}
		cd.Content.Role, cd.Content.Parts = "model", []gPartOut{p}
		chunk := gChunkOut{Candidates: []gCandOut{cd}, ModelVersion: model, ResponseID: resp["responseId"]}
		switch {
		case last:
			chunk.Candidates[0].FinishReason = cand["finishReason"]
			chunk.Candidates[0].FinishMessage = cand["finishMessage"]
			chunk.UsageMetadata = usage
		case i == 0:
			chunk.UsageMetadata = firstUsage
		}
		events = append(events, streamEvent{data: jsonBytes(chunk), preview: p.InlineData != nil && p.Thought, final: last})
	}
	return events
}
