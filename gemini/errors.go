package gemini

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/googleerr"
	"github.com/imagegen-go/imagegen/internal/hint"
	"github.com/imagegen-go/imagegen/internal/neterr"
	"github.com/imagegen-go/imagegen/internal/secret"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// CodeFreeTierNoQuota is the Code of the *provider.Error (kind
// provider.KindQuotaExhausted, matching provider.ErrQuotaExhausted) for a
// 429 saying the project has no quota at all for the model: "limit: 0" in
// the message or quotaValue "0" in its QuotaFailure. The free tier does not
// include the model; enable billing or use another model. It has no
// RetryAfter, so retry does not repeat the call, and ratelimit does not
// pause the day for it: no wait, not even until midnight, brings quota.
const CodeFreeTierNoQuota = googleerr.CodeFreeTierNoQuota

// mapError turns whatever genai returned into a *provider.Error. Every
// text taken from the answer is redacted, then cut.
func (g *Generator) mapError(ctx context.Context, model string, err error, rec *capture.Record) error {
	status, header := rec.Last()
	if e, ok := answer.Classified(ctx, err, rec, g.redact.Clean, g.name, model); ok {
		return e
	}
	if re := (*relayError)(nil); errors.As(err, &re) || errors.As(rec.Err(), &re) {
		return g.relayError(model, re, err)
	}
	e := &provider.Error{Provider: g.name, Model: model, Err: err}
	var ae genai.APIError // genai returns APIError by value
	var aep *genai.APIError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &aep) && aep != nil:
		ae = *aep
	default:
		g.classifyTransport(ctx, e, err, rec.Calls() == 0)
		if e.Code == answer.CodeMalformed {
			e.StatusCode = status
		}
		e.Message = g.redact.Clean(e.Message, textutil.MaxMessage)
		e.Err = g.redact.Wrap(err)
		return e
	}
	// The status the transport saw is the truth; the envelope's code is
	// only a hint when there was none (an answer can claim any code).
	e.StatusCode = status
	if e.StatusCode == 0 && ae.Code >= 100 && ae.Code <= 599 {
		e.StatusCode = ae.Code
	}
	e.Code = ae.Status
	if strings.Contains(e.Code, " ") { // non-JSON body: Status holds "502 Bad Gateway"
		e.Code = ""
	}
	if e.Code == "" && len(ae.Details) == 0 {
		// genai reads only {"error":{...}}: the one-element list that
		// streaming endpoints and some proxies send lands in Message.
		if _, st, msg, details, ok := googleerr.ParseBody([]byte(ae.Message)); ok {
			e.Code, ae.Message, ae.Details = st, msg, details
		}
	}
	e.Code = textutil.Truncate(g.redact.Redact(e.Code), 100)
	e.Message = googleerr.CleanMessage(g.redact.Redact(ae.Message)) // redact before cutting, or a cut key survives
	if rec.Cut() {
		e.Message += " (error body cut at 1 MiB)"
	}
	d := googleerr.ParseDetails(ae.Details)
	e.Kind = googleerr.Classify(e.StatusCode, e.Code, e.Message, d)
	if e.Kind == provider.KindModelRetired || e.Kind == provider.KindModelNotFound {
		g.explainMissingModel(e, model)
	}
	if d.RetryDelay > 0 {
		e.RetryAfter = d.RetryDelay
	} else if h, ok := hint.FromHeader(header, g.now()); ok {
		e.RetryAfter = h
	} else if h, ok := hint.FromMessage(e.Message); ok {
		e.RetryAfter = h
	}
	googleerr.MarkNoQuota(e, d) // "limit: 0": CodeFreeTierNoQuota, never retried
	// The message already says what genai's error says, at length and
	// with raw bodies; keep genai's error for errors.As but not its text.
	e.Err = secret.Quiet(err)
	return e
}

// relayError classifies an error envelope sent with HTTP 200: by its own
// code when it is an HTTP status, else as the provider's trouble.
func (g *Generator) relayError(model string, re *relayError, err error) error {
	status := re.code
	if status < 400 || status > 599 {
		status = 500
	}
	e := &provider.Error{Provider: g.name, Model: model, StatusCode: status, Code: textutil.Truncate(g.redact.Redact(re.status), 100),
		Message: googleerr.CleanMessage(g.redact.Redact(re.message)), Err: secret.Quiet(err)}
	d := googleerr.ParseDetails(re.details)
	e.Kind = googleerr.Classify(status, re.status, e.Message, d)
	if e.Kind == provider.KindModelRetired || e.Kind == provider.KindModelNotFound {
		g.explainMissingModel(e, model)
	}
	if d.RetryDelay > 0 {
		e.RetryAfter = d.RetryDelay
	} else if h, ok := hint.FromMessage(e.Message); ok {
		e.RetryAfter = h
	}
	googleerr.MarkNoQuota(e, d)
	return e
}

// explainMissingModel uses the catalog to tell a retired model (with its
// live replacement) from one that never existed.
func (g *Generator) explainMissingModel(e *provider.Error, model string) {
	var use string
	e.Kind, use = g.catalog.ExplainMissing(model, g.now())
	if use != "" {
		e.Message = fmt.Sprintf("%s; use %s", e.Message, use)
	}
}

// classifyTransport handles failures without an HTTP answer or with an
// answer genai could not decode. notSent is true when no request reached
// the transport: genai refused the request itself.
func (g *Generator) classifyTransport(ctx context.Context, e *provider.Error, err error, notSent bool) {
	e.Kind, e.Message = neterr.Classify(ctx, err)
	switch {
	case notSent && e.Kind == provider.KindUnavailable:
		e.Kind, e.Message = provider.KindInvalidRequest, "genai refused the request before sending it: "+g.redact.Redact(err.Error())
	case e.Kind == provider.KindUnavailable:
		if e.Message == "malformed answer" || e.Message == "truncated answer" {
			e.Code = answer.CodeMalformed
		}
		e.Message += ": " + g.redact.Redact(err.Error())
	}
}
