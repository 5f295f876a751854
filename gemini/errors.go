package gemini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/hint"
	"github.com/imagegen-go/imagegen/internal/secret"
	"github.com/imagegen-go/imagegen/provider"
)

// mapError turns whatever genai returned into a *provider.Error.
func (g *Generator) mapError(ctx context.Context, model string, err error, rec *capture.Record) error {
	e := &provider.Error{Provider: g.name, Model: model, Err: err}
	var ae genai.APIError // genai returns APIError by value
	var aep *genai.APIError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &aep):
		ae = *aep
	default:
		g.classifyTransport(ctx, e, err)
		e.Message = secret.Redact(e.Message, g.secrets...)
		e.Err = redactedError{err, g.secrets}
		return e
	}
	status, header := rec.Last()
	e.StatusCode = ae.Code
	if e.StatusCode == 0 {
		e.StatusCode = status
	}
	e.Code = ae.Status
	if strings.Contains(e.Code, " ") { // non-JSON body: Status holds "502 Bad Gateway"
		e.Code = ""
	}
	e.Message = cleanMessage(ae.Message)
	d := parseDetails(ae.Details)
	e.Kind = classify(e.StatusCode, e.Code, e.Message, d)
	if e.Kind == provider.KindModelRetired || e.Kind == provider.KindModelNotFound {
		g.explainMissingModel(e, model)
	}
	if d.retryDelay > 0 {
		e.RetryAfter = d.retryDelay
	} else if h, ok := hint.FromHeader(header, g.now()); ok {
		e.RetryAfter = h
	} else if h, ok := hint.FromMessage(e.Message); ok {
		e.RetryAfter = h
	}
	e.Message = secret.Redact(e.Message, g.secrets...)
	// The message already says what genai's error says, at length and
	// with raw bodies; keep genai's error for errors.As but not its text.
	e.Err = quietError{err}
	return e
}

// quietError keeps a cause in the chain without repeating its text.
type quietError struct{ err error }

func (q quietError) Error() string { return "" }
func (q quietError) Unwrap() error { return q.err }

// redactedError keeps the cause in the chain for errors.As while keeping
// the key out of its text.
type redactedError struct {
	err     error
	secrets []string
}

func (r redactedError) Error() string { return secret.Redact(r.err.Error(), r.secrets...) }
func (r redactedError) Unwrap() error { return r.err }

// details is what we read from google.rpc error details.
type details struct {
	retryDelay time.Duration
	perDay     bool
	quotaIDs   []string
	reason     string // ErrorInfo.reason, e.g. API_KEY_INVALID
}

func parseDetails(ds []map[string]any) details {
	var d details
	for _, m := range ds {
		typ, _ := m["@type"].(string)
		switch {
		case strings.HasSuffix(typ, "google.rpc.RetryInfo"):
			if s, ok := m["retryDelay"].(string); ok {
				d.retryDelay, _ = hint.Duration(s)
			}
		case strings.HasSuffix(typ, "google.rpc.QuotaFailure"):
			vs, _ := m["violations"].([]any)
			for _, v := range vs {
				vm, _ := v.(map[string]any)
				id, _ := vm["quotaId"].(string)
				metric, _ := vm["quotaMetric"].(string)
				d.quotaIDs = append(d.quotaIDs, id)
				if strings.Contains(id, "PerDay") || strings.Contains(metric, "per_day") {
					d.perDay = true
				}
			}
		case strings.HasSuffix(typ, "google.rpc.ErrorInfo"):
			d.reason, _ = m["reason"].(string)
		}
	}
	return d
}

var limitZero = regexp.MustCompile(`(?i)\blimit:\s*0\b`)

// classify decides the Kind of an HTTP error from Google's envelope.
func classify(status int, code, msg string, d details) provider.Kind {
	lower := strings.ToLower(msg)
	switch {
	case d.reason == "API_KEY_INVALID" || strings.Contains(lower, "api key not valid") || code == "UNAUTHENTICATED" || code == "PERMISSION_DENIED" || status == 401 || status == 403:
		return provider.KindAuth
	case status == 402:
		return provider.KindQuotaExhausted
	case status == 429 || code == "RESOURCE_EXHAUSTED":
		// Every Gemini 429 says "check your plan and billing details", so
		// only the quota ID or a zero limit tells a daily quota apart.
		if d.perDay || limitZero.MatchString(msg) || strings.Contains(lower, "prepayment") || strings.Contains(lower, "credits are depleted") {
			return provider.KindQuotaExhausted
		}
		return provider.KindRateLimited
	case status == 404 || code == "NOT_FOUND":
		if strings.Contains(lower, "model") {
			return provider.KindModelRetired // refined by explainMissingModel
		}
		return provider.KindModelNotFound
	case status == 400 && (strings.Contains(lower, "responsible ai") || strings.Contains(lower, "safety") && strings.Contains(lower, "prompt")):
		return provider.KindContentBlocked
	case status == 400 || code == "INVALID_ARGUMENT" || code == "FAILED_PRECONDITION":
		return provider.KindInvalidRequest
	case status == 408 || status == 504 || code == "DEADLINE_EXCEEDED":
		return provider.KindTimeout
	case status >= 500:
		return provider.KindUnavailable
	}
	return provider.KindUnknown
}

// explainMissingModel uses the catalog to tell a retired model (with its
// live replacement) from one that never existed.
func (g *Generator) explainMissingModel(e *provider.Error, model string) {
	live, _, err := g.catalog.Resolve(model, g.now())
	m, known := g.catalog.Lookup(model)
	switch {
	case !known:
		e.Kind = provider.KindModelNotFound
	case err == nil && live != nil && live.ID != m.ID:
		e.Kind = provider.KindModelRetired
		e.Message = fmt.Sprintf("%s; use %s", e.Message, live.ID)
	default:
		// The catalog thinks the model is live; the provider disagrees.
		e.Kind = provider.KindModelRetired
	}
}

// classifyTransport handles failures without an HTTP answer or with an
// answer genai could not decode.
func (g *Generator) classifyTransport(ctx context.Context, e *provider.Error, err error) {
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		e.Kind, e.Message = provider.KindUnknown, "cancelled"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		e.Kind, e.Message = provider.KindTimeout, "no answer before the deadline"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED):
		e.Kind, e.Message = provider.KindUnavailable, "connection failed: "+err.Error()
	default:
		e.Kind, e.Message = provider.KindUnavailable, "unreadable answer: "+err.Error()
	}
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

// cleanMessage shortens an HTML error page from a proxy to its text.
func cleanMessage(msg string) string {
	msg = strings.TrimSpace(msg)
	if strings.HasPrefix(msg, "<") {
		msg = strings.Join(strings.Fields(htmlTag.ReplaceAllString(msg, " ")), " ")
		if msg == "" {
			msg = "non-JSON error page"
		}
	}
	return truncate(msg, 500)
}
