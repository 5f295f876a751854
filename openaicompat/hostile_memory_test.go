package openaicompat_test

import (
	"context"
	"testing"

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

// hugeCap is the cap case name runs under (hostiletest.Cap).
func hugeCap(name string) int64 {
	return hostiletest.Cap(name, defaultCapCase, openaicompat.DefaultMaxResponseBytes)
}

const defaultCapCase = "b64_json chunked"

// TestHugeAnswers serves every shape of 2 GiB answer and checks that the
// call ends with a typed error, closes the connection, and that the heap
// never held more than the cap + 64 MiB: the bound is the heap's
// high-water mark in a fresh process (hostiletest.Peak), which no
// sampling can miss.
func TestHugeAnswers(t *testing.T) {
	hostiletest.RunHuge(t, "TestHugeAnswerChild", hugeCases, hugeCap)
}

// TestHugeAnswerChild runs one case of TestHugeAnswers, in the child.
func TestHugeAnswerChild(t *testing.T) {
	name, tc := hostiletest.ChildCase(t, hugeCases, "TestHugeAnswers")
	clearEnv(t)
	srv, answer := hostiletest.ServeHuge(t, tc.body)
	g, err := openaicompat.New(openaicompat.Config{APIKey: testKey, BaseURL: srv.URL + "/v1", HTTPClient: srv.Client(), Mode: tc.mode,
		MaxResponseBytes: hugeCap(name), Clock: providertest.NewClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	answer.Check(hostiletest.Want{Code: tc.wantCode, Status: tc.status, ErrorMessage: "cut at 1 MiB"}, func() (string, error) {
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		return "", err
	})
}
