package taskapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/taskapi"
)

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	base := taskapi.Kie("k-123456789")
	for name, mutate := range map[string]func(*taskapi.Config){
		"service":          func(c *taskapi.Config) { c.Service = "midjourney" },
		"base url":         func(c *taskapi.Config) { c.BaseURL = "ftp://kie" },
		"upload url":       func(c *taskapi.Config) { c.UploadURL = "not a url" },
		"concurrency":      func(c *taskapi.Config) { c.MaxConcurrency = -1 },
		"response bytes":   func(c *taskapi.Config) { c.MaxResponseBytes = -1 },
		"credit":           func(c *taskapi.Config) { c.CreditUSD = -1 },
		"per second":       func(c *taskapi.Config) { c.PerSecond = -1 },
		"fetch bytes":      func(c *taskapi.Config) { c.Fetch.MaxBytes = -1 },
		"poll floor":       func(c *taskapi.Config) { c.Poll.MinInterval = -time.Second },
		"sync wait":        func(c *taskapi.Config) { c.SyncWait = 61 * time.Second },
		"cancel after":     func(c *taskapi.Config) { c.CancelAfter = time.Second },
		"model of another": func(c *taskapi.Config) { c.Model = "replicate/google/nano-banana-pro" },
	} {
		cfg := base
		mutate(&cfg)
		_, err := taskapi.New(cfg)
		var ce *provider.ConfigError
		if !errors.Is(err, provider.ErrInvalidConfig) || !errors.As(err, &ce) || errors.Is(err, provider.ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := taskapi.New(taskapi.Replicate("")); !errors.Is(err, provider.ErrAuth) {
		t.Errorf("no key: %v", err)
	}
}

func TestKeyFromEnvironment(t *testing.T) {
	t.Setenv("REPLICATE_API_TOKEN", "r8_from_env_0123456789")
	if _, err := taskapi.New(taskapi.Replicate("")); err != nil {
		t.Errorf("REPLICATE_API_TOKEN: %v", err)
	}
	cfg := taskapi.Replicate("")
	cfg.BaseURL = "https://relay.example"
	if _, err := taskapi.New(cfg); !errors.Is(err, provider.ErrAuth) {
		t.Errorf("the environment's key went to a relay: %v", err)
	}
	_ = os.Unsetenv("REPLICATE_API_TOKEN")
}

// TestSecretsNeverShow: no formatting of a Config, Generator, Webhooks or
// WebhookConfig prints a secret, and neither does an error whose answer
// echoed the key.
func TestSecretsNeverShow(t *testing.T) {
	t.Parallel()
	const key = "kie-secret-key-0123456789abcdef"
	cfg := taskapi.Kie(key)
	cfg.BaseURL = "https://user:pass@api.kie.ai?token=abc"
	g, err := taskapi.New(taskapi.Kie(key))
	if err != nil {
		t.Fatal(err)
	}
	wc := taskapi.WebhookConfig{URL: "https://example.com/h?sig=x", ReplicateSecret: "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTAxMjM0NQ==", KieKey: "kie-hmac-0123456789"}
	hooks, err := taskapi.NewWebhooks(wc)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{cfg, &cfg, g, hooks, wc} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range []string{key, "pass", "c2VjcmV0", "kie-hmac", "token=abc"} {
				if strings.Contains(out, s) {
					t.Errorf("%s of %T shows %q: %s", verb, v, s, out)
				}
			}
		}
	}
	// An answer that echoes the key.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = fmt.Fprintf(w, `{"code":401,"msg":"key %s is not valid (was %s)"}`, key, key[:20])
	}))
	defer srv.Close()
	c := taskapi.Kie(key)
	c.BaseURL, c.HTTPClient = srv.URL, srv.Client()
	g2, _ := taskapi.New(c)
	_, err = g2.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err == nil || strings.Contains(err.Error(), key[:12]) || strings.Contains(fmt.Sprintf("%#v", err), key[:12]) {
		t.Errorf("error shows the key: %v", err)
	}
}

