// Package hint reads the back-off hints providers send: Retry-After headers
// (seconds or an HTTP date), Google's RetryInfo durations ("26s", "1.5s"),
// OpenAI's x-ratelimit-reset-* durations ("6m0s", "12ms") and the
// "try again in 12s" sentence in error messages.
package hint

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// RetryAfter parses a Retry-After header value: delay seconds (fractions
// accepted) or an HTTP date, relative to now. It returns false for an absent,
// malformed or past value.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 1e6 {
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
	}
	return 0, false
}

// Duration parses a Google protobuf JSON duration ("26s", "0.5s") or a Go
// duration ("6m0s", "12ms", "1h2m3.5s"), as sent in RetryInfo.retryDelay and
// OpenAI's x-ratelimit-reset-* headers.
func Duration(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}

var tryAgainIn = regexp.MustCompile(`(?i)(?:try again|retry) in (?:about )?([0-9]+(?:\.[0-9]+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?)\b`)

// FromMessage finds a "try again in 12s" / "Please retry in 26.5 seconds"
// hint in a provider's error message.
func FromMessage(msg string) (time.Duration, bool) {
	m := tryAgainIn.FindStringSubmatch(msg)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	unit := time.Second
	switch u := strings.ToLower(m[2]); {
	case strings.HasPrefix(u, "ms"), strings.HasPrefix(u, "milli"):
		unit = time.Millisecond
	case strings.HasPrefix(u, "m"):
		unit = time.Minute
	case strings.HasPrefix(u, "h"):
		unit = time.Hour
	}
	return clamp(n * float64(unit)), true
}

// maxHint bounds every hint: a float beyond int64 converts to an
// unspecified Duration, and no wait that long is meant.
const maxHint = 30 * 24 * time.Hour

func clamp(ns float64) time.Duration {
	if ns >= float64(maxHint) {
		return maxHint
	}
	return time.Duration(ns)
}

// FromHeader returns the longest back-off hint in an HTTP response's
// headers: Retry-After, retry-after-ms, and the x-ratelimit-reset-requests /
// -tokens durations OpenAI sends on a 429.
func FromHeader(h http.Header, now time.Time) (time.Duration, bool) {
	var best time.Duration
	if d, ok := RetryAfter(h.Get("Retry-After"), now); ok {
		best = d
	}
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		best = max(best, clamp(ms*float64(time.Millisecond)))
	}
	if best == 0 {
		// Reset headers describe when the bucket refills, which is a hint
		// only when nothing more direct was sent.
		for _, k := range []string{"X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens", "X-Ratelimit-Reset-Images"} {
			if d, ok := Duration(h.Get(k)); ok {
				best = max(best, d)
			}
		}
	}
	return best, best > 0
}
