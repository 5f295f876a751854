package openaicompat

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/datauri"
	"github.com/imagegen-go/imagegen/internal/fetch"
	"github.com/imagegen-go/imagegen/internal/imageconv"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// imagesRequest is the JSON body of /images/generations and OpenRouter's
// /images. It is written here rather than with go-openai's ImageRequest,
// which cannot send output_compression 0 (omitempty), safety_identifier or
// OpenRouter's image_config, and whose response drops
// output_tokens_details (PROVIDERS.md §5).
type imagesRequest struct {
	Model             string       `json:"model"` // always sent: omitting it selects an old default
	Prompt            string       `json:"prompt"`
	N                 int          `json:"n,omitempty"`
	Size              string       `json:"size,omitempty"`
	Quality           string       `json:"quality,omitempty"`
	OutputFormat      string       `json:"output_format,omitempty"`
	OutputCompression *int         `json:"output_compression,omitempty"`
	Background        string       `json:"background,omitempty"`
	Moderation        string       `json:"moderation,omitempty"`
	ResponseFormat    string       `json:"response_format,omitempty"`
	Style             string       `json:"style,omitempty"`
	User              string       `json:"user,omitempty"`
	SafetyIdentifier  string       `json:"safety_identifier,omitempty"`
	ImageConfig       *imageConfig `json:"image_config,omitempty"`
	Stream            bool         `json:"stream,omitempty"`
	PartialImages     *int         `json:"partial_images,omitempty"`
}

// imageConfig is OpenRouter's image_config.
type imageConfig struct {
	AspectRatio string `json:"aspect_ratio,omitempty"`
	ImageSize   string `json:"image_size,omitempty"`
}

func (p *plan) imageConfig() *imageConfig {
	if p.aspect == "" && p.imageSize == "" {
		return nil
	}
	return &imageConfig{AspectRatio: p.aspect, ImageSize: p.imageSize}
}

// imagesResponse is the answer of the Images API and OpenRouter's /images.
type imagesResponse struct {
	Model        string       `json:"model"`
	Data         []imageDatum `json:"data"`
	Usage        *usageJSON   `json:"usage"`
	OutputFormat string       `json:"output_format"`
	Error        wireError    `json:"error"` // some relays answer 200 with an error envelope
}

// wireError is an "error" member of a 200 answer: OpenAI's error object,
// or, from some relays, a bare string. Anything else is ignored.
type wireError struct{ e *openai.APIError }

// UnmarshalJSON never fails: an error member of an odd shape must not
// make the whole answer unreadable.
func (w *wireError) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || b[0] == 'n':
	case b[0] == '"':
		var s string
		if json.Unmarshal(b, &s) == nil && s != "" {
			w.e = &openai.APIError{Message: s}
		}
	case b[0] == '{':
		var ae openai.APIError
		if json.Unmarshal(b, &ae) == nil {
			w.e = &ae
		} else {
			var loose struct {
				Message json.RawMessage `json:"message"`
			}
			_ = json.Unmarshal(b, &loose)
			w.e = &openai.APIError{Message: strings.Trim(string(loose.Message), `"`)}
		}
	}
	return nil
}

// count is a usage count as sent. Decoding never fails: a value that is
// not an integer from 0 to MaxInt32 (negative, fractional, 1e30, a
// string) is kept as bad, dropped with a warning, so that it can neither
// reach a meter's totals nor throw a good image away.
type count struct {
	n   int
	bad string // the value as sent, when unusable
}

// UnmarshalJSON reads any JSON value. A plain integer of up to nine
// digits, what every provider sends, is read directly: a json.Decoder per
// count took a third of what a tiny answer allocated.
func (c *count) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && len(b) <= 9 {
		n := 0
		for _, d := range b {
			if d < '0' || d > '9' {
				n = -1
				break
			}
			n = n*10 + int(d-'0')
		}
		if n >= 0 {
			c.n = n // at most 999999999 < MaxInt32, as answer.Count requires
			return nil
		}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&v) != nil || v == nil {
		return nil
	}
	if n, ok := answer.Count(v); ok {
		c.n = n
	} else {
		c.bad = textutil.Truncate(string(bytes.TrimSpace(b)), 40)
	}
	return nil
}

