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
