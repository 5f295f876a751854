// Package textutil cuts text taken from providers' answers to a size,
// without splitting a character.
package textutil

import "unicode/utf8"

// Sizes of text the adapters keep from an answer. Text is cut with
// Truncate, after any secret has been redacted from it (internal/secret),
// so that a cut never leaves part of a key behind unredacted.
const (
	// MaxKept bounds text kept in a Response (Response.Text,
	// Image.RevisedPrompt): 64 KiB is about 16,000 words, more than any
	// model writes beside an image, and small enough that a caller holding
	// thousands of responses holds no surprise.
	MaxKept = 64 << 10
	// MaxMessage bounds a provider's message in an error
	// (provider.Error.Message): errors are logged and shown, and the
	// longest real provider messages (Google's safety texts with a support
	// code) are under 400 bytes.
	MaxMessage = 500
	// MaxDetail bounds a quoted excerpt inside a message, such as the text
	// a model answered instead of an image.
	MaxDetail = 300
)

// Ellipsis marks a cut.
const Ellipsis = "…"

// Truncate returns s cut to at most n bytes, on a character boundary,
// followed by Ellipsis when something was cut. Invalid UTF-8 is kept as
// it is; the cut only never splits a valid multi-byte character. n <= 0
// gives "".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	// Back up to the start of the character at n, at most 3 bytes: an
	// invalid sequence never makes us back up further than that.
	cut := n
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	if !utf8.RuneStart(s[cut]) {
		cut = n // not UTF-8 here: a byte cut splits nothing valid
	} else if r, size := utf8.DecodeRuneInString(s[cut:]); r == utf8.RuneError && size <= 1 {
		cut = n
	}
	return s[:cut] + Ellipsis
}
