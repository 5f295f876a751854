package openaicompat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/internal/sse"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// CodeStreamTruncated is the Code of the error of a stream that ended
// before its image did: no completed event (provider.ErrUnavailable).
const CodeStreamTruncated = "STREAM_TRUNCATED"

// CodeStreamError is the Code of an error event that names no code.
const CodeStreamError = "stream_error"

// previews returns the request's Previews and whether to ask for an event
// stream: only on the Images API (ModeImages), only for the GPT image
// models (the dall-e models never streamed; the API documents stream as
// "only supported for the GPT image models"), and not for gif or svg
// output, which the API says cannot stream. Anything else is answered
// whole, without previews, as the contract allows.
func (g *Generator) previews(p *plan) (provider.Previews, bool) {
	pv, ok := provider.PreviewsOf(p.req)
	if !ok || g.cfg.Mode != ModeImages || !streamable(p) {
		return provider.Previews{}, false
	}
	return pv, true
}

// streamable reports whether the plan's model and output can stream.
func streamable(p *plan) bool {
	if p.cat != nil && p.cat.Provider != "" && p.cat.Provider != "openai" {
		return false
	}
	id := strings.ToLower(p.id)
	if !strings.HasPrefix(id, "gpt-image") && !strings.HasPrefix(id, "chatgpt-image") {
		return false
	}
	return p.format != "gif" && p.format != "svg"
}

// refusedStream reports whether err is a refusal of "stream" or
// "partial_images" (400 before any event), as OpenAI answers for a model
// that cannot stream: "Unsupported value: 'stream' does not support true
// with this model."
func refusedStream(err error) bool {
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindInvalidRequest || pe.StatusCode != http.StatusBadRequest {
		return false
	}
	m := strings.ToLower(pe.Message)
	return strings.Contains(m, "'stream'") || strings.Contains(m, "partial_images") || strings.Contains(m, `"stream"`) ||
		strings.Contains(m, "stream") && strings.Contains(m, "not support")
}

// streamEvent is one event of an Images API stream
// (image_generation.partial_image, image_generation.completed and their
// image_edit twins), or an error event.
type streamEvent struct {
	Type         string     `json:"type"`
	B64JSON      string     `json:"b64_json"`
	OutputFormat string     `json:"output_format"`
	Usage        *usageJSON `json:"usage"`
	Error        wireError  `json:"error"`
	// An error event without an error object: {"type":"error","code":…,"message":…}.
	Code    json.RawMessage `json:"code"`
	Message json.RawMessage `json:"message"`
}

// The event's JSON is read through jsonimg's OpenAI schema as the only
// element of data[], where b64_json is decoded as it streams in.
const (
	eventPrefix = `{"data":[`
	eventSuffix = `]}`
)

// isEventStream reports whether an answer is an event stream.
func isEventStream(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && strings.EqualFold(mt, "text/event-stream")
}

