package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies a failure so that decorators can decide what to do with it
// (retry, fail over, stop) without knowing which provider produced it.
type Kind uint8

// The kinds of failure. The zero Kind is KindUnknown.
const (
	KindUnknown        Kind = iota
	KindInvalidRequest      // the request is wrong; fixing it is the caller's job
	KindAuth                // missing, invalid or unauthorised credentials
	KindModelNotFound       // the provider does not know the model
	KindModelRetired        // the model existed and has been shut down
	KindRateLimited         // a short-term limit; waiting helps
	KindQuotaExhausted      // a daily, monthly or prepaid quota; waiting seconds does not help
	KindContentBlocked      // a safety system refused the prompt or the output
	KindNoImage             // the call succeeded but returned no image
	KindUnavailable         // overloaded, 5xx, bad gateway, malformed answer
	KindTimeout             // the call took longer than allowed
	KindBudgetExceeded      // a local budget refused the call before it was made
)

var kindNames = [...]string{
	KindUnknown:        "unknown error",
	KindInvalidRequest: "invalid request",
	KindAuth:           "authentication failed",
	KindModelNotFound:  "model not found",
	KindModelRetired:   "model retired",
	KindRateLimited:    "rate limited",
	KindQuotaExhausted: "quota exhausted",
	KindContentBlocked: "content blocked",
	KindNoImage:        "no image returned",
	KindUnavailable:    "provider unavailable",
	KindTimeout:        "timeout",
	KindBudgetExceeded: "budget exceeded",
}

// String returns a short description such as "rate limited".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Sentinel returns the sentinel error of k, for errors.Is.
func (k Kind) Sentinel() error {
	if int(k) < len(sentinels) {
		return sentinels[k]
	}
	return ErrUnknown
}

// Retryable reports whether a failure of this kind may succeed if the same
// request is sent again after a wait.
func (k Kind) Retryable() bool {
	switch k {
	case KindRateLimited, KindUnavailable, KindTimeout:
		return true
	}
	return false
}

// Sentinels, one per Kind. Every *Error matches the sentinel of its Kind:
//
//	if errors.Is(err, provider.ErrRateLimited) { ... }
var (
	ErrUnknown        = &sentinel{KindUnknown}
	ErrInvalidRequest = &sentinel{KindInvalidRequest}
	ErrAuth           = &sentinel{KindAuth}
	ErrModelNotFound  = &sentinel{KindModelNotFound}
	ErrModelRetired   = &sentinel{KindModelRetired}
	ErrRateLimited    = &sentinel{KindRateLimited}
	ErrQuotaExhausted = &sentinel{KindQuotaExhausted}
	ErrContentBlocked = &sentinel{KindContentBlocked}
	ErrNoImage        = &sentinel{KindNoImage}
	ErrUnavailable    = &sentinel{KindUnavailable}
	ErrTimeout        = &sentinel{KindTimeout}
	ErrBudgetExceeded = &sentinel{KindBudgetExceeded}
)

// sentinels is indexed by Kind; it is never modified.
var sentinels = [...]error{
	KindUnknown:        ErrUnknown,
	KindInvalidRequest: ErrInvalidRequest,
	KindAuth:           ErrAuth,
	KindModelNotFound:  ErrModelNotFound,
	KindModelRetired:   ErrModelRetired,
	KindRateLimited:    ErrRateLimited,
	KindQuotaExhausted: ErrQuotaExhausted,
	KindContentBlocked: ErrContentBlocked,
	KindNoImage:        ErrNoImage,
	KindUnavailable:    ErrUnavailable,
	KindTimeout:        ErrTimeout,
	KindBudgetExceeded: ErrBudgetExceeded,
}

// sentinel is a comparable error value naming one Kind.
type sentinel struct{ kind Kind }

func (s *sentinel) Error() string { return "imagegen: " + s.kind.String() }

// CodeLocalLimit is the Code of an *Error raised by a local decorator (a
// rate limiter, a shared store) before any upstream call: retry does not
// count it as an attempt and failover does not hold it against the
// provider's health.
const CodeLocalLimit = "LOCAL_LIMIT"

// IsLocal reports whether err was raised locally, before any upstream call
// (its *Error has Code CodeLocalLimit).
func IsLocal(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Code == CodeLocalLimit
}

