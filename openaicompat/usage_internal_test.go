package openaicompat

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

func TestChatUsageKeepsReasoningOutOfOutputTokens(t *testing.T) {
	t.Parallel()
	u := &usageJSON{PromptTokens: count{n: 20}, CompletionTokens: count{n: 1500},
		CompletionTokensDetails: &tokenDetails{ImageTokens: count{n: 1290}, ReasoningTokens: count{n: 200}}}
	got, warn := u.usage(1, false)
	want := provider.Usage{InputTokens: 20, OutputTokens: 1300, OutputImageTokens: 1290, ThoughtTokens: 200, Images: 1}
	if got != want || warn != "" {
		t.Errorf("usage = %+v %q, want %+v", got, warn, want)
	}
}

// Counts out of range never fail the decoding (which would throw the
// image away) and never reach Usage: they are dropped with a warning.
func TestUsageOutOfRangeIsDroppedWithAWarning(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		`{"input_tokens":-5,"output_tokens":1e30,"input_tokens_details":{"image_tokens":2147483648,"text_tokens":"12"}}`,
		`{"prompt_tokens":-1,"completion_tokens":12.5,"completion_tokens_details":{"reasoning_tokens":-200}}`,
	} {
		var u usageJSON
		if err := json.Unmarshal([]byte(raw), &u); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		got, warn := u.usage(1, true)
		if got.InputTokens < 0 || got.OutputTokens < 0 || got.InputImageTokens < 0 || got.ThoughtTokens < 0 || got.OutputImageTokens < 0 {
			t.Errorf("%s: negative usage %+v", raw, got)
		}
		if got.InputTokens != 0 || got.OutputTokens != 0 || !strings.Contains(warn, "out of range") {
			t.Errorf("%s: usage %+v, warning %q", raw, got, warn)
		}
	}
}
