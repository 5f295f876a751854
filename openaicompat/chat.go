package openaicompat

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/internal/fanin"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// chatRequest is a chat completions body. go-openai's
// ChatCompletionRequest has no modalities or image_config, and its
// response type has no message.images or usage.cost, so the body is
// written here; the content parts reuse go-openai's ChatMessagePart.
type chatRequest struct {
	Model            string       `json:"model"`
	Messages         []chatOut    `json:"messages"`
	Modalities       []string     `json:"modalities,omitempty"`
	ImageConfig      *imageConfig `json:"image_config,omitempty"`
	Seed             *int64       `json:"seed,omitempty"`
	User             string       `json:"user,omitempty"`
	SafetyIdentifier string       `json:"safety_identifier,omitempty"`
	Stream           bool         `json:"stream"`
}

type chatOut struct {
	Role    string `json:"role"`
	Content any    `json:"content"` // a string, or []openai.ChatMessagePart with references
}

type chatResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message            chatMessageJSON `json:"message"`
		FinishReason       string          `json:"finish_reason"`
		NativeFinishReason string          `json:"native_finish_reason"`
	} `json:"choices"`
	Usage *usageJSON `json:"usage"`
	Error wireError  `json:"error"` // OpenRouter reports some upstream failures in a 200
}

func (g *Generator) chatBody(p *plan) chatRequest {
	r := chatRequest{Model: p.wire, ImageConfig: p.imageConfig(), Seed: p.req.Seed, User: p.user, SafetyIdentifier: p.safetyID}
	if g.cfg.Mode == ModeChatImages {
		r.Modalities = []string{"image", "text"}
		if g.cfg.ImageOnly {
			r.Modalities = []string{"image"}
		}
	}
	if len(p.req.References) == 0 {
		r.Messages = []chatOut{{Role: "user", Content: p.prompt}}
		return r
	}
	parts := []openai.ChatMessagePart{{Type: openai.ChatMessagePartTypeText, Text: p.prompt}}
	for _, ref := range p.req.References {
		mt := provider.SniffMIME(ref.Data) // checked against MIMEType by Request.Validate
		parts = append(parts, openai.ChatMessagePart{Type: openai.ChatMessagePartTypeImageURL,
			ImageURL: &openai.ChatMessageImageURL{URL: "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(ref.Data)}})
	}
	r.Messages = []chatOut{{Role: "user", Content: parts}}
	return r
}

type chatResult struct {
	resp  *provider.Response
	err   error
	calls int
}

// generateChat makes one chat call per image wanted, at most
// MaxConcurrency at once, and merges the answers.
func (g *Generator) generateChat(ctx context.Context, p *plan) (*provider.Response, error) {
	body, err := json.Marshal(g.chatBody(p))
	if err != nil {
		return nil, g.invalid(p.id, "", "encoding the request: %v", err)
	}
	results := fanin.Repeat(ctx, p.n, g.parallel, func(ctx context.Context) (*provider.Response, error) {
		r := g.chatCall(ctx, p, body)
		return r.resp, r.err
	})
	return fanin.Merge(&provider.Response{Provider: g.name, Model: p.id, Warnings: p.warnings}, results)
}

// blockedFinish are native finish reasons (Gemini's, passed through by
// OpenRouter) that mean a safety system withheld the image.
var blockedFinish = map[string]bool{
	"SAFETY": true, "PROHIBITED_CONTENT": true, "IMAGE_SAFETY": true, "IMAGE_PROHIBITED_CONTENT": true,
	"IMAGE_RECITATION": true, "RECITATION": true, "BLOCKLIST": true, "SPII": true,
}

// chatCall makes one chat completions call and turns its answer into a
// Response, or into the typed error an HTTP 200 without an image is.
func (g *Generator) chatCall(ctx context.Context, p *plan, body []byte) chatResult {
	var ans chatResponse
	calls, streamed, err := g.post(ctx, p, "/chat/completions", "application/json", body, &ans)
	if err != nil {
		return chatResult{err: err, calls: calls}
	}
	served := p.id
	if ans.Model != "" {
		served = g.secrets.Clean(catalogID(ans.Model), 200)
	}
	usage, uw := ans.Usage.usage(0, false)
	var cost provider.USD
	var warnings []string
	if uw != "" {
		warnings = append(warnings, uw)
	}
	if ans.Usage != nil {
		if c, ok, w := parseCost(ans.Usage.Cost); ok {
			cost = c
		} else if w != "" {
			warnings = append(warnings, w)
		}
	}
	fail := func(kind provider.Kind, code, format string, args ...any) chatResult {
		u := usage
		return chatResult{calls: calls, err: &provider.Error{Kind: kind, Provider: g.name, Model: served, StatusCode: 200,
			Code: textutil.Truncate(g.secrets.Redact(code), 100), Message: g.secrets.Clean(fmt.Sprintf(format, args...), textutil.MaxMessage), Usage: &u}}
	}
	if len(ans.Choices) == 0 {
		if ans.Error.e != nil {
			return chatResult{calls: calls, err: g.apiError(ctx, p.id, statusOf(ans.Error.e), nil, ans.Error.e, calls)}
		}
		return fail(provider.KindNoImage, "no_choices", "the answer holds no choice")
	}
	ch := ans.Choices[0]
	refs, text, dropped := extractChat(ch.Message, p.keepDrafts)
	text = streamed.Restore(text)
	if dropped > 0 {
		warnings = append(warnings, fmt.Sprintf("kept the last of %d images in the relay's text (earlier ones are drafts); set KeepDrafts to keep all", dropped+1))
	}
	srcs := make([]imageSource, len(refs))
	for i, r := range refs {
		srcs[i] = imageSource{url: r.URL, streamed: streamed}
	}
	k := g.resolve(ctx, srcs)
	images, iw, firstErr := k.images, k.warnings, k.firstErr
	warnings = append(warnings, iw...)
	usage.Images = len(images)
	if len(images) == 0 {
		usage.Images = 0
		detail := g.secrets.Clean(ch.Message.Refusal, textutil.MaxDetail)
		if detail == "" && text != "" {
			detail = "the model answered in text: " + g.secrets.Clean(text, textutil.MaxDetail)
		}
		native := strings.ToUpper(ch.NativeFinishReason)
		switch {
		case ch.FinishReason == "content_filter" || blockedFinish[native] || ch.Message.Refusal != "":
			code := orDefault(ch.NativeFinishReason, orDefault(ch.FinishReason, "refusal"))
			return fail(provider.KindContentBlocked, code, "output blocked (%s)%s", code, prefixed(detail))
		case firstErr != nil:
			r := chatResult{calls: calls, err: g.withUsage(firstErr, served, usage, calls)}
			return r
		default:
			return fail(provider.KindNoImage, orDefault(ch.NativeFinishReason, "no_image"), "no image in the answer%s", prefixed(detail))
		}
	}
	if ch.FinishReason != "" && ch.FinishReason != "stop" {
		warnings = append(warnings, "finish reason "+textutil.Truncate(g.secrets.Redact(ch.FinishReason), 100))
	}
	warnings = append(warnings, ensureFormat(images, p.format)...)
	return chatResult{calls: calls, resp: &provider.Response{Images: images, Text: g.secrets.Clean(text, textutil.MaxKept), Provider: g.name, Model: served,
		Usage: usage, Cost: cost, Attempts: calls, Warnings: warnings}}
}

func statusOf(ae *openai.APIError) int {
	if c, ok := ae.Code.(int); ok && c >= 400 && c < 600 {
		return c
	}
	return 200
}

func prefixed(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}