type imageDatum struct {
	URL           string `json:"url"`
	B64JSON       string `json:"b64_json"`
	RevisedPrompt string `json:"revised_prompt"`
}

type tokenDetails struct {
	TextTokens      count `json:"text_tokens"`
	ImageTokens     count `json:"image_tokens"`
	ReasoningTokens count `json:"reasoning_tokens"`
}

// usageJSON covers both usage vocabularies: the Images API's
// input/output_tokens with details, and chat's prompt/completion_tokens
// (OpenRouter adds cost, in dollars).
type usageJSON struct {
	InputTokens             count           `json:"input_tokens"`
	OutputTokens            count           `json:"output_tokens"`
	InputTokensDetails      *tokenDetails   `json:"input_tokens_details"`
	OutputTokensDetails     *tokenDetails   `json:"output_tokens_details"`
	PromptTokens            count           `json:"prompt_tokens"`
	CompletionTokens        count           `json:"completion_tokens"`
	PromptTokensDetails     *tokenDetails   `json:"prompt_tokens_details"`
	CompletionTokensDetails *tokenDetails   `json:"completion_tokens_details"`
	Cost                    json.RawMessage `json:"cost"`
}

// usage maps reported usage. imageOnly says every output token is an image
// token when no split is reported (GPT image models, OpenRouter /images).
// Counts that could not be used are dropped and described in warning.
func (u *usageJSON) usage(images int, imageOnly bool) (out provider.Usage, warning string) {
	out = provider.Usage{Images: images}
	if u == nil {
		return out, ""
	}
	var bad []string
	get := func(name string, c count) int {
		if c.bad != "" {
			bad = append(bad, name+"="+c.bad)
		}
		return c.n
	}
	detail := func(prefix string, d *tokenDetails) (text, image, reasoning int) {
		if d == nil {
			return 0, 0, 0
		}
		if d.TextTokens.bad == "" && d.ImageTokens.bad == "" && d.ReasoningTokens.bad == "" {
			return d.TextTokens.n, d.ImageTokens.n, d.ReasoningTokens.n // no names to build
		}
		return get(prefix+".text_tokens", d.TextTokens), get(prefix+".image_tokens", d.ImageTokens), get(prefix+".reasoning_tokens", d.ReasoningTokens)
	}
	out.InputTokens = get("input_tokens", u.InputTokens) + get("prompt_tokens", u.PromptTokens)
	completion := get("completion_tokens", u.CompletionTokens)
	out.OutputTokens = get("output_tokens", u.OutputTokens) + completion
	_, img1, _ := detail("input_tokens_details", u.InputTokensDetails)
	_, img2, _ := detail("prompt_tokens_details", u.PromptTokensDetails)
	out.InputImageTokens = img1 + img2
	split := false
	for _, d := range []struct {
		name string
		d    *tokenDetails
	}{{"output_tokens_details", u.OutputTokensDetails}, {"completion_tokens_details", u.CompletionTokensDetails}} {
		text, img, reasoning := detail(d.name, d.d)
		out.OutputImageTokens += img
		out.ThoughtTokens += reasoning
		split = split || img > 0 || text > 0
	}
	// Chat completion_tokens include reasoning; provider.Usage keeps
	// thinking apart from OutputTokens, as Gemini reports it, so that it is
	// priced once.
	if out.ThoughtTokens > 0 && completion >= out.ThoughtTokens {
		out.OutputTokens -= out.ThoughtTokens
	}
	if !split && imageOnly && images > 0 {
		out.OutputImageTokens = out.OutputTokens
	}
	if len(bad) > 0 {
		warning = "usage counts out of range dropped: " + strings.Join(bad, ", ")
	}
	return out, warning
}

