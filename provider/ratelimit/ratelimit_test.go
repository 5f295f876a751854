package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // the zone rules of America/Los_Angeles on any machine

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/clock"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

func newClock(t time.Time) *clock.Fake { return clock.NewFake(t) }

var noon = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// counter is an upstream that counts calls and answers with next().
type counter struct {
	calls atomic.Int32
	next  func(n int) error
}

func (c *counter) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	n := int(c.calls.Add(1))
	if c.next != nil {
		if err := c.next(n); err != nil {
			return nil, err
		}
	}
	return &provider.Response{Provider: "fake", Attempts: 1}, nil
}

func (c *counter) Describe() provider.Description { return provider.Description{Provider: "fake"} }

func gen(t *testing.T, g provider.Generator, ctx context.Context, n int) error {
	t.Helper()
	_, err := g.Generate(ctx, &provider.Request{Prompt: "p", N: n})
	return err
}

func isLocal(err error, kind provider.Kind) bool {
	var pe *provider.Error
	return errors.As(err, &pe) && pe.Kind == kind && pe.Code == ratelimit.CodeLocalLimit
}

func TestRequestsPerMinuteWaits(t *testing.T) {
	clk := newClock(noon)
	up := &counter{}
	// 61 per minute with a burst of 1 refills one token a second.
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 61, Clock: clk}))(up)
	for range 3 {
		if err := gen(t, g, context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if w := clk.Waits(); len(w) != 2 || w[0] != time.Second || w[1] != time.Second {
		t.Errorf("waits = %v, want [1s 1s]", w)
	}
}

func TestFailFast(t *testing.T) {
	clk := newClock(noon)
	up := &counter{}
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 61, FailFast: true, Clock: clk}))(up)
	if err := gen(t, g, context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	err := gen(t, g, context.Background(), 1)
	if !isLocal(err, provider.KindRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if d, _ := provider.RetryAfter(err); d != time.Second {
		t.Errorf("RetryAfter = %v, want 1s", d)
	}
	if up.calls.Load() != 1 || len(clk.Waits()) != 0 {
		t.Errorf("upstream calls %d, waits %v", up.calls.Load(), clk.Waits())
	}
	clk.Advance(time.Second)
	if err := gen(t, g, context.Background(), 1); err != nil {
		t.Errorf("after the hint: %v", err)
	}
}

func TestWaitBeyondDeadlineFailsAtOnce(t *testing.T) {
	clk := newClock(noon)
	up := &counter{}
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 2, Clock: clk}))(up) // one token a minute
	_ = gen(t, g, context.Background(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := gen(t, g, ctx, 1)
	if !isLocal(err, provider.KindRateLimited) || len(clk.Waits()) != 0 {
		t.Fatalf("err = %v, waits %v", err, clk.Waits())
	}
	if d, _ := provider.RetryAfter(err); d != time.Minute {
		t.Errorf("RetryAfter = %v", d)
	}
	// A second call gets the same answer: the refused one took no token.
	if err := gen(t, g, ctx, 1); !isLocal(err, provider.KindRateLimited) {
		t.Errorf("second: %v", err)
	}
}

func TestRequestsPerDay(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err) // time/tzdata is linked into this test binary
	}
	tests := []struct {
		name     string
		zone     *time.Location
		start    time.Time
		midnight time.Duration // from start to the next midnight in the zone
	}{
		{"default zone is Los Angeles", nil, time.Date(2026, 11, 21, 23, 58, 0, 0, la), 2 * time.Minute},
		{"UTC", time.UTC, time.Date(2026, 11, 21, 23, 30, 0, 0, time.UTC), 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(tt.start)
			up := &counter{}
			g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerDay: 2, DayZone: tt.zone, Clock: clk}))(up)
			for i := range 2 {
				if err := gen(t, g, context.Background(), 1); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			err := gen(t, g, context.Background(), 1)
			if !isLocal(err, provider.KindQuotaExhausted) {
				t.Fatalf("third call: %v", err)
			}
			if d, _ := provider.RetryAfter(err); d != tt.midnight {
				t.Errorf("RetryAfter = %v, want %v", d, tt.midnight)
			}
			clk.Advance(tt.midnight)
			if err := gen(t, g, context.Background(), 1); err != nil {
				t.Errorf("after midnight: %v", err)
			}
			if up.calls.Load() != 3 {
				t.Errorf("upstream calls = %d", up.calls.Load())
			}
		})
	}
}

