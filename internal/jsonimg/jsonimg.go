// Package jsonimg rewrites a provider's JSON answer while it streams in:
// the base64 image payloads are decoded straight into their final byte
// slices, and the JSON handed on to the SDK (or to our own decoding) keeps
// only short markers in their place. A 16 MiB image then costs about 16 MiB
// of heap instead of the 6–9× that reading, decoding into maps,
// re-encoding and decoding again costs.
//
// # What is replaced
//
// Rewrite knows four answer shapes (Schema):
//
//   - Gemini generateContent: the string at inlineData.data in any object
//     under "candidates" (a whole base64 field), and base64 runs of
//     data:image/…;base64, URIs inside "text" strings under "candidates"
//     (relays that flatten images into markdown);
//   - OpenAI and OpenAI-compatible relays: data[*].b64_json (a whole
//     field), data URI runs in data[*].url, and under choices[*].message:
//     b64_json fields anywhere, and data URI runs in strings at the keys
//     content, text, url and image_url, and in string elements of a
//     content array;
//   - Imagen :predict: predictions[*].bytesBase64Encoded (a whole field);
//   - a Gemini batch job: the Gemini shape in each
//     inlinedResponses.inlinedResponses[*].response, under metadata.output
//     or response.
//
// Everything else is copied through unchanged, so the result decodes with
// the same decoders, to the same values, as the original.
//
// # Markers
//
// A marker is the standard, padded base64 of 16 bytes: an 8-byte magic
// number, a 4-byte nonce drawn for each Rewrite, and the payload's index
// (big endian). A whole field becomes that 24-character string, so a
// decoder that turns the field into []byte (genai's Blob.Data) yields the
// 16 marker bytes, which Result.Lookup maps back to the payload. A data URI
// run keeps its "data:image/png;base64," prefix and the text around it;
// only the base64 run is replaced by the same 24 characters, so the URI
// still parses as a data URI whose decoded bytes are the marker. The nonce
// makes a marker unguessable by the body's author, so real data is never
// mistaken for one.
//
// A field or run is replaced only when its text is canonical base64 (the
// standard alphabet, correct padding, zero pad bits; escapes such as \/
// and \u002b are decoded first): re-encoding the payload then gives back
// the exact text, which Result.Restore does for markers that end up in
// text a caller shows. Anything else (URL-safe alphabet, line breaks,
// stray characters, a run that a markdown parser would read on past its
// end) is left as it was and takes the caller's normal decoding path.
//
// # Errors
//
// Malformed JSON gives a *SyntaxError that matches ErrMalformed; a body
// that ends inside a value gives one that also matches
// io.ErrUnexpectedEOF. Read errors are returned wrapped. Rewrite never
// panics on any input.
package jsonimg

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// Schema selects the answer shape whose image fields Rewrite decodes.
type Schema uint8

const (
	// Gemini is a generateContent answer.
	Gemini Schema = iota + 1
	// OpenAI is an Images API or chat completions answer, OpenAI's or a
	// relay's.
	OpenAI
	// Imagen is a :predict answer: predictions[*].bytesBase64Encoded.
	Imagen
	// GeminiBatch is a Gemini batch job (an operation): the Gemini shape
	// in the response of every item of inlinedResponses.inlinedResponses,
	// under metadata.output or response.
	GeminiBatch
)

// ErrMalformed is matched (errors.Is) by every error about invalid JSON.
var ErrMalformed = errors.New("jsonimg: malformed JSON")

// ErrTooLarge is matched (errors.Is) by the error of a Rewrite whose JSON
// left around the payloads passed its cap (RewriteLimit).
var ErrTooLarge = errors.New("jsonimg: answer too large")

// SyntaxError reports invalid JSON at a byte offset of the body.
type SyntaxError struct {
	Offset int64  // bytes of the body read before the error
	Msg    string // what was wrong
	Err    error  // io.ErrUnexpectedEOF for a truncated body, else nil
}

// Error describes the malformed input and where it was found.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jsonimg: malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

// Is reports whether target is ErrMalformed.
func (e *SyntaxError) Is(target error) bool { return target == ErrMalformed }

// Unwrap returns io.ErrUnexpectedEOF for a truncated body.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Payload is one decoded image payload.
type Payload struct {
	// Data is the decoded bytes. Its capacity is its length; several
	// payloads of one Result may share a backing array.
	Data []byte
	// RawLen is the length of the base64 text it replaced, in characters
	// after JSON unescaping.
	RawLen int
	// Padded reports whether that text carried its '=' padding (or needed
	// none); Restore re-encodes accordingly.
	Padded bool

	gen int // arena generation
	off int // offset in that arena
}

// Result is a rewritten answer.
type Result struct {
	// JSON is the answer with payloads replaced by markers.
	JSON []byte
	// Payloads are the decoded payloads, in the order of the body.
	Payloads []Payload

	id     [12]byte // magic + nonce
	prefix string   // base64 of id: the first 16 characters of every marker
}

var magic = [8]byte{0x8f, 0x1d, 'j', 's', 'i', 'm', 'g', 0x00}