func (g *Generator) generateImages(ctx context.Context, p *plan) (*provider.Response, error) {
	pv, stream := g.previews(p)
	if stream {
		path, contentType, body, err := g.imagesRequest(p, true, pv.Want())
		if err != nil {
			return nil, err
		}
		resp, err := g.streamImages(ctx, p, path, contentType, body, pv)
		if !refusedStream(err) {
			return resp, err
		}
		// A relay (or a model) that refuses "stream" is asked again
		// without it: a refused request is not billed, and the caller
		// asked for an image, previews only if they can be had.
		resp, err = g.generateOnce(ctx, p)
		if resp != nil {
			resp.Attempts++
		}
		return resp, err
	}
	return g.generateOnce(ctx, p)
}

// generateOnce makes one call without a stream.
func (g *Generator) generateOnce(ctx context.Context, p *plan) (*provider.Response, error) {
	path, contentType, body, err := g.imagesRequest(p, false, 0)
	if err != nil {
		return nil, err
	}
	var ans imagesResponse
	calls, streamed, err := g.post(ctx, p, path, contentType, body, &ans)
	if err != nil {
		return nil, err
	}
	return g.imagesAnswer(ctx, p, &ans, calls, streamed)
}

// imagesRequest builds the call: generations (JSON) or, with
// references, edits (multipart); with stream, one that asks for an event
// stream with partials partial images.
func (g *Generator) imagesRequest(p *plan, stream bool, partials int) (path, contentType string, body []byte, err error) {
	if len(p.req.References) > 0 {
		path = "/images/edits"
		body, contentType, err = editsBody(p, stream, partials)
	} else {
		path = "/images/generations"
		if g.cfg.Mode == ModeOpenRouterImages {
			path = "/images"
		}
		contentType = "application/json"
		r := g.generationsBody(p)
		if stream {
			r.Stream, r.PartialImages = true, new(partials)
		}
		body, err = json.Marshal(r)
	}
	if err != nil {
		return "", "", nil, g.invalid(p.id, "", "encoding the request: %v", err)
	}
	return path, contentType, body, nil
}

// imagesAnswer turns a decoded Images API answer into the Response.
func (g *Generator) imagesAnswer(ctx context.Context, p *plan, ans *imagesResponse, calls int, streamed *jsonimg.Result) (*provider.Response, error) {
	if ans.Error.e != nil && len(ans.Data) == 0 {
		return nil, g.apiError(ctx, p.id, statusOf(ans.Error.e), nil, ans.Error.e, calls)
	}
	served := p.id
	if ans.Model != "" {
		served = g.secrets.Clean(catalogID(ans.Model), 200)
	}
	srcs := make([]imageSource, len(ans.Data))
	for i, d := range ans.Data {
		srcs[i] = imageSource{b64: d.B64JSON, url: d.URL, revised: g.secrets.Clean(d.RevisedPrompt, textutil.MaxKept), label: ans.OutputFormat, streamed: streamed}
	}
	k := g.resolve(ctx, srcs)
	return g.finishImages(p, imagesOutcome{served: served, calls: calls, usage: ans.Usage, kept: k, entries: len(ans.Data)})
}

// imagesOutcome is what an Images API call gave, a JSON answer or a
// stream, before it becomes a Response.
type imagesOutcome struct {
	served string
	calls  int
	usage  *usageJSON
	kept
	entries  int // images in the answer, used or not
	previews int // partial images received (billed)
}

// kept is the images of an answer that could be used, with warnings
// about them and the first error of one that could not.
type kept struct {
	images   []provider.Image
	warnings []string
	firstErr error
}