// TestAnswersCapped: an answer larger than its cap ends the call, typed.
func TestAnswersCapped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"code":200,"msg":"` + strings.Repeat("x", 2<<20) + `"}`))
	}))
	defer srv.Close()
	cfg := taskapi.Kie(testKey)
	cfg.BaseURL, cfg.HTTPClient, cfg.MaxResponseBytes = srv.URL, srv.Client(), 1<<20
	g, err := taskapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	var pe *provider.Error
	if !errors.As(err, &pe) || (pe.Code != "RESPONSE_TOO_LARGE" && !errors.Is(err, taskapi.ErrOutcomeUnknown)) {
		t.Fatalf("err %v", err)
	}
	// A result larger than Fetch.MaxBytes is refused.
	emu, clk := emulator(t, providertest.Options{LargeImageBytes: 64 << 10})
	c := config(emu, taskapi.APIMart(""), clk)
	c.Fetch.MaxBytes = 16 << 10
	g, err = taskapi.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("oversized result: %v", err)
	}
}

// TestFetchPolicy: results on private addresses are refused by default.
func TestFetchPolicy(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{})
	cfg := config(srv, taskapi.APIMart(""), clk)
	cfg.Fetch = taskapi.FetchPolicy{}
	g, err := taskapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Code != "url_blocked" || pe.Usage == nil || pe.Usage.Images != 1 {
		t.Fatalf("err %v", err)
	}
}

// TestMeterPricesTasks: the budget reserves before the submit, and the
// meter prices each service: a reported cost wins, else the catalog's
// per-image price.
func TestMeterPricesTasks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cfg    taskapi.Config
		req    provider.Request
		cost   provider.USD
		method catalog.Method
	}{
		{"kie credits", taskapi.Kie(""), provider.Request{Prompt: "p", N: 2, Size: "4K"}, 240_000, catalog.MethodReported},
		{"replicate per image", taskapi.Replicate(""), provider.Request{Prompt: "p", N: 2, Size: "4K"}, 600_000, catalog.MethodPerImage},
		{"replicate default size", taskapi.Replicate(""), provider.Request{Prompt: "p"}, 150_000, catalog.MethodPerImage},
		{"apimart reported", taskapi.APIMart(""), provider.Request{Prompt: "p", N: 3, Size: "2K"}, 90_000, catalog.MethodReported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, providertest.Options{})
			var mu sync.Mutex
			var recs []pricing.Record
			budget, err := pricing.NewBudget(pricing.BudgetConfig{Clock: clk, Limits: pricing.Limits{Daily: 10_000_000}})
			if err != nil {
				t.Fatal(err)
			}
			meter, err := pricing.NewMeter(pricing.MeterConfig{Budget: budget, Clock: clk, OnRecord: func(r pricing.Record) {
				mu.Lock()
				defer mu.Unlock()
				recs = append(recs, r)
			}})
			if err != nil {
				t.Fatal(err)
			}
			g := provider.Chain(generator(t, srv, tc.cfg, clk), meter.Middleware())
			req := tc.req
			resp, err := g.Generate(context.Background(), &req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Cost != tc.cost || len(recs) != 1 || recs[0].Method != tc.method || recs[0].Estimate < tc.cost {
				t.Errorf("cost %v, records %+v; want %v by %s, reserved at least that", resp.Cost, recs, tc.cost, tc.method)
			}
		})
	}
	t.Run("budget refuses before the submit", func(t *testing.T) {
		t.Parallel()
		srv, clk := emulator(t, providertest.Options{})
		budget, err := pricing.NewBudget(pricing.BudgetConfig{Clock: clk, Limits: pricing.Limits{Daily: 100_000}})
		if err != nil {
			t.Fatal(err)
		}
		meter, _ := pricing.NewMeter(pricing.MeterConfig{Budget: budget, Clock: clk})
		g := provider.Chain(generator(t, srv, taskapi.Replicate(""), clk), meter.Middleware())
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); !errors.Is(err, provider.ErrBudgetExceeded) {
			t.Fatalf("err %v", err)
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
}

// TestFailover: routes skip a task route that cannot serve a request,
// and fail over from one service to another.
func TestFailover(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{})
	kie := generator(t, srv, taskapi.Kie(""), clk)
	rep := generator(t, srv, taskapi.Replicate(""), clk)
	d := kie.Describe()
	if d.Provider != "kie" || d.Model != "kie/nano-banana-pro" || d.Capabilities.MaxReferences != 8 || d.Capabilities.Mask ||
		d.Capabilities.MaxImages != provider.MaxN || len(d.Capabilities.Sizes) != 3 {
		t.Errorf("describe %+v", d)
	}
	fo, err := failover.New(failover.Config{Clock: clk, Routes: []failover.Route{{Name: "kie", Generator: kie}, {Name: "replicate", Generator: rep}}})
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]provider.Image, 10)
	for i := range refs {
		refs[i] = provider.Image{Data: pngBytes(t, 2)}
	}
	// Ten references: Kie takes 8, Replicate 14.
	resp, err := fo.Generate(context.Background(), &provider.Request{Prompt: "p", References: refs})
	if err != nil || resp.Provider != "replicate" {
		t.Fatalf("%v %v", resp, err)
	}
	// Kie out of credits: Replicate serves.
	srv.Inject(providertest.EndpointKieCreate, providertest.PaymentRequired())
	resp, err = fo.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil || resp.Provider != "replicate" {
		t.Fatalf("%v %v", resp, err)
	}
}

func TestRateLimitPresets(t *testing.T) {
	t.Parallel()
	for _, cfg := range []ratelimit.Config{taskapi.RateLimit(taskapi.ServiceKie), taskapi.RateLimit(taskapi.ServiceReplicate),
		taskapi.RateLimit(taskapi.ServiceAPIMart), taskapi.ReplicateLowCredit()} {
		if _, err := ratelimit.New(cfg); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	// Kie: no 10-second window holds more than 20 starts.
	clk := providertest.NewClock(start())
	cfg := taskapi.RateLimit(taskapi.ServiceKie)
	cfg.Clock = clk
	mw, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var starts []time.Time
	g := provider.Chain(provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		starts = append(starts, clk.Now())
		return &provider.Response{}, nil
	}), mw)
	for range 100 {
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range starts {
		n := 0
		for _, s := range starts[i:] {
			if s.Sub(starts[i]) < 10*time.Second {
				n++
			}
		}
		if n > 20 {
			t.Fatalf("%d starts within 10s of %v", n, starts[i])
		}
	}
}

func TestNilGenerator(t *testing.T) {
	t.Parallel()
	var g *taskapi.Generator
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("Generate: %v", err)
	}
	if _, err := g.Submit(context.Background(), &provider.Request{Prompt: "p"}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("Submit: %v", err)
	}
	if d := g.Describe(); d.Provider != "" || g.String() != "taskapi.Generator(nil)" || fmt.Sprintf("%v", g) != "<nil>" || g.Service() != "" {
		t.Errorf("nil describe %+v %s", d, g)
	}
	var h *taskapi.Webhooks
	if h.URL() != "" || h.String() != "taskapi.Webhooks(nil)" {
		t.Error("nil Webhooks")
	}
}
