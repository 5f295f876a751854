package providertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// FaultKind says what a Fault does.
type FaultKind int

// The fault kinds; see the constructors of the same names.
const (
	KindNone FaultKind = iota
	KindRateLimited
	KindRateLimitedUntil
	KindDailyQuotaExhausted
	KindQuotaZero
	KindPaymentRequired
	KindModelRetired
	KindUnavailable
	KindProxyHTML502
	KindStatus
	KindSafetyBlock
	KindPromptBlocked
	KindNoImage
	KindPartialFilter
	KindLatency
	KindHang
	KindTruncated
	KindMalformed
	KindReset
	KindStreamReset
	KindStreamHang
	KindStreamMalformed
	KindStreamError
	KindStreamIncomplete
)

// Fault is an injected failure. Build one with a constructor; the
// response it produces follows the wire format of the endpoint it fires
// on. Faults are comparable with ==.
type Fault struct {
	Name   string        // constructor name, for printing
	Kind   FaultKind     // what it does
	Retry  time.Duration // RateLimited: the back-off hint
	Until  time.Time     // RateLimitedUntil: when to retry
	Reason string        // SafetyBlock, PromptBlocked: finish or block reason
	N      int           // PartialFilter: how many predictions are filtered
	Delay  time.Duration // Latency: the added delay
	Code   int           // Status: HTTP status code
	Body   string        // Status: response body
	Header string        // Status: extra headers in wire format ("Key: value\r\n")
}

// String returns the fault's name.
func (f Fault) String() string {
	if f.Name == "" {
		return "none"
	}
	return f.Name
}

// FaultNone serves the call normally; use it in scripted sequences.
func FaultNone() Fault { return Fault{Name: "None"} }

// RateLimited is a per-minute 429: Google RESOURCE_EXHAUSTED with a
// QuotaFailure and RetryInfo "Ns" (on Vertex AI paths without details, as
// Vertex sends it, so retry is not conveyed); OpenAI rate_limit_exceeded
// with Retry-After seconds and x-ratelimit-* headers.
func RateLimited(retry time.Duration) Fault {
	return Fault{Name: "RateLimited", Kind: KindRateLimited, Retry: retry}
}

// RateLimitedUntil is a 429 whose hint points at t: OpenAI sends
// Retry-After as an HTTP date; Google's RetryInfo is t minus Now.
func RateLimitedUntil(t time.Time) Fault {
	return Fault{Name: "RateLimitedUntil", Kind: KindRateLimitedUntil, Until: t}
}

// DailyQuotaExhausted is a per-day 429: Google quotaId
// GenerateRequestsPerDayPerProjectPerModel (with a misleadingly short
// RetryInfo, as the real one has); OpenAI insufficient_quota.
func DailyQuotaExhausted() Fault {
	return Fault{Name: "DailyQuotaExhausted", Kind: KindDailyQuotaExhausted}
}

// QuotaZero is Google's free-tier 429 whose message says "limit: 0"
// (OpenAI: insufficient_quota).
func QuotaZero() Fault { return Fault{Name: "QuotaZero", Kind: KindQuotaZero} }

// PaymentRequired is a 402: Google with status RESOURCE_EXHAUSTED (prepaid
// credit depleted); OpenAI a billing error.
func PaymentRequired() Fault { return Fault{Name: "PaymentRequired", Kind: KindPaymentRequired} }

// ModelRetired is a 404: Google NOT_FOUND "models/X is not found for API
// version V ..." with the version the request used (Vertex AI: "Publisher
// Model `…` was not found ..."); OpenAI model_not_found.
func ModelRetired() Fault { return Fault{Name: "ModelRetired", Kind: KindModelRetired} }

// Unavailable is a 503: Google UNAVAILABLE "The model is overloaded";
// OpenAI server_error.
func Unavailable() Fault { return Fault{Name: "Unavailable", Kind: KindUnavailable} }

