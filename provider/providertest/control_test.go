package providertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// control calls the control endpoint and decodes its JSON answer.
func control(t *testing.T, srv *providertest.Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+providertest.ControlPrefix+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// Every fault survives its JSON form, the one the control endpoint and the
// emulator's config file take.
func TestFaultJSONRoundTrip(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	all := []providertest.Fault{
		providertest.FaultNone(), providertest.RateLimited(7500 * time.Millisecond), providertest.RateLimitedUntil(until),
		providertest.DailyQuotaExhausted(), providertest.QuotaZero(), providertest.PaymentRequired(),
		providertest.ModelRetired(), providertest.Unavailable(), providertest.ProxyHTML502(),
		providertest.Status(418, `{"teapot":true}`, http.Header{"Retry-After": {"3"}, "X-A": {"b"}}),
		providertest.SafetyBlock("IMAGE_SAFETY"), providertest.PromptBlocked("OTHER"), providertest.NoImage(),
		providertest.PartialFilter(2), providertest.Latency(250 * time.Millisecond), providertest.Hang(),
		providertest.Truncated(), providertest.Malformed(), providertest.Reset(),
		providertest.StreamReset(), providertest.StreamHang(), providertest.StreamMalformed(),
		providertest.StreamError(), providertest.StreamIncomplete(),
	}
	if len(all) != len(providertest.FaultKinds()) {
		t.Fatalf("%d faults tested, %d kinds", len(all), len(providertest.FaultKinds()))
	}
	for _, f := range all {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var back providertest.Fault
		if err := json.Unmarshal(b, &back); err != nil || back != f {
			t.Errorf("%v → %s → %+v (%v)", f, b, back, err)
		}
	}
	// Hand-written forms: lower case, seconds as numbers.
	for in, want := range map[string]providertest.Fault{
		`{"kind":"ratelimited","retry":7}`:                           providertest.RateLimited(7 * time.Second),
		`{"kind":"Latency","delay":"1.5s"}`:                          providertest.Latency(1500 * time.Millisecond),
		`{"kind":"SafetyBlock"}`:                                     providertest.SafetyBlock(""),
		`{"kind":"Status","code":500,"body":"x"}`:                    providertest.Status(500, "x", http.Header{}),
		`{"kind":"PartialFilter","n":1}`:                             providertest.PartialFilter(1),
		`{"kind":"RateLimitedUntil","until":"2026-12-04T10:00:00Z"}`: providertest.RateLimitedUntil(until),
	} {
		var got providertest.Fault
		if err := json.Unmarshal([]byte(in), &got); err != nil || got != want {
			t.Errorf("%s: %+v (%v), want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{`{"kind":"Nope"}`, `{"kind":"Status"}`, `{"kind":"RateLimitedUntil"}`,
		`{"kind":"Latency","delay":"soon"}`, `{"kind":"Hang","extra":1}`} {
		var f providertest.Fault
		if err := json.Unmarshal([]byte(bad), &f); err == nil {
			t.Errorf("%s accepted as %+v", bad, f)
		}
	}
}

func TestControlEndpoint(t *testing.T) {
	clk := newClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk, Control: true})
	c := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()

	if code, m := control(t, srv, "GET", "health", "", ""); code != 200 || m["ok"] != true || m["url"] != srv.URL() {
		t.Errorf("health: %d %v", code, m)
	}
	if code, m := control(t, srv, "GET", "endpoints", "", ""); code != 200 || len(m["endpoints"].([]any)) != len(providertest.Endpoints()) {
		t.Errorf("endpoints: %d %v", code, m)
	}

	// Inject: one rule, then a list; a bad list injects nothing.
	code, m := control(t, srv, "POST", "faults", "", `{"endpoint":"generateContent","faults":[{"kind":"Unavailable"},{"kind":"RateLimited","retry":"7s"}]}`)
	if code != 200 {
		t.Fatalf("inject: %d %v", code, m)
	}
	if code, m := control(t, srv, "POST", "faults", "", `[{"endpoint":"generateContent","faults":[{"kind":"Hang"}]},{"endpoint":"nope","faults":[{"kind":"Hang"}]}]`); code != 400 ||
		!strings.Contains(m["error"].(string), `unknown endpoint "nope"`) {
		t.Errorf("bad rule: %d %v", code, m)
	}
	var ae genai.APIError
	for _, want := range []int{503, 429} {
		if _, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil); !errors.As(err, &ae) || ae.Code != want {
			t.Errorf("want %d, got %v", want, err)
		}
	}
	if _, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil); err != nil {
		t.Errorf("after the script: %v", err)
	}
	// Random faults, then clear them.
	if code, _ := control(t, srv, "POST", "faults", "", `{"endpoint":"*","probability":1,"faults":[{"kind":"PaymentRequired"}]}`); code != 200 {
		t.Fatal(code)
	}
	if _, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil); !errors.As(err, &ae) || ae.Code != 402 {
		t.Errorf("random: %v", err)
	}
	if code, _ := control(t, srv, "DELETE", "faults", "", ""); code != 200 {
		t.Fatal(code)
	}
	if _, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil); err != nil {
		t.Errorf("after clear: %v", err)
	}

	// Requests, redacted, filtered; stats.
	code, m = control(t, srv, "GET", "requests?endpoint=generateContent", "", "")
	reqs, _ := m["requests"].([]any)
	if code != 200 || len(reqs) != 5 {
		t.Fatalf("requests: %d %d", code, len(reqs))
	}
	first := reqs[0].(map[string]any)
	if first["header"].(map[string]any)["X-Goog-Api-Key"].([]any)[0] != "REDACTED" || first["body"] != nil ||
		first["json"].(map[string]any)["contents"] == nil || first["model"] != "gemini-3-pro-image" {
		t.Errorf("recorded %v", first)
	}
	if _, m := control(t, srv, "GET", "requests?body=1", "", ""); m["requests"].([]any)[0].(map[string]any)["body"] == "" {
		t.Error("body=1 gave no body")
	}
	if code, m := control(t, srv, "GET", "stats", "", ""); code != 200 || m["total"] != 5.0 || m["faulted"] != 3.0 ||
		m["perEndpoint"].(map[string]any)["generateContent"] != 5.0 {
		t.Errorf("stats: %v", m)
	}
	if strings.Contains(srv.Requests()[0].Path, providertest.ControlPrefix) {
		t.Error("a control call was recorded")
	}

	// The clock drives batch jobs.
	job, err := c.Batches.Create(ctx, "gemini-3-pro-image", &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{
		{Contents: genai.Text("a cat")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, m := control(t, srv, "POST", "clock", "", `{"advance":"2m"}`); code != 200 || m["now"] != "2026-12-04T09:02:00Z" {
		t.Errorf("clock: %d %v", code, m)
	}
	if got, err := c.Batches.Get(ctx, job.Name, nil); err != nil || got.State != genai.JobStateSucceeded {
		t.Errorf("batch after 2m: %v %+v", err, got)
	}
	if code, m := control(t, srv, "POST", "clock", "", `{"now":"2026-12-05T00:00:00Z"}`); code != 200 || m["now"] != "2026-12-05T00:00:00Z" {
		t.Errorf("clock now: %d %v", code, m)
	}
	job2, _ := c.Batches.Create(ctx, "gemini-3-pro-image", &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("x")}}}, nil)
	if code, _ := control(t, srv, "POST", strings.Replace(job2.Name, "batches/", "batches/", 1)+":expire", "", ""); code != 200 {
		t.Errorf("expire: %d", code)
	}
	if got, _ := c.Batches.Get(ctx, job2.Name, nil); got == nil || got.State != genai.JobStateExpired {
		t.Errorf("expired job: %+v", got)
	}

	// Settings: limits and chat shape.
	if code, m := control(t, srv, "POST", "settings", "", `{"requestsPerMinute":1,"chatShape":"markdown","latency":"0s"}`); code != 200 ||
		m["chatShape"] != "markdown" || m["requestsPerMinute"] != 1.0 {
		t.Errorf("settings: %d %v", code, m)
	}
	if _, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil); !errors.As(err, &ae) || ae.Code != 429 {
		t.Errorf("limit from settings: %v", err)
	}
	if code, _ := control(t, srv, "POST", "settings", "", `{"chatShape":"sideways"}`); code != 400 {
		t.Errorf("bad shape: %d", code)
	}

	// Reset forgets everything, the clock included.
	if code, _ := control(t, srv, "POST", "reset", "", ""); code != 200 {
		t.Fatal(code)
	}
	if _, m := control(t, srv, "GET", "stats", "", ""); m["total"] != 0.0 {
		t.Errorf("stats after reset: %v", m)
	}
	if _, m := control(t, srv, "GET", "clock", "", ""); m["now"] != "2026-12-04T09:00:00Z" {
		t.Errorf("clock after reset: %v", m)
	}
	if _, err := c.Batches.Get(ctx, job.Name, nil); !errors.As(err, &ae) || ae.Code != 404 {
		t.Errorf("batch after reset: %v", err)
	}
	if _, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("x"), nil); err != nil {
		t.Errorf("limit after reset: %v", err)
	}

	// Mistakes.
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "nothing", ""}, {"PUT", "faults", ""}, {"POST", "clock", `{"advance":"soon"}`},
		{"POST", "clock", `{}`}, {"POST", "faults", `{"endpoint":"generateContent","faults":[]}`},
	} {
		if code, m := control(t, srv, tc.method, tc.path, "", tc.body); code < 400 || m["error"] == "" {
			t.Errorf("%s %s %s: %d %v", tc.method, tc.path, tc.body, code, m)
		}
	}
}

