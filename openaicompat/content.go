package openaicompat

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/imagegen-go/imagegen/internal/datauri"
)

// chatImageRef is an image found in a chat completion message.
type chatImageRef struct {
	URL      string // a data: URI or an http(s) link
	Markdown bool   // found in message text (markdown or a bare data URI)
}

// chatMessageJSON is the part of a chat completion message that can hold
// images: OpenRouter's images array, or content as text or as parts.
type chatMessageJSON struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Images  []chatPart      `json:"images"`
	Refusal string          `json:"refusal"`
}

// chatPart is one content part or one OpenRouter image. image_url is an
// object {"url": ...} in OpenAI's shape and a bare string in some relays'.
type chatPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
	URL      string          `json:"url"`
	B64JSON  string          `json:"b64_json"`
}

func (p chatPart) imageURL() string {
	raw := bytes.TrimSpace(p.ImageURL)
	if len(raw) > 0 {
		switch raw[0] {
		case '"':
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return strings.TrimSpace(s)
			}
		case '{':
			var o struct {
				URL string `json:"url"`
			}
			if json.Unmarshal(raw, &o) == nil {
				return strings.TrimSpace(o.URL)
			}
		}
	}
	if p.URL != "" {
		return strings.TrimSpace(p.URL)
	}
	if p.B64JSON != "" {
		return "data:image/png;base64," + p.B64JSON // labelled png; checked against the bytes later
	}
	return ""
}

// usableURL keeps data: URIs and http(s) links; anything else (javascript:,
// file:, relative paths) is never an image source.
func usableURL(u string) bool {
	l := strings.ToLower(u)
	return strings.HasPrefix(l, "data:") || strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")
}

// extractChat returns the images of a chat message and its remaining text.
// Images in message.images and in image_url parts are all kept. Images in
// text (markdown or bare data URIs) are kept in full only with keepDrafts;
// otherwise only the last is kept, since new-api relays flatten a Gemini
// model's interim drafts into the text ahead of the final image
// (PROVIDERS.md §6), and dropped counts the others.
func extractChat(msg chatMessageJSON, keepDrafts bool) (refs []chatImageRef, text string, dropped int) {
	for _, im := range msg.Images {
		if u := im.imageURL(); usableURL(u) {
			refs = append(refs, chatImageRef{URL: u})
		}
	}
	partRefs, inText, texts := parseContent(msg.Content)
	refs = append(refs, partRefs...)
	if len(inText) > 1 && !keepDrafts {
		dropped = len(inText) - 1
		inText = inText[len(inText)-1:]
	}
	refs = append(refs, inText...)
	return refs, strings.Join(texts, "\n"), dropped
}

// parseContent reads message.content: a string (markdown), an array of
// parts, or null. It returns images from image_url parts, images found in
// text, and the text with those images removed.
func parseContent(raw json.RawMessage) (parts, inText []chatImageRef, texts []string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, nil, nil
		}
		refs, t := parseMarkdown(s)
		if t != "" {
			texts = append(texts, t)
		}
		return nil, refs, texts
	case '[':
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil {
			return nil, nil, nil
		}
		for _, el := range arr {
			el = bytes.TrimSpace(el)
			if len(el) > 0 && el[0] == '"' { // a bare string element
				var s string
				if json.Unmarshal(el, &s) == nil {
					refs, t := parseMarkdown(s)
					inText = append(inText, refs...)
					if t != "" {
						texts = append(texts, t)
					}
				}
				continue
			}
			var p chatPart
			if json.Unmarshal(el, &p) != nil {
				continue
			}
			switch {
			case p.Type == "text" || (p.Type == "" && p.Text != ""):
				refs, t := parseMarkdown(p.Text)
				inText = append(inText, refs...)
				if t != "" {
					texts = append(texts, t)
				}
			default:
				if u := p.imageURL(); usableURL(u) {
					parts = append(parts, chatImageRef{URL: u})
				}
			}
		}
	}
	return parts, inText, texts
}

// parseMarkdown finds ![alt](url) image links and bare data:image URIs in
// text and returns them with the text that remains.
func parseMarkdown(s string) ([]chatImageRef, string) {
	links := datauri.FindLinks(s)
	var refs []chatImageRef
	var used []datauri.Link
	for _, l := range links {
		if !usableURL(l.URL) {
			continue
		}
		refs = append(refs, chatImageRef{URL: l.URL, Markdown: true})
		used = append(used, l)
	}
	return refs, datauri.Strip(s, used)
}
