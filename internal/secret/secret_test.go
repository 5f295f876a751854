package secret

import "testing"

func TestRedact(t *testing.T) {
	got := Redact("key sk-abcdef123 bad; again sk-abcdef123", "sk-abcdef123", "abc", "")
	if got != "key [REDACTED] bad; again [REDACTED]" {
		t.Errorf("Redact = %q", got)
	}
}
