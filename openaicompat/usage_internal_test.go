package openaicompat

import (
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

func TestChatUsageKeepsReasoningOutOfOutputTokens(t *testing.T) {
	u := &usageJSON{PromptTokens: 20, CompletionTokens: 1500,
		CompletionTokensDetails: &tokenDetails{ImageTokens: 1290, ReasoningTokens: 200}}
	got := u.usage(1, false)
	want := provider.Usage{InputTokens: 20, OutputTokens: 1300, OutputImageTokens: 1290, ThoughtTokens: 200, Images: 1}
	if got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
}
