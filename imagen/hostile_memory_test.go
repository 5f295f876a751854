package imagen_test

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/internal/hostiletest"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// hugeCases are 2 GiB :predict answers of every shape, on the direct
// path and through genai on Vertex. Each runs in a fresh process
// (hostiletest.Child) so that its heap bound is its own.
var hugeCases = map[string]struct {
	vertex   bool
	body     hostiletest.Body
	wantCode string // Code of the error
	status   int    // StatusCode of the error
}{
	"bytesBase64Encoded chunked": {false, hostiletest.Body{Prefix: `{"predictions":[{"mimeType":"image/png","bytesBase64Encoded":"`,
		Filler: "iVBORw0KGgoAAAAN", Suffix: `"}]}`}, "RESPONSE_TOO_LARGE", 200},
	"bytesBase64Encoded with Content-Length": {false, hostiletest.Body{Prefix: `{"predictions":[{"mimeType":"image/png","bytesBase64Encoded":"`,
		Filler: "AAAA", Suffix: `"}]}`, WithLength: true}, "RESPONSE_TOO_LARGE", 200},
	"enhanced prompt": {false, hostiletest.Body{Prefix: `{"predictions":[{"mimeType":"image/png","bytesBase64Encoded":"iVBORw0KGgo=","prompt":"`,
		Filler: "A lighthouse at dusk, painted in oils. ", Suffix: `"}]}`}, "RESPONSE_TOO_LARGE", 200},
	"raiFilteredReason": {false, hostiletest.Body{Prefix: `{"predictions":[{"raiFilteredReason":"`,
		Filler: "filtered ", Suffix: `"}]}`}, "RESPONSE_TOO_LARGE", 200},
	"error body": {false, hostiletest.Body{Status: 500, Prefix: `{"error":{"code":500,"status":"INTERNAL","message":"`,
		Filler: "internal error ", Suffix: `"}}`}, "", 500},
	"gzip bomb": {false, hostiletest.Body{Prefix: `{"predictions":[{"mimeType":"image/png","bytesBase64Encoded":"`,
		Filler: "AAAA", Suffix: `"}]}`, Gzip: true}, "RESPONSE_TOO_LARGE", 200},
	"Vertex bytesBase64Encoded": {true, hostiletest.Body{Prefix: `{"predictions":[{"mimeType":"image/png","bytesBase64Encoded":"`,
		Filler: "AAAA", Suffix: `"}]}`}, "RESPONSE_TOO_LARGE", 200},
	"Vertex error body": {true, hostiletest.Body{Status: 503, Prefix: `{"error":{"code":503,"status":"UNAVAILABLE","message":"`,
		Filler: "overloaded ", Suffix: `"}}`}, "", 503},
}

// hugeCap is the cap case name runs under (hostiletest.Cap).
func hugeCap(name string) int64 {
	return hostiletest.Cap(name, defaultCapCase, imagen.DefaultMaxResponseBytes)
}

const defaultCapCase = "bytesBase64Encoded chunked"

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
	cfg := imagen.Config{APIKey: testKey, BaseURL: srv.URL, HTTPClient: srv.Client(), MaxResponseBytes: hugeCap(name), Clock: providertest.NewClock(live)}
	if tc.vertex {
		cfg.Backend, cfg.Project, cfg.Location, cfg.BearerAuth = imagen.BackendVertex, "p", "us-central1", true
	}
	g, err := imagen.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	answer.Check(hostiletest.Want{Code: tc.wantCode, Status: tc.status, ErrorMessage: "cut at 1 MiB"}, func() (string, error) {
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		return "", err
	})
}
