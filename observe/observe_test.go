package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/observe"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// fake is an adapter that answers with the errors it is given, then
// serves.
type fake struct {
	name, model string
	mu          sync.Mutex
	errs        []error
	calls       int
}

func (f *fake) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return &provider.Response{Provider: f.name, Model: f.model, Attempts: 1,
		Images: []provider.Image{{Data: []byte("\x89PNG\r\n\x1a\n"), MIMEType: "image/png"}},
		Usage:  provider.Usage{InputTokens: 12, OutputTokens: 1290, OutputImageTokens: 1290, Images: 1}}, nil
}

func (f *fake) Describe() provider.Description {
	return provider.Description{Provider: f.name, Model: f.model}
}

func unavailable(prov string) error {
	return &provider.Error{Kind: provider.KindUnavailable, Provider: prov, Code: "UNAVAILABLE", Message: "the model is overloaded"}
}

// rig is a production stack on fakes, observed into in-memory exporters.
type rig struct {
	spans   *tracetest.SpanRecorder
	metrics *sdkmetric.ManualReader
	logs    *bytes.Buffer
	obs     *observe.Observer
	gen     provider.Generator
	primary *fake
	backup  *fake
	routes  *failover.Failover
}

func newRig(t *testing.T, cfg observe.Config, budget pricing.Limits) *rig {
	t.Helper()
	r := &rig{spans: tracetest.NewSpanRecorder(), metrics: sdkmetric.NewManualReader(), logs: new(bytes.Buffer)}
	cfg.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.metrics))
	cfg.Logger = slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.obs = testutil.Must(observe.New(cfg))

	clk := providertest.NewClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	r.primary = &fake{name: "gemini", model: "gemini-2.5-flash-image"}
	r.backup = &fake{name: "openai", model: "gpt-image-1"}
	perRoute := func(g provider.Generator) provider.Generator {
		retries := testutil.Must(retry.New(retry.Policy{MaxAttempts: 2, Clock: clk, RandomizationFactor: -1}))
		limits := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 60, Clock: clk}))
		return provider.Chain(g, retries, limits)
	}
	r.routes = testutil.Must(failover.New(failover.Config{
		Routes: []failover.Route{
			{Name: "gemini", Generator: perRoute(r.primary)},
			{Name: "openai", Generator: perRoute(r.backup), Priority: 1},
		},
		Breaker:         failover.BreakerSettings{ConsecutiveFailures: 1},
		OnBreakerChange: r.obs.HandleEvent,
		Clock:           clk,
	}))
	b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: budget, Clock: clk}))
	meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: b, Clock: clk}))
	cached := testutil.Must(cache.New(cache.Config{Clock: clk}))
	r.gen = provider.Chain(r.routes, r.obs.Middleware(), cached, meter.Middleware())
	return r
}

