package openaicompat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/fetch"
	"github.com/imagegen-go/imagegen/internal/hint"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/internal/neterr"
	"github.com/imagegen-go/imagegen/internal/secret"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// post sends one request and decodes a 2xx JSON answer into out. Errors
// come back as *provider.Error. It returns the upstream calls made.
//
// The transport caps the answer (Config.MaxResponseBytes, after
// decompression) and cuts an error body at 1 MiB. A successful answer of
// at least StreamThreshold bytes is rewritten by internal/jsonimg as it
// streams in; the Result it returns maps the markers left in out to the
// decoded payloads (nil otherwise). An empty, truncated or non-object
// body is answer.CodeMalformed.
func (g *Generator) post(ctx context.Context, p *plan, path, contentType string, body []byte, out any) (int, *jsonimg.Result, error) {
	resp, rec, calls, err := g.send(ctx, p, path, contentType, "application/json", body)
	if err != nil {
		return calls, nil, err
	}
	defer resp.Body.Close()
	streamed, err := g.decodeAnswer(ctx, p, resp, rec, out)
	return calls, streamed, err
}

// send makes one call and returns its 2xx answer, whose body the caller
// closes; any other status is read (at most 1 MiB) and returned as a
// *provider.Error. It returns the upstream calls made.
func (g *Generator) send(ctx context.Context, p *plan, path, contentType, accept string, body []byte) (*http.Response, *capture.Record, int, error) {
	ctx, rec := capture.WithRecord(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, rec, 0, g.invalid(p.id, "", "building the request: %v", g.secrets.Redact(err.Error()))
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", accept)
	resp, err := g.http.Do(req)
	calls := max(rec.Calls(), 1)
	if err != nil {
		return nil, rec, calls, g.transportError(ctx, p.id, err, rec)
	}
	// Headers as the transport saw them (Retry-After, x-ratelimit-*).
	status, header := rec.Last()
	if status == 0 {
		status, header = resp.StatusCode, resp.Header
	}
	if status < 200 || status > 299 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body) // the transport stops it at 1 MiB
		err := g.httpError(ctx, p.id, status, header, raw, calls)
		if pe, ok := err.(*provider.Error); ok && rec.Cut() {
			pe.Message += " (error body cut at 1 MiB)"
		}
		return nil, rec, calls, err
	}
	return resp, rec, calls, nil
}

// decodeAnswer decodes a 2xx JSON answer into out (see post).
func (g *Generator) decodeAnswer(ctx context.Context, p *plan, resp *http.Response, rec *capture.Record, out any) (*jsonimg.Result, error) {
	data, streamed, err := jsonimg.Read(resp.Body, resp.ContentLength, g.streamThreshold(), jsonimg.OpenAI, answer.JSONCap(g.maxResponse))
	if err == nil {
		err = decodeObject(data, out)
	}
	if err != nil {
		return nil, g.transportError(ctx, p.id, err, rec)
	}
	return streamed, nil
}

// decodeObject decodes data, a whole successful answer, into out, with
// the errors of answer.CheckObject for anything that is not a JSON
// object. json.Unmarshal validates all of data before decoding, so the
// separate pass of CheckObject over every byte (the images' base64
// included) is made only when decoding failed, to say why.
func decodeObject(data []byte, out any) error {
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return answer.CheckObject(data)
	}
	_, err := answer.Guard(func() (struct{}, error) { return struct{}{}, json.Unmarshal(data, out) })
	if err != nil {
		if cerr := answer.CheckObject(data); cerr != nil {
			return cerr
		}
	}
	return err
}

