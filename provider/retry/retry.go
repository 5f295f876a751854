// Package retry is the decorator that sends a request again when the failure
// was transient, waiting between tries with exponential back-off and jitter
// (github.com/cenkalti/backoff/v4) and never less than the provider's own
// back-off hint.
//
// It sits inside failover and outside the rate limiter, so that each
// failover route has its own retry budget and every attempt takes a token:
//
//	cache → pricing meter/budget → failover → per provider: health → retry → rate limit/quota → adapter
//
// The rules:
//
//   - Only errors Policy.Retryable accepts are retried; the default is
//     provider.IsRetryable (rate limits, unavailability, timeouts). Quota
//     exhaustion, content blocks, invalid requests, auth errors and a
//     cancelled context are never retried.
//   - Each wait is max(back-off interval, hint), where the hint is the
//     RetryAfter of the *provider.Error (adapters fill it from Retry-After
//     seconds or dates, google.rpc.RetryInfo, x-ratelimit-reset-* headers and
//     "try again in 12s" text).
//   - When that wait is longer than Policy.MaxWait or than what is left of
//     the context's deadline, Generate returns at once with the typed error
//     instead of sleeping into a failure.
//   - Response.Attempts is the number of upstream calls made across tries,
//     and a failure is an *Error that says how many there were and why
//     retrying stopped; it unwraps to the last try's error, so errors.Is,
//     errors.As and provider.KindOf see the provider's classification.
//
// Every try ends with a provider.EventRetryAttempt to the handlers of the
// request's context (provider.WithEventHandler, provider.HandleEvents):
// the try's number, its upstream calls, how long it took, its error, and
// the wait before the next try with its reason ("backoff" or "hint"), or
// why retrying stops.
//
// # Previews
//
// A request with provider.Previews is retried only while none of its
// drafts has reached the caller: once one has, a failure ends the call at
// once (Error.Reason StopInterrupted), and the error also matches
// provider.ErrStreamInterrupted, since a new try would show the caller
// drafts of another image.
package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/provider"
)

// Defaults for a zero Policy.
const (
	DefaultMaxAttempts         = 4
	DefaultInitialInterval     = 500 * time.Millisecond
	DefaultMaxInterval         = 30 * time.Second
	DefaultMaxWait             = 60 * time.Second
	DefaultMultiplier          = 2.0
	DefaultRandomizationFactor = 0.5
)

// Policy configures New. Its zero value is usable: every field has a
// default.
type Policy struct {
	// MaxAttempts is the most tries per request, the first included
	// (default 4; 1 disables retrying).
	MaxAttempts int
	// InitialInterval is the first back-off interval (default 500ms).
	InitialInterval time.Duration
	// MaxInterval caps each back-off interval, before jitter (default 30s).
	MaxInterval time.Duration
	// MaxWait is the longest single wait the decorator will sleep (default
	// 60s). A provider hint longer than that ends the request at once with
	// the provider's error.
	MaxWait time.Duration
	// Multiplier grows the interval after each try (default 2).
	Multiplier float64
	// RandomizationFactor spreads each interval over
	// [i·(1−f), i·(1+f)] (default 0.5; negative means no jitter).
	RandomizationFactor float64
	// Retryable says which errors are worth another try (default
	// provider.IsRetryable). A cancelled context is never retried.
	Retryable func(error) bool
	// Clock is the time source for waits; nil means
	// provider.SystemClock() (tests pass providertest.NewClock).
	Clock provider.Clock
}

// Reasons retrying stops, as found in Error.Reason and in the Reason of
// the last provider.EventRetryAttempt.
const (
	StopNotRetryable = "not retryable"
	StopExhausted    = "attempts exhausted"
	StopHintTooLong  = "hint exceeds MaxWait"
	StopDeadline     = "wait exceeds the context deadline"
	StopContext      = "context done"
	// StopInterrupted: a preview had reached the caller (see the package
	// doc); the error also matches provider.ErrStreamInterrupted.
	StopInterrupted = "previews delivered"
)

// Error is the failure of a request after one or more tries. It unwraps to
// the last try's error.
type Error struct {
	Attempts int           // upstream calls made across all tries
	Tries    int           // tries made
	Reason   string        // why retrying stopped: one of the Stop* constants
	Wait     time.Duration // the wait that was refused (StopHintTooLong, StopDeadline)
	Err      error         // the last try's error
}

// Error returns the last try's error followed by why retrying stopped.
func (e *Error) Error() string {
	msg := e.Err.Error()
	switch e.Reason {
	case StopNotRetryable:
		if e.Tries == 1 {
			return msg
		}
		return fmt.Sprintf("%s (not retryable, after %d attempts)", msg, e.Attempts)
	case StopInterrupted:
		// provider.Interrupted, around this error, says why it stopped.
		return fmt.Sprintf("%s (retry: after %d attempts)", msg, e.Attempts)
	case StopHintTooLong, StopDeadline:
		return fmt.Sprintf("%s (retry: %s: would wait %s, after %d attempts)", msg, e.Reason, e.Wait, e.Attempts)
	}
	return fmt.Sprintf("%s (retry: %s after %d attempts)", msg, e.Reason, e.Attempts)
}

// Unwrap returns the last try's error.
func (e *Error) Unwrap() error { return e.Err }

// UpstreamAttempts returns Attempts, for provider.AttemptsOf.
func (e *Error) UpstreamAttempts() int { return e.Attempts }