// add keeps image i (1-based) of n, or its reason for being dropped;
// clean redacts what reaches a warning.
func (k *kept) add(clean func(string, int) string, i, n int, img *provider.Image, warn string, err error) {
	if warn != "" {
		k.warnings = append(k.warnings, clean(warn, textutil.MaxMessage))
	}
	if err != nil {
		if k.firstErr == nil {
			k.firstErr = err
		}
		k.warnings = append(k.warnings, clean(fmt.Sprintf("image %d of %d dropped: %v", i, n, err), textutil.MaxMessage))
		return
	}
	if img != nil {
		k.images = append(k.images, *img)
	}
}

// finishImages makes the Response of an Images API call, or its error
// when no image could be used.
func (g *Generator) finishImages(p *plan, o imagesOutcome) (*provider.Response, error) {
	out := &provider.Response{Provider: g.name, Model: o.served, Attempts: o.calls, Warnings: append([]string(nil), p.warnings...)}
	imageOnly := !p.dallE()
	if o.usage != nil {
		if c, ok, w := parseCost(o.usage.Cost); ok {
			out.Cost = c
		} else if w != "" {
			out.Warnings = append(out.Warnings, w)
		}
	}
	out.Warnings = append(out.Warnings, o.warnings...)
	var uw string
	if out.Usage, uw = o.usage.usage(len(o.images), imageOnly); uw != "" {
		out.Warnings = append(out.Warnings, uw)
	}
	out.Usage.Previews = o.previews
	if len(o.images) == 0 {
		u := out.Usage
		u.Images = 0
		if o.firstErr != nil {
			return nil, g.withUsage(o.firstErr, p.id, u, o.calls)
		}
		msg := "the answer holds no image"
		if len(o.warnings) > 0 {
			msg = g.secrets.Clean(msg+": "+strings.Join(o.warnings, "; "), textutil.MaxMessage)
		}
		return nil, &provider.Error{Kind: provider.KindNoImage, Provider: g.name, Model: o.served, StatusCode: 200, Code: "no_image", Message: msg, Usage: &u}
	}
	out.Images = o.images
	out.Warnings = append(out.Warnings, ensureFormat(out.Images, p.format)...)
	if len(o.images) < p.n && o.entries >= p.n {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d of %d images could not be used", p.n-len(o.images), p.n))
	} else if len(o.images) < p.n {
		out.Warnings = append(out.Warnings, fmt.Sprintf("asked for %d images, got %d", p.n, len(o.images)))
	}
	return out, nil
}

func (g *Generator) generationsBody(p *plan) imagesRequest {
	r := imagesRequest{
		Model: p.wire, Prompt: p.prompt, N: p.n, Size: p.size, Quality: p.quality,
		OutputFormat: p.format, OutputCompression: p.compression, Background: p.background,
		Moderation: p.moderation, ResponseFormat: p.responseFormat, Style: p.style,
		User: p.user, SafetyIdentifier: p.safetyID,
	}
	if g.cfg.Mode == ModeOpenRouterImages {
		r.Size = ""
		r.ImageConfig = p.imageConfig()
	}
	return r
}

// ensureFormat converts images that are not in format (png or jpeg) when
// the standard library can, and returns the warnings saying what it did or
// could not do (a relay that ignored output_format).
func ensureFormat(images []provider.Image, format string) []string {
	if format == "" {
		return nil
	}
	var warnings []string
	for i := range images {
		if provider.NormalizeFormat(images[i].MIMEType) == format {
			continue
		}
		if !imageconv.CanConvert(format) {
			warnings = append(warnings, fmt.Sprintf("asked for %s output, got %s", format, images[i].MIMEType))
			continue
		}
		var w string
		if images[i], w = imageconv.Ensure(images[i], format); w != "" {
			warnings = append(warnings, w)
		}
	}
	return warnings
}