// ProxyHTML502 is a 502 with an HTML body from a proxy.
func ProxyHTML502() Fault { return Fault{Name: "ProxyHTML502", Kind: KindProxyHTML502} }

// Status answers with any status, body and headers.
func Status(code int, body string, header http.Header) Fault {
	var b strings.Builder
	_ = header.Write(&b)
	return Fault{Name: "Status(" + strconv.Itoa(code) + ")", Kind: KindStatus, Code: code, Body: body, Header: b.String()}
}

// SafetyBlock is an HTTP 200 block: generateContent gets a candidate with
// finishReason=reason and empty content; predict gets raiFilteredReason
// predictions ("" reason: an empty {} body); OpenAI images a 400
// moderation_blocked; chat completions finish_reason "content_filter".
func SafetyBlock(reason string) Fault {
	return Fault{Name: "SafetyBlock(" + reason + ")", Kind: KindSafetyBlock, Reason: reason}
}

// PromptBlocked refuses the prompt: generateContent promptFeedback.blockReason
// with no candidates; predict a Responsible-AI 400 INVALID_ARGUMENT; OpenAI
// 400 content_policy_violation.
func PromptBlocked(reason string) Fault {
	return Fault{Name: "PromptBlocked(" + reason + ")", Kind: KindPromptBlocked, Reason: reason}
}

// NoImage answers without an image: generateContent finishReason NO_IMAGE
// with a text part; chat a text-only answer; OpenAI images an empty data.
func NoImage() Fault { return Fault{Name: "NoImage", Kind: KindNoImage} }

// PartialFilter makes n predict results carry raiFilteredReason instead of
// bytes.
func PartialFilter(n int) Fault {
	return Fault{Name: "PartialFilter(" + strconv.Itoa(n) + ")", Kind: KindPartialFilter, N: n}
}

// Latency delays (real time) and then serves normally.
func Latency(d time.Duration) Fault {
	return Fault{Name: "Latency(" + d.String() + ")", Kind: KindLatency, Delay: d}
}

// Hang never answers, until the client gives up or the server closes.
func Hang() Fault { return Fault{Name: "Hang", Kind: KindHang} }

// Truncated declares a longer Content-Length than it writes, then closes
// the connection mid-body.
func Truncated() Fault { return Fault{Name: "Truncated", Kind: KindTruncated} }

// Malformed answers 200 with a body that is not valid JSON.
func Malformed() Fault { return Fault{Name: "Malformed", Kind: KindMalformed} }

// Reset closes the TCP connection with SO_LINGER 0 (connection reset by
// peer) before any response.
func Reset() Fault { return Fault{Name: "Reset", Kind: KindReset} }

// The stream faults fire in the middle of a streamed answer (Gemini's
// streamGenerateContent, "stream": true on the OpenAI-style endpoints),
// after the first draft has been sent, or, when the stream has no draft
// (partial_images 0, a model without thoughts), just before the first
// final image. The headers (200, text/event-stream) and the events before
// that point have reached the client. On a call that does not stream, a
// stream fault is used up and the call is served normally, as a content
// fault is on an endpoint without that shape.

// StreamReset closes the connection mid-stream, without ending the
// chunked body: the client reads an unexpected EOF.
func StreamReset() Fault { return Fault{Name: "StreamReset", Kind: KindStreamReset} }

// StreamHang stops sending mid-stream and keeps the connection open until
// the client gives up or the server closes.
func StreamHang() Fault { return Fault{Name: "StreamHang", Kind: KindStreamHang} }

// StreamMalformed sends, mid-stream, an event whose data is cut-off JSON,
// then the rest of the stream: a client must fail, not skip it.
func StreamMalformed() Fault { return Fault{Name: "StreamMalformed", Kind: KindStreamMalformed} }