// httpError decodes an error answer the way go-openai does (an
// ErrorResponse envelope becomes *openai.APIError, anything else
// *openai.RequestError) and classifies it.
func (g *Generator) httpError(ctx context.Context, model string, status int, header http.Header, raw []byte, calls int) error {
	var env struct {
		Error wireError `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err == nil && env.Error.e != nil {
		env.Error.e.HTTPStatusCode = status
		env.Error.e.HTTPStatus = http.StatusText(status)
		return g.apiError(ctx, model, status, header, env.Error.e, calls)
	}
	re := &openai.RequestError{HTTPStatusCode: status, HTTPStatus: http.StatusText(status), Body: raw, Err: errors.New("non-JSON error body")}
	e := &provider.Error{Provider: g.name, Model: model, StatusCode: status, Kind: kindForStatus(status, "", ""), Err: secret.Quiet(re)}
	e.Message = bodyText(g.secrets.Redact(string(raw)), status) // redact before cutting
	if e.Kind == provider.KindRateLimited || e.Kind == provider.KindUnavailable {
		e.RetryAfter = g.retryHint(header, e.Message)
	}
	return e
}

// apiError classifies an OpenAI error envelope.
func (g *Generator) apiError(_ context.Context, model string, status int, header http.Header, ae *openai.APIError, _ int) error {
	code := ""
	switch c := ae.Code.(type) {
	case string:
		code = c
	case nil:
	default:
		code = fmt.Sprint(c)
	}
	e := &provider.Error{Provider: g.name, Model: model, StatusCode: status, Code: code, Err: secret.Quiet(ae)}
	if status == 0 {
		e.StatusCode = ae.HTTPStatusCode
	}
	e.Message = textutil.Truncate(redactKeyMention(g.secrets.Redact(strings.TrimSpace(ae.Message))), textutil.MaxMessage)
	if e.Code == "" && ae.Type != "" && ae.Type != "invalid_request_error" {
		e.Code = ae.Type
	}
	e.Code = textutil.Truncate(g.secrets.Redact(e.Code), 100)
	e.Kind = kindForStatus(e.StatusCode, strings.ToLower(code)+" "+strings.ToLower(ae.Type), strings.ToLower(ae.Message))
	switch e.Kind {
	case provider.KindModelNotFound, provider.KindModelRetired:
		g.explainMissingModel(e, model)
	case provider.KindRateLimited, provider.KindUnavailable, provider.KindQuotaExhausted:
		e.RetryAfter = g.retryHint(header, ae.Message)
	}
	return e
}

// kindForStatus maps a status, the error's code and type (space-joined,
// lower case) and its message to a Kind.
func kindForStatus(status int, codeType, msg string) provider.Kind {
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(codeType, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("moderation_blocked", "content_policy_violation", "content_filter"),
		strings.Contains(msg, "safety system"):
		return provider.KindContentBlocked
	case has("insufficient_quota", "billing"), strings.Contains(msg, "exceeded your current quota"):
		return provider.KindQuotaExhausted
	case has("model_not_found"):
		return provider.KindModelNotFound
	case has("invalid_api_key"):
		return provider.KindAuth
	}
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return provider.KindAuth
	case status == http.StatusPaymentRequired:
		return provider.KindQuotaExhausted
	case status == http.StatusNotFound:
		if strings.Contains(msg, "model") {
			return provider.KindModelNotFound
		}
		return provider.KindInvalidRequest // a wrong BaseURL or Mode
	case status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return provider.KindTimeout
	case status == http.StatusTooManyRequests:
		return provider.KindRateLimited
	case status >= 500, status == http.StatusConflict:
		return provider.KindUnavailable
	case status >= 400:
		return provider.KindInvalidRequest
	}
	return provider.KindUnavailable
}

// retryHint reads the back-off hint: Retry-After (seconds or an HTTP date),
// retry-after-ms, x-ratelimit-reset-*, else "try again in 12s" in the text.
func (g *Generator) retryHint(h http.Header, msg string) time.Duration {
	if v, ok := hint.FromHeader(h, g.now()); ok {
		return v
	}
	if v, ok := hint.FromMessage(msg); ok {
		return v
	}
	return 0
}

// explainMissingModel uses the catalog to tell a retired model (naming its
// live replacement) from one that never existed.
func (g *Generator) explainMissingModel(e *provider.Error, model string) {
	var use string
	e.Kind, use = g.catalog.ExplainMissing(catalogID(model), g.now())
	if use != "" {
		e.Message = fmt.Sprintf("%s; use %s", e.Message, use)
	}
}

// transportError handles failures without a usable HTTP answer: an
// answer over its cap, a malformed one, the network.
func (g *Generator) transportError(ctx context.Context, model string, err error, rec *capture.Record) error {
	status, _ := rec.Last()
	if code, msg, ok := answer.Classify(err, rec); ok && ctx.Err() == nil {
		e := answer.Error(code, g.secrets.Clean(msg, textutil.MaxMessage), status)
		e.Provider, e.Model, e.Err = g.name, model, secret.Quiet(err)
		return e
	}
	e := &provider.Error{Provider: g.name, Model: model, Err: g.secrets.Wrap(err)}
	e.Kind, e.Message = neterr.Classify(ctx, err)
	if e.Message == "malformed answer" || e.Message == "truncated answer" {
		e.Code, e.StatusCode = answer.CodeMalformed, status
		e.Message = g.secrets.Clean(e.Message+": "+err.Error(), textutil.MaxMessage)
	}
	return e
}

// fetchError turns a failed download into a *provider.Error: a policy
// refusal is ErrInvalidRequest (retrying cannot help; the caller's policy
// decides), a download that failed is ErrUnavailable (ErrTimeout when slow).
func (g *Generator) fetchError(model string, err error) *provider.Error {
	e := &provider.Error{Provider: g.name, Model: model, Kind: provider.KindUnavailable, Code: "image_download", Message: g.secrets.Clean(err.Error(), textutil.MaxMessage), Err: g.secrets.Wrap(err)}
	var fe *fetch.Error
	if errors.As(err, &fe) {
		switch fe.Reason {
		case fetch.ReasonBlocked:
			e.Kind, e.Code = provider.KindInvalidRequest, "url_blocked"
		case fetch.ReasonTimeout:
			e.Kind = provider.KindTimeout
		}
	} else if errors.Is(err, context.DeadlineExceeded) {
		e.Kind = provider.KindTimeout
	}
	return e
}

// withUsage turns err (from resolving the images of a billed answer) into
// a *provider.Error carrying that usage.
func (g *Generator) withUsage(err error, model string, u provider.Usage, calls int) error {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		pe = g.fetchError(model, err)
	} else {
		c := *pe
		pe = &c
	}
	pe.Usage = &u
	if pe.StatusCode == 0 {
		pe.StatusCode = 200
	}
	return pe
}

// keyMention matches OpenAI's "Incorrect API key provided: sk-abc***xyz",
// whose masked key still shows a prefix and a tail.
var keyMention = regexp.MustCompile(`(?i)(api key provided:\s*)[^\s.,;]+`)

func redactKeyMention(s string) string { return keyMention.ReplaceAllString(s, "${1}[REDACTED]") }

var (
	htmlTitle = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
	spaces    = regexp.MustCompile(`\s+`)
)

// bodyText makes a short message of a non-JSON error body: an HTML page
// becomes its title (or its text), anything else is trimmed.
func bodyText(raw string, status int) string {
	s := strings.TrimSpace(raw)
	if s == "" {
		return http.StatusText(status)
	}
	if strings.HasPrefix(s, "<") {
		if m := htmlTitle.FindStringSubmatch(s); m != nil && strings.TrimSpace(m[1]) != "" {
			s = m[1]
		} else {
			s = htmlTag.ReplaceAllString(s, " ")
		}
		s = html.UnescapeString(s)
	}
	s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	return textutil.Truncate(s, textutil.MaxMessage)
}

// parseCost reads OpenRouter's usage.cost, a JSON number of dollars,
// exactly from its decimal text (big.Rat, no float64), rounded half away
// from zero to a micro-dollar. ok is false when absent; warn says why a
// present value was unusable.
func parseCost(raw json.RawMessage) (c provider.USD, ok bool, warn string) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, false, ""
	}
	s = strings.Trim(s, `"`)
	if v, err := provider.ParseUSD(s); err == nil {
		return v, true, ""
	}
	r, okR := new(big.Rat).SetString(s)
	if !okR {
		return 0, false, fmt.Sprintf("unreadable usage.cost %.40q", s)
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	// Round half away from zero.
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() {
		return 0, false, fmt.Sprintf("usage.cost %.40q out of range", s)
	}
	return provider.USD(q.Int64()), true, ""
}
