package gemini

import (
	"context"
	"errors"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestFileResultLines(t *testing.T) {
	providertest.ClearEnv(t)
	g, err := New(context.Background(), Config{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line, key string
		kind      provider.Kind
	}{
		{`{"key":"a","error":{"code":8,"message":"Resource has been exhausted (e.g. check quota)."}}`, "a", provider.KindRateLimited},
		{`{"key":"b","error":{"code":3,"message":"Request contains an invalid argument."}}`, "b", provider.KindInvalidRequest},
		{`{"key":"c","response":{"candidates":[{"content":{"parts":[{"text":"no"}]},"finishReason":"STOP"}]}}`, "c", provider.KindNoImage},
		{`{"key":"d"}`, "d", provider.KindUnavailable},
		{`{"key":"e","response":"oops"}`, "e", provider.KindUnavailable},
		{`{"key":7,"response":{"candidates":[]}}`, "7", provider.KindNoImage},
		{`not json at all`, "6", provider.KindUnavailable},
		{`{"key":"h","response":{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"%%%"}}]}}]}}`, "h", provider.KindUnavailable},
	}
	for i, tc := range tests {
		r := g.fileResult("m", i, []byte(tc.line))
		if r.Key != tc.key {
			t.Errorf("%s: key %q, want %q", tc.line, r.Key, tc.key)
		}
		var pe *provider.Error
		if !errors.As(r.Err, &pe) || pe.Kind != tc.kind || pe.Provider != "gemini" {
			t.Errorf("%s: err %v (kind %v), want %v", tc.line, r.Err, provider.KindOf(r.Err), tc.kind)
		}
	}
}
