package taskapi_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/retry"
	"github.com/imagegen-go/imagegen/taskapi"
)

// TestRefusals: every refusal is typed, in the service's own words,
// whatever envelope it came in (Kie's HTTP 200 with a code in the body).
func TestRefusals(t *testing.T) {
	t.Parallel()
	kieCode := func(code int, msg string) providertest.Fault {
		return providertest.Status(200, `{"code":`+strconv.Itoa(code)+`,"msg":"`+msg+`","data":null}`, nil)
	}
	for _, tc := range []struct {
		name    string
		cfg     taskapi.Config
		opts    providertest.Options
		ep      providertest.Endpoint
		fault   providertest.Fault
		kind    error
		status  int
		words   string
		hint    time.Duration
		retries bool
	}{
		{"kie 401 in 200", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieCreate, kieCode(401, "You do not have access permissions"),
			provider.ErrAuth, 401, "access permissions", 0, false},
		{"kie 402 credits", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieCreate, providertest.PaymentRequired(),
			provider.ErrQuotaExhausted, 402, "Insufficient Credits", 0, false},
		{"kie 402 as HTTP status", taskapi.Kie(""), providertest.Options{Tasks: providertest.TaskOptions{KieHTTPStatus: true}},
			providertest.EndpointKieCreate, providertest.PaymentRequired(), provider.ErrQuotaExhausted, 402, "Insufficient Credits", 0, false},
		{"kie 422 validation", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieCreate, kieCode(422, "Validation Error - bad aspect_ratio"),
			provider.ErrInvalidRequest, 422, "bad aspect_ratio", 0, false},
		{"kie 429", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieCreate, providertest.RateLimited(3 * time.Second),
			provider.ErrRateLimited, 429, "request limit", 10 * time.Second, true},
		{"kie 433 sub-key", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieCreate, providertest.DailyQuotaExhausted(),
			provider.ErrQuotaExhausted, 433, "Sub-key", 0, false},
		{"kie 455 maintenance", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieCreate, providertest.Unavailable(),
			provider.ErrUnavailable, 455, "maintenance", 0, true},
		{"kie 404 model", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieCreate, providertest.ModelRetired(),
			provider.ErrModelNotFound, 404, "model not found", 0, false},
		{"kie 505 disabled", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieCreate, kieCode(505, "Feature Disabled"),
			provider.ErrModelNotFound, 505, "Feature Disabled", 0, false},
		{"kie prompt refused", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieCreate, providertest.PromptBlocked("violence"),
			provider.ErrContentBlocked, 422, "content policy", 0, false},
		{"kie 401 on read", taskapi.Kie(""), providertest.Options{}, providertest.EndpointKieRecord, kieCode(401, "Unauthorized"),
			provider.ErrAuth, 401, "Unauthorized", 0, false},
		{"replicate 402", taskapi.Replicate(""), providertest.Options{}, providertest.EndpointReplicateCreate, providertest.PaymentRequired(),
			provider.ErrQuotaExhausted, 402, "insufficient credit", 0, false},
		{"replicate 429 retry_after", taskapi.Replicate(""), providertest.Options{}, providertest.EndpointReplicateCreate, providertest.RateLimited(7 * time.Second),
			provider.ErrRateLimited, 429, "throttled", 7 * time.Second, true},
		{"replicate low credit", taskapi.Replicate(""), providertest.Options{}, providertest.EndpointReplicateCreate, providertest.QuotaZero(),
			provider.ErrRateLimited, 429, "less than $5.0", 10 * time.Second, true},
		{"replicate 404 model", taskapi.Replicate(""), providertest.Options{}, providertest.EndpointReplicateCreate, providertest.ModelRetired(),
			provider.ErrModelNotFound, 404, "could not be found", 0, false},
		{"replicate prompt refused", taskapi.Replicate(""), providertest.Options{}, providertest.EndpointReplicateCreate, providertest.PromptBlocked("x"),
			provider.ErrContentBlocked, 422, "flagged as sensitive", 0, false},
		{"apimart 402", taskapi.APIMart(""), providertest.Options{}, providertest.EndpointAPIMartCreate, providertest.PaymentRequired(),
			provider.ErrQuotaExhausted, 402, "Insufficient balance", 0, false},
		{"apimart 429", taskapi.APIMart(""), providertest.Options{}, providertest.EndpointAPIMartCreate, providertest.RateLimited(4 * time.Second),
			provider.ErrRateLimited, 429, "slow down", 4 * time.Second, true},
		{"apimart 200 with code", taskapi.APIMart(""), providertest.Options{}, providertest.EndpointAPIMartCreate,
			providertest.Status(200, `{"code":402,"msg":"balance too low"}`, nil), provider.ErrQuotaExhausted, 402, "balance too low", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, tc.opts)
			g := generator(t, srv, tc.cfg, clk)
			srv.Inject(tc.ep, tc.fault)
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			var pe *provider.Error
			if !errors.As(err, &pe) || !errors.Is(err, tc.kind) {
				t.Fatalf("err %v; want %v", err, tc.kind)
			}
			if pe.StatusCode != tc.status || !strings.Contains(strings.ToLower(pe.Message), strings.ToLower(tc.words)) {
				t.Errorf("status %d message %q; want %d with %q", pe.StatusCode, pe.Message, tc.status, tc.words)
			}
			if pe.RetryAfter != tc.hint || provider.IsRetryable(err) != tc.retries || pe.Provider != string(tc.cfg.Service) {
				t.Errorf("hint %v retryable %v provider %q; want %v %v", pe.RetryAfter, provider.IsRetryable(err), pe.Provider, tc.hint, tc.retries)
			}
		})
	}
}