func TestUpstreamDailyQuotaMarksTheDay(t *testing.T) {
	clk := newClock(noon) // 04:00 in Los Angeles
	up := &counter{next: func(n int) error {
		if n == 1 {
			return &provider.Error{Kind: provider.KindQuotaExhausted, StatusCode: 429, Provider: "fake", RetryAfter: 3 * time.Second}
		}
		return nil
	}}
	g := testutil.Must(ratelimit.New(ratelimit.Config{Clock: clk}))(up)
	if err := gen(t, g, context.Background(), 1); !errors.Is(err, provider.ErrQuotaExhausted) {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	err := gen(t, g, context.Background(), 1)
	if !isLocal(err, provider.KindQuotaExhausted) || up.calls.Load() != 1 {
		t.Fatalf("err = %v, upstream calls %d", err, up.calls.Load())
	}
	if d, _ := provider.RetryAfter(err); d != 19*time.Hour {
		t.Errorf("RetryAfter = %v, want 19h (midnight Pacific)", d)
	}
	clk.Advance(19 * time.Hour)
	if err := gen(t, g, context.Background(), 1); err != nil {
		t.Errorf("next day: %v", err)
	}
}

func TestImagesPerMinute(t *testing.T) {
	clk := newClock(noon)
	up := &counter{}
	g := testutil.Must(ratelimit.New(ratelimit.Config{ImagesPerMinute: 6, FailFast: true, Clock: clk}))(up)
	if err := gen(t, g, context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	err := gen(t, g, context.Background(), 4)
	if !isLocal(err, provider.KindRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if d, _ := provider.RetryAfter(err); d != 20*time.Second {
		t.Errorf("RetryAfter = %v, want 20s (2 images at 6/min)", d)
	}
	if err := gen(t, g, context.Background(), 2); err != nil {
		t.Errorf("2 images still fit: %v", err)
	}
	if err := gen(t, g, context.Background(), 7); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("7 images can never fit: %v", err)
	}
}

func TestMaxConcurrent(t *testing.T) {
	for _, failFast := range []bool{true, false} {
		name := map[bool]string{true: "fail fast", false: "wait"}[failFast]
		t.Run(name, func(t *testing.T) {
			clk := newClock(noon)
			release := make(chan struct{})
			entered := make(chan struct{}, 3)
			up := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
				entered <- struct{}{}
				if req.Prompt == "hold" {
					<-release
				}
				return &provider.Response{}, nil
			})
			g := testutil.Must(ratelimit.New(ratelimit.Config{MaxConcurrent: 2, FailFast: failFast, Clock: clk}))(up)
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() { _, _ = g.Generate(context.Background(), &provider.Request{Prompt: "hold"}) })
			}
			<-entered
			<-entered
			done := make(chan error, 1)
			go func() {
				_, err := g.Generate(context.Background(), &provider.Request{Prompt: "third"})
				done <- err
			}()
			if failFast {
				if err := <-done; !isLocal(err, provider.KindRateLimited) {
					t.Errorf("third: %v", err)
				}
				close(release)
			} else {
				select {
				case err := <-done:
					t.Fatalf("third did not wait: %v", err)
				case <-time.After(20 * time.Millisecond):
				}
				close(release)
				if err := <-done; err != nil {
					t.Errorf("third: %v", err)
				}
			}
			wg.Wait()
		})
	}
}