// tree renders the recorded spans as "name" lines, children indented
// under their parent, in start order.
func tree(spans []sdktrace.ReadOnlySpan) string {
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		ids[s.SpanContext().SpanID()] = true
	}
	for _, s := range spans {
		if p := s.Parent().SpanID(); p.IsValid() && ids[p] {
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		fmt.Fprintf(&b, "%s%s [%s]\n", strings.Repeat("  ", depth), s.Name(), s.SpanKind())
		kids := children[s.SpanContext().SpanID()]
		slices.SortStableFunc(kids, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, s := range roots {
		walk(s, 0)
	}
	return b.String()
}

// attrs returns a span's attributes as a map of their values.
func attrs(s sdktrace.ReadOnlySpan) map[string]any {
	out := map[string]any{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.AsInterface()
	}
	return out
}

// want checks that got has every key of want with the same value.
func want(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if gv, ok := got[k]; !ok || gv != v {
			t.Errorf("%s: %s = %v (%T), want %v (%T)", what, k, gv, gv, v, v)
		}
	}
}

func eventNames(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, e := range s.Events() {
		out = append(out, e.Name)
	}
	return out
}

// TestSpanTree: a request whose primary route fails twice (retry gives
// up, its breaker opens) and whose backup serves is one span with three
// attempt spans under it; the same request again is a cache hit with no
// attempt.
func TestSpanTree(t *testing.T) {
	r := newRig(t, observe.Config{}, pricing.Limits{Daily: 10 * provider.Dollar})
	r.primary.errs = []error{unavailable("gemini"), unavailable("gemini")}
	req := &provider.Request{Prompt: "a lighthouse on a cliff at dusk", Size: "1K"}
	resp, err := r.gen.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "gpt-image-1" || resp.Attempts != 3 || resp.Cost <= 0 {
		t.Fatalf("response %+v", resp)
	}
	spans := r.spans.Ended()
	wantTree := `generate_content gemini-2.5-flash-image [internal]
  generate_content gemini-2.5-flash-image [client]
  generate_content gemini-2.5-flash-image [client]
  generate_image gpt-image-1 [client]
`
	if got := tree(spans); got != wantTree {
		t.Fatalf("span tree:\n%s\nwant:\n%s", got, wantTree)
	}
	root := spans[len(spans)-1]
	want(t, "request span", attrs(root), map[string]any{
		"gen_ai.operation.name":      "generate_content",
		"gen_ai.provider.name":       "openai", // who served, not who was described
		"gen_ai.request.model":       "gemini-2.5-flash-image",
		"gen_ai.response.model":      "gpt-image-1",
		"gen_ai.output.type":         "image",
		"gen_ai.usage.input_tokens":  int64(12),
		"gen_ai.usage.output_tokens": int64(1290),
		"imagegen.cost":              resp.Cost.Dollars(),
		"imagegen.cached":            false,
		"imagegen.attempts":          int64(3),
		"imagegen.images":            int64(1),
		"imagegen.route":             "openai",
		"imagegen.size":              "1K",
		"imagegen.n":                 int64(1),
		"imagegen.budget.scope":      "overall",
	})
	for _, k := range []string{"error.type", "imagegen.provider"} { // openai is its own gen_ai.provider.name
		if _, ok := attrs(root)[k]; ok {
			t.Errorf("request span has %s", k)
		}
	}
	if _, ok := attrs(root)["gen_ai.input.messages"]; ok {
		t.Error("the prompt was recorded without opting in")
	}
	if got, wantEv := eventNames(root), []string{"cache.miss", "budget.reserved", "failover.breaker.changed", "budget.settled", "cache.stored"}; !slices.Equal(got, wantEv) {
		t.Errorf("request span events %q, want %q", got, wantEv)
	}
	attempts := spans[:3]
	want(t, "attempt 1", attrs(attempts[0]), map[string]any{
		"gen_ai.provider.name": "gcp.gemini", "imagegen.route": "gemini", "imagegen.attempt": int64(1),
		"error.type": "unavailable", "imagegen.reason": "backoff", "imagegen.retry.wait": 0.5,
	})
	want(t, "attempt 2", attrs(attempts[1]), map[string]any{
		"imagegen.route": "gemini", "imagegen.attempt": int64(2), "error.type": "unavailable", "imagegen.reason": retry.StopExhausted,
	})
	want(t, "attempt 3", attrs(attempts[2]), map[string]any{
		"gen_ai.operation.name": "generate_image", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-image-1",
		"gen_ai.response.model": "gpt-image-1", "imagegen.route": "openai", "imagegen.attempt": int64(1),
		"gen_ai.usage.output_tokens": int64(1290),
	})
	if _, ok := attrs(attempts[2])["error.type"]; ok {
		t.Error("the serving attempt has error.type")
	}
	for _, s := range spans {
		if s.Parent().IsValid() && s.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("%s: parent is not the request span", s.Name())
		}
		if !s.EndTime().After(s.StartTime()) && s.EndTime() != s.StartTime() {
			t.Errorf("%s ends before it starts", s.Name())
		}
	}

	// The same request again: a cache hit, with no attempt.
	r.spans.Reset()
	resp, err = r.gen.Generate(context.Background(), req)
	if err != nil || !resp.Cached {
		t.Fatalf("second request: %+v, %v", resp, err)
	}
	spans = r.spans.Ended()
	if got := tree(spans); got != "generate_content gemini-2.5-flash-image [internal]\n" {
		t.Fatalf("cache hit tree:\n%s", got)
	}
	want(t, "cache hit", attrs(spans[0]), map[string]any{"imagegen.cached": true, "imagegen.cost": 0.0, "imagegen.attempts": int64(0)})
	if got := eventNames(spans[0]); !slices.Equal(got, []string{"cache.hit"}) {
		t.Errorf("cache hit events %q", got)
	}
}