// Error is a failure with its classification and the provider's detail.
// It matches its Kind's sentinel with errors.Is and unwraps to Err.
type Error struct {
	Kind       Kind
	Provider   string
	Model      string
	StatusCode int           // HTTP status, 0 when there was no answer
	Code       string        // provider's code: "RESOURCE_EXHAUSTED", "moderation_blocked"
	Message    string        // provider's message, free of secrets
	RetryAfter time.Duration // the provider's own back-off hint, when it gave one
	Usage      *Usage        // what the provider billed for this failed call, if anything
	Err        error         // underlying cause
}

// Error formats as "gemini gemini-3-pro-image: rate limited (429
// RESOURCE_EXHAUSTED): message; retry after 26s: cause".
func (e *Error) Error() string {
	var b strings.Builder
	who := strings.TrimSpace(e.Provider + " " + e.Model)
	if who != "" {
		b.WriteString(who)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	switch {
	case e.StatusCode != 0 && e.Code != "":
		fmt.Fprintf(&b, " (%d %s)", e.StatusCode, e.Code)
	case e.StatusCode != 0:
		fmt.Fprintf(&b, " (%d)", e.StatusCode)
	case e.Code != "":
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	if e.Err != nil {
		// A cause whose text is empty or already in Message is not repeated.
		if t := e.Err.Error(); t != "" && !strings.Contains(e.Message, t) {
			b.WriteString(": ")
			b.WriteString(t)
		}
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's Kind.
func (e *Error) Is(target error) bool {
	s, ok := target.(*sentinel)
	return ok && s.kind == e.Kind
}

// Errorf returns an *Error of the given kind whose message is formatted from
// format and args. Wrap a cause with %w as with fmt.Errorf.
func Errorf(kind Kind, format string, args ...any) *Error {
	wrapped := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Message: wrapped.Error(), Err: errors.Unwrap(wrapped)}
}

// KindOf classifies err: the Kind of the first *Error in its chain, the kind
// of a sentinel it matches, KindTimeout for context.DeadlineExceeded, and
// KindUnknown otherwise (including nil and context.Canceled).
func KindOf(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var s *sentinel
	if errors.As(err, &s) {
		return s.kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	return KindUnknown
}

// IsRetryable reports whether sending the same request again, after a wait,
// may succeed: rate limits, unavailability and timeouts. Quota exhaustion,
// content blocks, invalid requests and auth errors are never retryable, and
// neither is a cancelled context.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	return KindOf(err).Retryable()
}

// RetryAfter returns the provider's back-off hint carried by err: the
// RetryAfter of the first *Error in its chain that has one.
func RetryAfter(err error) (time.Duration, bool) {
	for err != nil {
		if e, ok := err.(*Error); ok && e.RetryAfter > 0 {
			return e.RetryAfter, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if d, ok := RetryAfter(inner); ok {
					return d, true
				}
			}
			return 0, false
		default:
			return 0, false
		}
	}
	return 0, false
}

// AttemptsOf returns how many upstream calls the failed request that err
// describes made: the count reported by the first error in its chain that
// implements UpstreamAttempts() int (the retry decorator's error does), 0
// for a refusal raised before any call (IsLocal, or a budget's
// KindBudgetExceeded), and 1 otherwise.
func AttemptsOf(err error) int {
	if err == nil {
		return 0
	}
	var a interface{ UpstreamAttempts() int }
	switch {
	case errors.As(err, &a):
		return a.UpstreamAttempts()
	case IsLocal(err), KindOf(err) == KindBudgetExceeded:
		return 0
	}
	return 1
}

// BilledUsage returns what the provider billed for the failed call that err
// describes, if it said.
func BilledUsage(err error) (Usage, bool) {
	var e *Error
	if errors.As(err, &e) && e.Usage != nil {
		return *e.Usage, true
	}
	return Usage{}, false
}

// WithOrigin returns err with the Provider and Model of its *Error filled
// where they are empty, as a copy (the original is not modified); errors
// without an *Error are returned as they are. Adapters use it on errors that
// checks made without knowing who would serve the request.
func WithOrigin(err error, providerName, model string) error {
	var pe *Error
	if !errors.As(err, &pe) {
		return err
	}
	c := *pe
	if c.Provider == "" {
		c.Provider = providerName
	}
	if c.Model == "" {
		c.Model = model
	}
	return &c
}