// TestPauseAfterHint: one caller's 429 with a hint makes every caller of
// the provider wait it out, instead of each one hitting the 429 again.
func TestPauseAfterHint(t *testing.T) {
	for _, failFast := range []bool{false, true} {
		t.Run(map[bool]string{true: "fail fast", false: "wait"}[failFast], func(t *testing.T) {
			clk := newClock(noon)
			up := &counter{next: func(n int) error {
				if n == 1 {
					return &provider.Error{Kind: provider.KindRateLimited, Provider: "fake", StatusCode: 429, RetryAfter: 10 * time.Second}
				}
				return nil
			}}
			g := testutil.Must(ratelimit.New(ratelimit.Config{FailFast: failFast, Clock: clk}))(up)
			if err := gen(t, g, context.Background(), 1); !errors.Is(err, provider.ErrRateLimited) {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var refused atomic.Int32
			for range 20 {
				wg.Go(func() {
					err := gen(t, g, context.Background(), 1)
					if err != nil {
						if d, _ := provider.RetryAfter(err); !isLocal(err, provider.KindRateLimited) || d != 10*time.Second {
							t.Errorf("err = %v", err)
						}
						refused.Add(1)
					}
				})
			}
			wg.Wait()
			if failFast {
				if refused.Load() != 20 || up.calls.Load() != 1 {
					t.Errorf("refused %d, upstream calls %d", refused.Load(), up.calls.Load())
				}
				return
			}
			// Every caller waited for the pause before calling.
			if up.calls.Load() != 21 || clk.Now().Before(noon.Add(10*time.Second)) {
				t.Errorf("upstream calls %d, clock %v", up.calls.Load(), clk.Now())
			}
			for _, w := range clk.Waits() {
				if w > 10*time.Second {
					t.Errorf("waited %v, longer than the hint", w)
				}
			}
		})
	}
}

func TestSharedStore(t *testing.T) {
	clk := newClock(noon)
	store := ratelimit.NewMemoryStore()
	cfg := ratelimit.Config{Key: "project-1", RequestsPerDay: 3, Store: store, Clock: clk}
	a := testutil.Must(ratelimit.New(cfg))(&counter{})
	b := testutil.Must(ratelimit.New(cfg))(&counter{})
	for _, g := range []provider.Generator{a, b, a} {
		if err := gen(t, g, context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := gen(t, b, context.Background(), 1); !isLocal(err, provider.KindQuotaExhausted) {
		t.Errorf("fourth call on the shared key: %v", err)
	}
}

func TestForwardsDescribe(t *testing.T) {
	g := testutil.Must(ratelimit.New(ratelimit.Config{}))(&counter{})
	if d := provider.Describe(g); d.Provider != "fake" {
		t.Errorf("Describe = %+v", d)
	}
}

func clearEnv(t testing.TB) {
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
		"GOOGLE_GEMINI_BASE_URL", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION",
		"GOOGLE_APPLICATION_CREDENTIALS", "OPENAI_API_KEY", "OPENAI_BASE_URL"} {
		t.Setenv(k, "")
	}
}

// TestEfficiencyAgainstEmulator runs the limiter at 600 per minute against
// the emulator's own 600-per-minute sliding window, on one fake clock, for
// a simulated minute and a bit more: at least 97% of the limit is used
// in the first minute and the emulator never answers 429.
func TestEfficiencyAgainstEmulator(t *testing.T) {
	clearEnv(t)
	clk := newClock(noon)
	srv := providertest.NewServer(providertest.Options{APIKey: "k", RequestsPerMinute: 600, Now: clk.Now})
	defer srv.Close()
	adapter, err := gemini.New(context.Background(), gemini.Config{APIKey: "k", BaseURL: srv.URL(), HTTPClient: srv.Client(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 600, Clock: clk}))(adapter)
	req := &provider.Request{Prompt: "p", Model: "gemini-2.5-flash-image"}
	var firstMinute, total int
	for clk.Now().Before(noon.Add(65 * time.Second)) {
		if _, err := g.Generate(context.Background(), req); err != nil {
			t.Fatalf("after %d requests: %v", total, err)
		}
		total++
		if reqs := srv.Requests(); reqs[len(reqs)-1].Time.Before(noon.Add(time.Minute)) {
			firstMinute++
		}
	}
	if st := srv.Stats(); st.RateLimited != 0 {
		t.Errorf("emulator answered %d 429s", st.RateLimited)
	}
	t.Logf("first simulated minute: %d of 600 (%.1f%%); %d in 65 seconds", firstMinute, float64(firstMinute)/6, total)
	if firstMinute < 582 {
		t.Errorf("only %d requests in the first minute, want >= 582 (97%%)", firstMinute)
	}
}

// Refusals must not leave the bucket in debt: with x/time/rate, a
// reservation cancelled after another was made cannot give its token back,
// which once let two fail-fast callers starve a 600/min limit to 1 request.
func TestMemoryStoreConcurrentRefusalsKeepTheRate(t *testing.T) {
	s := ratelimit.NewMemoryStore()
	r := ratelimit.Rate{Events: 60, Per: time.Minute, Burst: 1}
	ctx := context.Background()
	start := noon
	granted := 0
	// Two callers alternate every 100 ms of simulated time for a minute,
	// each refusing any wait: one token a second is due, 60 in all.
	for i := 0; i < 600; i++ {
		now := start.Add(time.Duration(i) * 100 * time.Millisecond)
		for caller := 0; caller < 2; caller++ {
			if _, ok, err := s.Take(ctx, "k", r, 1, now, 0); err != nil {
				t.Fatal(err)
			} else if ok {
				granted++
			}
		}
	}
	if granted < 59 || granted > 61 {
		t.Errorf("%d granted in a simulated minute at 60/min", granted)
	}

	// Callers whose nows arrive out of order must not get extra tokens.
	s = ratelimit.NewMemoryStore()
	granted = 0
	for i := 0; i < 600; i++ {
		now := start.Add(time.Duration(i) * 100 * time.Millisecond)
		for _, skew := range []time.Duration{0, -50 * time.Millisecond} {
			if _, ok, _ := s.Take(ctx, "k", r, 1, now.Add(skew), 0); ok {
				granted++
			}
		}
	}
	if granted > 61 {
		t.Errorf("%d granted with out-of-order clocks at 60/min", granted)
	}
}

func TestMemoryStoreDayDoesNotGoBack(t *testing.T) {
	s := ratelimit.NewMemoryStore()
	ctx := context.Background()
	today := ratelimit.Day{Name: "2026-11-22", Left: 24 * time.Hour}
	yesterday := ratelimit.Day{Name: "2026-11-21", Left: time.Millisecond}
	for i := 0; i < 3; i++ {
		if ok, _ := s.TakeDay(ctx, "k", today, 3, 1); !ok {
			t.Fatalf("take %d refused", i)
		}
	}
	// A caller that read its clock just before midnight arrives late.
	if ok, _ := s.TakeDay(ctx, "k", yesterday, 3, 1); ok {
		t.Error("a late caller from yesterday reset today's count")
	}
	if ok, _ := s.TakeDay(ctx, "k", today, 3, 1); ok {
		t.Error("today's count was lost")
	}
}

// TestNilRequest: a nil request is a typed request error, never sent down
// and taking no slot.
func TestNilRequest(t *testing.T) {
	t.Parallel()
	up := &counter{}
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1, ImagesPerMinute: 1, FailFast: true}))(up)
	for range 2 {
		if err := gen2(g, nil); !errors.Is(err, provider.ErrInvalidRequest) {
			t.Fatalf("err %v", err)
		}
	}
	if err := gen(t, g, context.Background(), 1); err != nil || up.calls.Load() != 1 {
		t.Errorf("a nil request took a slot: %v, calls %d", err, up.calls.Load())
	}
}

func gen2(g provider.Generator, req *provider.Request) error {
	_, err := g.Generate(context.Background(), req)
	return err
}
