// Package answer is what every adapter does with a provider's answer
// before believing it: bound its size, check that a successful body is a
// JSON object at all, keep a panic inside an SDK's decoder from taking the
// process down, and keep only usage numbers that make sense.
//
// Everything here ends in a provider.Error of KindUnavailable with one of
// two codes: CodeTooLarge for an answer past its cap, CodeMalformed for an
// answer that is not what the protocol promises (empty, truncated, not
// JSON, not an object, or one that made a decoder panic).
package answer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"strconv"

	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/internal/secret"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// Codes of the errors this package classifies.
const (
	// CodeTooLarge is the Code of an answer whose body passed
	// MaxResponseBytes (after decompression), or whose JSON around its
	// images passed MaxJSON.
	CodeTooLarge = "RESPONSE_TOO_LARGE"
	// CodeMalformed is the Code of a successful answer that is empty,
	// truncated, not a JSON object, or that made a decoder panic.
	CodeMalformed = "MALFORMED"
)

// MaxErrorBody is how much of an error answer (HTTP status not 2xx) is
// read: Google's and OpenAI's error envelopes are under 4 KiB, an HTML
// error page from a proxy a few dozen KiB. The rest is not read and the
// connection is closed; the error is still classified by its status.
const MaxErrorBody = 1 << 20

// MaxJSON bounds the JSON of a successful answer once its base64 images
// are taken out (internal/jsonimg): the text fields an answer can carry
// (revised_prompt, a relay's message text, Gemini text parts, thought
// signatures). Real ones are a few KiB; 32 MiB leaves room for a relay
// that puts an image in its text in a base64 spelling the streaming
// decoder leaves alone (line breaks, the URL-safe alphabet), about a 24 MB
// image. Past it the answer is CodeTooLarge.
const MaxJSON = 32 << 20

// Limits returns the capture limits of an adapter whose successful
// answers are capped at maxResponse bytes.
func Limits(maxResponse int64) capture.Limits {
	return capture.Limits{Success: maxResponse, Error: MaxErrorBody}
}

// JSONCap returns the cap on an answer's JSON without its images for an
// adapter whose answers are capped at maxResponse bytes.
func JSONCap(maxResponse int64) int64 { return min(MaxJSON, maxResponse) }

// MalformedError is a successful answer that is not what the protocol
// promises.
type MalformedError struct {
	Why string
	Err error // the decoder's error, if any
}

// Error says what was wrong.
func (e *MalformedError) Error() string { return "malformed answer: " + e.Why }

// Unwrap returns the decoder's error.
func (e *MalformedError) Unwrap() error { return e.Err }

// Malformed returns a *MalformedError.
func Malformed(format string, args ...any) error {
	return &MalformedError{Why: fmt.Sprintf(format, args...)}
}

// PanicError is a panic recovered from a third-party decoder.
type PanicError struct {
	Value any
	Stack []byte
}

// Error names the panic, without the stack.
func (e *PanicError) Error() string {
	return textutil.Truncate(fmt.Sprintf("the SDK panicked decoding the answer: %v", e.Value), textutil.MaxMessage)
}

// Guard calls f and turns a panic inside it into a *PanicError, so that a
// broken or hostile answer that trips an SDK's decoder (genai panics on a
// body of `null`) is a typed error instead of a crash.
func Guard[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			var zero T
			v, err = zero, &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return f()
}

// CheckObject checks that data, a whole successful answer, is a JSON
// object: not empty, not `null`, not an array, not truncated.
func CheckObject(data []byte) error {
	t := bytes.TrimSpace(data)
	switch {
	case len(t) == 0:
		return Malformed("empty body")
	case t[0] != '{':
		return Malformed("the body is not a JSON object: %q", textutil.Truncate(string(t), 40))
	}
	if json.Valid(t) {
		return nil
	}
	var raw json.RawMessage
	err := json.Unmarshal(t, &raw)
	why := "invalid JSON"
	if err != nil {
		why += ": " + textutil.Truncate(err.Error(), 120)
	}
	return &MalformedError{Why: why, Err: err}
}

// Classify recognises the failures of this package in err, or in what the
// transport recorded (SDKs may wrap errors out of reach), and returns the
// Code and message of the provider.Error to return; ok is false for any
// other error.
func Classify(err error, rec *capture.Record) (code, msg string, ok bool) {
	errs := []error{err}
	if rec != nil {
		errs = append(errs, rec.Err())
	}
	for _, e := range errs {
		var (
			tl *capture.TooLargeError
			me *MalformedError
			pe *PanicError
			se *jsonimg.SyntaxError
		)
		switch {
		case e == nil:
		case errors.As(e, &tl):
			return CodeTooLarge, tl.Error(), true
		case errors.Is(e, jsonimg.ErrTooLarge):
			return CodeTooLarge, fmt.Sprintf("the text around the images in the answer is larger than its %d-byte cap", MaxJSON), true
		case errors.As(e, &me):
			return CodeMalformed, me.Error(), true
		case errors.As(e, &pe):
			return CodeMalformed, pe.Error(), true
		case errors.As(e, &se):
			why := "malformed answer: invalid JSON"
			if errors.Is(se, io.ErrUnexpectedEOF) {
				why = "malformed answer: truncated JSON"
			}
			return CodeMalformed, why, true
		}
	}
	return "", "", false
}

// Error returns the *provider.Error of a failure Classify recognised.
func Error(code, msg string, status int) *provider.Error {
	return &provider.Error{Kind: provider.KindUnavailable, StatusCode: status, Code: code, Message: msg}
}

// Classified returns the typed error of a failure Classify recognises in
// err or rec, with its message cleaned by clean (the adapter's redactor)
// and err kept out of sight (secret.Quiet), and ok true; ok is false for
// any other error, or once ctx has ended (the caller's cancellation
// explains the failure better).
func Classified(ctx context.Context, err error, rec *capture.Record, clean func(string, int) string, prov, model string) (*provider.Error, bool) {
	code, msg, ok := Classify(err, rec)
	if !ok || ctx.Err() != nil {
		return nil, false
	}
	status := 0
	if rec != nil {
		status, _ = rec.Last()
	}
	e := Error(code, clean(msg, textutil.MaxMessage), status)
	e.Provider, e.Model, e.Err = prov, model, secret.Quiet(err)
	return e, true
}

// Count reads a usage count from a decoded JSON number (json.Number or
// float64): an integer from 0 to math.MaxInt32. ok is false for anything
// else (negative, fractional, beyond int32, not a number), which callers
// drop with a warning rather than let a negative or absurd total reach a
// meter, or a decoding error throw away a good image.
func Count(v any) (n int, ok bool) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			if i < 0 || i > math.MaxInt32 {
				return 0, false
			}
			return int(i), true
		}
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			return 0, false
		}
	case float64:
		f = x
	case int:
		f = float64(x)
	default:
		return 0, false
	}
	if f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}
