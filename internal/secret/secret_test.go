package secret

import (
	"errors"
	"testing"
)

func TestRedact(t *testing.T) {
	got := Redact("key sk-abcdef123 bad; again sk-abcdef123", "sk-abcdef123", "abc", "")
	if got != "key [REDACTED] bad; again [REDACTED]" {
		t.Errorf("Redact = %q", got)
	}
}

func TestWrapAndQuietKeepTheChain(t *testing.T) {
	cause := errors.New("bad key sk-abcdef123")
	w := Wrap(cause, "sk-abcdef123")
	if w.Error() != "bad key [REDACTED]" || !errors.Is(w, cause) {
		t.Errorf("Wrap: %q", w)
	}
	q := Quiet(cause)
	if q.Error() != "" || !errors.Is(q, cause) {
		t.Errorf("Quiet: %q", q)
	}
}