func TestMetrics(t *testing.T) {
	r := newRig(t, observe.Config{}, pricing.Limits{Daily: 10 * provider.Dollar})
	r.primary.errs = []error{unavailable("gemini"), unavailable("gemini")}
	req := &provider.Request{Prompt: "a lighthouse", Size: "1K"}
	for range 2 {
		if _, err := r.gen.Generate(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := r.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != observe.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	for _, name := range []string{"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "imagegen.cost", "imagegen.images",
		"imagegen.cache.hits", "imagegen.cache.misses", "imagegen.retries", "imagegen.breaker.state"} {
		if _, ok := got[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	dur := got["gen_ai.client.operation.duration"]
	if dur.Unit != "s" {
		t.Errorf("duration unit %q", dur.Unit)
	}
	h := dur.Data.(metricdata.Histogram[float64])
	if len(h.DataPoints) != 2 { // a miss and a hit, told apart by imagegen.cached
		t.Fatalf("duration points %+v", h.DataPoints)
	}
	if !slices.Equal(h.DataPoints[0].Bounds, observe.DurationBuckets) {
		t.Errorf("duration bounds %v", h.DataPoints[0].Bounds)
	}
	for _, dp := range h.DataPoints {
		if v, _ := dp.Attributes.Value("gen_ai.response.model"); v.AsString() != "gpt-image-1" || dp.Count != 1 {
			t.Errorf("duration point %v count %d", dp.Attributes.ToSlice(), dp.Count)
		}
	}
	tok := got["gen_ai.client.token.usage"].Data.(metricdata.Histogram[int64])
	byType := map[string]int64{}
	for _, dp := range tok.DataPoints {
		v, _ := dp.Attributes.Value("gen_ai.token.type")
		byType[v.AsString()] += dp.Sum
		if !slices.Equal(dp.Bounds, observe.TokenBuckets) {
			t.Errorf("token bounds %v", dp.Bounds)
		}
	}
	if byType["input"] != 12 || byType["output"] != 1290 {
		t.Errorf("tokens %v: the hit must not count", byType)
	}
	sum := func(name string) int64 {
		var n int64
		for _, dp := range got[name].Data.(metricdata.Sum[int64]).DataPoints {
			n += dp.Value
		}
		return n
	}
	if sum("imagegen.cache.hits") != 1 || sum("imagegen.cache.misses") != 1 || sum("imagegen.images") != 2 || sum("imagegen.retries") != 1 {
		t.Errorf("hits %d, misses %d, images %d, retries %d", sum("imagegen.cache.hits"), sum("imagegen.cache.misses"), sum("imagegen.images"), sum("imagegen.retries"))
	}
	cost := got["imagegen.cost"].Data.(metricdata.Sum[float64])
	if len(cost.DataPoints) != 1 || cost.DataPoints[0].Value <= 0 {
		t.Errorf("cost %+v", cost.DataPoints)
	}
	gauge := got["imagegen.breaker.state"].Data.(metricdata.Gauge[int64])
	if len(gauge.DataPoints) != 1 || gauge.DataPoints[0].Value != 1 {
		t.Errorf("breaker state %+v, want gemini open (1)", gauge.DataPoints)
	}
	if v, _ := gauge.DataPoints[0].Attributes.Value("imagegen.route"); v.AsString() != "gemini" {
		t.Errorf("breaker route %v", v)
	}
}

func TestBudgetRefusal(t *testing.T) {
	r := newRig(t, observe.Config{}, pricing.Limits{Daily: provider.Cent})
	_, err := r.gen.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse"})
	if !errors.Is(err, provider.ErrBudgetExceeded) {
		t.Fatalf("err = %v", err)
	}
	spans := r.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("spans:\n%s", tree(spans))
	}
	want(t, "refused", attrs(spans[0]), map[string]any{"error.type": "budget_exceeded", "imagegen.budget.scope": "overall", "imagegen.attempts": int64(0)})
	if spans[0].Status().Code.String() != "Error" {
		t.Errorf("status %v", spans[0].Status())
	}
	if got := eventNames(spans[0]); !slices.Equal(got, []string{"cache.miss", "budget.refused"}) {
		t.Errorf("events %q", got)
	}
	if r.primary.calls+r.backup.calls != 0 {
		t.Error("a refused request went upstream")
	}
}

// logLine is one JSON log record.
type logLine map[string]any

func lines(t *testing.T, b *bytes.Buffer) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m logLine
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogs(t *testing.T) {
	const prompt = "a lighthouse on a cliff at dusk"
	r := newRig(t, observe.Config{}, pricing.Limits{Daily: 10 * provider.Dollar})
	r.primary.errs = []error{unavailable("gemini"), unavailable("gemini")}
	if _, err := r.gen.Generate(context.Background(), &provider.Request{Prompt: prompt}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.logs.String(), "lighthouse") {
		t.Error("the prompt was logged without opting in")
	}
	var got []string
	for _, l := range lines(t, r.logs) {
		got = append(got, fmt.Sprintf("%s %s", l["level"], l["msg"]))
	}
	wantLines := []string{
		"DEBUG cache.miss",
		"DEBUG budget.reserved",
		"INFO retry.attempt", // the first failure, retried
		"WARN retry.attempt", // the last failure
		"WARN failover.breaker.changed",
		"WARN failover.route.tried",
		"DEBUG retry.attempt",
		"DEBUG failover.route.tried",
		"DEBUG budget.settled",
		"DEBUG cache.stored",
		"INFO imagegen.generate",
	}
	if !slices.Equal(got, wantLines) {
		t.Errorf("log lines\n got %q\nwant %q", got, wantLines)
	}
	last := lines(t, r.logs)[len(wantLines)-1]
	raw := strings.Split(strings.TrimSpace(r.logs.String()), "\n")
	if n := strings.Count(raw[len(raw)-1], `"gen_ai.provider.name"`); n != 1 || last["gen_ai.provider.name"] != "openai" {
		t.Errorf("request line has gen_ai.provider.name %d times, last %v; want once, openai", n, last["gen_ai.provider.name"])
	}
	for k, v := range map[string]any{"gen_ai.response.model": "gpt-image-1", "imagegen.route": "openai", "imagegen.attempts": 3.0, "imagegen.cached": false} {
		if last[k] != v {
			t.Errorf("request line %s = %v, want %v", k, last[k], v)
		}
	}
	if last["trace_id"] == nil || last["imagegen.duration"] == nil {
		t.Errorf("request line %v", last)
	}

	// Opted in, the prompt is on the span and the request's line.
	r = newRig(t, observe.Config{RecordPrompts: true}, pricing.Limits{})
	if _, err := r.gen.Generate(context.Background(), &provider.Request{Prompt: prompt}); err != nil {
		t.Fatal(err)
	}
	msgs := `[{"role":"user","parts":[{"type":"text","content":"` + prompt + `"}]}]`
	spans := r.spans.Ended()
	if got := attrs(spans[len(spans)-1])["gen_ai.input.messages"]; got != msgs {
		t.Errorf("input messages %v", got)
	}
	ls := lines(t, r.logs)
	if got := ls[len(ls)-1]["gen_ai.input.messages"]; got != msgs {
		t.Errorf("logged input messages %v", got)
	}
}

func TestErrorType(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.Canceled, "canceled"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout"},
		{errors.New("boom"), "_OTHER"},
		{unavailable("p"), "unavailable"},
		{&provider.Error{Kind: provider.KindRateLimited}, "rate_limited"},
		{provider.ErrContentBlocked, "content_blocked"},
		{&retry.Error{Err: &provider.Error{Kind: provider.KindQuotaExhausted}}, "quota_exhausted"},
	} {
		if got := observe.ErrorType(tt.err); got != tt.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestHandleEventOutsideRequests: a breaker change that no request caused
// (RouteState noticed it) is measured and logged, with no span.
func TestHandleEventOutsideRequests(t *testing.T) {
	r := newRig(t, observe.Config{}, pricing.Limits{})
	r.obs.HandleEvent(context.Background(), provider.Event{Kind: provider.EventBreakerChanged, Route: "gemini", From: "open", To: "half-open"})
	var rm metricdata.ResourceMetrics
	if err := r.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "imagegen.breaker.state" {
				dp := m.Data.(metricdata.Gauge[int64]).DataPoints
				found = len(dp) == 1 && dp[0].Value == 2 && dp[0].Attributes.HasValue(attribute.Key("imagegen.route"))
			}
		}
	}
	if !found {
		t.Error("breaker state not recorded")
	}
	if ls := lines(t, r.logs); len(ls) != 1 || ls[0]["msg"] != "failover.breaker.changed" || ls[0]["imagegen.breaker.to"] != "half-open" {
		t.Errorf("log %v", ls)
	}
	if len(r.spans.Ended()) != 0 {
		t.Error("spans without a request")
	}
}
