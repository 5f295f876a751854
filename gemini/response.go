package gemini

import (
	"fmt"
	"strings"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/internal/datauri"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
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

// usageOf maps usageMetadata; candidatesTokensDetails is the only reliable
// split of image and text output.
func usageOf(md *genai.GenerateContentResponseUsageMetadata) provider.Usage {
	if md == nil {
		return provider.Usage{}
	}
	u := provider.Usage{
		InputTokens:   int(md.PromptTokenCount),
		OutputTokens:  int(md.CandidatesTokenCount),
		ThoughtTokens: int(md.ThoughtsTokenCount),
	}
	for _, d := range md.PromptTokensDetails {
		if d != nil && d.Modality == genai.MediaModalityImage {
			u.InputImageTokens += int(d.TokenCount)
		}
	}
	for _, d := range md.CandidatesTokensDetails {
		if d != nil && d.Modality == genai.MediaModalityImage {
			u.OutputImageTokens += int(d.TokenCount)
		}
	}
	return u
}

// parse turns a generateContent answer into a Response, or into the typed
// error that an HTTP 200 without an image really is.
func (g *Generator) parse(model string, resp *genai.GenerateContentResponse) (*provider.Response, error) {
	return g.parseStreamed(model, resp, nil)
}

// parseStreamed is parse for an answer rewritten by internal/jsonimg:
// data URI markers in text parts are mapped to their payloads (inlineData
// markers were swapped by swapBlobs), and markers left in text restored.
func (g *Generator) parseStreamed(model string, resp *genai.GenerateContentResponse, streamed *jsonimg.Result) (*provider.Response, error) {
	if resp == nil {
		return nil, &provider.Error{Kind: provider.KindUnavailable, Provider: g.name, Model: model, Message: "empty response"}
	}
	usage := usageOf(resp.UsageMetadata)
	served := model
	if resp.ModelVersion != "" {
		served = strings.TrimPrefix(resp.ModelVersion, "models/")
	}
	fail := func(kind provider.Kind, code, format string, args ...any) error {
		u := usage
		return &provider.Error{Kind: kind, Provider: g.name, Model: served, StatusCode: 200, Code: code,
			Message: fmt.Sprintf(format, args...), Usage: &u}
	}
	if pf := resp.PromptFeedback; pf != nil && pf.BlockReason != "" {
		msg := "prompt blocked: " + string(pf.BlockReason)
		if pf.BlockReasonMessage != "" {
			msg += ": " + pf.BlockReasonMessage
		}
		return nil, fail(provider.KindContentBlocked, string(pf.BlockReason), "%s", msg)
	}
	if len(resp.Candidates) == 0 || resp.Candidates[0] == nil {
		return nil, fail(provider.KindNoImage, "NO_CANDIDATES", "the model returned no candidate")
	}
	cand := resp.Candidates[0]
	images, text, warnings := extractStreamed(cand.Content, streamed)
	reason := cand.FinishReason
	if len(images) == 0 {
		detail := cand.FinishMessage
		if detail == "" && text != "" {
			detail = "the model answered in text: " + truncate(text, 300)
		}
		switch {
		case blockedFinish[reason]:
			return nil, fail(provider.KindContentBlocked, string(reason), "output blocked (%s)%s", reason, prefixed(detail))
		case reason == genai.FinishReasonImageOther || reason == genai.FinishReasonNoImage || reason == genai.FinishReasonOther:
			return nil, fail(provider.KindNoImage, string(reason), "no image (%s)%s", reason, prefixed(detail))
		default:
			code := string(reason)
			if code == "" {
				code = "NO_IMAGE"
			}
			return nil, fail(provider.KindNoImage, code, "no image in the answer%s", prefixed(detail))
		}
	}
	if reason != "" && reason != genai.FinishReasonStop {
		warnings = append(warnings, fmt.Sprintf("finish reason %s", reason))
	}
	usage.Images = len(images)
	return &provider.Response{
		Images:   images,
		Text:     text,
		Provider: g.name,
		Model:    served,
		Usage:    usage,
		Warnings: warnings,
	}, nil
}

func prefixed(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
				warnings = append(warnings, "undecodable data URI in text: "+err.Error())
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
		return nil, fmt.Sprintf("dropped %d bytes labelled %q that are not an image", len(data), claimed)
	case claimed != "" && !strings.EqualFold(claimed, sniffed):
		return &provider.Image{Data: data, MIMEType: sniffed}, fmt.Sprintf("image labelled %s is %s", claimed, sniffed)
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
