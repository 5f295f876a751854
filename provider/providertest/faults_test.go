package providertest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone rules of America/Los_Angeles on any machine

	"github.com/sashabaranov/go-openai"
	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func detail(ae genai.APIError, typ, key string) any {
	for _, d := range ae.Details {
		if d["@type"] == "type.googleapis.com/google.rpc."+typ {
			if key == "quotaId" {
				return d["violations"].([]any)[0].(map[string]any)["quotaId"]
			}
			return d[key]
		}
	}
	return nil
}

func TestGeminiFaults(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk})
	c := geminiClient(t, srv, "test-key", nil)
	type check func(t *testing.T, resp *genai.GenerateContentResponse, err error)
	apiErr := func(code int, status string, more func(t *testing.T, ae genai.APIError)) check {
		return func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			var ae genai.APIError
			if !errors.As(err, &ae) || ae.Code != code || ae.Status != status {
				t.Fatalf("want %d %s, got %v", code, status, err)
			}
			if more != nil {
				more(t, ae)
			}
		}
	}
	transportErr := func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
		var ae genai.APIError
		if err == nil || errors.As(err, &ae) {
			t.Fatalf("want a transport error, got %v", err)
		}
	}
	for _, tc := range []struct {
		fault providertest.Fault
		check check
	}{
		{providertest.RateLimited(26500 * time.Millisecond), apiErr(429, "RESOURCE_EXHAUSTED", func(t *testing.T, ae genai.APIError) {
			if detail(ae, "RetryInfo", "retryDelay") != "26.5s" || detail(ae, "QuotaFailure", "quotaId") != "GenerateRequestsPerMinutePerProjectPerModel" {
				t.Errorf("details %v", ae.Details)
			}
		})},
		{providertest.RateLimitedUntil(clk.Now().Add(90 * time.Second)), apiErr(429, "RESOURCE_EXHAUSTED", func(t *testing.T, ae genai.APIError) {
			if detail(ae, "RetryInfo", "retryDelay") != "90s" {
				t.Errorf("details %v", ae.Details)
			}
		})},
		{providertest.DailyQuotaExhausted(), apiErr(429, "RESOURCE_EXHAUSTED", func(t *testing.T, ae genai.APIError) {
			if detail(ae, "QuotaFailure", "quotaId") != "GenerateRequestsPerDayPerProjectPerModel" || detail(ae, "RetryInfo", "retryDelay") == nil {
				t.Errorf("details %v", ae.Details)
			}
		})},
		{providertest.QuotaZero(), apiErr(429, "RESOURCE_EXHAUSTED", func(t *testing.T, ae genai.APIError) {
			if !strings.Contains(ae.Message, "limit: 0") {
				t.Errorf("message %q", ae.Message)
			}
		})},
		{providertest.PaymentRequired(), apiErr(402, "RESOURCE_EXHAUSTED", nil)},
		{providertest.ModelRetired(), apiErr(404, "NOT_FOUND", func(t *testing.T, ae genai.APIError) {
			if !strings.Contains(ae.Message, "models/gemini-3-pro-image is not found for API version v1beta") {
				t.Errorf("message %q", ae.Message)
			}
		})},
		{providertest.Unavailable(), apiErr(503, "UNAVAILABLE", nil)},
		{providertest.ProxyHTML502(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			var ae genai.APIError
			if !errors.As(err, &ae) || ae.Code != 502 || !strings.Contains(ae.Message, "<html>") {
				t.Fatalf("got %v", err)
			}
		}},
		{providertest.Status(418, `{"error":{"code":418,"message":"teapot","status":"UNKNOWN"}}`, nil), apiErr(418, "UNKNOWN", nil)},
		// genai v1.77 drops finishMessage on the Gemini API backend, so it is not checked here.
		{providertest.SafetyBlock("IMAGE_SAFETY"), func(t *testing.T, resp *genai.GenerateContentResponse, err error) {
			if err != nil || resp.Candidates[0].FinishReason != "IMAGE_SAFETY" || resp.Candidates[0].Content == nil || resp.UsageMetadata.ThoughtsTokenCount == 0 {
				t.Fatalf("got %v %+v %+v", err, resp.Candidates[0], resp.UsageMetadata)
			}
		}},
		{providertest.PromptBlocked("PROHIBITED_CONTENT"), func(t *testing.T, resp *genai.GenerateContentResponse, err error) {
			if err != nil || len(resp.Candidates) != 0 || resp.PromptFeedback.BlockReason != "PROHIBITED_CONTENT" {
				t.Fatalf("got %v %+v", err, resp)
			}
		}},
		{providertest.NoImage(), func(t *testing.T, resp *genai.GenerateContentResponse, err error) {
			if err != nil || resp.Candidates[0].FinishReason != "NO_IMAGE" || resp.Text() == "" {
				t.Fatalf("got %v %+v", err, resp)
			}
		}},
		{providertest.Latency(2 * time.Millisecond), func(t *testing.T, resp *genai.GenerateContentResponse, err error) {
			if err != nil {
				t.Fatal(err)
			}
			finalImage(t, resp)
		}},
		{providertest.Hang(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v", err)
			}
		}},
		{providertest.Reset(), transportErr},
		{providertest.Truncated(), transportErr},
		{providertest.Malformed(), transportErr},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			srv.Inject(providertest.EndpointGenerateContent, tc.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			if tc.fault.Kind != providertest.KindHang {
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
			}
			defer cancel()
			resp, err := c.Models.GenerateContent(ctx, "gemini-3-pro-image", genai.Text("a cat"), genCfg("1K", ""))
			tc.check(t, resp, err)
		})
	}
	if st := srv.Stats(); st.Faulted != 17 || st.PerEndpoint[providertest.EndpointGenerateContent] != 17 {
		t.Errorf("stats %+v", st)
	}
}