// New returns the retry decorator for p, or a *provider.ConfigError
// naming every field of p that makes no sense (negative counts or
// durations, a Multiplier below 1, a RandomizationFactor above 1, a
// MaxInterval below InitialInterval).
func New(p Policy) (provider.Middleware, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	return func(next provider.Generator) provider.Generator {
		r := &retrier{p: p, next: next}
		return provider.Wrap(next, r.generate)
	}, nil
}

func (p Policy) check() error {
	var e cfgcheck.Errors
	cfgcheck.NonNegative(&e, "retry.Policy.MaxAttempts", p.MaxAttempts, "0 (default 4) or more; 1 disables retrying")
	cfgcheck.NonNegative(&e, "retry.Policy.InitialInterval", p.InitialInterval, "0 (default 500ms) or more")
	cfgcheck.NonNegative(&e, "retry.Policy.MaxInterval", p.MaxInterval, "0 (default 30s) or more")
	cfgcheck.NonNegative(&e, "retry.Policy.MaxWait", p.MaxWait, "0 (default 60s) or more")
	if p.Multiplier != 0 && p.Multiplier < 1 {
		e.Add("retry.Policy.Multiplier", p.Multiplier, "0 (default 2) or at least 1")
	}
	if p.RandomizationFactor > 1 {
		e.Add("retry.Policy.RandomizationFactor", p.RandomizationFactor, "at most 1 (0 means the default 0.5, negative means no jitter)")
	}
	if p.InitialInterval > 0 && p.MaxInterval > 0 && p.MaxInterval < p.InitialInterval {
		e.Addf("retry.Policy.MaxInterval", p.MaxInterval, "at least InitialInterval (%s)", p.InitialInterval)
	}
	return e.Err()
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.InitialInterval == 0 {
		p.InitialInterval = DefaultInitialInterval
	}
	if p.MaxInterval == 0 {
		p.MaxInterval = max(DefaultMaxInterval, p.InitialInterval)
	}
	if p.MaxWait == 0 {
		p.MaxWait = DefaultMaxWait
	}
	if p.Multiplier == 0 {
		p.Multiplier = DefaultMultiplier
	}
	switch {
	case p.RandomizationFactor == 0:
		p.RandomizationFactor = DefaultRandomizationFactor
	case p.RandomizationFactor < 0:
		p.RandomizationFactor = 0
	}
	if p.Retryable == nil {
		p.Retryable = provider.IsRetryable
	}
	if p.Clock == nil {
		p.Clock = provider.SystemClock()
	}
	return p
}

type retrier struct {
	p    Policy
	next provider.Generator
}

func (r *retrier) newBackOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     r.p.InitialInterval,
		RandomizationFactor: r.p.RandomizationFactor,
		Multiplier:          r.p.Multiplier,
		MaxInterval:         r.p.MaxInterval,
		MaxElapsedTime:      0, // attempts and the context bound retrying
		Stop:                backoff.Stop,
		Clock:               r.p.Clock,
	}
	b.Reset()
	return b
}

func (r *retrier) generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	if req == nil {
		return nil, provider.Errorf(provider.KindInvalidRequest, "retry: Request: nil request")
	}
	req, tr := provider.Track(req)
	var (
		b     *backoff.ExponentialBackOff
		calls int
		ev    *provider.Event // the try's event, when someone listens
	)
	if provider.Listening(ctx) {
		d := provider.Describe(r.next)
		ev = &provider.Event{Kind: provider.EventRetryAttempt, Provider: d.Provider, Model: d.Model}
	}
	for try := 1; ; try++ {
		var start time.Time
		if ev != nil {
			start = r.p.Clock.Now()
		}
		resp, err := r.next.Generate(ctx, req)
		n := 1
		switch {
		case resp != nil && resp.Attempts > 0:
			n = resp.Attempts
		case provider.IsLocal(err):
			n = 0 // refused before any upstream call
		}
		calls += n
		report := func(wait time.Duration, reason string) {
			if ev != nil {
				ev.Attempt, ev.Calls, ev.Err, ev.Wait, ev.Reason = try, n, err, wait, reason
				ev.Duration = r.p.Clock.Now().Sub(start)
				provider.Emit(ctx, *ev)
			}
		}
		if err == nil {
			report(0, "")
			if resp != nil {
				resp.Attempts = calls
			}
			return resp, nil
		}
		hint, _ := provider.RetryAfter(err)
		fail := func(reason string, wait time.Duration) error {
			report(0, reason)
			return tr.Settle(&Error{Attempts: calls, Tries: try, Reason: reason, Wait: wait, Err: err})
		}
		switch {
		case ctx.Err() != nil || errors.Is(err, context.Canceled):
			return nil, fail(StopContext, 0)
		case tr.Delivered() > 0:
			// The caller has shown a draft of this try's image: another
			// try would make a different one.
			return nil, fail(StopInterrupted, 0)
		case !r.p.Retryable(err):
			return nil, fail(StopNotRetryable, 0)
		case try >= r.p.MaxAttempts:
			return nil, fail(StopExhausted, 0)
		}
		if b == nil {
			b = r.newBackOff()
		}
		wait := max(b.NextBackOff(), hint)
		if hint > r.p.MaxWait {
			return nil, fail(StopHintTooLong, hint)
		}
		wait = min(wait, r.p.MaxWait)
		if dl, ok := ctx.Deadline(); ok && wait >= time.Until(dl) {
			return nil, fail(StopDeadline, wait)
		}
		reason := "backoff"
		if hint > 0 && wait == hint {
			reason = "hint"
		}
		report(wait, reason)
		select {
		case <-r.p.Clock.After(wait):
		case <-ctx.Done():
			return nil, &Error{Attempts: calls, Tries: try, Reason: StopContext, Err: err}
		}
	}
}