// TestFailedTasks: a task that ends badly is a typed error with the
// service's failure words.
func TestFailedTasks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     taskapi.Config
		outcome providertest.TaskOutcome
		fault   providertest.Fault
		kind    error
		code    string
		words   string
	}{
		{"kie failCode 500", taskapi.Kie(""), providertest.TaskFails("500", "Internal server error"), providertest.Fault{},
			provider.ErrUnavailable, "500", "Internal server error"},
		{"kie 501", taskapi.Kie(""), providertest.TaskFails("501", "Generation Failed"), providertest.Fault{},
			provider.ErrUnavailable, "501", "Generation Failed"},
		{"kie moderation", taskapi.Kie(""), providertest.TaskSucceeds(), providertest.SafetyBlock("nudity"),
			provider.ErrContentBlocked, "400", "content policy (nudity)"},
		{"kie no result", taskapi.Kie(""), providertest.TaskSucceeds(), providertest.NoImage(),
			provider.ErrNoImage, "", "without a result"},
		{"replicate failed", taskapi.Replicate(""), providertest.TaskFails("", "CUDA out of memory"), providertest.Fault{},
			provider.ErrUnavailable, "failed", "CUDA out of memory"},
		{"replicate E005", taskapi.Replicate(""), providertest.TaskSucceeds(), providertest.SafetyBlock("x"),
			provider.ErrContentBlocked, "failed", "flagged as sensitive"},
		{"apimart failed", taskapi.APIMart(""), providertest.TaskFails("upstream_error", "upstream model error"), providertest.Fault{},
			provider.ErrUnavailable, "upstream_error", "upstream model error"},
		{"apimart moderation", taskapi.APIMart(""), providertest.TaskSucceeds(), providertest.SafetyBlock("x"),
			provider.ErrContentBlocked, "content_policy_violation", "safety system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, providertest.Options{})
			g := generator(t, srv, tc.cfg, clk)
			srv.ScriptTasks(tc.outcome)
			if tc.fault.Kind != providertest.KindNone {
				srv.Inject(providertest.EndpointAny, tc.fault)
			}
			_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			var pe *provider.Error
			if !errors.As(err, &pe) || !errors.Is(err, tc.kind) {
				t.Fatalf("err %v; want %v", err, tc.kind)
			}
			if pe.Code != tc.code || !strings.Contains(pe.Message, tc.words) {
				t.Errorf("code %q message %q; want %q with %q", pe.Code, pe.Message, tc.code, tc.words)
			}
		})
	}
}

// TestPartialResults: images that succeeded are returned when a sibling
// task failed, and the failure is a warning.
func TestPartialResults(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{})
	g := generator(t, srv, taskapi.Kie(""), clk)
	srv.ScriptTasks(providertest.TaskSucceeds(), providertest.TaskFails("501", "Generation Failed"), providertest.TaskSucceeds())
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p", N: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 2 || resp.Usage.Images != 2 || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "Generation Failed") {
		t.Errorf("%d images, billed %d, warnings %q", len(resp.Images), resp.Usage.Images, resp.Warnings)
	}
	if resp.Cost != 180_000 {
		t.Errorf("cost %v; want the two tasks' 36 credits", resp.Cost)
	}
}

// TestReplicateSyncMode: Prefer: wait ends the call with the prediction
// when it finishes within the wait; a longer one is polled after.
func TestReplicateSyncMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		wait  time.Duration
		takes time.Duration
		polls bool
	}{
		{"within the wait", 0, 20 * time.Second, false},
		{"longer than the wait", 5 * time.Second, 20 * time.Second, true},
		{"sync off", -1, 3 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, providertest.Options{Tasks: providertest.TaskOptions{Duration: tc.takes}})
			cfg := taskapi.Replicate("")
			cfg.SyncWait = tc.wait
			g := generator(t, srv, cfg, clk)
			resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			if err != nil || len(resp.Images) != 1 {
				t.Fatalf("%v %v", resp, err)
			}
			c := requestsTo(srv, providertest.EndpointReplicateCreate)[0]
			if got := c.Header.Get("Prefer") != ""; got != (tc.wait >= 0) {
				t.Errorf("Prefer %q", c.Header.Get("Prefer"))
			}
			if polls := len(requestsTo(srv, providertest.EndpointReplicateGet)); (polls > 0) != tc.polls {
				t.Errorf("%d polls", polls)
			}
		})
	}
}

