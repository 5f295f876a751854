package retry_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/retry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newClock() *providertest.Clock {
	return providertest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
}

// script returns a generator that answers with errs in turn, then succeeds.
func script(calls *int, errs ...error) provider.Generator {
	return provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		*calls++
		if *calls <= len(errs) {
			return nil, errs[*calls-1]
		}
		return &provider.Response{Provider: "fake", Images: []provider.Image{{Data: []byte("x")}}}, nil
	})
}

func perr(k provider.Kind, hint time.Duration) error {
	return &provider.Error{Kind: k, Provider: "fake", Message: k.String(), RetryAfter: hint}
}

// noJitter gives predictable intervals: 100ms, 200ms, 400ms...
var noJitter = retry.Policy{InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, RandomizationFactor: -1}

func TestRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		policy    retry.Policy
		errs      []error
		timeout   time.Duration
		wantCalls int
		wantWaits []time.Duration
		wantErr   provider.Kind // KindUnknown: success
		reason    string
	}{
		{"success at once", noJitter, nil, 0, 1, nil, 0, ""},
		{"503 twice then success, exponential waits", noJitter,
			[]error{perr(provider.KindUnavailable, 0), perr(provider.KindUnavailable, 0)}, 0, 3,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, 0, ""},
		{"wait is at least the hint", noJitter,
			[]error{perr(provider.KindRateLimited, 7*time.Second)}, 0, 2, []time.Duration{7 * time.Second}, 0, ""},
		{"back-off longer than the hint wins", retry.Policy{InitialInterval: 3 * time.Second, RandomizationFactor: -1},
			[]error{perr(provider.KindRateLimited, time.Second)}, 0, 2, []time.Duration{3 * time.Second}, 0, ""},
		{"hint beyond MaxWait returns at once", retry.Policy{MaxWait: 10 * time.Second},
			[]error{perr(provider.KindRateLimited, 30*time.Second)}, 0, 1, nil, provider.KindRateLimited, retry.StopHintTooLong},
		{"hint beyond the deadline returns at once", noJitter,
			[]error{perr(provider.KindRateLimited, 5*time.Second)}, time.Second, 1, nil, provider.KindRateLimited, retry.StopDeadline},
		{"attempts exhausted", retry.Policy{MaxAttempts: 3, RandomizationFactor: -1, InitialInterval: time.Second},
			[]error{perr(provider.KindTimeout, 0), perr(provider.KindTimeout, 0), perr(provider.KindTimeout, 0), perr(provider.KindTimeout, 0)},
			0, 3, []time.Duration{time.Second, 2 * time.Second}, provider.KindTimeout, retry.StopExhausted},
		{"quota exhaustion is never retried", noJitter, []error{perr(provider.KindQuotaExhausted, time.Second)}, 0, 1, nil, provider.KindQuotaExhausted, retry.StopNotRetryable},
		{"content block is never retried", noJitter, []error{perr(provider.KindContentBlocked, 0)}, 0, 1, nil, provider.KindContentBlocked, retry.StopNotRetryable},
		{"invalid request is never retried", noJitter, []error{perr(provider.KindInvalidRequest, 0)}, 0, 1, nil, provider.KindInvalidRequest, retry.StopNotRetryable},
		{"auth is never retried", noJitter, []error{perr(provider.KindAuth, 0)}, 0, 1, nil, provider.KindAuth, retry.StopNotRetryable},
		{"cancelled is never retried", noJitter, []error{context.Canceled}, 0, 1, nil, provider.KindUnknown, retry.StopContext},
		{"custom Retryable", retry.Policy{Retryable: func(err error) bool { return errors.Is(err, provider.ErrNoImage) }, RandomizationFactor: -1, InitialInterval: time.Second},
			[]error{perr(provider.KindNoImage, 0)}, 0, 2, []time.Duration{time.Second}, 0, ""},
		{"MaxWait caps a long back-off", retry.Policy{InitialInterval: time.Minute, MaxInterval: time.Hour, MaxWait: 10 * time.Second, RandomizationFactor: -1},
			[]error{perr(provider.KindUnavailable, 0)}, 0, 2, []time.Duration{10 * time.Second}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			p := tt.policy
			p.Clock = clk
			calls := 0
			g := testutil.Must(retry.New(p))(script(&calls, tt.errs...))
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			resp, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
			if calls != tt.wantCalls {
				t.Errorf("upstream calls = %d, want %d", calls, tt.wantCalls)
			}
			if got := clk.Waits(); !equalDurations(got, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", got, tt.wantWaits)
			}
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if resp.Attempts != tt.wantCalls {
					t.Errorf("Attempts = %d, want %d", resp.Attempts, tt.wantCalls)
				}
				return
			}
			var re *retry.Error
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *retry.Error", err, err)
			}
			if re.Reason != tt.reason || re.Attempts != tt.wantCalls {
				t.Errorf("reason %q attempts %d, want %q %d", re.Reason, re.Attempts, tt.reason, tt.wantCalls)
			}
			if got := provider.KindOf(err); got != tt.wantErr {
				t.Errorf("KindOf = %v, want %v", got, tt.wantErr)
			}
			if tt.wantErr != provider.KindUnknown && !errors.Is(err, tt.wantErr.Sentinel()) {
				t.Errorf("errors.Is(err, %v) is false", tt.wantErr)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJitterStaysInRange(t *testing.T) {
	t.Parallel()
	clk := newClock()
	calls := 0
	errs := make([]error, 3)
	for i := range errs {
		errs[i] = perr(provider.KindUnavailable, 0)
	}
	g := testutil.Must(retry.New(retry.Policy{Clock: clk, InitialInterval: time.Second, RandomizationFactor: 0.5}))(script(&calls, errs...))
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
		t.Fatal(err)
	}
	for i, w := range clk.Waits() {
		base := time.Second << i
		if w < base/2 || w > base*3/2 {
			t.Errorf("wait %d = %v, outside [%v, %v]", i, w, base/2, base*3/2)
		}
	}
}