func TestOpenAIFaults(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk})
	c := openaiClient(t, srv, "test-key")
	type check func(t *testing.T, resp openai.ImageResponse, err error)
	apiErr := func(status int, code string) check {
		return func(t *testing.T, _ openai.ImageResponse, err error) {
			var ae *openai.APIError
			if !errors.As(err, &ae) || ae.HTTPStatusCode != status || ae.Code != code {
				t.Fatalf("want %d %s, got %v", status, code, err)
			}
		}
	}
	transportErr := func(t *testing.T, _ openai.ImageResponse, err error) {
		var ae *openai.APIError
		var re *openai.RequestError
		if err == nil || errors.As(err, &ae) || errors.As(err, &re) {
			t.Fatalf("want a transport error, got %v", err)
		}
	}
	for _, tc := range []struct {
		fault  providertest.Fault
		check  check
		header string // a header expected on a raw call
		value  string
	}{
		{providertest.RateLimited(26 * time.Second), apiErr(429, "rate_limit_exceeded"), "Retry-After", "26"},
		{providertest.RateLimited(6 * time.Minute), apiErr(429, "rate_limit_exceeded"), "X-Ratelimit-Reset-Requests", "6m0s"},
		{providertest.RateLimitedUntil(clk.Now().Add(time.Minute)), apiErr(429, "rate_limit_exceeded"), "Retry-After", clk.Now().Add(time.Minute).UTC().Format(http.TimeFormat)},
		{providertest.DailyQuotaExhausted(), apiErr(429, "insufficient_quota"), "", ""},
		{providertest.PaymentRequired(), apiErr(402, "billing_hard_limit_reached"), "", ""},
		{providertest.ModelRetired(), apiErr(404, "model_not_found"), "", ""},
		{providertest.Unavailable(), apiErr(503, "server_error"), "", ""},
		{providertest.SafetyBlock(""), apiErr(400, "moderation_blocked"), "", ""},
		{providertest.PromptBlocked(""), apiErr(400, "content_policy_violation"), "", ""},
		{providertest.Status(500, "oops", http.Header{"X-Test": {"1"}}), func(t *testing.T, _ openai.ImageResponse, err error) {
			var re *openai.RequestError
			if !errors.As(err, &re) || re.HTTPStatusCode != 500 {
				t.Fatalf("got %v", err)
			}
		}, "X-Test", "1"},
		{providertest.ProxyHTML502(), func(t *testing.T, _ openai.ImageResponse, err error) {
			var re *openai.RequestError
			if !errors.As(err, &re) || re.HTTPStatusCode != 502 {
				t.Fatalf("got %v", err)
			}
		}, "Content-Type", "text/html"},
		{providertest.NoImage(), func(t *testing.T, resp openai.ImageResponse, err error) {
			if err != nil || len(resp.Data) != 0 {
				t.Fatalf("got %v %+v", err, resp)
			}
		}, "", ""},
		{providertest.Hang(), func(t *testing.T, _ openai.ImageResponse, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v", err)
			}
		}, "", ""},
		{providertest.Reset(), transportErr, "", ""},
		{providertest.Truncated(), transportErr, "", ""},
		{providertest.Malformed(), transportErr, "", ""},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			srv.Inject(providertest.EndpointImagesGenerations, tc.fault)
			timeout := 10 * time.Second
			if tc.fault.Kind == providertest.KindHang {
				timeout = 50 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			resp, err := c.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"})
			tc.check(t, resp, err)
			if tc.header != "" {
				srv.Inject(providertest.EndpointImagesGenerations, tc.fault)
				hr, _ := rawPost(t, srv, "/v1/images/generations", "application/json", []byte(`{"model":"gpt-image-2","prompt":"x"}`))
				if got := hr.Header.Get(tc.header); got != tc.value {
					t.Errorf("%s = %q, want %q", tc.header, got, tc.value)
				}
			}
		})
	}
}

