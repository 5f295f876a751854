package ratelimit_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// TestZeroQuotaIsNotADailyQuota runs both real zero-quota bodies through
// retry → ratelimit → gemini on the emulator. The call is not retried
// (whatever RetryInfo says), and the limiter does not mark the day used
// up: a minute later the next request goes upstream instead of being
// refused locally until midnight. A real per-day quota, for contrast, is
// refused locally until midnight Pacific.
func TestZeroQuotaIsNotADailyQuota(t *testing.T) {
	clearEnv(t)
	body := func(file string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "googleerr", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name      string
		fault     providertest.Fault
		code      string
		dayUsedUp bool
	}{
		{"limit: 0 in the message", providertest.Status(429, body("limit0_message.json"), nil), gemini.CodeFreeTierNoQuota, false},
		{"quotaValue 0", providertest.Status(429, body("quotavalue0.json"), nil), gemini.CodeFreeTierNoQuota, false},
		{"emulator QuotaZero", providertest.QuotaZero(), gemini.CodeFreeTierNoQuota, false},
		{"per-day quota", providertest.DailyQuotaExhausted(), "RESOURCE_EXHAUSTED", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock(noon) // 04:00 in Los Angeles
			srv := providertest.NewServer(providertest.Options{APIKey: "k", Clock: clk})
			defer srv.Close()
			adapter, err := gemini.New(context.Background(), gemini.Config{APIKey: "k", BaseURL: srv.URL(), HTTPClient: srv.Client(), Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			var tries []provider.Event
			ctx := provider.WithEventHandler(context.Background(), func(_ context.Context, e provider.Event) {
				if e.Kind == provider.EventRetryAttempt {
					tries = append(tries, e)
				}
			})
			g := provider.Chain(adapter,
				testutil.Must(retry.New(retry.Policy{Clock: clk})),
				testutil.Must(ratelimit.New(ratelimit.Config{Clock: clk})))
			req := &provider.Request{Prompt: "p", Model: "gemini-2.5-flash-image"}

			srv.Inject(providertest.EndpointGenerateContent, tc.fault)
			_, err = g.Generate(ctx, req)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindQuotaExhausted || pe.Code != tc.code || pe.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("first call: %v", err)
			}
			if len(tries) != 1 || tries[0].Reason != retry.StopNotRetryable || len(srv.Requests()) != 1 {
				t.Fatalf("retried: %d tries %+v, %d upstream calls", len(tries), tries, len(srv.Requests()))
			}
			if tc.code == gemini.CodeFreeTierNoQuota && (pe.RetryAfter != 0 || tries[0].Wait != 0) {
				t.Errorf("a zero quota carries a wait: RetryAfter %v, wait %v", pe.RetryAfter, tries[0].Wait)
			}

			clk.Advance(time.Minute)
			_, err = g.Generate(context.Background(), req)
			if !tc.dayUsedUp {
				if err != nil || len(srv.Requests()) != 2 {
					t.Fatalf("next request: %v after %d upstream calls; want it sent and served", err, len(srv.Requests()))
				}
				return
			}
			if !isLocal(err, provider.KindQuotaExhausted) || len(srv.Requests()) != 1 {
				t.Fatalf("next request: %v after %d upstream calls; want a local refusal", err, len(srv.Requests()))
			}
			if d, _ := provider.RetryAfter(err); d != 20*time.Hour-time.Minute {
				t.Errorf("RetryAfter = %v, want until midnight Pacific", d)
			}
		})
	}
}

// TestZeroQuotaCodeKeepsTheDay: the limiter's rule on its own, with an
// upstream that answers CodeFreeTierNoQuota once.
func TestZeroQuotaCodeKeepsTheDay(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	up := &counter{next: func(n int) error {
		if n == 1 {
			return &provider.Error{Kind: provider.KindQuotaExhausted, StatusCode: 429, Code: gemini.CodeFreeTierNoQuota, Provider: "fake"}
		}
		return nil
	}}
	g := testutil.Must(ratelimit.New(ratelimit.Config{Clock: clk, RequestsPerDay: 100}))(up)
	if err := gen(t, g, context.Background(), 1); !errors.Is(err, provider.ErrQuotaExhausted) {
		t.Fatal(err)
	}
	if err := gen(t, g, context.Background(), 1); err != nil || up.calls.Load() != 2 {
		t.Fatalf("err = %v, upstream calls %d; want the second call sent", err, up.calls.Load())
	}
}
