package openaicompat

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseChatContent feeds arbitrary message.content JSON and markdown
// to the relay parsers: they must not panic, must only return data: and
// http(s) URLs, and must take the images they return out of the text.
func FuzzParseChatContent(f *testing.F) {
	for _, s := range []string{
		`"Here you go\n\n![image](data:image/png;base64,iVBORw0KGgo=)"`,
		`"![draft](data:image/png;base64,AAAA)\n![image](data:image/png;base64,BBBB)"`,
		`"see ![x](https://cdn.example.com/a.png \"title\") and data:image/jpeg;base64,/9j/4AAQ"`,
		`[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]`,
		`[{"type":"image_url","image_url":"https://x/y.png"},"![a](data:image/gif;base64,R0lG)"]`,
		`[{"type":"output_image","b64_json":"iVBORw0KGgo="}]`,
		`null`, `""`, `[]`, `{}`, `"![a](javascript:alert(1))"`, `"![unclosed](data:image/png;base64,"`, `"![](<https://x/y.png>)"`,
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, keep bool) {
		msg := chatMessageJSON{Content: json.RawMessage(raw)}
		refs, text, dropped := extractChat(msg, keep)
		if dropped < 0 || (keep && dropped != 0) {
			t.Fatalf("dropped %d with keep=%v", dropped, keep)
		}
		for _, r := range refs {
			if !usableURL(r.URL) {
				t.Fatalf("unusable URL %q", r.URL)
			}
			if r.Markdown && isDataImage(r.URL) && strings.Contains(text, r.URL) {
				t.Fatalf("image %q left in text %q", r.URL, text)
			}
		}
		// The same bytes as plain markdown text.
		mrefs, rest := parseMarkdown(string(raw))
		for _, r := range mrefs {
			if !usableURL(r.URL) || (isDataImage(r.URL) && strings.Contains(rest, r.URL)) {
				t.Fatalf("markdown ref %q, rest %q", r.URL, rest)
			}
		}
	})
}

func isDataImage(u string) bool { return len(u) > 11 && strings.EqualFold(u[:11], "data:image/") }
