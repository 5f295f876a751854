// Package secret keeps credentials out of text that leaves an adapter:
// error messages, log lines, recorded requests and the formatting of
// configurations and generators.
//
// A Redactor replaces, in any text:
//
//   - each secret itself, and its percent-encoded and JSON-escaped forms
//     (a key echoed in a URL, a query string or a JSON string);
//   - any run of MinRun or more consecutive characters of one of those
//     forms, so that a key cut short (an answer that echoes all but its
//     last characters, a message truncated mid-key) or shown with a masked
//     middle ("sk-abc…xyz1234567") still does not leak: eight characters
//     of a random key are about 48 bits of it.
//
// Secrets shorter than MinSecret bytes are ignored, since replacing them
// would mangle ordinary words; secrets shorter than MinRun are replaced
// only whole.
package secret

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/imagegen-go/imagegen/internal/textutil"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// MinSecret is the shortest secret a Redactor looks for, in bytes.
const MinSecret = 6

// MinRun is the shortest run of a secret's characters that is redacted
// wherever it appears.
const MinRun = 8

// Redactor removes a fixed set of secrets from text. The zero value and a
// nil *Redactor redact nothing. It is safe for concurrent use.
type Redactor struct {
	grams map[uint64]struct{} // every MinRun-byte window of every form
	short []string            // forms shorter than MinRun, replaced whole
	seen  [256]bool           // bytes that occur in some gram
}

// New returns a Redactor for secrets; empty and too-short ones are
// skipped.
func New(secrets ...string) *Redactor {
	r := &Redactor{grams: map[uint64]struct{}{}}
	for _, s := range secrets {
		if len(s) < MinSecret {
			continue
		}
		for _, f := range forms(s) {
			if len(f) < MinRun {
				r.short = append(r.short, f)
				continue
			}
			for i := 0; i+MinRun <= len(f); i++ {
				r.grams[pack(f[i:i+MinRun])] = struct{}{}
				for j := i; j < i+MinRun; j++ {
					r.seen[f[j]] = true
				}
			}
		}
	}
	return r
}

func pack(s string) uint64 {
	var w uint64
	for i := 0; i < MinRun; i++ {
		w = w<<8 | uint64(s[i])
	}
	return w
}

// forms returns the spellings of s an answer may echo: itself,
// percent-encoded (query and path escaping, both hex cases) and
// JSON-escaped (with and without HTML escaping, "\/", and \u escapes of
// every non-alphanumeric byte, in both hex cases).
func forms(s string) []string {
	out := []string{s}
	add := func(f string) {
		for _, o := range out {
			if o == f {
				return
			}
		}
		out = append(out, f)
	}
	q, p := url.QueryEscape(s), url.PathEscape(s)
	for _, e := range []string{q, p} {
		add(e)
		add(lowerHex(e))
	}
	if b, err := json.Marshal(s); err == nil {
		add(strings.Trim(string(b), `"`))
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		add(strings.Trim(strings.TrimSpace(b.String()), `"`))
	}
	add(strings.ReplaceAll(s, "/", `\/`))
	var upper, lower strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80 {
			upper.WriteByte(c)
			lower.WriteByte(c)
			continue
		}
		fmt.Fprintf(&upper, `\u%04X`, c)
		fmt.Fprintf(&lower, `\u%04x`, c)
	}
	add(upper.String())
	add(lower.String())
	return out
}

// lowerHex lower-cases the hex digits of percent escapes.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if b[j] >= 'A' && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
		}
	}
	return string(b)
}

// Redact returns s with every secret, every encoded form of one and every
// run of MinRun or more of their characters replaced by Mask.
func (r *Redactor) Redact(s string) string {
	if r == nil || s == "" {
		return s
	}
	if len(r.grams) > 0 && len(s) >= MinRun {
		s = r.redactRuns(s)
	}
	for _, f := range r.short {
		if strings.Contains(s, f) {
			s = strings.ReplaceAll(s, f, Mask)
		}
	}
	return s
}