func TestChatFaults(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	c := openaiClient(t, srv, "test-key")
	req := openai.ChatCompletionRequest{Model: "gemini-3-pro-image", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}}
	srv.Inject(providertest.EndpointChatCompletions, providertest.SafetyBlock("IMAGE_SAFETY"), providertest.NoImage())
	resp, err := c.CreateChatCompletion(context.Background(), req)
	if err != nil || resp.Choices[0].FinishReason != openai.FinishReasonContentFilter {
		t.Fatalf("safety: %v %+v", err, resp)
	}
	resp, err = c.CreateChatCompletion(context.Background(), req)
	if err != nil || strings.Contains(resp.Choices[0].Message.Content, "data:") || resp.Choices[0].Message.Content == "" {
		t.Fatalf("no image: %v %+v", err, resp)
	}
}

func TestScriptedSequenceAndAny(t *testing.T) {
	srv := newServer(t, providertest.Options{})
	c := openaiClient(t, srv, "test-key")
	ctx := context.Background()
	f := providertest.Unavailable()
	srv.Inject(providertest.EndpointAny, f, f)
	var codes []int
	for i := 0; i < 3; i++ {
		_, err := c.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"})
		var ae *openai.APIError
		if errors.As(err, &ae) {
			codes = append(codes, ae.HTTPStatusCode)
		} else if err != nil {
			t.Fatal(err)
		} else {
			codes = append(codes, 200)
		}
	}
	if fmt.Sprint(codes) != "[503 503 200]" {
		t.Errorf("codes %v", codes)
	}
	// A zero Fault / FaultNone in a script serves normally.
	srv.Inject(providertest.EndpointImagesGenerations, providertest.FaultNone(), f)
	if _, err := c.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"}); err == nil {
		t.Fatal("want error")
	}
	if st := srv.Stats(); st.Faulted != 3 {
		t.Errorf("faulted %d", st.Faulted)
	}
	srv.Inject(providertest.EndpointAny, f)
	srv.ClearFaults()
	if _, err := c.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"}); err != nil {
		t.Fatal(err)
	}
}

