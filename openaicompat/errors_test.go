package openaicompat_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestErrors(t *testing.T) {
	t.Parallel()
	imagesEP := providertest.EndpointImagesGenerations
	chatEP := providertest.EndpointChatCompletions
	chat := openaicompat.Config{Mode: openaicompat.ModeChatImages, Model: "gemini-3-pro-image"}
	tests := []struct {
		name   string
		cfg    openaicompat.Config
		ep     providertest.Endpoint
		fault  providertest.Fault
		kind   provider.Kind
		status int
		code   string
		retry  time.Duration
		check  func(t *testing.T, e *provider.Error)
	}{
		{"rate limited, Retry-After seconds", openaicompat.Config{}, imagesEP, providertest.RateLimited(7 * time.Second), provider.KindRateLimited, 429, "rate_limit_exceeded", 7 * time.Second, nil},
		{"rate limited, Retry-After date", openaicompat.Config{}, imagesEP, providertest.RateLimitedUntil(now.Add(90 * time.Second)), provider.KindRateLimited, 429, "rate_limit_exceeded", 90 * time.Second, nil},
		{"rate limited, try again in", openaicompat.Config{}, imagesEP,
			providertest.Status(429, `{"error":{"message":"Rate limit reached. Please try again in 12s.","type":"requests","code":"rate_limit_exceeded"}}`, http.Header{}),
			provider.KindRateLimited, 429, "rate_limit_exceeded", 12 * time.Second, nil},
		{"insufficient_quota is a 429 no wait fixes", openaicompat.Config{}, imagesEP, providertest.DailyQuotaExhausted(), provider.KindQuotaExhausted, 429, "insufficient_quota", 0, nil},
		{"402", openaicompat.Config{}, imagesEP, providertest.PaymentRequired(), provider.KindQuotaExhausted, 402, "billing_hard_limit_reached", 0, nil},
		{"model_not_found on a live catalog model without a replacement", openaicompat.Config{}, imagesEP, providertest.ModelRetired(), provider.KindModelNotFound, 404, "model_not_found", 0, nil},
		{"model_not_found on a deprecated model names its replacement", openaicompat.Config{Model: "gpt-image-1.5"}, imagesEP, providertest.ModelRetired(), provider.KindModelRetired, 404, "model_not_found", 0,
			func(t *testing.T, e *provider.Error) {
				if !strings.Contains(e.Message, "use gpt-image-2.6-sunburst") {
					t.Errorf("message %q", e.Message)
				}
			}},
		{"model_not_found on an unknown model", openaicompat.Config{Model: "my-image-model"}, imagesEP, providertest.ModelRetired(), provider.KindModelNotFound, 404, "model_not_found", 0, nil},
		{"503", openaicompat.Config{}, imagesEP, providertest.Unavailable(), provider.KindUnavailable, 503, "server_error", 0, nil},
		{"HTML 502", openaicompat.Config{}, imagesEP, providertest.ProxyHTML502(), provider.KindUnavailable, 502, "", 0,
			func(t *testing.T, e *provider.Error) {
				var re *openai.RequestError
				if e.Message != "502 Bad Gateway" || !errors.As(e, &re) || re.HTTPStatusCode != 502 {
					t.Errorf("message %q, RequestError %v", e.Message, re)
				}
			}},
		{"moderation_blocked", openaicompat.Config{}, imagesEP, providertest.SafetyBlock(""), provider.KindContentBlocked, 400, "moderation_blocked", 0,
			func(t *testing.T, e *provider.Error) {
				var ae *openai.APIError
				if !errors.As(e, &ae) || ae.HTTPStatusCode != 400 {
					t.Errorf("APIError %v", ae)
				}
			}},
		{"content_policy_violation", openaicompat.Config{}, imagesEP, providertest.PromptBlocked(""), provider.KindContentBlocked, 400, "content_policy_violation", 0, nil},
		{"200 without an image", openaicompat.Config{}, imagesEP, providertest.NoImage(), provider.KindNoImage, 200, "no_image", 0,
			func(t *testing.T, e *provider.Error) {
				if e.Usage == nil || e.Usage.InputTokens == 0 || e.Usage.Images != 0 {
					t.Errorf("usage %+v", e.Usage)
				}
			}},
		{"truncated", openaicompat.Config{}, imagesEP, providertest.Truncated(), provider.KindUnavailable, 200, "MALFORMED", 0, nil},
		{"malformed", openaicompat.Config{}, imagesEP, providertest.Malformed(), provider.KindUnavailable, 200, "MALFORMED", 0, nil},
		{"reset", openaicompat.Config{}, imagesEP, providertest.Reset(), provider.KindUnavailable, 0, "", 0, nil},
		{"other 400", openaicompat.Config{}, imagesEP, providertest.Status(400, `{"error":{"message":"Invalid prompt","type":"invalid_request_error","param":"prompt","code":"invalid_value"}}`, http.Header{}),
			provider.KindInvalidRequest, 400, "invalid_value", 0, nil},
		{"numeric code", openaicompat.Config{}, imagesEP, providertest.Status(500, `{"error":{"message":"upstream failed","type":"upstream_error","code":500}}`, http.Header{}),
			provider.KindUnavailable, 500, "500", 0, nil},
		{"403", openaicompat.Config{}, imagesEP, providertest.Status(403, `{"error":{"message":"Project does not have access","type":"invalid_request_error"}}`, http.Header{}),
			provider.KindAuth, 403, "", 0, nil},
		{"chat content_filter", chat, chatEP, providertest.SafetyBlock("IMAGE_SAFETY"), provider.KindContentBlocked, 200, "IMAGE_SAFETY", 0,
			func(t *testing.T, e *provider.Error) {
				if e.Usage == nil || e.Usage.InputTokens == 0 {
					t.Errorf("usage %+v", e.Usage)
				}
			}},
		{"chat text only", chat, chatEP, providertest.NoImage(), provider.KindNoImage, 200, "STOP", 0,
			func(t *testing.T, e *provider.Error) {
				if !strings.Contains(e.Message, "answered in text") {
					t.Errorf("message %q", e.Message)
				}
			}},
		{"chat prompt blocked", chat, chatEP, providertest.PromptBlocked(""), provider.KindContentBlocked, 400, "content_policy_violation", 0, nil},
		{"chat rate limited", chat, chatEP, providertest.RateLimited(3 * time.Second), provider.KindRateLimited, 429, "rate_limit_exceeded", 3 * time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, g := setup(t, providertest.Options{}, tt.cfg)
			srv.Inject(tt.ep, tt.fault)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "a cat"})
			e := kindOf(t, err, tt.kind)
			if e.StatusCode != tt.status || e.Code != tt.code || e.Provider != "openai" || e.Model == "" {
				t.Errorf("status %d code %q provider %q model %q; want %d %q: %v", e.StatusCode, e.Code, e.Provider, e.Model, tt.status, tt.code, err)
			}
			if got, _ := provider.RetryAfter(err); got != tt.retry {
				t.Errorf("RetryAfter = %v, want %v", got, tt.retry)
			}
			if strings.Contains(e.Message, "<") {
				t.Errorf("markup in message %q", e.Message)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

func TestHangTimesOut(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, openaicompat.Config{})
	srv.Inject(providertest.EndpointImagesGenerations, providertest.Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
	kindOf(t, err, provider.KindTimeout)
	if !provider.IsRetryable(err) {
		t.Error("a timeout is retryable")
	}
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	_, g := setup(t, providertest.Options{}, openaicompat.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
	if !errors.Is(err, context.Canceled) || provider.IsRetryable(err) {
		t.Errorf("err %v", err)
	}
}

func TestKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	const wrong = "sk-proj-WRONGKEY-abcdefghijklmnop9876"
	srv, _ := setup(t, providertest.Options{}, openaicompat.Config{})
	g, err := openaicompat.New(openaicompat.Config{APIKey: wrong, BaseURL: srv.URL() + "/v1", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	e := kindOf(t, err, provider.KindAuth)
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), "9876") || !strings.Contains(e.Message, "[REDACTED]") {
		t.Errorf("key material in %q", err.Error())
	}
	if e.Code != "invalid_api_key" || e.StatusCode != 401 {
		t.Errorf("%+v", e)
	}
	// A relay that echoes the key verbatim.
	srv.Inject(providertest.EndpointImagesGenerations, providertest.Status(400, `{"error":{"message":"bad request from key `+testKey+`","type":"invalid_request_error"}}`, http.Header{}))
	gg, _ := openaicompat.New(openaicompat.Config{APIKey: testKey, BaseURL: srv.URL() + "/v1", HTTPClient: srv.Client()})
	_, err = gg.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("err %v", err)
	}
}

func TestPartialFailureKeepsImages(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, openaicompat.Config{Mode: openaicompat.ModeChatImages, Model: "gemini-3-pro-image", MaxConcurrency: 1})
	srv.Inject(providertest.EndpointChatCompletions, providertest.FaultNone(), providertest.Unavailable(), providertest.FaultNone())
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 2 || resp.Attempts != 3 || !strings.Contains(strings.Join(resp.Warnings, ";"), "of 3 failed: ") {
		t.Errorf("images %d attempts %d warnings %v", len(resp.Images), resp.Attempts, resp.Warnings)
	}
	// All fail: the error carries what the blocked calls billed.
	srv.Inject(providertest.EndpointChatCompletions, providertest.SafetyBlock(""), providertest.SafetyBlock(""))
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 2})
	e := kindOf(t, err, provider.KindContentBlocked)
	if e.Usage == nil || e.Usage.InputTokens < 2 {
		t.Errorf("usage %+v", e.Usage)
	}
}
