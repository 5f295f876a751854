// Package datauri parses the image forms that relays put into text: RFC 2397
// data URIs and markdown image links such as ![image](data:image/png;base64,...)
// or ![image](https://host/file.png).
package datauri

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrNotDataURI is returned by Decode for text that is not a base64 data URI.
var ErrNotDataURI = errors.New("datauri: not a base64 data URI")

// Decode decodes "data:<mime>;base64,<payload>" and returns the MIME type and
// bytes. Whitespace inside the payload (relays wrap long lines) is ignored,
// and both padded and unpadded, standard and URL-safe alphabets are accepted.
func Decode(uri string) (mimeType string, data []byte, err error) {
	rest, ok := cutPrefixFold(strings.TrimSpace(uri), "data:")
	if !ok {
		return "", nil, ErrNotDataURI
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return "", nil, fmt.Errorf("%w: no comma", ErrNotDataURI)
	}
	params := strings.Split(meta, ";")
	if !strings.EqualFold(params[len(params)-1], "base64") {
		return "", nil, fmt.Errorf("%w: not base64-encoded", ErrNotDataURI)
	}
	mimeType = strings.ToLower(strings.TrimSpace(params[0]))
	data, err = decodeBase64(payload)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrNotDataURI, err)
	}
	return mimeType, data, nil
}

func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	return enc.DecodeString(s)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// Link is one image link found in text.
type Link struct {
	Alt   string // the markdown alt text, "" for a bare data URI
	URL   string // a data: URI or an http(s) URL
	Start int    // byte offset of the whole match in the text
	End   int    // byte offset just past it
}

// IsData reports whether the link is an inline data URI.
func (l Link) IsData() bool {
	_, ok := cutPrefixFold(l.URL, "data:")
	return ok
}

// FindLinks returns the markdown image links ![alt](url) in text whose URL
// is a data: URI or an http(s) URL, and bare data:image URIs outside
// markdown, in order of appearance. It never fails: text that does not parse
// as a link is left alone.
func FindLinks(text string) []Link {
	var links []Link
	for i := 0; i < len(text); {
		md := strings.Index(text[i:], "![")
		bare := indexFold(text[i:], "data:image/")
		switch {
		case md < 0 && bare < 0:
			return links
		case md >= 0 && (bare < 0 || md < bare):
			start := i + md
			if l, ok := parseMarkdown(text, start); ok {
				links = append(links, l)
				i = l.End
			} else {
				i = start + 2
			}
		default:
			start := i + bare
			end := start
			for end < len(text) && isDataURIChar(text[end]) {
				end++
			}
			links = append(links, Link{URL: text[start:end], Start: start, End: end})
			i = end
		}
	}
	return links
}

// parseMarkdown reads ![alt](url) or ![alt](url "title") at text[start:].
func parseMarkdown(text string, start int) (Link, bool) {
	altEnd := strings.IndexByte(text[start+2:], ']')
	if altEnd < 0 {
		return Link{}, false
	}
	alt := text[start+2 : start+2+altEnd]
	if strings.ContainsAny(alt, "\n") {
		return Link{}, false
	}
	open := start + 2 + altEnd + 1
	if open >= len(text) || text[open] != '(' {
		return Link{}, false
	}
	closeAt := strings.IndexByte(text[open+1:], ')')
	if closeAt < 0 {
		return Link{}, false
	}
	inner := strings.TrimSpace(text[open+1 : open+1+closeAt])
	if u, _, ok := strings.Cut(inner, " \""); ok {
		inner = u
	}
	inner = strings.Trim(inner, "<>")
	lower := strings.ToLower(inner)
	if !strings.HasPrefix(lower, "data:") && !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		return Link{}, false
	}
	return Link{Alt: alt, URL: inner, Start: start, End: open + 1 + closeAt + 1}, true
}

func isDataURIChar(c byte) bool {
	return c > ' ' && c != ')' && c != '"' && c != '\'' && c != '<' && c != '>' && c != ']'
}

func indexFold(s, sub string) int {
	// sub is ASCII lower case; a byte-wise scan avoids allocating a lowered
	// copy of a text that may hold megabytes of base64.
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// Strip returns text with the given links removed and surrounding blank
// lines tidied, for keeping the prose a relay put around its images.
func Strip(text string, links []Link) string {
	if len(links) == 0 {
		return strings.TrimSpace(text)
	}
	var b strings.Builder
	prev := 0
	for _, l := range links {
		b.WriteString(text[prev:l.Start])
		prev = l.End
	}
	b.WriteString(text[prev:])
	lines := strings.Split(b.String(), "\n")
	out := lines[:0]
	for _, ln := range lines {
		if strings.TrimSpace(ln) != "" {
			out = append(out, strings.TrimRight(ln, " \t"))
		}
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
