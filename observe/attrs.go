package observe

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"

	"github.com/imagegen-go/imagegen/provider"
)

// Attribute keys. The gen_ai.* and error.type keys are those of the
// OpenTelemetry GenAI semantic conventions (development status, schema
// gen-ai 1.42); they are declared here rather than imported from a
// go.opentelemetry.io/otel/semconv version, whose GenAI keys moved out of
// semconv at v1.42.0. The imagegen.* keys are this module's own.
const (
	keyOperation     = attribute.Key("gen_ai.operation.name")
	keyProvider      = attribute.Key("gen_ai.provider.name")
	keyRequestModel  = attribute.Key("gen_ai.request.model")
	keyResponseModel = attribute.Key("gen_ai.response.model")
	keyOutputType    = attribute.Key("gen_ai.output.type")
	keyInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	keyOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	keyTokenType     = attribute.Key("gen_ai.token.type")
	keySeed          = attribute.Key("gen_ai.request.seed")
	keyInputMessages = attribute.Key("gen_ai.input.messages")
	keyErrorType     = attribute.Key("error.type")

	keyImagegenProvider = attribute.Key("imagegen.provider")
	keyCost             = attribute.Key("imagegen.cost")
	keyCached           = attribute.Key("imagegen.cached")
	keyAttempts         = attribute.Key("imagegen.attempts")
	keyRoute            = attribute.Key("imagegen.route")
	keySize             = attribute.Key("imagegen.size")
	keyN                = attribute.Key("imagegen.n")
	keyImages           = attribute.Key("imagegen.images")
	keyScope            = attribute.Key("imagegen.budget.scope")
	keyAttempt          = attribute.Key("imagegen.attempt")
	keyCalls            = attribute.Key("imagegen.calls")
	keyReason           = attribute.Key("imagegen.reason")
	keyWait             = attribute.Key("imagegen.wait")
	keyDuration         = attribute.Key("imagegen.duration")
	keyAmount           = attribute.Key("imagegen.amount")
	keyCacheKey         = attribute.Key("imagegen.cache.key")
	keyCacheResult      = attribute.Key("imagegen.cache.result")
	keyFrom             = attribute.Key("imagegen.breaker.from")
	keyTo               = attribute.Key("imagegen.breaker.to")
	keyLimiterWait      = attribute.Key("imagegen.ratelimit.wait")
	keyRetryWait        = attribute.Key("imagegen.retry.wait")
	keyErrorMessage     = attribute.Key("imagegen.error")
)

// Operation names. The conventions define generate_content (Gemini's
// generateContent) but no image-generation operation yet, so the other
// protocols use a custom value, as they allow.
const (
	opGenerateContent = "generate_content"
	opGenerateImage   = "generate_image"
)

// providerName is the gen_ai.provider.name of an adapter's provider name:
// the conventions' well-known value where one applies, else the name
// itself (relays such as openrouter have none; a custom value is allowed).
func providerName(p string) string {
	switch p {
	case "gemini":
		return "gcp.gemini"
	case "vertex":
		return "gcp.vertex_ai"
	case "imagen":
		return "gcp.gen_ai" // either backend; the adapter does not say which
	case "":
		return "unknown"
	}
	return p
}

// operation is the gen_ai.operation.name of a call to provider p.
func operation(p string) string {
	switch p {
	case "gemini", "vertex":
		return opGenerateContent
	}
	return opGenerateImage
}

// errorTypes are the error.type values, by provider.Kind.
var errorTypes = [...]string{
	provider.KindUnknown:        "_OTHER",
	provider.KindInvalidRequest: "invalid_request",
	provider.KindAuth:           "auth",
	provider.KindModelNotFound:  "model_not_found",
	provider.KindModelRetired:   "model_retired",
	provider.KindRateLimited:    "rate_limited",
	provider.KindQuotaExhausted: "quota_exhausted",
	provider.KindContentBlocked: "content_blocked",
	provider.KindNoImage:        "no_image",
	provider.KindUnavailable:    "unavailable",
	provider.KindTimeout:        "timeout",
	provider.KindBudgetExceeded: "budget_exceeded",
}

// ErrorType returns the error.type this package records for err: "" for
// nil, "canceled" for a cancelled context, else the snake_case name of
// provider.KindOf(err) ("rate_limited", "content_blocked",
// "budget_exceeded", ...; "_OTHER" for KindUnknown). The list is
// closed: these are every value spans, metrics and logs carry.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	k := provider.KindOf(err)
	if int(k) < len(errorTypes) {
		return errorTypes[k]
	}
	return "_OTHER"
}

