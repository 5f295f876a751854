package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSpanTree runs the example and checks what it observed: four request
// spans, each with its attempts as children, their attributes and span
// events, and the exporters' output.
func TestSpanTree(t *testing.T) {
	providertest.ClearEnv(t)
	var out bytes.Buffer
	spans, err := run(context.Background(), &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}

	trees := requestTrees(spans)
	if len(trees) != 4 {
		t.Fatalf("%d request spans, want 4", len(trees))
	}

	type attempt struct {
		name string
		attr map[string]any
	}
	tests := []struct {
		root     map[string]any
		events   []string // in order; others may be between them
		attempts []attempt
	}{
		{ // a 429 with a hint, then success
			root:   map[string]any{"imagegen.route": "gemini", "imagegen.attempts": int64(2), "imagegen.cached": false, "gen_ai.response.model": "gemini-2.5-flash-image", "imagegen.budget.scope": "overall"},
			events: []string{"cache.miss", "budget.reserved", "budget.settled", "cache.stored"},
			attempts: []attempt{
				{"generate_content gemini-2.5-flash-image", map[string]any{"imagegen.route": "gemini", "imagegen.attempt": int64(1), "error.type": "rate_limited", "imagegen.reason": "hint", "imagegen.retry.wait": 0.2}},
				{"generate_content gemini-2.5-flash-image", map[string]any{"imagegen.route": "gemini", "imagegen.attempt": int64(2), "gen_ai.response.model": "gemini-2.5-flash-image"}},
			},
		},
		{ // retry gives up on Gemini, its breaker opens, the relay serves
			root:   map[string]any{"imagegen.route": "openrouter", "imagegen.attempts": int64(4), "gen_ai.provider.name": "openrouter", "gen_ai.response.model": "gemini-3-pro-image"},
			events: []string{"cache.miss", "budget.reserved", "failover.breaker.changed", "budget.settled", "cache.stored"},
			attempts: []attempt{
				{"generate_content gemini-2.5-flash-image", map[string]any{"imagegen.attempt": int64(1), "error.type": "unavailable", "imagegen.reason": "backoff"}},
				{"generate_content gemini-2.5-flash-image", map[string]any{"imagegen.attempt": int64(2), "error.type": "unavailable", "imagegen.reason": "backoff"}},
				{"generate_content gemini-2.5-flash-image", map[string]any{"imagegen.attempt": int64(3), "error.type": "unavailable", "imagegen.reason": "attempts exhausted"}},
				{"generate_image gemini-3-pro-image", map[string]any{"imagegen.route": "openrouter", "gen_ai.provider.name": "openrouter", "imagegen.attempt": int64(1)}},
			},
		},
		{ // the first prompt again
			root:   map[string]any{"imagegen.cached": true, "imagegen.attempts": int64(0), "imagegen.cost": 0.0},
			events: []string{"cache.hit"},
		},
		{ // Gemini skipped, its circuit open
			root:   map[string]any{"imagegen.route": "openrouter", "imagegen.attempts": int64(1)},
			events: []string{"cache.miss", "budget.reserved", "failover.route.skipped", "budget.settled", "cache.stored"},
			attempts: []attempt{
				{"generate_image gemini-3-pro-image", map[string]any{"imagegen.route": "openrouter", "imagegen.attempt": int64(1)}},
			},
		},
	}
	for i, tt := range tests {
		root := trees[i].request
		if root.Name() != "generate_content gemini-2.5-flash-image" || root.SpanKind() != trace.SpanKindInternal {
			t.Errorf("request %d: span %q (%v)", i+1, root.Name(), root.SpanKind())
		}
		check(t, root, tt.root, "request", i)
		var events []string
		for _, e := range root.Events() {
			events = append(events, e.Name)
		}
		if !inOrder(events, tt.events) {
			t.Errorf("request %d: events %q, want %q in order", i+1, events, tt.events)
		}
		kids := trees[i].attempts
		if len(kids) != len(tt.attempts) {
			t.Errorf("request %d: %d attempt spans, want %d", i+1, len(kids), len(tt.attempts))
			continue
		}
		for j, a := range tt.attempts {
			if kids[j].Name() != a.name || kids[j].SpanKind() != trace.SpanKindClient {
				t.Errorf("request %d attempt %d: span %q (%v), want %q", i+1, j+1, kids[j].Name(), kids[j].SpanKind(), a.name)
			}
			check(t, kids[j], a.attr, "attempt", i)
		}
	}

	got := out.String()
	for _, want := range []string{"== spans (stdouttrace", `"Name":"generate_content gemini-2.5-flash-image"`, "== metrics (stdoutmetric)",
		`"Name":"gen_ai.client.operation.duration"`, `"Name":"gen_ai.client.token.usage"`, `"Name":"imagegen.breaker.state"`,
		"msg=imagegen.generate", "msg=failover.breaker.changed", "request 3: served by gemini"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, secret := range []string{"emulator-key", "lighthouse", "harbour"} {
		if strings.Contains(got, secret) {
			t.Errorf("output contains %q: keys and (without opting in) prompts are never recorded", secret)
		}
	}
}

// check compares the attributes of s that want names.
func check(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]any, what string, i int) {
	t.Helper()
	got := map[string]any{}
	for _, kv := range s.Attributes() {
		got[string(kv.Key)] = kv.Value.AsInterface()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("request %d %s: %s = %v (%T), want %v", i+1, what, k, got[k], got[k], v)
		}
	}
}

// inOrder reports whether want is a subsequence of got.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