// editsBody writes /images/edits by hand: go-openai sends one image only,
// and always sends n, size and response_format, empty or not
// (PROVIDERS.md §5). One reference goes as "image", several as "image[]".
//
// With stream, it asks for an event stream with partials partial images.
func editsBody(p *plan, stream bool, partials int) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	field := func(k, v string) {
		if v != "" {
			_ = w.WriteField(k, v)
		}
	}
	field("model", p.wire)
	field("prompt", p.prompt)
	field("n", strconv.Itoa(p.n))
	field("size", p.size)
	field("quality", p.quality)
	field("output_format", p.format)
	if p.compression != nil {
		field("output_compression", strconv.Itoa(*p.compression))
	}
	field("background", p.background)
	field("moderation", p.moderation)
	field("input_fidelity", p.inputFidelity)
	field("response_format", p.responseFormat)
	field("user", p.user)
	field("safety_identifier", p.safetyID)
	if stream {
		field("stream", "true")
		field("partial_images", strconv.Itoa(partials))
	}
	name := "image"
	if len(p.req.References) > 1 {
		name = "image[]"
	}
	for i, ref := range p.req.References {
		if err := filePart(w, name, fmt.Sprintf("image-%d", i+1), ref); err != nil {
			return nil, "", err
		}
	}
	if p.req.Mask != nil {
		if err := filePart(w, "mask", "mask", *p.req.Mask); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// filePart writes an image with its real content type: OpenAI refuses
// application/octet-stream uploads. Request.Validate has checked that the
// bytes are an image and that a declared MIMEType matches them.
func filePart(w *multipart.Writer, field, base string, img provider.Image) error {
	mt := provider.SniffMIME(img.Data)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s%s"`, field, base, img.Extension()))
	h.Set("Content-Type", mt)
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = pw.Write(img.Data)
	return err
}

// imageSource is one image of an answer before it is checked: base64
// bytes, a data: URI or a link.
type imageSource struct {
	b64     string
	url     string
	revised string
	label   string // the format the provider says it sent ("png", "image/png")
	// streamed maps the markers of a streamed answer to their payloads.
	streamed *jsonimg.Result
}

// resolve decodes, downloads (under the fetch policy) and checks the
// images of one answer, at most MaxConcurrency downloads at once. Images
// that fail are dropped with a warning; firstErr is the first failure, for
// answers where nothing survives.
func (g *Generator) resolve(ctx context.Context, srcs []imageSource) (k kept) {
	type result struct {
		img  *provider.Image
		warn string
		err  error
	}
	add := func(i int, r result) { k.add(g.secrets.Clean, i+1, len(srcs), r.img, r.warn, r.err) }
	local := func(s imageSource) bool {
		return s.b64 != "" || s.url == "" || isDataURI(s.url) || g.cfg.Fetch.NoDownload
	}
	if !slices.ContainsFunc(srcs, func(s imageSource) bool { return !local(s) }) {
		// Nothing to download (base64 answers): decode in order, here.
		for i, s := range srcs {
			img, warn, err := g.decodeSource(ctx, s)
			add(i, result{img, warn, err})
		}
		return k
	}
	results := make([]result, len(srcs))
	var (
		wg  sync.WaitGroup
		sem chan struct{} // made for the first download
	)
	for i, s := range srcs {
		if local(s) {
			img, warn, err := g.decodeSource(ctx, s)
			results[i] = result{img, warn, err}
			continue
		}
		if sem == nil {
			sem = make(chan struct{}, g.parallel)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = result{err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			img, warn, err := g.decodeSource(ctx, s)
			results[i] = result{img, warn, err}
		}()
	}
	wg.Wait()
	for i, r := range results {
		add(i, r)
	}
	return k
}

func isDataURI(s string) bool { return len(s) >= 5 && strings.EqualFold(s[:5], "data:") }

func (g *Generator) decodeSource(ctx context.Context, s imageSource) (*provider.Image, string, error) {
	switch {
	case s.b64 != "":
		if pl, ok := s.streamed.LookupText(s.b64); ok {
			return checked(pl.Data, s.label, s.revised)
		}
		data, err := decodeBase64(s.b64)
		if err != nil {
			return nil, "", fmt.Errorf("undecodable b64_json: %w", err)
		}
		return checked(data, s.label, s.revised)
	case s.streamed.Contains(s.url):
		if res, ok := g.fromMarker(s.url, s.streamed); ok {
			return fetched(res, s.revised)
		}
		// Anything but a plain data URI: the text as it came.
		s.url = s.streamed.Restore(s.url)
		return g.decodeSource(ctx, s)
	case s.url == "":
		return nil, "", fmt.Errorf("an entry with neither b64_json nor url")
	case g.cfg.Fetch.NoDownload && !isDataURI(s.url):
		return &provider.Image{URL: s.url, RevisedPrompt: s.revised}, "", nil
	}
	res, err := g.fetcher.Fetch(ctx, s.url)
	if err != nil {
		return nil, "", err
	}
	return fetched(res, s.revised)
}

func fetched(res *fetch.Result, revised string) (*provider.Image, string, error) {
	warn := ""
	if res.Mismatch() {
		warn = fmt.Sprintf("image declared %s is %s", res.Declared, res.MIMEType)
	}
	return &provider.Image{Data: res.Data, MIMEType: res.MIMEType, RevisedPrompt: revised}, warn, nil
}

// genericTypes carry no claim about the bytes (as in internal/fetch).
var genericTypes = map[string]bool{"": true, "application/octet-stream": true, "binary/octet-stream": true, "application/binary": true}

// fromMarker resolves a data URI whose whole payload is a jsonimg marker
// the way fetch.Fetch resolves the URI it stood for, when that succeeds:
// same size limits (counted on the original text), same type checks, same
// Result. Anything else reports false, and the caller fetches the
// restored URI so that every failure reads exactly as before.
func (g *Generator) fromMarker(raw string, streamed *jsonimg.Result) (*fetch.Result, bool) {
	raw = strings.TrimSpace(raw)
	comma := strings.IndexByte(raw, ',')
	if comma < 0 || !isDataURI(raw) {
		return nil, false
	}
	pl, ok := streamed.LookupText(raw[comma+1:])
	if !ok || pl.Data == nil {
		return nil, false
	}
	mt, _, err := datauri.Decode(raw)
	if err != nil {
		return nil, false
	}
	pol := g.fetcher.Policy()
	if n := len(raw) - jsonimg.MarkerLen + pl.RawLen; int64(n) > pol.MaxBytes/3*4+1024 || int64(len(pl.Data)) > pol.MaxBytes {
		return nil, false
	}
	declared, _, err := mime.ParseMediaType(mt)
	if err != nil {
		declared = strings.ToLower(strings.TrimSpace(mt))
	}
	sniffed := provider.SniffMIME(pl.Data)
	if sniffed == "" || (!genericTypes[declared] && !strings.HasPrefix(declared, "image/")) {
		return nil, false
	}
	if genericTypes[declared] {
		declared = ""
	}
	return &fetch.Result{Data: pl.Data, MIMEType: sniffed, Declared: declared}, true
}

// checked checks bytes against the provider's label: bytes that are no
// image are an error; a wrong label is a warning (the bytes win).
func checked(data []byte, label, revised string) (*provider.Image, string, error) {
	sniffed := provider.SniffMIME(data)
	if sniffed == "" {
		return nil, "", fmt.Errorf("%d bytes that are no known image format", len(data))
	}
	img := &provider.Image{Data: data, MIMEType: sniffed, RevisedPrompt: revised}
	if label != "" && provider.NormalizeFormat(label) != "" && provider.NormalizeFormat(label) != provider.NormalizeFormat(sniffed) {
		return img, fmt.Sprintf("image labelled %s is %s", label, sniffed), nil
	}
	return img, "", nil
}

// decodeBase64 accepts standard and URL-safe alphabets, padded or not,
// with line breaks.
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
