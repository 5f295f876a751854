package taskapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/hint"
	"github.com/imagegen-go/imagegen/internal/neterr"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// Codes of the errors this package raises itself (provider.Error.Code).
// Errors the services raise carry the service's own code.
const (
	// CodeOutcomeUnknown: a submit failed in a way that leaves open
	// whether the service created the task (a timeout, a reset, a 5xx
	// after the request was sent), and the service offers no way to look
	// it up (Kie.ai). The error is not retryable: a retry could start a
	// second, billed task beside one that may be running. It matches
	// ErrOutcomeUnknown.
	CodeOutcomeUnknown = "OUTCOME_UNKNOWN"
	// CodeResultExpired: the task succeeded but its result files are gone
	// (the service deletes them after a while: Replicate after an hour,
	// Kie.ai after a day). It matches ErrResultExpired.
	CodeResultExpired = "RESULT_EXPIRED"
	// CodeTaskNotFound: the service does not know the task ID (Kie.ai's
	// "recordInfo is null", a 404). It matches ErrTaskNotFound.
	CodeTaskNotFound = "TASK_NOT_FOUND"
	// CodeStillRunning: the wait ended (Config.Poll.MaxWait, or the
	// context) while the task was still running and the service cannot
	// cancel it; a retry of the same *provider.Request resumes it instead
	// of starting another.
	CodeStillRunning = "STILL_RUNNING"
)

// Sentinels for errors.Is, matched by the *provider.Error values that
// carry the codes above (the sentinel is their cause).
var (
	ErrOutcomeUnknown = errors.New("taskapi: the service may have created the task; its outcome is unknown")
	ErrResultExpired  = errors.New("taskapi: the task's result files have expired")
	ErrTaskNotFound   = errors.New("taskapi: the service does not know the task")
	ErrStillRunning   = errors.New("taskapi: the task is still running")
)

// kindForStatus classifies an HTTP status (or Kie.ai's code in a 200 body,
// which uses the same numbers) with the words of the message.
func kindForStatus(status int, msg string) provider.Kind {
	m := strings.ToLower(msg)
	switch {
	case containsAny(m, "sensitive", "moderation", "content policy", "policy violation", "violat", "nsfw", "safety", "flagged", "(e005)"):
		return provider.KindContentBlocked
	}
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return provider.KindAuth
	case status == http.StatusPaymentRequired, status == 433: // 433: Kie's sub-key usage limit
		return provider.KindQuotaExhausted
	case status == http.StatusNotFound:
		if strings.Contains(m, "model") || strings.Contains(m, "version") {
			return provider.KindModelNotFound
		}
		return provider.KindInvalidRequest
	case status == 505: // Kie: feature disabled, for this model
		return provider.KindModelNotFound
	case status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return provider.KindTimeout
	case status == http.StatusTooManyRequests:
		return provider.KindRateLimited
	case status == http.StatusUnprocessableEntity && strings.Contains(m, "version"):
		return provider.KindModelNotFound
	case status >= 500, status == 455, status == http.StatusConflict:
		return provider.KindUnavailable
	case status >= 400:
		return provider.KindInvalidRequest
	}
	return provider.KindUnavailable
}

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// serviceError builds the *provider.Error of a refusal: the service's
// status (or body code), its code and its words, cleaned of secrets.
func (g *Generator) serviceError(model string, status int, code, msg string, header http.Header) *provider.Error {
	msg = g.secrets.Clean(strings.TrimSpace(msg), textutil.MaxMessage)
	e := &provider.Error{Kind: kindForStatus(status, msg), Provider: g.name, Model: model, StatusCode: status,
		Code: g.secrets.Clean(code, 100), Message: msg}
	if e.Kind == provider.KindRateLimited || e.Kind == provider.KindUnavailable {
		if d, ok := hint.FromHeader(header, g.clock.Now()); ok {
			e.RetryAfter = d
		} else if d, ok := hint.FromMessage(msg); ok {
			e.RetryAfter = d
		}
	}
	return e
}

// transportError classifies a call that got no readable answer.
func (g *Generator) transportError(ctx context.Context, model string, err error) *provider.Error {
	if code, msg, ok := answer.Classify(err, nil); ok {
		e := answer.Error(code, msg, 0)
		e.Provider, e.Model = g.name, model
		return e
	}
	kind, what := neterr.Classify(ctx, err)
	return &provider.Error{Kind: kind, Provider: g.name, Model: model, Message: what,
		Err: g.secrets.Wrap(err)}
}

// malformed is a successful answer that is not what the protocol promises.
func (g *Generator) malformed(model string, status int, format string, args ...any) *provider.Error {
	e := answer.Error(answer.CodeMalformed, g.secrets.Clean("malformed answer: "+fmt.Sprintf(format, args...), textutil.MaxMessage), status)
	e.Provider, e.Model = g.name, model
	return e
}

// ambiguous reports whether a failed submit may have created the task
// anyway: the request may have reached the service and no answer says
// otherwise. A refusal the service answered (4xx, a Kie code in a 200
// body) created nothing; a 5xx or a lost answer may have.
func ambiguous(err error) bool {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return true
	}
	if pe.Code == answer.CodeMalformed || pe.Code == answer.CodeTooLarge {
		return true // an answer came, but not one that says
	}
	switch pe.Kind {
	case provider.KindUnavailable, provider.KindTimeout, provider.KindUnknown:
		return pe.StatusCode == 0 || pe.StatusCode >= 500
	}
	return false
}

// outcomeUnknown wraps a failed submit that may have created a task the
// service offers no way to find.
func (g *Generator) outcomeUnknown(model string, cause error) *provider.Error {
	return &provider.Error{Kind: provider.KindUnknown, Provider: g.name, Model: model, Code: CodeOutcomeUnknown,
		Message: fmt.Sprintf("the submit failed (%v) after it may have reached %s, which has no way to look a task up: not retried, since a second task could run beside the first; a callback, if configured, reports it", cause, g.name),
		Err:     ErrOutcomeUnknown}
}

// withCause returns a copy of e whose cause is sentinel, keeping e's own
// cause in the text.
func withCause(e *provider.Error, sentinel error) *provider.Error {
	c := *e
	if c.Err != nil && c.Err != sentinel {
		c.Err = fmt.Errorf("%w: %w", sentinel, c.Err)
	} else {
		c.Err = sentinel
	}
	return &c
}

// stillRunning is the error of a wait that ended while a task the service
// cannot cancel runs on.
func (g *Generator) stillRunning(model string, ids []string, cause error) *provider.Error {
	kind := provider.KindTimeout
	if errors.Is(cause, context.Canceled) {
		kind = provider.KindUnknown // the caller's own cancellation: never retried
	}
	return &provider.Error{Kind: kind, Provider: g.name, Model: model, Code: CodeStillRunning,
		Message: fmt.Sprintf("gave up waiting for task %s, which keeps running on %s (it cannot be cancelled there): a retry of the same request resumes it; Submit and Resume keep it across restarts",
			strings.Join(ids, ", "), g.name),
		Err: fmt.Errorf("%w: %w", ErrStillRunning, cause)}
}

// clampHint keeps a service's back-off hint within internal/hint's rule.
func clampHint(d time.Duration) time.Duration {
	v, _ := hint.Clamp(d)
	return v
}
