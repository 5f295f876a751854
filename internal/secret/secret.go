// Package secret keeps credentials out of text that leaves an adapter:
// error messages, log lines and recorded requests.
package secret

import "strings"

// Redact returns s with every occurrence of each non-trivial secret replaced
// by "[REDACTED]". Secrets shorter than 6 bytes are ignored, since replacing
// them would mangle ordinary words.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 6 && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// Wrap keeps err in the chain for errors.Is and errors.As while removing
// the secrets from its text.
func Wrap(err error, secrets ...string) error { return redacted{err, secrets} }

type redacted struct {
	err     error
	secrets []string
}

func (r redacted) Error() string { return Redact(r.err.Error(), r.secrets...) }
func (r redacted) Unwrap() error { return r.err }

// Quiet keeps err in the chain for errors.Is and errors.As with an empty
// text, for an SDK error whose text (raw bodies) the message already says
// better. provider.Error does not print an empty cause.
func Quiet(err error) error { return quiet{err} }

type quiet struct{ err error }

func (q quiet) Error() string { return "" }
func (q quiet) Unwrap() error { return q.err }
