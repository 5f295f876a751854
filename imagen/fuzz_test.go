package imagen_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/provider"
)

// FuzzDecodePredict feeds random HTTP 200 bodies to the :predict parser:
// it never panics, and the result is either images that really are images
// or a typed *provider.Error.
func FuzzDecodePredict(f *testing.F) {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	f.Add([]byte(`{"predictions":[{"bytesBase64Encoded":"` + png + `","mimeType":"image/png"}]}`))
	f.Add([]byte(`{"predictions":[{"bytesBase64Encoded":"` + png + `","mimeType":"image/jpeg","prompt":"enhanced"},{"raiFilteredReason":"Filtered"}]}`))
	f.Add([]byte(`{"predictions":[{"raiFilteredReason":"Filtered"}]}`))
	f.Add([]byte(`{"predictions":[{"safetyAttributes":{"contentType":"Positive Prompt"}}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"predictions":[{"bytesBase64Encoded":"@@@"}, 3, null]}`))
	f.Add([]byte(`{"error":{"code":429,"message":"limit: 0","status":"RESOURCE_EXHAUSTED"}}`))
	f.Add([]byte(`{"candidates":[{"content":`))
	f.Add([]byte(`<html>502</html>`))
	clearEnv(f)
	g, err := imagen.New(context.Background(), imagen.Config{APIKey: "fuzz-key-0123"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := g.DecodePredict(body)
		checkResult(t, resp, err, "")
	})
}

// checkResult is the invariant of every answer: a response with real
// images, each counted in Usage.Images, or a typed error that does not
// show key (when key is not "").
func checkResult(t *testing.T, resp *provider.Response, err error, key string) {
	t.Helper()
	if err != nil {
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind == provider.KindUnknown || resp != nil {
			t.Fatalf("untyped failure %T %v (resp %v)", err, err, resp)
		}
		if key != "" && strings.Contains(err.Error(), key) {
			t.Fatalf("the key shows: %v", err)
		}
		return
	}
	if resp == nil || len(resp.Images) == 0 || resp.Usage.Images != len(resp.Images) {
		t.Fatalf("success without images: %+v", resp)
	}
	for _, img := range resp.Images {
		if mt := provider.SniffMIME(img.Data); mt == "" || mt != img.MIMEType {
			t.Fatalf("image labelled %q sniffs as %q", img.MIMEType, mt)
		}
	}
}

// Only a real "all filtered" answer is a content block: a corrupt or
// foreign answer is the provider's trouble, which retry and failover act on.
func TestDecodePredictTellsBlocksFromBrokenAnswers(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	g, err := imagen.New(context.Background(), imagen.Config{APIKey: "test-key-0123"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		body string
		kind provider.Kind
	}{
		{`{}`, provider.KindContentBlocked},
		{`{"predictions":[{"raiFilteredReason":"Filtered"}]}`, provider.KindContentBlocked},
		{`{"predictions":[]}`, provider.KindContentBlocked},
		{`{"predictions":[{"bytesBase64Encoded":"@@@@"}]}`, provider.KindUnavailable},
		{`{"predictions":[3]}`, provider.KindUnavailable},
		{`{"error":"upstream overloaded"}`, provider.KindUnavailable},
		{`{"message":"bad gateway"}`, provider.KindUnavailable},
		{`null`, provider.KindUnavailable},
		{`{"predictions":[{"bytesBase64Encoded":"aGVsbG8="}]}`, provider.KindNoImage}, // decodes, but not an image
	}
	for _, tt := range tests {
		_, err := g.DecodePredict([]byte(tt.body))
		if got := provider.KindOf(err); got != tt.kind {
			t.Errorf("%s: %v (%v), want %v", tt.body, got, err, tt.kind)
		}
	}
}

// fuzzStatuses are the statuses FuzzGenerateAnswer serves bodies under.
var fuzzStatuses = []int{200, 200, 200, 400, 401, 403, 404, 429, 500, 503}

// FuzzGenerateAnswer serves arbitrary bodies, under success and error
// statuses, from a loopback server to Generate on both backends: the
// direct :predict client and genai's GenerateImages on Vertex, through
// the whole transport (caps, streaming decoder, checks). Every result is a
// response with real images or a typed *provider.Error without the key.
func FuzzGenerateAnswer(f *testing.F) {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	seeds := []string{
		// PROVIDERS.md §4.
		`{"predictions":[{"bytesBase64Encoded":"` + png + `","mimeType":"image/png"},{"raiFilteredReason":"Unable to show generated images. All images were filtered out because they violated Vertex AI's usage guidelines. Support codes: 56562880"}]}`,
		`{"predictions":[{"bytesBase64Encoded":"` + png + `","mimeType":"image/png","prompt":"An enhanced prompt"},{"safetyAttributes":{"categories":["Violence"],"scores":[0.1]},"contentType":"Positive Prompt"}]}`,
		`{}`,
		`{"error":{"code":400,"message":"Image generation failed with the following error: The prompt could not be submitted. This prompt contains sensitive words that violate Google's Responsible AI practices.","status":"INVALID_ARGUMENT"}}`,
		`{"error":{"code":404,"message":"models/imagen-4.0-generate-001 is not found for API version v1beta, or is not supported for predict.","status":"NOT_FOUND"}}`,
		`{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"41s"}]}}`,
		`<html><title>502 Bad Gateway</title></html>`, ``, `null`, `{"predictions":[null, 3, "x"]}`, `{"predictions":[{"bytesBase64Encoded":"@@@"}]}`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i))
	}
	h, gens := hostileGens(f, "fuzz-key-AIzaSy0123456789")
	f.Fuzz(func(t *testing.T, body []byte, pick uint8) {
		h.Set(fuzzStatuses[int(pick)%len(fuzzStatuses)], string(body), nil)
		g := gens[int(pick/16)%len(gens)]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
		checkResult(t, resp, err, "fuzz-key-AIza")
	})
}
