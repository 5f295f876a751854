package googleerr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

const perMinuteMsg = "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_requests_per_model, limit: 10, model: gemini-3-pro-image\nPlease retry in 26s."

func quota(id string) map[string]any {
	return map[string]any{
		"@type":      "type.googleapis.com/google.rpc.QuotaFailure",
		"violations": []any{map[string]any{"quotaId": id, "quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model"}},
	}
}

func retry(s string) map[string]any {
	return map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": s}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		code    string
		msg     string
		details []map[string]any
		want    provider.Kind
	}{
		{"per-minute 429 mentioning billing", 429, "RESOURCE_EXHAUSTED", perMinuteMsg,
			[]map[string]any{quota("GenerateRequestsPerMinutePerProjectPerModel"), retry("26s")}, provider.KindRateLimited},
		{"per-minute 429 without details", 429, "RESOURCE_EXHAUSTED", perMinuteMsg, nil, provider.KindRateLimited},
		{"per-day quotaId", 429, "RESOURCE_EXHAUSTED", perMinuteMsg,
			[]map[string]any{quota("GenerateRequestsPerDayPerProjectPerModel"), retry("3.5s")}, provider.KindQuotaExhausted},
		{"per_day metric", 429, "RESOURCE_EXHAUSTED", "quota", []map[string]any{{
			"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []any{map[string]any{"quotaMetric": "x/requests_per_day"}}}}, provider.KindQuotaExhausted},
		{"limit: 0 free tier", 429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric: generate_content_free_tier_requests, limit: 0, model: x", nil, provider.KindQuotaExhausted},
		{"limit: 10 is not zero", 429, "RESOURCE_EXHAUSTED", "limit: 10, model: x", nil, provider.KindRateLimited},
		{"402 prepaid credit", 402, "RESOURCE_EXHAUSTED", "Your prepaid credits are depleted.", nil, provider.KindQuotaExhausted},
		{"RESOURCE_EXHAUSTED without 429", 0, "RESOURCE_EXHAUSTED", "Your prepayment credits are depleted", nil, provider.KindQuotaExhausted},
		{"404 model", 404, "NOT_FOUND", "models/imagen-4.0-generate-001 is not found for API version v1beta, or is not supported for predict.", nil, provider.KindModelRetired},
		{"404 entity", 404, "NOT_FOUND", "Requested entity was not found.", nil, provider.KindModelNotFound},
		{"responsible AI 400", 400, "INVALID_ARGUMENT", "Image generation failed with the following error: The prompt could not be submitted. This prompt contains sensitive words that violate Google's Responsible AI practices.", nil, provider.KindContentBlocked},
		{"safety prompt 400", 400, "INVALID_ARGUMENT", "The prompt was blocked by safety filters", nil, provider.KindContentBlocked},
		{"plain 400", 400, "INVALID_ARGUMENT", "sampleCount must be in the range [1, 4].", nil, provider.KindInvalidRequest},
		{"FAILED_PRECONDITION", 0, "FAILED_PRECONDITION", "User location is not supported", nil, provider.KindInvalidRequest},
		{"API_KEY_INVALID", 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
			[]map[string]any{{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}}, provider.KindAuth},
		{"API_KEY_INVALID reason only", 400, "INVALID_ARGUMENT", "bad",
			[]map[string]any{{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}}, provider.KindAuth},
		{"401", 401, "UNAUTHENTICATED", "Invalid token", nil, provider.KindAuth},
		{"403", 403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers", nil, provider.KindAuth},
		{"503 overloaded", 503, "UNAVAILABLE", "The model is overloaded. Please try again later.", nil, provider.KindUnavailable},
		{"HTML 502", 502, "", CleanMessage("<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"), nil, provider.KindUnavailable},
		{"500 internal", 500, "INTERNAL", "An internal error has occurred.", nil, provider.KindUnavailable},
		{"504", 504, "DEADLINE_EXCEEDED", "Deadline expired", nil, provider.KindTimeout},
		{"408", 408, "", "timeout", nil, provider.KindTimeout},
		{"418", 418, "", "teapot", nil, provider.KindInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.status, tt.code, tt.msg, ParseDetails(tt.details)); got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseDetails(t *testing.T) {
	t.Parallel()
	d := ParseDetails([]map[string]any{
		quota("GenerateRequestsPerDayPerProjectPerModel"),
		{"@type": "type.googleapis.com/google.rpc.Help", "links": []any{}},
		retry("1.5s"),
		{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"},
		{"@type": 7}, // malformed: ignored
		{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": "x"}, // malformed
		{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": 3},      // malformed: ignored
	})
	if d.RetryDelay != 1500*time.Millisecond || !d.PerDay || d.Reason != "RATE_LIMIT_EXCEEDED" ||
		len(d.QuotaIDs) != 1 || d.QuotaIDs[0] != "GenerateRequestsPerDayPerProjectPerModel" {
		t.Errorf("ParseDetails = %+v", d)
	}
	if d := ParseDetails(nil); d.RetryDelay != 0 || d.PerDay || d.Reason != "" || d.QuotaIDs != nil {
		t.Errorf("ParseDetails(nil) = %+v", d)
	}
}

func TestCleanMessage(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"  plain  ", "plain"},
		{"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>",
			"502 Bad Gateway 502 Bad Gateway cloudflare"},
		{"<html><body></body></html>", "non-JSON error page"},
	}
	for _, tt := range tests {
		if got := CleanMessage(tt.in); got != tt.want {
			t.Errorf("CleanMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := CleanMessage(strings.Repeat("é", 400))
	if len(long) > MaxMessage+len("…") || !strings.HasSuffix(long, "…") || !strings.HasPrefix(long, "éé") {
		t.Errorf("long message: %d bytes", len(long))
	}
	if strings.ContainsRune(strings.TrimSuffix(long, "…"), '\uFFFD') {
		t.Error("cut inside a rune")
	}
}

func TestParseBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		ok     bool
		code   int
		status string
		nd     int
	}{
		{"envelope", `{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26s"}]}}`, true, 429, "RESOURCE_EXHAUSTED", 1},
		{"list", ` [{"error":{"code":503,"message":"m","status":"UNAVAILABLE"}}]`, true, 503, "UNAVAILABLE", 0},
		{"html", `<html>502</html>`, false, 0, "", 0},
		{"empty", ``, false, 0, "", 0},
		{"other json", `{"predictions":[]}`, false, 0, "", 0},
		{"truncated", `{"error":{"code":4`, false, 0, "", 0},
		{"empty list", `[]`, false, 0, "", 0},
		{"null error", `{"error":null}`, false, 0, "", 0},
	}
	for _, tt := range tests {
		code, status, msg, details, ok := ParseBody([]byte(tt.body))
		if ok != tt.ok || code != tt.code || status != tt.status || len(details) != tt.nd || (ok && msg != "m") {
			t.Errorf("%s: ParseBody = %d %q %q %v %v", tt.name, code, status, msg, details, ok)
		}
	}
	_, _, _, d, _ := ParseBody([]byte(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26s"}]}}`))
	if got := ParseDetails(d).RetryDelay; got != 26*time.Second {
		t.Errorf("RetryDelay through ParseBody = %v", got)
	}
}

func FuzzParseBody(f *testing.F) {
	f.Add([]byte(`{"error":{"code":429,"message":"limit: 0","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"PerDay"}]}]}}`))
	f.Add([]byte(`[{"error":{}}]`))
	for _, name := range []string{"limit0_message.json", "quotavalue0.json"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, status, msg, details, ok := ParseBody(body)
		if !ok && (code != 0 || status != "" || msg != "" || details != nil) {
			t.Fatalf("not ok but returned values")
		}
		d := ParseDetails(details)
		e := &provider.Error{StatusCode: code, Code: status, Message: CleanMessage(msg)}
		e.Kind = Classify(code, status, e.Message, d)
		if MarkNoQuota(e, d) && (e.Kind != provider.KindQuotaExhausted || e.RetryAfter != 0 || len(e.Message) > MaxMessage+len("…")) {
			t.Fatalf("bad zero-quota error %+v", e)
		}
	})
}

func TestClassifyRPC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		kind provider.Kind
		name string
	}{
		{3, provider.KindInvalidRequest, "INVALID_ARGUMENT"},
		{8, provider.KindRateLimited, "RESOURCE_EXHAUSTED"},
		{13, provider.KindUnavailable, "INTERNAL"},
		{14, provider.KindUnavailable, "UNAVAILABLE"},
		{4, provider.KindTimeout, "DEADLINE_EXCEEDED"},
		{16, provider.KindAuth, "UNAUTHENTICATED"},
		{99, provider.KindUnknown, ""},
	}
	for _, tt := range tests {
		kind, name, _ := ClassifyRPC(tt.code, "")
		if kind != tt.kind || name != tt.name {
			t.Errorf("ClassifyRPC(%d) = %v %q, want %v %q", tt.code, kind, name, tt.kind, tt.name)
		}
	}
}

// classifyBody runs a body the way the adapters do: envelope, details,
// Kind, then MarkNoQuota on the resulting error.
func classifyBody(t *testing.T, status int, body []byte) (*provider.Error, Details) {
	t.Helper()
	code, st, msg, details, ok := ParseBody(body)
	if !ok {
		t.Fatalf("not an envelope: %s", body)
	}
	if code != 0 && code != status {
		t.Fatalf("envelope code %d, status %d", code, status)
	}
	d := ParseDetails(details)
	e := &provider.Error{StatusCode: status, Code: st, Message: CleanMessage(msg), RetryAfter: d.RetryDelay}
	e.Kind = Classify(status, st, e.Message, d)
	MarkNoQuota(e, d)
	return e, d
}

func TestNoQuotaRealShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file            string
		zeroQuota, free bool
	}{
		{"limit0_message.json", false, true}, // "limit: 0" only in the text, RetryInfo 10s
		{"quotavalue0.json", true, true},     // quotaValue "0", no "limit: 0" text
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			e, d := classifyBody(t, 429, body)
			if d.ZeroQuota != tc.zeroQuota || d.FreeTier != tc.free {
				t.Errorf("details %+v", d)
			}
			if e.Kind != provider.KindQuotaExhausted || e.Code != CodeFreeTierNoQuota || e.RetryAfter != 0 {
				t.Errorf("got kind=%v code=%q retry=%v", e.Kind, e.Code, e.RetryAfter)
			}
			if !strings.HasPrefix(e.Message, "the model has no free-tier quota (limit: 0); waiting does not help: enable billing for the project or use another model.") {
				t.Errorf("message %q", e.Message)
			}
			if strings.Contains(strings.ToLower(e.Message), "retry in") || len(e.Message) > MaxMessage+len("…") {
				t.Errorf("message keeps Google's retry hint or is too long: %q", e.Message)
			}
		})
	}
}

func TestNoQuota(t *testing.T) {
	t.Parallel()
	violation := func(kv ...any) map[string]any {
		v := map[string]any{"quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model", "quotaId": "GenerateRequestsPerDayPerProjectPerModel"}
		for i := 0; i+1 < len(kv); i += 2 {
			v[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []any{v}}
	}
	tests := []struct {
		name    string
		status  int
		code    string
		msg     string
		details []map[string]any
		want    bool
	}{
		{"limit: 0 in the message", 429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric: x_free_tier_requests, limit: 0, model: m", nil, true},
		{"limit: 0 at the end", 429, "", "quota exceeded, limit: 0", nil, true},
		{"LIMIT: 0 any case", 0, "RESOURCE_EXHAUSTED", "LIMIT:0\n", nil, true},
		{"quotaValue string 0", 429, "RESOURCE_EXHAUSTED", "You exceeded your current quota", []map[string]any{violation("quotaValue", "0")}, true},
		{"quotaValue number 0", 429, "RESOURCE_EXHAUSTED", "quota", []map[string]any{violation("quotaValue", 0.0)}, true},
		{"daily free quota used up (quotaValue 250)", 429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric: m, limit: 250, model: x",
			[]map[string]any{violation("quotaValue", "250"), retry("3.5s")}, false},
		{"limit: 10", 429, "RESOURCE_EXHAUSTED", "limit: 10, model: x", nil, false},
		{"limit: 0.5", 429, "RESOURCE_EXHAUSTED", "limit: 0.5 per second", nil, false},
		{"limit: 05", 429, "RESOURCE_EXHAUSTED", "limit: 05, model: x", nil, false},
		{"quotaValue 0 on a 400", 400, "INVALID_ARGUMENT", "bad", []map[string]any{violation("quotaValue", "0")}, false},
		{"402 prepaid credit", 402, "", "Your prepaid credits are depleted. limit: 0,", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ParseDetails(tt.details)
			if got := NoQuota(tt.status, tt.code, tt.msg, d); got != tt.want {
				t.Fatalf("NoQuota = %v, want %v", got, tt.want)
			}
			e := &provider.Error{Kind: Classify(tt.status, tt.code, tt.msg, d), StatusCode: tt.status, Code: tt.code, Message: tt.msg, RetryAfter: d.RetryDelay}
			before := *e
			if MarkNoQuota(e, d) != tt.want {
				t.Fatal("MarkNoQuota disagrees with NoQuota")
			}
			switch {
			case tt.want && (e.Kind != provider.KindQuotaExhausted || e.Code != CodeFreeTierNoQuota || e.RetryAfter != 0):
				t.Errorf("marked %+v", e)
			case !tt.want && *e != before:
				t.Errorf("changed %+v into %+v", before, *e)
			}
		})
	}
	if MarkNoQuota(nil, Details{ZeroQuota: true}) {
		t.Error("MarkNoQuota(nil) = true")
	}
	// Without a free-tier metric the message does not blame the free tier.
	e := &provider.Error{StatusCode: 429, Message: "limit: 0"}
	MarkNoQuota(e, Details{})
	if !strings.HasPrefix(e.Message, "the project has no quota for this model (limit: 0)") {
		t.Errorf("message %q", e.Message)
	}
}
