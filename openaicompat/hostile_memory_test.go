package openaicompat_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/hostiletest"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// hugeCases are 2 GiB answers of every shape an Images API or chat
// completions answer can grow in. Each runs in a fresh process
// (hostiletest.Child) so that its heap bound is its own.
var hugeCases = map[string]struct {
	mode     openaicompat.Mode
	body     hostiletest.Body
	wantCode string // Code of the error
	status   int    // StatusCode of the error
}{
	"b64_json chunked": {openaicompat.ModeImages, hostiletest.Body{Prefix: `{"created":1,"data":[{"b64_json":"`,
		Filler: "iVBORw0KGgoAAAAN", Suffix: `"}]}`}, "RESPONSE_TOO_LARGE", 200},
	"b64_json with Content-Length": {openaicompat.ModeImages, hostiletest.Body{Prefix: `{"created":1,"data":[{"b64_json":"`,
		Filler: "AAAA", Suffix: `"}]}`, WithLength: true}, "RESPONSE_TOO_LARGE", 200},
	"revised_prompt": {openaicompat.ModeImages, hostiletest.Body{Prefix: `{"created":1,"data":[{"b64_json":"iVBORw0KGgo=","revised_prompt":"`,
		Filler: "A lighthouse at dusk, painted in oils. ", Suffix: `"}]}`}, "RESPONSE_TOO_LARGE", 200},
	"chat message text": {openaicompat.ModeChatMarkdown, hostiletest.Body{Prefix: `{"id":"x","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"`,
		Filler: "Here is your image, as you asked. ", Suffix: `"}}]}`}, "RESPONSE_TOO_LARGE", 200},
	"chat data URI": {openaicompat.ModeChatMarkdown, hostiletest.Body{Prefix: `{"id":"x","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"![image](data:image/png;base64,`,
		Filler: "AAAA", Suffix: `)"}}]}`}, "RESPONSE_TOO_LARGE", 200},
	"OpenRouter images array": {openaicompat.ModeChatImages, hostiletest.Body{Prefix: `{"id":"x","choices":[{"message":{"role":"assistant","content":"","images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,`,
		Filler: "AAAA", Suffix: `"}}]}}]}`}, "RESPONSE_TOO_LARGE", 200},
	"error body": {openaicompat.ModeImages, hostiletest.Body{Status: 500, Prefix: `{"error":{"type":"server_error","message":"`,
		Filler: "internal error ", Suffix: `"}}`}, "", 500},
	"gzip bomb": {openaicompat.ModeImages, hostiletest.Body{Prefix: `{"created":1,"data":[{"b64_json":"`,
		Filler: "AAAA", Suffix: `"}]}`, Gzip: true}, "RESPONSE_TOO_LARGE", 200},
}

// hugeCap is the cap case name runs under: 64 MiB, so that each case
// decodes little (what the test bounds, the heap against the cap + 64 MiB,
// holds whatever the cap; the text cases stay under the 32 MiB JSON cap
// either way); for defaultCapCase, the default cap, so that the default
// configuration is bounded too. Every case at the default cap took
// seconds of decoding. Under the race detector, which makes decoding ten
// times slower, every case runs at 32 MiB.
func hugeCap(name string) int64 {
	switch {
	case hostiletest.Race:
		return 32 << 20
	case name == defaultCapCase:
		return openaicompat.DefaultMaxResponseBytes
	}
	return 64 << 20
}

const defaultCapCase = "b64_json chunked"

// TestHugeAnswers serves every shape of 2 GiB answer and checks that the
// call ends with a typed error, closes the connection, and that the heap
// never held more than the cap + 64 MiB: the bound is the heap's
// high-water mark in a fresh process (hostiletest.Peak), which no
// sampling can miss.
func TestHugeAnswers(t *testing.T) {
	if hostiletest.Case() != "" {
		t.Skip("child process")
	}
	t.Parallel() // each case is a process of its own
	for _, name := range sortedKeys(hugeCases) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			limit := uint64(hugeCap(name)) + 64<<20
			p, detail := hostiletest.Child(t, "TestHugeAnswerChild", name)
			t.Logf("%s: peak %s sampled, %s bound (limit %s); %s", name, hostiletest.MiB(p.Sampled), hostiletest.MiB(p.Bound), hostiletest.MiB(limit), detail)
			if p.Bound >= limit {
				t.Errorf("heap bound %s, want under %s", hostiletest.MiB(p.Bound), hostiletest.MiB(limit))
			}
			if !strings.HasPrefix(detail, "ok") {
				t.Errorf("child: %s", detail)
			}
		})
	}
}

// TestHugeAnswerChild runs one case of TestHugeAnswers, in the child.
func TestHugeAnswerChild(t *testing.T) {
	name := hostiletest.Case()
	tc, ok := hugeCases[name]
	if !ok {
		t.Skip("run by TestHugeAnswers")
	}
	clearEnv(t)
	tc.body.Size = hostiletest.Huge
	srv, stats := hostiletest.Serve(t, tc.body)
	g, err := openaicompat.New(openaicompat.Config{APIKey: testKey, BaseURL: srv.URL + "/v1", HTTPClient: srv.Client(), Mode: tc.mode,
		MaxResponseBytes: hugeCap(name), Clock: providertest.NewClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	var genErr error
	start := time.Now()
	peak := hostiletest.Measure(func() {
		_, genErr = g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	})
	elapsed := time.Since(start)
	written, wire, closed := stats().Wait(10 * time.Second)
	var pe *provider.Error
	detail := "ok"
	switch {
	case !errors.As(genErr, &pe):
		detail = fmt.Sprintf("untyped error %v", genErr)
	case pe.Code != tc.wantCode || pe.StatusCode != tc.status || pe.Kind != provider.KindUnavailable ||
		(tc.status != 200 && !strings.Contains(pe.Message, "cut at 1 MiB")):
		detail = fmt.Sprintf("got %v (code %q status %d), want code %q status %d", pe, pe.Code, pe.StatusCode, tc.wantCode, tc.status)
	case !tc.body.Gzip && (written >= hostiletest.Huge || !closed):
		// (A gzip bomb is 2 MiB on the wire: it fits in the sockets'
		// buffers, so the server cannot see the client close; capture's
		// tests check that with a larger one.)
		detail = fmt.Sprintf("the connection was drained: server wrote %d bytes, closed early %v", written, closed)
	}
	hostiletest.Report(peak, fmt.Sprintf("%s; %v in %v; server wrote %s (%s on the wire)", detail, genErr, elapsed.Round(time.Millisecond),
		hostiletest.MiB(uint64(written)), hostiletest.MiB(uint64(wire))))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}
