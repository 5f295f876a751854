package hint

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

// One rule for every source: a hint that parses is kept, clamped to Max,
// never dropped.
func TestHugeHintsAreClamped(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tenYears := now.AddDate(10, 0, 0)
	header := func(k, v string) http.Header { h := http.Header{}; h.Set(k, v); return h }
	sources := map[string]func() (time.Duration, bool){
		"Retry-After 315360000 (ten years)":  func() (time.Duration, bool) { return RetryAfter("315360000", now) },
		"Retry-After 1e400 digits":           func() (time.Duration, bool) { return RetryAfter("9"+strings.Repeat("9", 400), now) },
		"Retry-After: an HTTP date 10y away": func() (time.Duration, bool) { return RetryAfter(tenYears.Format(http.TimeFormat), now) },
		"Retry-After year 9999":              func() (time.Duration, bool) { return RetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now) },
		"retry-after-ms 1e30":                func() (time.Duration, bool) { return FromHeader(header("Retry-After-Ms", "1e30"), now) },
		"retry-after-ms inf":                 func() (time.Duration, bool) { return FromHeader(header("Retry-After-Ms", "+Inf"), now) },
		"RetryInfo ten years":                func() (time.Duration, bool) { return Duration("315360000s") },
		"RetryInfo beyond int64":             func() (time.Duration, bool) { return Duration("99999999999999999999s") },
		"Go duration beyond int64":           func() (time.Duration, bool) { return Duration("9999999h") },
		"x-ratelimit-reset 10y":              func() (time.Duration, bool) { return FromHeader(header("X-Ratelimit-Reset-Requests", "87600h"), now) },
		"x-ratelimit-reset RFC 3339": func() (time.Duration, bool) {
			return FromHeader(header("X-Ratelimit-Reset-Tokens", tenYears.Format(time.RFC3339)), now)
		},
		"message hours": func() (time.Duration, bool) { return FromMessage("try again in 99999999999 hours") },
		"message 1e400 seconds": func() (time.Duration, bool) {
			return FromMessage("Please retry in " + strings.Repeat("9", 400) + " seconds")
		},
	}
	for name, f := range sources {
		if d, ok := f(); !ok || d != Max {
			t.Errorf("%s = %v, %v; want %v", name, d, ok, Max)
		}
	}
	// Just under Max is kept as it is.
	if d, ok := RetryAfter("86399", now); !ok || d != 86399*time.Second {
		t.Errorf("RetryAfter(86399) = %v %v", d, ok)
	}
	for _, bad := range []string{"NaN", "-5", "0", "1e3", "soon"} {
		if d, ok := RetryAfter(bad, now); ok {
			t.Errorf("RetryAfter(%q) = %v", bad, d)
		}
	}
	if d, ok := FromHeader(header("Retry-After-Ms", "NaN"), now); ok {
		t.Errorf("retry-after-ms NaN = %v", d)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{"6m0s": 6 * time.Minute, "20": 20 * time.Second, "1.5s": 1500 * time.Millisecond,
		now.Add(time.Minute).Format(time.RFC3339): time.Minute} {
		if got, ok := Reset(in, now); !ok || got != want {
			t.Errorf("Reset(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
}
