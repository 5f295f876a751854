package secret

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	got := Redact("key sk-abcdef123 bad; again sk-abcdef123", "sk-abcdef123", "abc", "")
	if got != "key [REDACTED] bad; again [REDACTED]" {
		t.Errorf("Redact = %q", got)
	}
}

func TestRedactForms(t *testing.T) {
	t.Parallel()
	const key = "AIzaSy/Dk+9_q=Zr-TfW8xv&Q2u"
	r := New(key)
	tests := map[string]string{
		"whole":              "bad key " + key + " here",
		"all but the last 3": "bad key " + key[:len(key)-3] + " here",
		"first 8":            "bad key " + key[:8] + " here",
		"a middle run":       "bad key …" + key[7:17] + "… here",
		"query-escaped":      "GET /v1?key=" + url.QueryEscape(key) + " failed",
		"path-escaped":       "GET /v1/" + url.PathEscape(key) + " failed",
		"lower-hex escape":   "key=" + strings.ToLower(url.QueryEscape(key)),
		"json-escaped":       `{"key":"` + strings.ReplaceAll(key, "&", `\u0026`) + `"}`,
		"slash-escaped":      `{"key":"` + strings.ReplaceAll(key, "/", `\/`) + `"}`,
		"masked middle":      "Incorrect API key provided: " + key[:10] + "*****" + key[len(key)-9:],
		"twice":              key + key,
	}
	for name, in := range tests {
		got := r.Redact(in)
		if !strings.Contains(got, Mask) {
			t.Errorf("%s: %q kept %q", name, in, got)
		}
		for i := 0; i+MinRun <= len(key); i++ {
			if strings.Contains(got, key[i:i+MinRun]) {
				t.Errorf("%s: %q still holds %q", name, got, key[i:i+MinRun])
			}
		}
	}
	// Seven characters of the key are no secret and ordinary text stays.
	for _, s := range []string{"bad key " + key[:7] + " here", "nothing to see", ""} {
		if got := r.Redact(s); got != s {
			t.Errorf("Redact(%q) = %q", s, got)
		}
	}
}

func TestRedactShortSecrets(t *testing.T) {
	t.Parallel()
	r := New("abc", "k7-x9Q") // 3 bytes: ignored; 6 bytes: whole only
	if got := r.Redact("abc k7-x9Q k7-x9"); got != "abc [REDACTED] k7-x9" {
		t.Errorf("Redact = %q", got)
	}
	var nilR *Redactor
	if nilR.Redact("abc") != "abc" || nilR.Wrap(nil) != nil {
		t.Error("nil Redactor")
	}
}

func TestCleanRedactsBeforeCutting(t *testing.T) {
	t.Parallel()
	const key = "sk-proj-0123456789abcdefghij"
	r := New(key)
	got := r.Clean("token "+key+" rest", 20)
	if strings.Contains(got, "sk-proj-") || strings.Contains(got, "01234567") {
		t.Errorf("Clean = %q", got)
	}
}

func TestWrapAndQuietKeepTheChain(t *testing.T) {
	t.Parallel()
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

type conf struct {
	APIKey string
	Header http.Header
}

func (c conf) Format(f fmt.State, verb rune) {
	type plain conf
	p := plain(c)
	p.APIKey, p.Header = Mask, Headers(c.Header)
	Format(f, verb, p, "secret.plain", "secret.conf")
}

func TestFormat(t *testing.T) {
	t.Parallel()
	c := conf{APIKey: "sk-live-123456789", Header: http.Header{"X-Api-Key": {"sk-other-987654321"}, "X-Title": {"app"}}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		got := fmt.Sprintf(verb, c)
		if strings.Contains(got, "sk-") && verb != "%x" {
			t.Errorf("%s: %s", verb, got)
		}
		if verb == "%#v" && !strings.HasPrefix(got, "secret.conf{") {
			t.Errorf("%s: %s", verb, got)
		}
	}
	if got := fmt.Sprintf("%+v", &c); !strings.Contains(got, "X-Title:[app]") || strings.Contains(got, "987654321") {
		t.Errorf("%%+v: %s", got)
	}
}

func BenchmarkRedact1MiB(b *testing.B) {
	r := New("sk-proj-0123456789abcdefghijABCDEFGHIJ")
	s := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 1<<20/45)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_ = r.Redact(s)
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://user:pass@relay.example/v1?key=abc&x=1": "https://%5BREDACTED%5D@relay.example/v1?key=%5BREDACTED%5D&x=%5BREDACTED%5D",
		"https://api.openai.com/v1":                      "https://api.openai.com/v1",
		"":                                               "",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}