// TestCancelOnContext: when the caller gives up, a Replicate prediction
// is cancelled; a Kie task, which cannot be, is resumed by a retry of the
// same request instead of being started again.
func TestCancelOnContext(t *testing.T) {
	t.Parallel()
	t.Run("replicate cancels", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{Tasks: providertest.TaskOptions{Duration: time.Hour}})
		cfg := taskapi.Replicate("")
		cfg.SyncWait = -1
		g := generator(t, srv, cfg, clk)
		ctx, cancel := context.WithCancel(context.Background())
		srv.Inject(providertest.EndpointReplicateGet, providertest.FaultNone(), providertest.Hang())
		go func() {
			for len(requestsTo(srv, providertest.EndpointReplicateGet)) < 2 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
			t.Fatalf("err %v", err)
		}
		if n := len(requestsTo(srv, providertest.EndpointReplicateCancel)); n != 1 {
			t.Fatalf("%d cancels", n)
		}
		if ti := srv.Tasks()[0]; !ti.Canceled || ti.State != "canceled" {
			t.Errorf("task %+v", ti)
		}
	})
	t.Run("kie resumes", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{Tasks: providertest.TaskOptions{Duration: time.Minute}})
		g := generator(t, srv, taskapi.Kie(""), clk)
		req := &provider.Request{Prompt: "p"}
		ctx, cancel := context.WithCancel(context.Background())
		srv.Inject(providertest.EndpointKieRecord, providertest.Hang())
		go func() {
			for len(requestsTo(srv, providertest.EndpointKieRecord)) < 1 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := g.Generate(ctx, req)
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Code != taskapi.CodeStillRunning || !errors.Is(err, taskapi.ErrStillRunning) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		resp, err := g.Generate(context.Background(), req)
		if err != nil || len(resp.Images) != 1 {
			t.Fatalf("retry: %v %v", resp, err)
		}
		if n := len(requestsTo(srv, providertest.EndpointKieCreate)); n != 1 {
			t.Errorf("%d tasks created; the retry must resume the first", n)
		}
		if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "resumed") {
			t.Errorf("warnings %q", resp.Warnings)
		}
	})
}

