// Package googleerr reads Google's JSON error envelope,
// {"error":{"code","message","status","details"}}, and classifies it into a
// provider.Kind. The gemini and imagen adapters share it: the first gets
// the envelope from genai.APIError, the second reads it from the body of
// its own :predict calls.
package googleerr

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/imagegen-go/imagegen/internal/hint"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// Details is what the adapters read from google.rpc error details.
type Details struct {
	RetryDelay time.Duration // google.rpc.RetryInfo retryDelay
	PerDay     bool          // a QuotaFailure violation is a per-day quota
	QuotaIDs   []string      // QuotaFailure violations' quotaId, in order
	Reason     string        // google.rpc.ErrorInfo reason, e.g. API_KEY_INVALID
	// ZeroQuota: a QuotaFailure violation has quotaValue 0 (a string in
	// Google's JSON; a number is accepted too): the project has no quota.
	ZeroQuota bool
	// FreeTier: a violation's quotaMetric or quotaId names the free tier
	// ("generate_content_free_tier_requests", "...-FreeTier").
	FreeTier bool
}

// CodeFreeTierNoQuota is the provider.Error Code the adapters give a 429
// that says the project has no quota at all for the model: "limit: 0" in
// the message, or quotaValue "0" in a QuotaFailure violation. Google sends
// it to free-tier projects for models the free tier does not include (and,
// by mistake, to some paid projects). Its Kind is KindQuotaExhausted and it
// carries no RetryAfter: the RetryInfo Google attaches ("retry in 10s") is
// wrong, and unlike a daily quota it does not come back at midnight.
const CodeFreeTierNoQuota = "FREE_TIER_NO_QUOTA"

// ParseDetails reads the details of an error envelope. Unknown detail
// types and malformed entries are ignored.
func ParseDetails(ds []map[string]any) Details {
	var d Details
	for _, m := range ds {
		typ, _ := m["@type"].(string)
		switch {
		case strings.HasSuffix(typ, "google.rpc.RetryInfo"):
			if s, ok := m["retryDelay"].(string); ok {
				d.RetryDelay, _ = hint.Duration(s)
			}
		case strings.HasSuffix(typ, "google.rpc.QuotaFailure"):
			vs, _ := m["violations"].([]any)
			for _, v := range vs {
				vm, _ := v.(map[string]any)
				id, _ := vm["quotaId"].(string)
				metric, _ := vm["quotaMetric"].(string)
				d.QuotaIDs = append(d.QuotaIDs, id)
				if strings.Contains(id, "PerDay") || strings.Contains(metric, "per_day") {
					d.PerDay = true
				}
				if strings.Contains(metric, "free_tier") || strings.Contains(id, "FreeTier") {
					d.FreeTier = true
				}
				switch v := vm["quotaValue"].(type) {
				case string:
					d.ZeroQuota = d.ZeroQuota || strings.TrimSpace(v) == "0"
				case float64:
					d.ZeroQuota = d.ZeroQuota || v == 0
				}
			}
		case strings.HasSuffix(typ, "google.rpc.ErrorInfo"):
			d.Reason, _ = m["reason"].(string)
		}
	}
	return d
}

// limitZero matches "limit: 0" as Google's 429 messages print it
// ("..., limit: 0, model: gemini-2.0-flash"), not "limit: 0.5" or "limit: 05".
var limitZero = regexp.MustCompile(`(?i)\blimit:\s*0(?:[,;\s]|$)`)

// NoQuota reports whether an error envelope says the project has no quota
// at all for the model: a 429 (or RESOURCE_EXHAUSTED) whose message says
// "limit: 0" or whose QuotaFailure has a violation with quotaValue 0. Both
// shapes occur: the first is the common one, with RetryInfo and
// per-minute quota IDs beside per-day ones; the second carries no text.
func NoQuota(status int, code, msg string, d Details) bool {
	if status != 429 && code != "RESOURCE_EXHAUSTED" {
		return false
	}
	return d.ZeroQuota || limitZero.MatchString(msg)
}

// MarkNoQuota turns e into the CodeFreeTierNoQuota error when its envelope
// says the project has no quota for the model (see NoQuota), and reports
// whether it did: KindQuotaExhausted, no RetryAfter, and a message that
// says so and what to do before Google's own. Call it after e's Kind,
// Code, Message and RetryAfter are set from the answer.
func MarkNoQuota(e *provider.Error, d Details) bool {
	if e == nil || !NoQuota(e.StatusCode, e.Code, e.Message, d) {
		return false
	}
	what := "the project has no quota for this model (limit: 0)"
	if d.FreeTier || strings.Contains(strings.ToLower(e.Message), "free_tier") {
		what = "the model has no free-tier quota (limit: 0)"
	}
	e.Kind, e.Code, e.RetryAfter = provider.KindQuotaExhausted, CodeFreeTierNoQuota, 0
	google := strings.TrimSpace(retryIn.ReplaceAllString(e.Message, " "))
	e.Message = textutil.Truncate(what+"; waiting does not help: enable billing for the project or use another model. Google says: "+google, MaxMessage)
	return true
}

// retryIn is the "Please retry in 10.689924287s." Google appends to a 429
// message, wrong for a zero quota.
var retryIn = regexp.MustCompile(`(?i)\s*please retry in [0-9.]+\s*[a-zµ]*s\.?`)

