package gemini_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/hostiletest"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// hugeCases are 2 GiB answers of every shape a generateContent answer can
// grow in. Each runs in a fresh process (hostiletest.Child) so that its
// heap bound is its own.
var hugeCases = map[string]struct {
	body     hostiletest.Body
	wantCode string // Code of the error
	status   int    // StatusCode of the error
}{
	"inlineData chunked": {hostiletest.Body{Prefix: `{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"`,
		Filler: "iVBORw0KGgoAAAAN", Suffix: `"}}]}}]}`}, "RESPONSE_TOO_LARGE", 200},
	"inlineData with Content-Length": {hostiletest.Body{Prefix: `{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"`,
		Filler: "AAAA", Suffix: `"}}]}}]}`, WithLength: true}, "RESPONSE_TOO_LARGE", 200},
	"text part": {hostiletest.Body{Prefix: `{"candidates":[{"content":{"parts":[{"text":"`,
		Filler: "All work and no play makes Jack a dull boy. ", Suffix: `"}]}}]}`}, "RESPONSE_TOO_LARGE", 200},
	"thought signature": {hostiletest.Body{Prefix: `{"candidates":[{"content":{"parts":[{"text":"x","thoughtSignature":"`,
		Filler: "c2lnbmF0dXJl", Suffix: `"}]}}]}`}, "RESPONSE_TOO_LARGE", 200},
	"error body": {hostiletest.Body{Status: 500, Prefix: `{"error":{"code":500,"status":"INTERNAL","message":"`,
		Filler: "internal error ", Suffix: `"}}`}, "", 500},
	"gzip bomb": {hostiletest.Body{Prefix: `{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"`,
		Filler: "AAAA", Suffix: `"}}]}}]}`, Gzip: true}, "RESPONSE_TOO_LARGE", 200},
}

// hugeCap is the cap case name runs under (hostiletest.Cap), streams'
// too.
func hugeCap(name string) int64 {
	if name == "SSE endless events" {
		// genai parses each small event (about 7 MiB/s): 8 MiB is enough
		// to show that the cap holds across events.
		return 8 << 20
	}
	return hostiletest.Cap(name, defaultCapCase, gemini.DefaultMaxResponseBytes)
}

const defaultCapCase = "inlineData chunked"

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
	g, err := gemini.New(context.Background(), gemini.Config{APIKey: testKey, BaseURL: srv.URL, HTTPClient: srv.Client(),
		MaxResponseBytes: hugeCap(name), Clock: providertest.NewClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	answer.Check(hostiletest.Want{Code: tc.wantCode, Status: tc.status}, func() (string, error) {
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		return "", err
	})
}

// hugeStreamCases are 2 GiB streamGenerateContent answers (previews), in
// every shape a stream can grow in: one endless image, endless small
// events, an endless text, keep-alives that never end.
var hugeStreamCases = map[string]hostiletest.Body{
	"SSE inlineData": {Prefix: `data: {"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"`,
		Filler: "iVBORw0KGgoAAAAN", Suffix: `"}}]}}]}` + "\n\n"},
	"SSE endless events": {Filler: `data: {"candidates":[{"content":{"parts":[{"text":"` + strings.Repeat("thinking ", 2000) + `","thought":true}]}}]}` + "\r\n\r\n"},
	"SSE text part":      {Prefix: `data: {"candidates":[{"content":{"parts":[{"text":"`, Filler: "All work and no play makes Jack a dull boy. "},
	"SSE keep-alives":    {Filler: ": keep-alive\n\n"},
}

// TestHugeStreams is TestHugeAnswers for streams: each case ends with
// RESPONSE_TOO_LARGE, the connection closed, the heap bounded by the cap
// + 64 MiB.
func TestHugeStreams(t *testing.T) {
	hostiletest.RunHuge(t, "TestHugeStreamChild", hugeStreamCases, hugeCap)
}

// TestHugeStreamChild runs one case of TestHugeStreams, in the child.
func TestHugeStreamChild(t *testing.T) {
	name, body := hostiletest.ChildCase(t, hugeStreamCases, "TestHugeStreams")
	clearEnv(t)
	srv, answer := hostiletest.ServeHuge(t, body)
	g, err := gemini.New(context.Background(), gemini.Config{APIKey: testKey, BaseURL: srv.URL, HTTPClient: srv.Client(),
		MaxResponseBytes: hugeCap(name), Clock: providertest.NewClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	answer.Check(hostiletest.Want{Code: "RESPONSE_TOO_LARGE", AnyStatus: true}, func() (string, error) {
		previews := 0
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "gemini-3-pro-image",
			Options: provider.Options{provider.Previews{On: func(provider.Preview) { previews++ }}}})
		return fmt.Sprintf(" after %d previews", previews), err
	})
}