// TestRetryNeverResubmits runs the retry decorator over the adapter: a
// wait that ran out, a download that failed and a lost submit never
// start a second task that may already run.
func TestRetryNeverResubmits(t *testing.T) {
	t.Parallel()
	retrying := func(t *testing.T, g provider.Generator, clk provider.Clock) provider.Generator {
		mw, err := retry.New(retry.Policy{Clock: clk, MaxAttempts: 4})
		if err != nil {
			t.Fatal(err)
		}
		return provider.Chain(g, mw)
	}
	t.Run("wait ran out", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{Tasks: providertest.TaskOptions{Duration: 50 * time.Second}})
		cfg := taskapi.Kie("")
		cfg.Poll.MaxWait = 20 * time.Second
		g := retrying(t, generator(t, srv, cfg, clk), clk)
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if err != nil || len(resp.Images) != 1 {
			t.Fatalf("%v %v", resp, err)
		}
		if n := len(requestsTo(srv, providertest.EndpointKieCreate)); n != 1 {
			t.Errorf("%d tasks created", n)
		}
	})
	t.Run("download failed", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := retrying(t, generator(t, srv, taskapi.APIMart(""), clk), clk)
		srv.Inject(providertest.EndpointTaskFiles, providertest.Unavailable())
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if err != nil || len(resp.Images) != 1 {
			t.Fatalf("%v %v", resp, err)
		}
		if n := len(requestsTo(srv, providertest.EndpointAPIMartCreate)); n != 1 {
			t.Errorf("%d tasks created", n)
		}
		if n := len(requestsTo(srv, providertest.EndpointTaskFiles)); n != 2 {
			t.Errorf("%d downloads, want 2", n)
		}
	})
	t.Run("apimart lost answer", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := retrying(t, generator(t, srv, taskapi.APIMart(""), clk), clk)
		srv.LoseAnswers(providertest.EndpointAPIMartCreate, 1)
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if err != nil || len(resp.Images) != 1 {
			t.Fatalf("%v %v", resp, err)
		}
		creates := requestsTo(srv, providertest.EndpointAPIMartCreate)
		if len(creates) != 2 || len(srv.Tasks()) != 1 || creates[0].Body == nil ||
			string(creates[0].Body) != string(creates[1].Body) {
			t.Errorf("%d creates, %d tasks; want the same submit twice and one task", len(creates), len(srv.Tasks()))
		}
	})
	t.Run("apimart lost answers until the retry", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := retrying(t, generator(t, srv, taskapi.APIMart(""), clk), clk)
		srv.LoseAnswers(providertest.EndpointAPIMartCreate, 3) // the adapter's own three tries
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if err != nil || len(resp.Images) != 1 {
			t.Fatalf("%v %v", resp, err)
		}
		if n := len(srv.Tasks()); n != 1 {
			t.Errorf("%d tasks; the retry must resend the same Idempotency-Key", n)
		}
	})
	t.Run("replicate lost answer", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := retrying(t, generator(t, srv, taskapi.Replicate(""), clk), clk)
		srv.LoseAnswers(providertest.EndpointReplicateCreate, 1)
		resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if err != nil || len(resp.Images) != 1 {
			t.Fatalf("%v %v", resp, err)
		}
		if n := len(srv.Tasks()); n != 1 || len(requestsTo(srv, providertest.EndpointReplicateList)) != 1 {
			t.Errorf("%d predictions, %d lookups; want the lost one found", n, len(requestsTo(srv, providertest.EndpointReplicateList)))
		}
	})
	t.Run("replicate refused create is retried", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := retrying(t, generator(t, srv, taskapi.Replicate(""), clk), clk)
		srv.Inject(providertest.EndpointReplicateCreate, providertest.RateLimited(2*time.Second))
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Tasks()); n != 1 {
			t.Errorf("%d predictions", n)
		}
	})
	t.Run("kie lost answer is not retried", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := retrying(t, generator(t, srv, taskapi.Kie(""), clk), clk)
		srv.LoseAnswers(providertest.EndpointKieCreate, 1)
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		var pe *provider.Error
		if !errors.Is(err, taskapi.ErrOutcomeUnknown) || !errors.As(err, &pe) || pe.Code != taskapi.CodeOutcomeUnknown || provider.IsRetryable(err) {
			t.Fatalf("err %v", err)
		}
		if n := len(requestsTo(srv, providertest.EndpointKieCreate)); n != 1 {
			t.Errorf("%d creates; an unknown outcome must not be resubmitted", n)
		}
	})
	t.Run("kie 500 on create is not retried", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{Tasks: providertest.TaskOptions{KieHTTPStatus: true}})
		g := retrying(t, generator(t, srv, taskapi.Kie(""), clk), clk)
		srv.Inject(providertest.EndpointKieCreate, providertest.Status(http.StatusInternalServerError, `{"code":500,"msg":"Server Error"}`, nil))
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
		if !errors.Is(err, taskapi.ErrOutcomeUnknown) {
			t.Fatalf("err %v", err)
		}
		if n := len(requestsTo(srv, providertest.EndpointKieCreate)); n != 1 {
			t.Errorf("%d creates", n)
		}
	})
	t.Run("failed task is retried as a new task", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		g := retrying(t, generator(t, srv, taskapi.Kie(""), clk), clk)
		srv.ScriptTasks(providertest.TaskFails("500", "Internal server error"))
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Tasks()); n != 2 {
			t.Errorf("%d tasks; a failed task runs no more, so a second may start", n)
		}
	})
}

// TestTransientReadErrors: a read that fails is retried on the schedule,
// not returned.
func TestTransientReadErrors(t *testing.T) {
	t.Parallel()
	for name, cfg := range presets() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, providertest.Options{})
			cfg.SyncWait = -1
			g := generator(t, srv, cfg, clk)
			ep := map[string]providertest.Endpoint{"kie": providertest.EndpointKieRecord, "replicate": providertest.EndpointReplicateGet,
				"apimart": providertest.EndpointAPIMartTask}[name]
			srv.Inject(ep, providertest.Unavailable(), providertest.Reset(), providertest.Malformed(), providertest.Truncated(),
				providertest.ProxyHTML502(), providertest.RateLimited(3*time.Second))
			resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			if err != nil || len(resp.Images) != 1 {
				t.Fatalf("%v %v", resp, err)
			}
		})
	}
}

// TestKieDownloadURL: a result link that refuses a direct download is
// fetched through Kie's download-url endpoint.
func TestKieDownloadURL(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{})
	g := generator(t, srv, taskapi.Kie(""), clk)
	srv.Inject(providertest.EndpointTaskFiles, providertest.Status(http.StatusForbidden, "AccessDenied", nil))
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil || len(resp.Images) != 1 {
		t.Fatalf("%v %v", resp, err)
	}
	if n := len(requestsTo(srv, providertest.EndpointKieDownloadURL)); n != 1 {
		t.Errorf("%d download-url calls", n)
	}
}