// Classify decides the Kind of an HTTP error from Google's envelope: the
// HTTP status, the envelope's status code ("RESOURCE_EXHAUSTED"), its
// message and details.
//
// A 404 whose message speaks of a model is KindModelRetired: the caller
// refines it with its catalog (a model that never existed is
// KindModelNotFound). Every Gemini 429 says "check your plan and billing
// details", so only a per-day quota ID, a zero limit (see NoQuota) or
// depleted prepaid credit makes a 429 KindQuotaExhausted; the rest are
// KindRateLimited.
// Any other 4xx is KindInvalidRequest, and anything else (5xx, or a
// status an answer made up) KindUnavailable: never KindUnknown.
func Classify(status int, code, msg string, d Details) provider.Kind {
	lower := strings.ToLower(msg)
	switch {
	case d.Reason == "API_KEY_INVALID" || strings.Contains(lower, "api key not valid") || code == "UNAUTHENTICATED" || code == "PERMISSION_DENIED" || status == 401 || status == 403:
		return provider.KindAuth
	case status == 402:
		return provider.KindQuotaExhausted
	case status == 429 || code == "RESOURCE_EXHAUSTED":
		if d.PerDay || NoQuota(status, code, msg, d) || strings.Contains(lower, "prepayment") || strings.Contains(lower, "credits are depleted") {
			return provider.KindQuotaExhausted
		}
		return provider.KindRateLimited
	case status == 404 || code == "NOT_FOUND":
		if strings.Contains(lower, "model") {
			return provider.KindModelRetired
		}
		return provider.KindModelNotFound
	case status == 400 && (strings.Contains(lower, "responsible ai") || strings.Contains(lower, "safety") && strings.Contains(lower, "prompt")):
		return provider.KindContentBlocked
	case status == 400 || code == "INVALID_ARGUMENT" || code == "FAILED_PRECONDITION":
		return provider.KindInvalidRequest
	case status == 408 || status == 504 || code == "DEADLINE_EXCEEDED":
		return provider.KindTimeout
	case status == 409 || code == "ABORTED" || code == "UNAVAILABLE" || code == "INTERNAL":
		return provider.KindUnavailable
	case status >= 400 && status < 500:
		return provider.KindInvalidRequest
	}
	// 5xx, and anything else an answer may claim: the provider's trouble.
	return provider.KindUnavailable
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

// MaxMessage is the longest message CleanMessage returns, in bytes.
const MaxMessage = textutil.MaxMessage

// CleanMessage trims a message and shortens an HTML error page from a
// proxy to its text, at most MaxMessage bytes. Redact secrets before: a
// cut must not leave part of a key behind.
func CleanMessage(msg string) string {
	msg = strings.TrimSpace(msg)
	if strings.HasPrefix(msg, "<") {
		msg = strings.Join(strings.Fields(htmlTag.ReplaceAllString(msg, " ")), " ")
		if msg == "" {
			msg = "non-JSON error page"
		}
	}
	return textutil.Truncate(msg, MaxMessage)
}

// ParseBody reads Google's error envelope {"error":{...}} from an HTTP
// response body (also the one-element list [{"error":{...}}] that
// streaming endpoints send). ok is false when the body is not such an
// envelope: an HTML page, an empty body, another JSON shape.
func ParseBody(body []byte) (code int, status, message string, details []map[string]any, ok bool) {
	body = bytes.TrimSpace(body)
	var env envelope
	switch {
	case len(body) == 0:
		return 0, "", "", nil, false
	case body[0] == '[':
		var list []envelope
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return 0, "", "", nil, false
		}
		env = list[0]
	case body[0] == '{':
		if json.Unmarshal(body, &env) != nil {
			return 0, "", "", nil, false
		}
	default:
		return 0, "", "", nil, false
	}
	if env.Error == nil {
		return 0, "", "", nil, false
	}
	e := env.Error
	return e.Code, e.Status, e.Message, e.Details, true
}

type envelope struct {
	Error *struct {
		Code    int              `json:"code"`
		Message string           `json:"message"`
		Status  string           `json:"status"`
		Details []map[string]any `json:"details"`
	} `json:"error"`
}

// rpcCodes maps google.rpc.Code numbers to their names and the HTTP status
// Google's REST mapping gives them.
var rpcCodes = map[int]struct {
	name   string
	status int
}{
	1: {"CANCELLED", 499}, 2: {"UNKNOWN", 500}, 3: {"INVALID_ARGUMENT", 400}, 4: {"DEADLINE_EXCEEDED", 504},
	5: {"NOT_FOUND", 404}, 6: {"ALREADY_EXISTS", 409}, 7: {"PERMISSION_DENIED", 403}, 8: {"RESOURCE_EXHAUSTED", 429},
	9: {"FAILED_PRECONDITION", 400}, 10: {"ABORTED", 409}, 11: {"OUT_OF_RANGE", 400}, 12: {"UNIMPLEMENTED", 501},
	13: {"INTERNAL", 500}, 14: {"UNAVAILABLE", 503}, 15: {"DATA_LOSS", 500}, 16: {"UNAUTHENTICATED", 401},
}

// ClassifyRPC classifies a google.rpc.Status given by its numeric code, as
// batch jobs report per-item failures. It returns the Kind, the code's name
// and its HTTP equivalent.
func ClassifyRPC(code int, msg string) (kind provider.Kind, name string, status int) {
	c, ok := rpcCodes[code]
	if !ok {
		return provider.KindUnknown, "", 0
	}
	return Classify(c.status, c.name, msg, Details{}), c.name, c.status
}