// redactRuns replaces every maximal run of bytes covered by windows that
// are grams of a secret.
func (r *Redactor) redactRuns(s string) string {
	var (
		b          strings.Builder
		copied     int  // s[:copied] is in b, or skipped as redacted
		runStart   = -1 // start of the covered run being extended
		runEnd     int
		w          uint64
		have       int // bytes of the current window that are in seen
		wroteMatch bool
	)
	flush := func() {
		b.WriteString(s[copied:runStart])
		b.WriteString(Mask)
		copied = runEnd
		runStart = -1
		wroteMatch = true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		w = w<<8 | uint64(c)
		if r.seen[c] {
			have++
		} else {
			have = 0
		}
		if have < MinRun {
			continue
		}
		start := i + 1 - MinRun
		if _, ok := r.grams[w]; !ok {
			continue
		}
		switch {
		case runStart < 0:
			runStart, runEnd = start, i+1
		case start <= runEnd:
			runEnd = i + 1
		default:
			flush()
			runStart, runEnd = start, i+1
		}
	}
	if runStart >= 0 {
		flush()
	}
	if !wroteMatch {
		return s
	}
	b.WriteString(s[copied:])
	return b.String()
}

// Clean redacts s and then cuts it to at most n bytes (textutil.Truncate):
// redacting first, so that a cut never leaves part of a key behind.
func (r *Redactor) Clean(s string, n int) string { return textutil.Truncate(r.Redact(s), n) }

// Wrap keeps err in the chain for errors.Is and errors.As while removing
// the secrets from its text. A nil err stays nil.
func (r *Redactor) Wrap(err error) error {
	if err == nil {
		return nil
	}
	return redacted{err, r}
}

// Redact is New(secrets...).Redact(s), for one-off uses.
func Redact(s string, secrets ...string) string { return New(secrets...).Redact(s) }

// Wrap is New(secrets...).Wrap(err), for one-off uses.
func Wrap(err error, secrets ...string) error { return New(secrets...).Wrap(err) }

type redacted struct {
	err error
	r   *Redactor
}

func (e redacted) Error() string { return e.r.Redact(e.err.Error()) }
func (e redacted) Unwrap() error { return e.err }

// Quiet keeps err in the chain for errors.Is and errors.As with an empty
// text, for an SDK error whose text (raw bodies) the message already says
// better. provider.Error does not print an empty cause.
func Quiet(err error) error { return quiet{err} }

type quiet struct{ err error }

func (q quiet) Error() string { return "" }
func (q quiet) Unwrap() error { return q.err }

// Format prints v, a copy of a configuration or generator value with its
// secrets already replaced by Mask, for a Format method: under %#v the
// name of v's method-less local type (local, such as "gemini.config") is
// replaced by the exported one (public, such as "gemini.Config"); every
// other verb prints v as fmt would. Types that hold a key implement
// fmt.Formatter with it, so that no verb (%v, %+v, %#v, %s, ...) reaches
// the key through reflection.
func Format(f fmt.State, verb rune, v any, local, public string) {
	s := fmt.Sprintf(fmt.FormatString(f, verb), v)
	if verb == 'v' && f.Flag('#') {
		s = strings.Replace(s, local, public, 1)
	}
	_, _ = io.WriteString(f, s)
}

// FormatGenerator is an adapter Generator's Format: "<nil>" for a nil
// one, goSyntax() under %#v and str() under every other verb, so that no
// verb reaches the generator's key through reflection.
func FormatGenerator(f fmt.State, verb rune, isNil bool, str, goSyntax func() string) {
	switch {
	case isNil:
		_, _ = io.WriteString(f, "<nil>")
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, goSyntax())
	default:
		_, _ = io.WriteString(f, str())
	}
}

// URL returns raw for printing with any user information and the values
// of its query replaced by Mask: a base URL may carry credentials
// ("https://user:pass@relay", "?key=..."). Text that does not parse is
// returned cut to 100 bytes.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return textutil.Truncate(raw, 100)
	}
	if u.User != nil {
		u.User = url.User(Mask)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{Mask}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Headers returns a copy of h for printing, with the values of headers
// that carry credentials (Authorization, cookies, anything named like a
// key or token) replaced by Mask.
func Headers[H ~map[string][]string](h H) H {
	if h == nil {
		return nil
	}
	out := make(H, len(h))
	for k, vs := range h {
		if sensitiveHeader(k) {
			vs = []string{Mask}
		}
		out[k] = vs
	}
	return out
}

func sensitiveHeader(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"authorization", "cookie", "key", "token", "secret", "signature", "password"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
