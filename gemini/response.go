package gemini

import (
	"fmt"
	"strings"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/datauri"
	"github.com/imagegen-go/imagegen/internal/imageconv"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// finish reasons that mean a safety system withheld the output.
var blockedFinish = map[genai.FinishReason]bool{
	genai.FinishReasonSafety:                 true,
	genai.FinishReasonProhibitedContent:      true,
	genai.FinishReasonImageSafety:            true,
	genai.FinishReasonImageProhibitedContent: true,
	genai.FinishReasonImageRecitation:        true,
	genai.FinishReasonRecitation:             true,
	genai.FinishReasonBlocklist:              true,
	genai.FinishReasonSPII:                   true,
}

// usageOf maps usageMetadata as genai decoded it (batch results);
// candidatesTokensDetails is the only reliable split of image and text
// output. Negative counts are dropped and named in bad.
func usageOf(md *genai.GenerateContentResponseUsageMetadata) (u provider.Usage, bad []string) {
	if md == nil {
		return provider.Usage{}, nil
	}
	count := func(name string, v int32) int {
		if v < 0 {
			bad = append(bad, fmt.Sprintf("%s=%d", name, v))
			return 0
		}
		return int(v)
	}
	u = provider.Usage{
		InputTokens:   count("promptTokenCount", md.PromptTokenCount),
		OutputTokens:  count("candidatesTokenCount", md.CandidatesTokenCount),
		ThoughtTokens: count("thoughtsTokenCount", md.ThoughtsTokenCount),
	}
	for _, d := range md.PromptTokensDetails {
		if d != nil && d.Modality == genai.MediaModalityImage {
			u.InputImageTokens += count("promptTokensDetails.tokenCount", d.TokenCount)
		}
	}
	for _, d := range md.CandidatesTokensDetails {
		if d != nil && d.Modality == genai.MediaModalityImage {
			u.OutputImageTokens += count("candidatesTokensDetails.tokenCount", d.TokenCount)
		}
	}
	return u, bad
}

// parse turns a generateContent answer decoded by genai alone (batch
// results) into a Response, or into the typed error that an HTTP 200
// without an image really is.
func (g *Generator) parse(model string, resp *genai.GenerateContentResponse) (*provider.Response, error) {
	return g.parseWire(model, resp, nil, nil)
}

// parseWire is parse for an answer the transport read (w, nil for batch
// results): images streamed by internal/jsonimg are mapped back (markers
// in inlineData were swapped by swapBlobs), markers left in text restored,
// and the finishMessage, blockReasonMessage and usage are taken from the
// body as sent. req, when set, is the request, whose OutputFormat the
// images are converted to.
func (g *Generator) parseWire(model string, resp *genai.GenerateContentResponse, w *wire, req *provider.Request) (*provider.Response, error) {
	if resp == nil {
		return nil, &provider.Error{Kind: provider.KindUnavailable, Provider: g.name, Model: model, StatusCode: 200, Code: answer.CodeMalformed, Message: "empty response"}
	}
	var usage provider.Usage
	var warnings []string
	if w != nil && w.seen {
		usage, warnings = w.usage, append(warnings, w.warnings...)
	} else {
		var bad []string
		if usage, bad = usageOf(resp.UsageMetadata); len(bad) > 0 {
			warnings = append(warnings, "usage counts out of range dropped: "+strings.Join(bad, ", "))
		}
	}
	served := model
	if v := strings.TrimPrefix(resp.ModelVersion, "models/"); v != "" {
		served = g.redact.Clean(v, 200)
	}
	fail := func(kind provider.Kind, code, format string, args ...any) error {
		u := usage
		return &provider.Error{Kind: kind, Provider: g.name, Model: served, StatusCode: 200, Code: textutil.Truncate(code, 100),
			Message: g.redact.Clean(fmt.Sprintf(format, args...), textutil.MaxMessage), Usage: &u}
	}
	if pf := resp.PromptFeedback; pf != nil && pf.BlockReason != "" {
		msg := "prompt blocked: " + string(pf.BlockReason)
		detail := pf.BlockReasonMessage
		if detail == "" && w != nil {
			detail = w.blockReasonMessage
		}
		if detail != "" {
			msg += ": " + detail
		}
		return nil, fail(provider.KindContentBlocked, string(pf.BlockReason), "%s", msg)
	}
	if len(resp.Candidates) > 0 && resp.Candidates[0] == nil {
		// A null candidate is a broken answer, not a refusal: worth a retry.
		return nil, fail(provider.KindUnavailable, answer.CodeMalformed, "a null candidate")
	}
	if len(resp.Candidates) == 0 {
		return nil, fail(provider.KindNoImage, "NO_CANDIDATES", "the model returned no candidate")
	}
	cand := resp.Candidates[0]
	images, text, ew := extractStreamed(cand.Content, w.result())
	warnings = append(warnings, ew...)
	reason := cand.FinishReason
	finishMsg := cand.FinishMessage
	if finishMsg == "" {
		finishMsg = w.finishMessage(0)
	}
	if len(images) == 0 {
		detail := finishMsg
		if text != "" {
			said := "the model answered in text: " + g.redact.Clean(text, textutil.MaxDetail)
			if detail == "" {
				detail = said
			} else {
				detail += "; " + said
			}
		}
		switch {
		case blockedFinish[reason]:
			return nil, fail(provider.KindContentBlocked, string(reason), "output blocked (%s)%s", reason, prefixed(detail))
		case reason == genai.FinishReasonImageOther || reason == genai.FinishReasonNoImage || reason == genai.FinishReasonOther:
			return nil, fail(provider.KindNoImage, string(reason), "no image (%s)%s", reason, prefixed(detail))
		case reason == finishMalformedResponse:
			// The model's own output was malformed: a retry may well work.
			return nil, fail(provider.KindUnavailable, string(reason), "the model's response was malformed (%s)%s", reason, prefixed(detail))
		case reason == "" || reason == genai.FinishReasonStop:
			return nil, fail(provider.KindNoImage, orDefault(string(reason), "NO_IMAGE"), "no image in the answer%s", prefixed(detail))
		default:
			// A finish reason this package does not know: kept verbatim.
			return nil, fail(provider.KindNoImage, string(reason), "no image (finish reason %s)%s", reason, prefixed(detail))
		}
	}
	if reason != "" && reason != genai.FinishReasonStop {
		wr := fmt.Sprintf("finish reason %s", textutil.Truncate(string(reason), 100))
		if finishMsg != "" {
			wr += ": " + g.redact.Clean(finishMsg, textutil.MaxMessage)
		}
		warnings = append(warnings, wr)
	}
	if req != nil {
		if f := provider.NormalizeFormat(req.OutputFormat); f != "" {
			for i := range images {
				var wc string
				if images[i], wc = imageconv.Ensure(images[i], f); wc != "" {
					warnings = append(warnings, wc)
				}
			}
		}
	}
	usage.Images = len(images)
	for i := range warnings {
		warnings[i] = g.redact.Clean(warnings[i], textutil.MaxMessage)
	}
	return &provider.Response{
		Images:   images,
		Text:     g.redact.Clean(text, textutil.MaxKept),
		Provider: g.name,
		Model:    served,
		Usage:    usage,
		Warnings: warnings,
	}, nil
}

// finishMalformedResponse is genai v1.78's FinishReasonMalformedResponse,
// spelled here so that it is recognised with older genai too.
const finishMalformedResponse genai.FinishReason = "MALFORMED_RESPONSE"

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func prefixed(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// extractStreamed returns the final images of a model turn (thought
// drafts dropped), its non-thought text, and warnings about what it had to
// fix. Relays that flatten images into text as markdown data URIs are
// recognised; hosted links in text stay in the text. streamed, when the
// streaming decoder ran, holds the payloads its markers stand for.
func extractStreamed(c *genai.Content, streamed *jsonimg.Result) (images []provider.Image, text string, warnings []string) {
	if c == nil {
		return nil, "", nil
	}
	var texts []string
	for _, p := range c.Parts {
		if p == nil || p.Thought {
			continue
		}
		if p.InlineData != nil && len(p.InlineData.Data) > 0 {
			img, w := checkedImage(p.InlineData.Data, p.InlineData.MIMEType)
			if w != "" {
				warnings = append(warnings, w)
			}
			if img != nil {
				images = append(images, *img)
			}
			continue
		}
		if p.Text == "" {
			continue
		}
		links := datauri.FindLinks(p.Text)
		var used []datauri.Link
		for _, l := range links {
			if !l.IsData() {
				continue
			}
			mt, data, err := datauri.Decode(l.URL)
			if err != nil {
				warnings = append(warnings, "undecodable data URI in text: "+textutil.Truncate(err.Error(), textutil.MaxDetail))
				continue
			}
			if pl, ok := streamed.Lookup(data); ok {
				data = pl.Data
			}
			img, w := checkedImage(data, mt)
			if w != "" {
				warnings = append(warnings, w)
			}
			if img != nil {
				images = append(images, *img)
				used = append(used, l)
			}
		}
		if t := datauri.Strip(p.Text, used); t != "" {
			texts = append(texts, streamed.Restore(t))
		}
	}
	// Relays that flatten drafts into text send every image; the last is
	// the final one only when drafts were not marked, which we cannot tell,
	// so all are kept.
	return images, strings.Join(texts, "\n"), warnings
}

// checkedImage checks the claimed MIME type against the bytes. Bytes that
// are no known image format are dropped with a warning.
func checkedImage(data []byte, claimed string) (*provider.Image, string) {
	sniffed := provider.SniffMIME(data)
	switch {
	case sniffed == "":
		return nil, fmt.Sprintf("dropped %d bytes labelled %.60q that are not an image", len(data), claimed)
	case claimed != "" && !strings.EqualFold(claimed, sniffed):
		return &provider.Image{Data: data, MIMEType: sniffed}, fmt.Sprintf("image labelled %.60q is %s", claimed, sniffed)
	}
	return &provider.Image{Data: data, MIMEType: sniffed}, ""
}

// swapBlobs replaces the marker bytes genai decoded into inlineData with
// the payloads they stand for.
func swapBlobs(resp *genai.GenerateContentResponse, streamed *jsonimg.Result) {
	for _, c := range resp.Candidates {
		if c == nil || c.Content == nil {
			continue
		}
		for _, p := range c.Content.Parts {
			if p == nil || p.InlineData == nil {
				continue
			}
			if pl, ok := streamed.Lookup(p.InlineData.Data); ok {
				p.InlineData.Data = pl.Data
			}
		}
	}
}

// restoreTurn returns c with the data URI markers in its text parts
// replaced by their base64 text, as the model sent it, for sending the
// turn back in a session. Parts without markers are shared.
func restoreTurn(c *genai.Content, streamed *jsonimg.Result) *genai.Content {
	if c == nil || streamed == nil {
		return c
	}
	out := *c
	out.Parts = append([]*genai.Part(nil), c.Parts...)
	for i, p := range out.Parts {
		if p != nil && streamed.Contains(p.Text) {
			cp := *p
			cp.Text = streamed.Restore(p.Text)
			out.Parts[i] = &cp
		}
	}
	return &out
}