// MarkerLen is the length in characters of a marker's text, and in bytes
// of its decoded form, 16.
const (
	MarkerLen      = 24
	MarkerBytesLen = 16
)

func newResult() *Result {
	r := &Result{}
	copy(r.id[:], magic[:])
	binary.BigEndian.PutUint32(r.id[8:], rand.Uint32())
	r.prefix = base64.StdEncoding.EncodeToString(r.id[:])
	return r
}

// appendMarker appends the text of payload i's marker.
func (r *Result) appendMarker(dst []byte, i int) []byte {
	var b [MarkerBytesLen]byte
	copy(b[:], r.id[:])
	binary.BigEndian.PutUint32(b[12:], uint32(i))
	return base64.StdEncoding.AppendEncode(dst, b[:])
}

// Prefix returns the text every marker of this result starts with.
func (r *Result) Prefix() string { return r.prefix }

// Lookup maps the decoded bytes of a marker (16 bytes) to its payload.
func (r *Result) Lookup(b []byte) (*Payload, bool) {
	if r == nil || len(b) != MarkerBytesLen || string(b[:12]) != string(r.id[:]) {
		return nil, false
	}
	i := binary.BigEndian.Uint32(b[12:])
	if int64(i) >= int64(len(r.Payloads)) {
		return nil, false
	}
	return &r.Payloads[i], true
}

// LookupText maps a marker's text (24 characters) to its payload.
func (r *Result) LookupText(s string) (*Payload, bool) {
	if r == nil || len(s) != MarkerLen || !strings.HasPrefix(s, r.prefix) {
		return nil, false
	}
	var b [MarkerBytesLen]byte
	if n, err := base64.StdEncoding.Decode(b[:], []byte(s)); err != nil || n != MarkerBytesLen {
		return nil, false
	}
	return r.Lookup(b[:])
}

// Contains reports whether s holds a marker of this result.
func (r *Result) Contains(s string) bool {
	return r != nil && len(r.Payloads) > 0 && strings.Contains(s, r.prefix)
}

// Restore returns s with every marker of a data URI run or a whole field
// replaced by the base64 text it stood for (canonical, so identical to the
// original after JSON unescaping).
func (r *Result) Restore(s string) string {
	if !r.Contains(s) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, r.prefix)
		if i < 0 || len(s)-i < MarkerLen {
			b.WriteString(s)
			return b.String()
		}
		p, ok := r.LookupText(s[i : i+MarkerLen])
		if !ok || p.Data == nil {
			b.WriteString(s[:i+len(r.prefix)])
			s = s[i+len(r.prefix):]
			continue
		}
		b.WriteString(s[:i])
		enc := base64.StdEncoding
		if !p.Padded {
			enc = base64.RawStdEncoding
		}
		b.WriteString(enc.EncodeToString(p.Data))
		s = s[i+MarkerLen:]
	}
}

// Rewrite reads a JSON answer from body and decodes its image payloads
// (see the package doc). sizeHint is the body's length when known
// (Content-Length), or -1: with it, the payloads of one answer are decoded
// into one allocation of about the body's size × 3/4; without it, each
// payload is decoded into reusable chunks and copied once into a slice of
// its exact size. An empty body gives an empty Result.JSON and no error.
//
// The rest of the body after the top-level value is copied unchanged, so
// decoders keep their own view of trailing data.
func Rewrite(body io.Reader, sizeHint int64, schema Schema) (*Result, error) {
	return RewriteLimit(body, sizeHint, schema, 0)
}

// RewriteGuess is RewriteLimit for a body whose length is not known but
// guessed (e.g. the size of the previous event of a stream): the payloads
// are decoded into one allocation sized from guess as with a size hint,
// and when the guess proves short, the payload being decoded goes on in
// chunks (the arena's part kept as the first, without a copy) and is
// copied once into a slice of its exact size, as without a hint. A short
// guess then costs about what no guess costs, instead of the arena's
// repeated growth. guess <= 0 is RewriteLimit without a hint.
func RewriteGuess(body io.Reader, guess int64, schema Schema, maxJSON int64) (*Result, error) {
	if guess <= 0 {
		return RewriteLimit(body, -1, schema, maxJSON)
	}
	p := newParser(body, guess, schema)
	p.guess = true
	p.maxJSON = max(maxJSON, 0)
	defer p.release()
	if err := p.run(); err != nil {
		return nil, err
	}
	p.res.JSON = p.out
	return p.res, nil
}

// RewriteLimit is Rewrite with a cap on Result.JSON: the answer without
// its payloads. Text that is not a canonical base64 image (a 2 GB
// revised_prompt, a message of junk) stays in the JSON, so the cap is what
// bounds it; past maxJSON bytes the parse stops with an error matching
// ErrTooLarge. maxJSON <= 0 means no cap.
func RewriteLimit(body io.Reader, sizeHint int64, schema Schema, maxJSON int64) (*Result, error) {
	p := newParser(body, sizeHint, schema)
	p.maxJSON = max(maxJSON, 0)
	defer p.release()
	if err := p.run(); err != nil {
		return nil, err
	}
	p.res.JSON = p.out
	return p.res, nil
}