// streamImages makes a streaming call. An answer that is not an event
// stream (a relay that ignored stream) is read as the usual JSON answer.
func (g *Generator) streamImages(ctx context.Context, p *plan, path, contentType string, body []byte, pv provider.Previews) (*provider.Response, error) {
	resp, rec, calls, err := g.send(ctx, p, path, contentType, "text/event-stream", body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if !isEventStream(resp.Header) {
		var ans imagesResponse
		streamed, err := g.decodeAnswer(ctx, p, resp, rec, &ans)
		if err != nil {
			return nil, err
		}
		return g.imagesAnswer(ctx, p, &ans, calls, streamed)
	}
	s := &imageStream{g: g, p: p, rec: rec, calls: calls, pv: pv, body: &countingReader{r: resp.Body}, length: resp.ContentLength}
	return s.run(ctx)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// imageStream reads one Images API event stream.
type imageStream struct {
	g      *Generator
	p      *plan
	rec    *capture.Record
	calls  int
	pv     provider.Previews
	body   *countingReader
	length int64 // Content-Length, -1 when unknown

	partials  int   // partial events received: each is billed
	imageSize int64 // body bytes of the last event that carried an image, the size guess for the next
	delivered int   // previews handed to On
	out       imagesOutcome
	usages    []*usageJSON
}

// run reads events until the completed events of all N images (or the
// end of the stream), and returns the Response.
func (s *imageStream) run(ctx context.Context) (*provider.Response, error) {
	g := s.g
	r := sse.NewReader(s.body)
	completed := 0
	for completed < s.p.n {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, s.fail(g.transportError(ctx, s.p.id, err, s.rec))
		}
		ev, res, done, err := s.event(r)
		if err != nil {
			return nil, s.fail(s.readError(ctx, err))
		}
		if done {
			break
		}
		name := r.Event()
		if name == "error" || ev.Error.e != nil || ev.Type == "error" || ev.Type == "upstream_error" {
			return nil, s.fail(s.eventError(ctx, ev))
		}
		kind := ev.Type
		if kind == "" {
			kind = name
		}
		switch {
		case strings.HasSuffix(kind, ".partial_image"):
			s.partial(ctx, ev, res)
		case strings.HasSuffix(kind, ".completed"):
			completed++
			s.completed(ctx, ev, res)
		}
		// Other events (keep-alives sent as data, events of newer API
		// versions) are skipped.
	}
	s.out.previews = s.partials
	s.out.served, s.out.calls = s.p.id, s.calls
	s.out.usage = mergeUsage(s.usages)
	if completed == 0 {
		return nil, s.fail(&provider.Error{Kind: provider.KindUnavailable, Provider: g.name, Model: s.p.id, StatusCode: 200,
			Code: CodeStreamTruncated, Message: fmt.Sprintf("the event stream ended without a completed image (after %d partial image(s))", s.partials)})
	}
	return g.finishImages(s.p, s.out)
}

// event reads the current event's data: done reports a [DONE] sentinel.
func (s *imageStream) event(r *sse.Reader) (ev streamEvent, res *jsonimg.Result, done bool, err error) {
	data := r.Data()
	var head [8]byte
	n, err := io.ReadFull(data, head[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return ev, nil, false, err
	}
	if string(bytes.TrimSpace(head[:n])) == "[DONE]" && err != nil {
		return ev, nil, true, nil
	}
	start := s.body.n - int64(r.Buffered())
	in := io.MultiReader(strings.NewReader(eventPrefix), bytes.NewReader(head[:n]), data, strings.NewReader(eventSuffix))
	if s.length > 0 && strings.HasSuffix(r.Event(), ".completed") {
		// The final image is (nearly) all that is left of the body: decode
		// it into one allocation of its size.
		hint := s.length - s.body.n + int64(r.Buffered()+len(eventPrefix)+n)
		res, err = jsonimg.RewriteLimit(in, hint, jsonimg.OpenAI, answer.JSONCap(s.g.maxResponse))
	} else {
		// A stream has no length. Partial images are renders of the final
		// one at its size, so the last one's size is the guess for the
		// next image: it decodes into one allocation when the guess holds,
		// instead of chunks copied once into their exact size (2×).
		guess := int64(0)
		if s.imageSize > 0 {
			guess = s.imageSize + 4<<10
		}
		res, err = jsonimg.RewriteGuess(in, guess, jsonimg.OpenAI, answer.JSONCap(s.g.maxResponse))
	}
	if err != nil {
		return ev, nil, false, err
	}
	if len(res.Payloads) > 0 {
		s.imageSize = s.body.n - int64(r.Buffered()) - start + int64(n)
	}
	j := bytes.TrimSpace(res.JSON)
	if !bytes.HasPrefix(j, []byte(eventPrefix)) || !bytes.HasSuffix(j, []byte(eventSuffix)) {
		return ev, nil, false, answer.Malformed("an event that is not one JSON object")
	}
	if err := decodeObject(j[len(eventPrefix):len(j)-len(eventSuffix)], &ev); err != nil {
		return ev, nil, false, err
	}
	return ev, res, false, nil
}

// partial hands a partial image to On. One that is no image is skipped
// with a warning; it was billed all the same.
func (s *imageStream) partial(ctx context.Context, ev streamEvent, res *jsonimg.Result) {
	s.partials++
	if s.delivered >= s.pv.Want() {
		// More drafts than asked for: counted (billed), not shown.
		return
	}
	img, _, err := s.g.decodeSource(ctx, imageSource{b64: ev.B64JSON, label: ev.OutputFormat, streamed: res})
	if err != nil {
		s.out.warnings = append(s.out.warnings, s.g.secrets.Clean(fmt.Sprintf("partial image %d dropped: %v", s.partials, err), textutil.MaxMessage))
		return
	}
	s.pv.On(provider.Preview{Index: s.delivered, Image: provider.Image{Data: img.Data, MIMEType: img.MIMEType}, Provider: s.g.name})
	s.delivered++
}

// completed keeps the next final image and its usage.
func (s *imageStream) completed(ctx context.Context, ev streamEvent, res *jsonimg.Result) {
	if ev.Usage != nil {
		s.usages = append(s.usages, ev.Usage)
	}
	s.out.entries++
	i := s.out.entries
	img, warn, err := s.g.decodeSource(ctx, imageSource{b64: ev.B64JSON, label: ev.OutputFormat, streamed: res})
	s.out.add(s.g.secrets.Clean, i, s.p.n, img, warn, err)
}

// mergeUsage adds the usage of several completed events (n > 1). Whether
// each event reports its own image or the call's total is not documented;
// identical reports are taken for the total, repeated, and counted once.
func mergeUsage(us []*usageJSON) *usageJSON {
	switch len(us) {
	case 0:
		return nil
	case 1:
		return us[0]
	}
	same := true
	for _, u := range us[1:] {
		same = same && u.counts() == us[0].counts()
	}
	if same {
		return us[0]
	}
	sum := &usageJSON{InputTokensDetails: &tokenDetails{}, OutputTokensDetails: &tokenDetails{}}
	add := func(dst *count, src count) {
		dst.n += src.n
		if src.bad != "" {
			dst.bad = src.bad
		}
	}
	for _, u := range us {
		add(&sum.InputTokens, u.InputTokens)
		add(&sum.OutputTokens, u.OutputTokens)
		for _, d := range []struct{ dst, src *tokenDetails }{{sum.InputTokensDetails, u.InputTokensDetails}, {sum.OutputTokensDetails, u.OutputTokensDetails}} {
			if d.src != nil {
				add(&d.dst.TextTokens, d.src.TextTokens)
				add(&d.dst.ImageTokens, d.src.ImageTokens)
				add(&d.dst.ReasoningTokens, d.src.ReasoningTokens)
			}
		}
	}
	return sum
}

// counts is every count of u, as sent, to compare two reports.
func (u *usageJSON) counts() string {
	d := func(t *tokenDetails) string {
		if t == nil {
			return "-"
		}
		return fmt.Sprint(t.TextTokens, t.ImageTokens, t.ReasoningTokens)
	}
	return fmt.Sprint(u.InputTokens, u.OutputTokens, u.PromptTokens, u.CompletionTokens, d(u.InputTokensDetails), d(u.OutputTokensDetails),
		d(u.PromptTokensDetails), d(u.CompletionTokensDetails), string(u.Cost))
}

// readError types a failure to read or parse an event.
func (s *imageStream) readError(ctx context.Context, err error) error {
	if errors.Is(err, jsonimg.ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
		err = answer.Malformed("an event's JSON: %v", err)
	}
	return s.g.transportError(ctx, s.p.id, err, s.rec)
}

// eventError turns an error event into a *provider.Error of the kind its
// code or type says (a rate limit, a server error, a refused prompt).
func (s *imageStream) eventError(ctx context.Context, ev streamEvent) error {
	ae := ev.Error.e
	if ae == nil {
		ae = &openai.APIError{Message: rawText(ev.Message)}
		if c := rawText(ev.Code); c != "" {
			ae.Code = c
		}
	}
	code, _ := ae.Code.(string)
	if code == "" && ae.Code != nil {
		code = fmt.Sprint(ae.Code)
	}
	e := s.g.apiError(ctx, s.p.id, streamStatus(strings.ToLower(code+" "+ae.Type)), nil, ae, s.calls).(*provider.Error)
	e.StatusCode = 200 // what the HTTP answer said; the kind comes from the event
	if e.Code == "" {
		e.Code = CodeStreamError
	}
	if e.Message == "" {
		e.Message = "error event in the image stream"
	}
	e.Message = "stream: " + e.Message
	return e
}

// streamStatus is the HTTP status that an error event's code or type
// stands for, to classify it as the same error would be before a stream.
func streamStatus(codeType string) int {
	switch {
	case strings.Contains(codeType, "rate_limit"):
		return http.StatusTooManyRequests
	case strings.Contains(codeType, "invalid_request"), strings.Contains(codeType, "invalid_prompt"):
		return http.StatusBadRequest
	case strings.Contains(codeType, "timeout"):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// rawText is a JSON string's value, or the raw text of anything else.
func rawText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str
	}
	return textutil.Truncate(string(raw), 200)
}

// fail adds what the stream billed before it failed (partial images, the
// usage of completed images) to err.
func (s *imageStream) fail(err error) error {
	var pe *provider.Error
	if !errors.As(err, &pe) || (s.partials == 0 && len(s.usages) == 0) {
		return err
	}
	c := *pe
	u, _ := mergeUsage(s.usages).usage(len(s.out.images), !s.p.dallE())
	if c.Usage != nil {
		u = *c.Usage
	}
	u.Previews = s.partials
	c.Usage = &u
	return &c
}