func TestControlEndpointOffOrProtected(t *testing.T) {
	t.Parallel()
	off := newServer(t, providertest.Options{})
	if code, m := control(t, off, "GET", "health", "", ""); code != 404 || m["error"].(map[string]any)["type"] != "invalid_request_error" {
		t.Errorf("control off: %d %v", code, m)
	}
	on := newServer(t, providertest.Options{Control: true, ControlToken: "s3cret-control"})
	if code, _ := control(t, on, "GET", "health", "", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := control(t, on, "GET", "health", "wrong", ""); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := control(t, on, "GET", "health", "s3cret-control", ""); code != 200 {
		t.Errorf("token: %d", code)
	}
	// The token never shows in the options' printout.
	var buf bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		buf.Reset()
		fmt.Fprintf(&buf, verb, providertest.Options{ControlToken: "s3cret-control", APIKey: "k3y-abcdef"})
		if strings.Contains(buf.String(), "s3cret") || strings.Contains(buf.String(), "k3y-") {
			t.Errorf("%s shows a secret: %s", verb, buf.String())
		}
	}
}

// Reset leaves a server as new, whatever state it holds.
func TestResetMatchesNew(t *testing.T) {
	clk := newClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk})
	c := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	srv.Inject(providertest.EndpointGenerateContent, providertest.Unavailable())
	_, _ = c.Models.GenerateContent(ctx, "m", genai.Text("x"), nil)
	f, _ := c.Files.Upload(ctx, strings.NewReader("x"), &genai.UploadFileConfig{MIMEType: "text/plain"})
	srv.SetLatency(time.Hour)
	srv.SetLimits(0, 1)
	srv.AdvanceClock(time.Hour)
	srv.Reset()
	if st := srv.Stats(); st.Total != 0 || st.Faulted != 0 || !reflect.DeepEqual(st.PerEndpoint, map[providertest.Endpoint]int{}) {
		t.Errorf("stats %+v", st)
	}
	if _, ok := srv.File(f.Name); ok {
		t.Error("file kept")
	}
	for range 2 { // no fault, no daily limit, no latency
		if _, err := c.Models.GenerateContent(ctx, "m", genai.Text("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Requests()[0].Time; !got.Equal(clk.Now()) {
		t.Errorf("clock %v, want %v", got, clk.Now())
	}
}