func TestRandomFaultsReproducible(t *testing.T) {
	run := func(seed int64) string {
		srv := providertest.NewServer(providertest.Options{Seed: seed})
		defer srv.Close()
		c := openaiClient(t, srv, "test-key")
		srv.InjectRandom(providertest.EndpointImagesGenerations, 0.5, providertest.Unavailable(), providertest.RateLimited(time.Second))
		var out strings.Builder
		for i := 0; i < 16; i++ {
			_, err := c.CreateImage(context.Background(), openai.ImageRequest{Model: "gpt-image-2", Prompt: "x", Size: "256x256"})
			var ae *openai.APIError
			if errors.As(err, &ae) {
				fmt.Fprint(&out, ae.HTTPStatusCode, " ")
			} else {
				out.WriteString("ok ")
			}
		}
		return out.String()
	}
	a, b := run(7), run(7)
	if a != b {
		t.Errorf("same seed differs:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, "ok") || (!strings.Contains(a, "503") && !strings.Contains(a, "429")) {
		t.Errorf("not a mix: %s", a)
	}
}

func TestRateLimitPerMinute(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk, RequestsPerMinute: 3})
	g := geminiClient(t, srv, "test-key", nil)
	o := openaiClient(t, srv, "test-key")
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := g.Models.GenerateContent(ctx, "gemini-2.5-flash-image", genai.Text("x"), nil); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
	}
	_, err := g.Models.GenerateContent(ctx, "gemini-2.5-flash-image", genai.Text("x"), nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 429 || detail(ae, "RetryInfo", "retryDelay") != "30s" {
		t.Fatalf("4th call: %v", err)
	}
	// The OpenAI endpoints share the window and use their own envelope.
	_, err = o.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"})
	var oe *openai.APIError
	if !errors.As(err, &oe) || oe.HTTPStatusCode != 429 || oe.Code != "rate_limit_exceeded" {
		t.Fatalf("openai: %v", err)
	}
	clk.Advance(30 * time.Second) // the first call leaves the window
	if _, err := g.Models.GenerateContent(ctx, "gemini-2.5-flash-image", genai.Text("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Models.GenerateContent(ctx, "gemini-2.5-flash-image", genai.Text("x"), nil); err == nil {
		t.Fatal("want 429")
	}
	clk.Advance(60 * time.Second)
	if _, err := g.Models.GenerateContent(ctx, "gemini-2.5-flash-image", genai.Text("x"), nil); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.RateLimited != 3 {
		t.Errorf("rate limited %d", st.RateLimited)
	}
}

func TestRateLimitPerDay(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err) // time/tzdata is linked into this test binary
	}
	clk := newClock(time.Date(2026, 11, 10, 23, 59, 0, 0, la))
	srv := newServer(t, providertest.Options{Clock: clk, RequestsPerDay: 2})
	g := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := g.Models.GenerateContent(ctx, "gemini-2.5-flash-image", genai.Text("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err = g.Models.GenerateContent(ctx, "gemini-2.5-flash-image", genai.Text("x"), nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 429 || detail(ae, "QuotaFailure", "quotaId") != "GenerateRequestsPerDayPerProjectPerModel" || detail(ae, "RetryInfo", "retryDelay") != "60s" {
		t.Fatalf("3rd call: %v", err)
	}
	clk.Advance(time.Minute) // midnight in Los Angeles
	if _, err := g.Models.GenerateContent(ctx, "gemini-2.5-flash-image", genai.Text("x"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestCloseReleasesHungHandlers(t *testing.T) {
	srv := providertest.NewServer(providertest.Options{Latency: time.Millisecond})
	c := openaiClient(t, srv, "test-key")
	srv.Inject(providertest.EndpointAny, providertest.Hang())
	done := make(chan error)
	go func() {
		_, err := c.CreateImage(context.Background(), openai.ImageRequest{Model: "gpt-image-2", Prompt: "x"})
		done <- err
	}()
	for srv.Stats().Total == 0 {
		time.Sleep(time.Millisecond)
	}
	srv.Close()
	if err := <-done; err == nil {
		t.Fatal("want an error after Close")
	}
}

func TestRecording(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk})
	g := geminiClient(t, srv, "test-key", nil)
	if _, err := g.Models.GenerateContent(context.Background(), "gemini-3-pro-image", genai.Text("record me"), genCfg("2K", "4:3")); err != nil {
		t.Fatal(err)
	}
	r := srv.Requests()[0]
	if r.Endpoint != providertest.EndpointGenerateContent || r.Model != "gemini-3-pro-image" || !r.Time.Equal(clk.Now()) || r.Method != "POST" {
		t.Errorf("%+v", r)
	}
	if r.Header.Get("X-Goog-Api-Key") != "REDACTED" {
		t.Errorf("header %v", r.Header)
	}
	gc := r.JSON["generationConfig"].(map[string]any)
	if gc["imageConfig"].(map[string]any)["imageSize"] != "2K" {
		t.Errorf("json %v", r.JSON)
	}
	if strings.Contains(fmt.Sprint(r), "test-key") {
		t.Error("key leaked")
	}
	srv.ResetRequests()
	if len(srv.Requests()) != 0 {
		t.Error("reset")
	}

	// Credentials in headers a relay asks for are redacted too.
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/v1/images/generations", strings.NewReader(`{"model":"gpt-image-2","prompt":"p"}`))
	req.Header.Set("Authorization", "Bearer test-key")
	req.Header.Set("X-Api-Key", "relay-secret-123")
	req.Header.Set("X-Title", "my app")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := srv.Requests()[0].Header
	if h.Get("X-Api-Key") != "REDACTED" || h.Get("Authorization") != "REDACTED" || h.Get("X-Title") != "my app" {
		t.Errorf("recorded headers %v", h)
	}
}