// StreamError sends an error event mid-stream and ends the stream: OpenAI
// images "event: error" with {"type":"error","error":{"type":"server_error",
// "code":"server_error","message":...,"param":null}}; chat completions a
// chunk with "error" and finish_reason "error" (OpenRouter's shape);
// Gemini a chunk {"error":{"code":503,"message":...,"status":"UNAVAILABLE"}}.
func StreamError() Fault { return Fault{Name: "StreamError", Kind: KindStreamError} }

// StreamIncomplete ends the stream cleanly mid-way, without the final
// image (no *.completed event, no finishReason; chat: no [DONE]).
func StreamIncomplete() Fault { return Fault{Name: "StreamIncomplete", Kind: KindStreamIncomplete} }

// isStreamFault reports whether k fires mid-stream.
func isStreamFault(k FaultKind) bool { return k >= KindStreamReset && k <= KindStreamIncomplete }

// applyFault serves f; it returns false when the request should go on to
// be served normally (Latency, content faults, or a content fault on an
// endpoint that has no such shape).
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault, rt route, rec Request) bool {
	google := rt.wire == wireGoogle
	model := rt.model
	if model == "" {
		model = rec.Model
	}
	switch f.Kind {
	case KindLatency:
		return !s.wait(r.Context(), f.Delay)
	case KindHang:
		s.hang(r.Context())
		return true
	case KindReset:
		s.hijackClose(w, true)
		return true
	case KindTruncated:
		body := `{"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/jpeg","data":"/9j/4AAQSkZJRgABAQ`
		if !google {
			body = `{"created":1700000000,"data":[{"b64_json":"iVBORw0KGgoAAAANSUhEUgAA`
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			return true
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return true
		}
		extra := ""
		if id := w.Header().Get("X-Request-Id"); id != "" {
			extra = "X-Request-Id: " + id + "\r\n"
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s", extra, len(body)+4096, body)
		_ = buf.Flush()
		_ = conn.Close()
		return true
	case KindMalformed:
		body := `{"candidates":[{"content":`
		if !google {
			body = `{"created":1700000000,"data":[{"b64_json":`
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(body))
		return true
	case KindProxyHTML502:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"))
		return true
	case KindStatus:
		if f.Header != "" {
			tp := textproto.NewReader(bufio.NewReader(strings.NewReader(f.Header + "\r\n")))
			if h, err := tp.ReadMIMEHeader(); err == nil {
				for k, vs := range h {
					for _, v := range vs {
						w.Header().Add(k, v)
					}
				}
			}
		}
		if w.Header().Get("Content-Type") == "" && bytes.HasPrefix(bytes.TrimSpace([]byte(f.Body)), []byte("{")) {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		}
		w.WriteHeader(f.Code)
		_, _ = w.Write([]byte(f.Body))
		return true
	case KindStreamReset, KindStreamHang, KindStreamMalformed, KindStreamError, KindStreamIncomplete:
		// Fired by sendStream; a call that does not stream is served normally.
		return false
	case KindSafetyBlock, KindPromptBlocked, KindNoImage, KindPartialFilter:
		// Served by the endpoint handlers; OpenAI images render errors there.
		return false
	}
	// Error envelopes.
	if rt.wire == wireTask {
		s.writeTaskFault(w, f, rt)
		return true
	}
	if google {
		s.writeGoogleFault(w, f, rt, model)
	} else {
		s.writeOpenAIFault(w, f, model)
	}
	return true
}

const (
	perMinute = "GenerateRequestsPerMinutePerProjectPerModel"
	perDay    = "GenerateRequestsPerDayPerProjectPerModel"
	freeTier  = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
)

func (s *Server) writeGoogleFault(w http.ResponseWriter, f Fault, rt route, model string) {
	switch f.Kind {
	case KindRateLimited, KindRateLimitedUntil, KindDailyQuotaExhausted, KindQuotaZero:
		if rt.vertex {
			// Vertex AI's 429 has no QuotaFailure or RetryInfo: whatever
			// the fault's hint, a client only learns "try again later".
			writeVertexQuota(w, rt, model)
			return
		}
	}
	switch f.Kind {
	case KindRateLimited:
		writeGoogleQuota(w, http.StatusTooManyRequests, model, perMinute, 10, f.Retry, "")
	case KindRateLimitedUntil:
		d := f.Until.Sub(s.now())
		if d < 0 {
			d = 0
		}
		writeGoogleQuota(w, http.StatusTooManyRequests, model, perMinute, 10, d, "")
	case KindDailyQuotaExhausted:
		writeGoogleQuota(w, http.StatusTooManyRequests, model, perDay, 250, 3500*time.Millisecond, "")
	case KindQuotaZero:
		writeGoogleQuota(w, http.StatusTooManyRequests, model, freeTier, 0, 41*time.Second, "")
	case KindPaymentRequired:
		writeGoogleError(w, http.StatusPaymentRequired, "RESOURCE_EXHAUSTED",
			"Your prepaid credits are depleted. Please purchase more credits in AI Studio to continue using the Gemini API.", nil)
	case KindModelRetired:
		writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", modelNotFoundMessage(rt, model), nil)
	case KindUnavailable:
		writeGoogleError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The model is overloaded. Please try again later.", nil)
	default:
		writeGoogleError(w, http.StatusInternalServerError, "INTERNAL", "An internal error has occurred.", nil)
	}
}

// modelNotFoundMessage is Google's 404 for a model that does not exist or
// does not serve the method called. The Gemini API names the API version
// of the request ("models/X is not found for API version v1, or is not
// supported for generateContent. ..."); Vertex AI names the publisher
// model ("Publisher Model `projects/…/models/X` was not found or your
// project does not have access to it. ...", as captured in
// https://github.com/genkit-ai/genkit/issues/4688, checked 2026-12-04).
func modelNotFoundMessage(rt route, model string) string {
	if rt.vertex {
		name := "publishers/google/models/" + model
		if rt.project != "" {
			name = rt.project + "/" + name
		}
		return "Publisher Model `" + name + "` was not found or your project does not have access to it. " +
			"Please ensure you are using a valid model version. For more information, see: " +
			"https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
	}
	version, method := rt.version, rt.method
	if version == "" {
		version = "v1beta"
	}
	if method == "" {
		method = "generateContent"
	}
	return "models/" + model + " is not found for API version " + version + ", or is not supported for " + method +
		". Call ListModels to see the list of available models and their supported methods."
}

// writeVertexQuota answers a Vertex AI 429: RESOURCE_EXHAUSTED without
// details (no QuotaFailure, no RetryInfo). :predict names its per-base-model
// quota (https://github.com/Aider-AI/aider/issues/1912 and
// anthropics/claude-code#1440 quote it); generateContent gets the
// dynamic-shared-quota text (google-gemini/gemini-cli#14811). Both checked
// 2026-12-04; no raw capture of an Imagen :predict 429 was found.
func writeVertexQuota(w http.ResponseWriter, rt route, model string) {
	msg := "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
	if rt.ep == EndpointPredict {
		msg = "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: " + model +
			". Please submit a quota increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
	}
	writeGoogleError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", msg, nil)
}

func (s *Server) writeOpenAIFault(w http.ResponseWriter, f Fault, model string) {
	switch f.Kind {
	case KindRateLimited:
		writeOpenAIRateLimit(w, model, 5, "min (RPM)", f.Retry, "")
	case KindRateLimitedUntil:
		d := f.Until.Sub(s.now())
		if d < 0 {
			d = 0
		}
		writeOpenAIRateLimit(w, model, 5, "min (RPM)", d, f.Until.UTC().Format(http.TimeFormat))
	case KindDailyQuotaExhausted, KindQuotaZero:
		writeOpenAIError(w, http.StatusTooManyRequests,
			"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
			"insufficient_quota", "", "insufficient_quota", nil)
	case KindPaymentRequired:
		writeOpenAIError(w, http.StatusPaymentRequired,
			"Billing hard limit has been reached. Please add credits to your account to continue.",
			"billing_error", "", "billing_hard_limit_reached", nil)
	case KindModelRetired:
		writeOpenAIError(w, http.StatusNotFound,
			"The model `"+model+"` does not exist or you do not have access to it.",
			"invalid_request_error", "", "model_not_found", nil)
	case KindUnavailable:
		writeOpenAIError(w, http.StatusServiceUnavailable,
			"The server is overloaded or not ready yet.", "server_error", "", "server_error", nil)
	default:
		writeOpenAIError(w, http.StatusInternalServerError, "The server had an error while processing your request.", "server_error", "", "", nil)
	}
}

// formatSeconds renders d like Google's RetryInfo: "26s", "26.5s".
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

func writeGoogleError(w http.ResponseWriter, code int, status, msg string, details []any) {
	e := map[string]any{"code": code, "message": msg, "status": status}
	if len(details) > 0 {
		e["details"] = details
	}
	writeJSON(w, code, map[string]any{"error": e})
}

func writeGoogleQuota(w http.ResponseWriter, code int, model, quotaID string, limit int, retry time.Duration, _ string) {
	metric := "generativelanguage.googleapis.com/generate_requests_per_model"
	if quotaID == freeTier {
		metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
	}
	msg := fmt.Sprintf("You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/usage?tab=rate-limit. \n* Quota exceeded for metric: %s, limit: %d, model: %s\nPlease retry in %s.",
		metric, limit, model, formatSeconds(retry))
	details := []any{
		map[string]any{
			"@type": "type.googleapis.com/google.rpc.QuotaFailure",
			"violations": []any{map[string]any{
				"quotaMetric":     metric,
				"quotaId":         quotaID,
				"quotaDimensions": map[string]any{"location": "global", "model": model},
				"quotaValue":      strconv.Itoa(limit),
			}},
		},
		map[string]any{
			"@type": "type.googleapis.com/google.rpc.Help",
			"links": []any{map[string]any{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}},
		},
		map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": formatSeconds(retry)},
	}
	writeGoogleError(w, code, "RESOURCE_EXHAUSTED", msg, details)
}

func writeOpenAIError(w http.ResponseWriter, code int, msg, typ, param, errCode string, h http.Header) {
	for k, vs := range h {
		w.Header()[k] = vs
	}
	var p, c any
	if param != "" {
		p = param
	}
	if errCode != "" {
		c = errCode
	}
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": c}})
}

// writeOpenAIRateLimit writes a 429 rate_limit_exceeded; date, when set,
// is the Retry-After value instead of seconds.
func writeOpenAIRateLimit(w http.ResponseWriter, model string, limit int, per string, retry time.Duration, date string) {
	secs := int(math.Ceil(retry.Seconds()))
	h := http.Header{}
	if date != "" {
		h.Set("Retry-After", date)
	} else {
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	h.Set("Retry-After-Ms", strconv.FormatInt(retry.Milliseconds(), 10))
	h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(limit))
	h.Set("X-Ratelimit-Remaining-Requests", "0")
	h.Set("X-Ratelimit-Reset-Requests", retry.Round(time.Millisecond).String())
	msg := fmt.Sprintf("Rate limit reached for %s in organization org-emulator on requests per %s: Limit %d, Used %d, Requested 1. Please try again in %s. Visit https://platform.openai.com/account/rate-limits to learn more.",
		model, per, limit, limit, formatSeconds(retry.Round(time.Millisecond)))
	writeOpenAIError(w, http.StatusTooManyRequests, msg, "requests", "", "rate_limit_exceeded", h)
}

// hang holds a request until its client gives up or the server closes.
func (s *Server) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.closing:
	}
}

// hijackClose takes the connection from the HTTP server and closes it:
// what was written reaches the client, which then reads an unexpected
// EOF; with reset, the close is an RST (no linger), as a dropped
// connection looks before any answer.
func (s *Server) hijackClose(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if reset {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	} else {
		_ = buf.Flush()
	}
	_ = conn.Close()
}