// inputMessages is the opt-in gen_ai.input.messages value of a prompt:
// one user message with one text part, as JSON.
func inputMessages(prompt string) string {
	type part struct {
		Type    string `json:"type"`
		Content string `json:"content"`
	}
	type message struct {
		Role  string `json:"role"`
		Parts []part `json:"parts"`
	}
	b, _ := json.Marshal([]message{{Role: "user", Parts: []part{{Type: "text", Content: prompt}}}})
	return string(b)
}

// eventAttrs returns the attributes of an event, for span events and log
// lines alike.
func eventAttrs(e provider.Event) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, 8)
	if e.Provider != "" {
		out = append(out, keyProvider.String(providerName(e.Provider)), keyImagegenProvider.String(e.Provider))
	}
	if e.Model != "" {
		out = append(out, keyRequestModel.String(e.Model))
	}
	if e.Route != "" {
		out = append(out, keyRoute.String(e.Route))
	}
	if e.Reason != "" {
		out = append(out, keyReason.String(e.Reason))
	}
	if e.Attempt > 0 {
		out = append(out, keyAttempt.Int(e.Attempt))
	}
	switch e.Kind {
	case provider.EventRouteTried, provider.EventRetryAttempt:
		out = append(out, keyCalls.Int(e.Calls), keyDuration.Float64(e.Duration.Seconds()))
	}
	if e.Wait > 0 {
		out = append(out, keyWait.Float64(e.Wait.Seconds()))
	}
	switch e.Kind {
	case provider.EventBudgetReserved, provider.EventBudgetSettled, provider.EventBudgetRefused, provider.EventBudgetAlert:
		out = append(out, keyAmount.Float64(e.Amount.Dollars()))
	}
	if e.Scope != "" {
		out = append(out, keyScope.String(e.Scope))
	}
	if e.Key != "" {
		out = append(out, keyCacheKey.String(e.Key))
	}
	if e.From != "" || e.To != "" {
		out = append(out, keyFrom.String(e.From), keyTo.String(e.To))
	}
	if e.Err != nil {
		out = append(out, keyErrorType.String(ErrorType(e.Err)), keyErrorMessage.String(e.Err.Error()))
	}
	return out
}

// slogAttrs converts attributes to log attributes, keeping their keys.
func slogAttrs(kvs []attribute.KeyValue, extra ...slog.Attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(kvs)+len(extra))
	for _, kv := range kvs {
		k := string(kv.Key)
		switch kv.Value.Type() {
		case attribute.STRING:
			out = append(out, slog.String(k, kv.Value.AsString()))
		case attribute.INT64:
			out = append(out, slog.Int64(k, kv.Value.AsInt64()))
		case attribute.FLOAT64:
			out = append(out, slog.Float64(k, kv.Value.AsFloat64()))
		case attribute.BOOL:
			out = append(out, slog.Bool(k, kv.Value.AsBool()))
		default:
			out = append(out, slog.Any(k, kv.Value.AsInterface()))
		}
	}
	return append(out, extra...)
}

// eventLevel is the log level of an event: Debug for routine bookkeeping,
// Info for what delays a request, Warn for what fails or refuses one.
func eventLevel(e provider.Event) slog.Level {
	switch e.Kind {
	case provider.EventRouteTried:
		if e.Err != nil {
			return slog.LevelWarn
		}
	case provider.EventRouteSkipped:
		if e.Reason != "cannot serve" {
			return slog.LevelWarn
		}
	case provider.EventBreakerChanged:
		if e.To == "open" {
			return slog.LevelWarn
		}
		return slog.LevelInfo
	case provider.EventRateLimitWaited:
		return slog.LevelInfo
	case provider.EventRetryAttempt:
		switch {
		case e.Err == nil:
		case e.Wait > 0:
			return slog.LevelInfo
		default:
			return slog.LevelWarn
		}
	case provider.EventRateLimitRefused, provider.EventBudgetRefused, provider.EventBudgetAlert, provider.EventCacheError:
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// breakerValue is the imagegen.breaker.state value of a state name, as
// failover.State numbers them.
func breakerValue(state string) int64 {
	switch state {
	case "open":
		return 1
	case "half-open":
		return 2
	}
	return 0
}
