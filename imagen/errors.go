package imagen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
// provider.KindQuotaExhausted) for a 429 saying the project has no quota at
// all for the model ("limit: 0", quotaValue "0"); it equals
// gemini.CodeFreeTierNoQuota. It carries no RetryAfter and is never retried.
const CodeFreeTierNoQuota = googleerr.CodeFreeTierNoQuota

func (g *Generator) redact(s string) string { return g.secrets.Redact(s) }

// httpError maps a non-2xx :predict answer.
func (g *Generator) httpError(model string, status int, header http.Header, body []byte) error {
	code, st, msg, details, ok := googleerr.ParseBody(body)
	if !ok {
		// An HTML page from a proxy, or an empty body.
		msg = string(body)
		if strings.TrimSpace(msg) == "" {
			msg = http.StatusText(status)
		}
		st = ""
	}
	if code == 0 || code != status {
		code = status
	}
	return g.envelopeError(model, code, st, msg, googleerr.ParseDetails(details), header)
}

// envelopeError builds the *provider.Error of Google's error envelope.
func (g *Generator) envelopeError(model string, status int, code, msg string, d googleerr.Details, header http.Header) error {
	e := &provider.Error{Provider: g.name, Model: model, StatusCode: status, Code: textutil.Truncate(g.redact(code), 100),
		Message: googleerr.CleanMessage(g.redact(msg))} // redact before cutting
	e.Kind = googleerr.Classify(status, code, e.Message, d)
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
	e.Message = g.redact(e.Message)
	return e
}

// explainMissingModel uses the catalog to tell a retired model (naming its
// live replacement) from one that never existed.
func (g *Generator) explainMissingModel(e *provider.Error, model string) {
	var use string
	e.Kind, use = g.catalog.ExplainMissing(model, g.now())
	if use != "" {
		e.Message = fmt.Sprintf("%s; use %s", e.Message, use)
	}
}

// mapGenaiError turns whatever genai's GenerateImages returned into a
// *provider.Error.
func (g *Generator) mapGenaiError(ctx context.Context, model string, err error, rec *capture.Record) error {
	var ae genai.APIError // genai returns APIError by value
	var aep *genai.APIError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &aep):
		ae = *aep
	default:
		return g.transportError(ctx, model, err, rec)
	}
	// The status the transport saw is the truth; the envelope's code is
	// only a hint when there was none (an answer can claim any code).
	status, header := rec.Last()
	if status == 0 && ae.Code >= 100 && ae.Code <= 599 {
		status = ae.Code
	}
	code := ae.Status
	if strings.Contains(code, " ") { // non-JSON body: Status holds "502 Bad Gateway"
		code = ""
	}
	e := g.envelopeError(model, status, code, ae.Message, googleerr.ParseDetails(ae.Details), header)
	var pe *provider.Error
	if errors.As(e, &pe) {
		// Keep genai's error for errors.As, without repeating its text.
		pe.Err = secret.Quiet(err)
		if rec.Cut() {
			pe.Message += " (error body cut at 1 MiB)"
		}
	}
	return e
}

// transportError handles failures without a readable HTTP answer: an
// answer over its cap, a malformed one, a panic in genai, the network.
func (g *Generator) transportError(ctx context.Context, model string, err error, rec *capture.Record) error {
	status, _ := rec.Last()
	if e, ok := answer.Classified(ctx, err, rec, g.secrets.Clean, g.name, model); ok {
		return e
	}
	e := &provider.Error{Provider: g.name, Model: model}
	e.Kind, e.Message = neterr.Classify(ctx, err)
	if e.Kind == provider.KindUnavailable {
		if e.Message == "malformed answer" || e.Message == "truncated answer" {
			e.Code, e.StatusCode = answer.CodeMalformed, status
		}
		e.Message = g.secrets.Clean(e.Message+": "+err.Error(), textutil.MaxMessage)
	}
	e.Err = g.secrets.Wrap(err)
	return e
}