func TestAttemptsSumInnerAttempts(t *testing.T) {
	t.Parallel()
	clk := newClock()
	n := 0
	inner := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		n++
		if n == 1 {
			return nil, perr(provider.KindUnavailable, 0)
		}
		return &provider.Response{Attempts: 2}, nil // e.g. an adapter that fanned out
	})
	resp, err := testutil.Must(retry.New(retry.Policy{Clock: clk}))(inner).Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil || resp.Attempts != 3 {
		t.Fatalf("Attempts = %v, err %v; want 3", resp, err)
	}
}

func TestAttemptEvents(t *testing.T) {
	t.Parallel()
	clk := newClock()
	var got []provider.Event
	calls := 0
	p := noJitter
	p.Clock = clk
	p.MaxAttempts = 3
	inner := script(&calls, perr(provider.KindRateLimited, 2*time.Second), perr(provider.KindUnavailable, 0), perr(provider.KindUnavailable, 0))
	g := provider.Chain(describing{inner.(provider.GeneratorFunc)}, testutil.Must(retry.New(p)))
	ctx := provider.WithEventHandler(context.Background(), func(_ context.Context, e provider.Event) { got = append(got, e) })
	_, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
	if err == nil {
		t.Fatal("want an error")
	}
	if len(got) != 3 {
		t.Fatalf("handler saw %d events: %+v", len(got), got)
	}
	for i, e := range got {
		if e.Kind != provider.EventRetryAttempt || e.Attempt != i+1 || e.Calls != 1 || e.Err == nil || e.Provider != "fake" || e.Model != "m" {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	if got[0].Wait != 2*time.Second || got[0].Reason != "hint" {
		t.Errorf("first try: wait %v, reason %q; want the 2s hint", got[0].Wait, got[0].Reason)
	}
	if got[1].Wait <= 0 || got[1].Reason != "backoff" {
		t.Errorf("second try: wait %v, reason %q; want a back-off", got[1].Wait, got[1].Reason)
	}
	if got[2].Wait != 0 || got[2].Reason != retry.StopExhausted {
		t.Errorf("last try: wait %v, reason %q; want %q", got[2].Wait, got[2].Reason, retry.StopExhausted)
	}
}

func TestContextDoneDuringWait(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	blocked := blockingClock{}
	calls := 0
	g := testutil.Must(retry.New(retry.Policy{Clock: blocked}))(provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		calls++
		cancel()
		return nil, perr(provider.KindUnavailable, 0)
	}))
	_, err := g.Generate(ctx, &provider.Request{Prompt: "p"})
	var re *retry.Error
	if !errors.As(err, &re) || re.Reason != retry.StopContext || calls != 1 {
		t.Fatalf("err = %v, calls %d", err, calls)
	}
}

