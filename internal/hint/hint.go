// Package hint reads the back-off hints providers send: Retry-After headers
// (seconds or an HTTP date), retry-after-ms, Google's RetryInfo durations
// ("26s", "1.5s"), OpenAI's x-ratelimit-reset-* durations ("6m0s",
// "12ms") and the "try again in 12s" sentence in error messages.
//
// Every source follows one rule: a hint that parses and lies in the future
// is kept, and one longer than Max is clamped to Max, never dropped. A
// caller that will not wait that long still learns how long the provider
// asked for, and a decorator that sees a hint beyond what it may wait
// returns the error with it instead of backing off as if there were none.
// Hints that do not parse (or lie in the past) are absent.
package hint

import (
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Max is the longest hint any source yields: a day. No provider this module
// talks to asks for longer (Gemini's per-day quotas reset at midnight
// Pacific time; OpenAI's windows are a minute or a day); a longer value is
// a quota that waiting does not fix, or a hostile or broken header, and a
// float beyond int64 nanoseconds would convert to an unspecified Duration.
const Max = 24 * time.Hour

// Clamp returns d limited to Max, and false for d <= 0.
func Clamp(d time.Duration) (time.Duration, bool) {
	if d <= 0 {
		return 0, false
	}
	return min(d, Max), true
}

// fromSeconds converts a number of seconds, clamping; NaN and values <= 0
// are absent.
func fromSeconds(secs float64) (time.Duration, bool) {
	if math.IsNaN(secs) || secs <= 0 {
		return 0, false
	}
	if secs >= Max.Seconds() {
		return Max, true
	}
	return Clamp(time.Duration(secs * float64(time.Second)))
}

// RetryAfter parses a Retry-After header value: delay seconds (fractions
// accepted) or an HTTP date, relative to now.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDecimal(v) {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil && !isRangeErr(err) {
			return 0, false
		}
		return fromSeconds(secs) // a range error gives +Inf, which clamps
	}
	if t, err := http.ParseTime(v); err == nil {
		return Clamp(until(t, now))
	}
	return 0, false
}

// until is t - now without overflow: dates centuries away saturate.
func until(t, now time.Time) time.Duration {
	if t.After(now.Add(Max)) {
		return Max
	}
	return t.Sub(now)
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// isDecimal reports whether s is digits with an optional fraction, the
// only number shape Retry-After and retry-after-ms carry.
func isDecimal(s string) bool {
	dot := false
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

var durationPart = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)`)

// Duration parses a Google protobuf JSON duration ("26s", "0.5s") or a Go
// duration ("6m0s", "12ms", "1h2m3.5s"), as sent in RetryInfo.retryDelay
// and OpenAI's x-ratelimit-reset-* headers. Unlike time.ParseDuration it
// does not refuse values beyond 290 years: they clamp to Max.
func Duration(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	total := 0.0
	for rest := v; rest != ""; {
		m := durationPart.FindStringSubmatch(rest)
		if m == nil {
			return 0, false
		}
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil && !isRangeErr(err) {
			return 0, false
		}
		total += n * unitSeconds(m[2])
		rest = rest[len(m[0]):]
	}
	return fromSeconds(total)
}

func unitSeconds(u string) float64 {
	switch u {
	case "ns":
		return 1e-9
	case "us", "µs", "μs":
		return 1e-6
	case "ms":
		return 1e-3
	case "s":
		return 1
	case "m":
		return 60
	}
	return 3600 // "h"
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
	if err != nil && !isRangeErr(err) {
		return 0, false
	}
	unit := 1.0
	switch u := strings.ToLower(m[2]); {
	case strings.HasPrefix(u, "ms"), strings.HasPrefix(u, "milli"):
		unit = 1e-3
	case strings.HasPrefix(u, "m"):
		unit = 60
	case strings.HasPrefix(u, "h"):
		unit = 3600
	}
	return fromSeconds(n * unit)
}

// Reset parses an x-ratelimit-reset-* value: a Go duration ("6m0s"), bare
// seconds ("20"), or an RFC 3339 time, relative to now.
func Reset(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if isDecimal(v) {
		return RetryAfter(v, now)
	}
	if d, ok := Duration(v); ok {
		return d, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return Clamp(until(t, now))
	}
	return 0, false
}

// FromHeader returns the longest back-off hint in an HTTP response's
// headers: Retry-After, retry-after-ms, and, when neither is there, the
// x-ratelimit-reset-requests / -tokens / -images values OpenAI sends on a
// 429.
func FromHeader(h http.Header, now time.Time) (time.Duration, bool) {
	var best time.Duration
	if d, ok := RetryAfter(h.Get("Retry-After"), now); ok {
		best = d
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil || isRangeErr(err) {
			if d, ok := fromSeconds(ms / 1000); ok {
				best = max(best, d)
			}
		}
	}
	if best == 0 {
		// Reset headers describe when the bucket refills, which is a hint
		// only when nothing more direct was sent.
		for _, k := range []string{"X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens", "X-Ratelimit-Reset-Images"} {
			if d, ok := Reset(h.Get(k), now); ok {
				best = max(best, d)
			}
		}
	}
	return best, best > 0
}
