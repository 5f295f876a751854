package hint

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"26", 26 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, false},
		{"", 0, false}, {"soon", 0, false}, {"-3", 0, false}, {"0", 0, false},
	}
	for _, tt := range tests {
		got, ok := RetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDurationAndMessage(t *testing.T) {
	for in, want := range map[string]time.Duration{"26s": 26 * time.Second, "0.5s": 500 * time.Millisecond, "6m0s": 6 * time.Minute, "12ms": 12 * time.Millisecond} {
		if got, ok := Duration(in); !ok || got != want {
			t.Errorf("Duration(%q) = %v, %v", in, got, ok)
		}
	}
	if _, ok := Duration("26"); ok {
		t.Error(`Duration("26") accepted a unitless number`)
	}
	msgs := map[string]time.Duration{
		"Rate limit reached for gpt-image-2 on requests per min (RPM): Limit 5. Please try again in 12s.": 12 * time.Second,
		"Please retry in 26.5 seconds.": 26500 * time.Millisecond,
		"try again in 340ms":            340 * time.Millisecond,
		"Try again in 2 minutes":        2 * time.Minute,
	}
	for in, want := range msgs {
		if got, ok := FromMessage(in); !ok || got != want {
			t.Errorf("FromMessage(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	if _, ok := FromMessage("quota exceeded"); ok {
		t.Error("found a hint in a message without one")
	}
}

func TestFromHeader(t *testing.T) {
	now := time.Now()
	h := http.Header{}
	h.Set("X-Ratelimit-Reset-Requests", "6m0s")
	if d, ok := FromHeader(h, now); !ok || d != 6*time.Minute {
		t.Errorf("reset header: %v %v", d, ok)
	}
	h.Set("Retry-After", "3")
	if d, ok := FromHeader(h, now); !ok || d != 3*time.Second {
		t.Errorf("Retry-After wins over reset headers: %v %v", d, ok)
	}
	h.Set("Retry-After-Ms", "4500")
	if d, _ := FromHeader(h, now); d != 4500*time.Millisecond {
		t.Errorf("retry-after-ms: %v", d)
	}
	if _, ok := FromHeader(http.Header{}, now); ok {
		t.Error("hint from empty headers")
	}
}

func TestHugeHintsAreClamped(t *testing.T) {
	if d, ok := FromMessage("try again in 99999999999 hours"); !ok || d != maxHint {
		t.Errorf("FromMessage = %v %v", d, ok)
	}
	h := http.Header{}
	h.Set("Retry-After-Ms", "1e30")
	if d, ok := FromHeader(h, time.Now()); !ok || d != maxHint {
		t.Errorf("FromHeader = %v %v", d, ok)
	}
}
