package textutil

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel…"},
		{"héllo", 2, "h…"}, // é is 2 bytes at 1..2: not split
		{"héllo", 3, "hé…"},
		{"日本語", 4, "日…"},
		{"日本語", 0, ""},
		{"a🙂b", 2, "a…"},
		{"a🙂b", 4, "a…"},
		{"a🙂b", 5, "a🙂…"},
		{"\xff\xfe\xfd\xfc", 2, "\xff\xfe…"}, // invalid bytes: cut as bytes
	}
	for _, tt := range tests {
		if got := Truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld 日本語 🙂", 7)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := Truncate(s, n)
		body := strings.TrimSuffix(got, Ellipsis)
		if len(body) > max(n, 0) || !strings.HasPrefix(s, body) {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q splits a character", s, n, got)
		}
	})
}