// blockingClock never fires.
type blockingClock struct{}

func (blockingClock) Now() time.Time                       { return time.Time{} }
func (blockingClock) After(time.Duration) <-chan time.Time { return nil }

func TestForwardsDescribe(t *testing.T) {
	t.Parallel()
	inner := describing{}
	g := testutil.Must(retry.New(retry.Policy{}))(inner)
	if d := provider.Describe(g); d.Provider != "fake" || d.Model != "m" {
		t.Errorf("Describe = %+v", d)
	}
}

type describing struct{ provider.GeneratorFunc }

func (describing) Describe() provider.Description {
	return provider.Description{Provider: "fake", Model: "m"}
}

// clearEnv hides the provider variables the SDKs read.
func clearEnv(t testing.TB) {
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
		"GOOGLE_GEMINI_BASE_URL", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION",
		"GOOGLE_APPLICATION_CREDENTIALS", "OPENAI_API_KEY", "OPENAI_BASE_URL"} {
		t.Setenv(k, "")
	}
}

// TestHintsEndToEnd drives the real Gemini adapter against the emulator:
// each way a provider can say "wait" becomes the retry's wait.
func TestHintsEndToEnd(t *testing.T) {
	googleBody := `{"error":{"code":429,"message":"%s","status":"RESOURCE_EXHAUSTED"}}`
	tests := []struct {
		name  string
		fault func(clk *providertest.Clock) providertest.Fault
		want  time.Duration
	}{
		{"RetryInfo", func(*providertest.Clock) providertest.Fault { return providertest.RateLimited(7 * time.Second) }, 7 * time.Second},
		{"Retry-After seconds", func(*providertest.Clock) providertest.Fault {
			return providertest.Status(429, fmtBody(googleBody, "slow down"), http.Header{"Retry-After": {"9"}})
		}, 9 * time.Second},
		{"Retry-After date", func(clk *providertest.Clock) providertest.Fault {
			return providertest.Status(429, fmtBody(googleBody, "slow down"),
				http.Header{"Retry-After": {clk.Now().Add(11 * time.Second).UTC().Format(http.TimeFormat)}})
		}, 11 * time.Second},
		{"try again in text", func(*providertest.Clock) providertest.Fault {
			return providertest.Status(429, fmtBody(googleBody, "Rate limit reached. Please try again in 13s."), nil)
		}, 13 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			clk := newClock()
			srv := providertest.NewServer(providertest.Options{APIKey: "k", Clock: clk})
			defer srv.Close()
			g, err := gemini.New(context.Background(), gemini.Config{APIKey: "k", BaseURL: srv.URL(), HTTPClient: srv.Client(), Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			srv.Inject(providertest.EndpointGenerateContent, tt.fault(clk))
			p := noJitter
			p.Clock = clk
			resp, err := testutil.Must(retry.New(p))(g).Generate(context.Background(), &provider.Request{Prompt: "p"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Attempts != 2 {
				t.Errorf("Attempts = %d", resp.Attempts)
			}
			if w := clk.Waits(); len(w) != 1 || w[0] != tt.want {
				t.Errorf("waits = %v, want [%v]", w, tt.want)
			}
		})
	}
}

func fmtBody(format, msg string) string { return strings.Replace(format, "%s", msg, 1) }

// A try the rate limiter refused made no upstream call.
func TestLocalRefusalIsNotAnAttempt(t *testing.T) {
	t.Parallel()
	clk := newClock()
	n := 0
	inner := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		n++
		if n == 1 {
			return nil, &provider.Error{Kind: provider.KindRateLimited, Code: provider.CodeLocalLimit, RetryAfter: time.Second}
		}
		return &provider.Response{}, nil
	})
	resp, err := testutil.Must(retry.New(retry.Policy{Clock: clk}))(inner).Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil || resp.Attempts != 1 {
		t.Fatalf("Attempts = %+v, err %v; want 1 upstream call", resp, err)
	}
}

// TestNilRequest: a nil request is a typed request error, never sent down.
func TestNilRequest(t *testing.T) {
	t.Parallel()
	called := false
	g := testutil.Must(retry.New(retry.Policy{}))(provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		called = true
		return &provider.Response{}, nil
	}))
	if _, err := g.Generate(context.Background(), nil); !errors.Is(err, provider.ErrInvalidRequest) || called {
		t.Errorf("err %v, called %v", err, called)
	}
}
