package gemini_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// zeroQuotaBody reads one of the real zero-quota bodies kept beside the
// classifier (internal/googleerr/testdata/README.md gives their sources).
func zeroQuotaBody(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "internal", "googleerr", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestZeroQuotaShapes: both real shapes of a zero quota, "limit: 0" in the
// message (with RetryInfo 10s and per-day quota IDs) and quotaValue "0"
// in the violation, are CodeFreeTierNoQuota: KindQuotaExhausted, no
// RetryAfter, a message that says what to do. A relay that wraps the
// envelope in HTTP 200 gets the same.
func TestZeroQuotaShapes(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		status     int
	}{
		{"limit: 0 in the message", "limit0_message.json", 429},
		{"quotaValue 0", "quotavalue0.json", 429},
		{"quotaValue 0 inside HTTP 200", "quotavalue0.json", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{}, gemini.Config{})
			srv.Inject(providertest.EndpointGenerateContent, providertest.Status(tc.status, zeroQuotaBody(t, tc.file), nil))
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", Model: "gemini-2.5-flash-image"})
			var pe *provider.Error
			if !errors.As(err, &pe) || !errors.Is(err, provider.ErrQuotaExhausted) {
				t.Fatalf("got %v, want ErrQuotaExhausted", err)
			}
			if pe.Code != gemini.CodeFreeTierNoQuota || pe.StatusCode != 429 || pe.RetryAfter != 0 {
				t.Errorf("code %q status %d RetryAfter %v: %v", pe.Code, pe.StatusCode, pe.RetryAfter, err)
			}
			if _, ok := provider.RetryAfter(err); ok || provider.IsRetryable(err) {
				t.Errorf("a zero quota must not look retryable: %v", err)
			}
			msg := err.Error()
			for _, want := range []string{"gemini gemini-2.5-flash-image: quota exhausted (429 FREE_TIER_NO_QUOTA)",
				"the model has no free-tier quota (limit: 0); waiting does not help: enable billing for the project or use another model",
				"You exceeded your current quota"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, "retry in") || strings.Contains(msg, testKey) {
				t.Errorf("misleading or secret text in %q", msg)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d upstream calls", n)
			}
		})
	}
}
