package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // the zone rules of America/Los_Angeles on any machine

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newClock(t time.Time) *providertest.Clock { return providertest.NewClock(t) }

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

// TestSlidingWindow: RequestsPerMinute admits requests at once while the
// last 60 seconds hold fewer than the limit, and otherwise waits exactly
// until the oldest start of the window leaves it.
func TestSlidingWindow(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	up := &counter{}
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 3, Clock: clk}))(up)
	var starts []time.Duration
	call := func() {
		t.Helper()
		if err := gen(t, g, context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		starts = append(starts, clk.Now().Sub(noon))
	}
	call() // 0s
	clk.Advance(10 * time.Second)
	call() // 10s
	clk.Advance(10 * time.Second)
	call() // 20s
	clk.Advance(10 * time.Second)
	call() // at 30s the window (−30s, 30s] holds 3: waits until 60s, when the start at 0s leaves
	call() // waits until 70s
	call() // waits until 80s
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 60 * time.Second, 70 * time.Second, 80 * time.Second}
	if !slices.Equal(starts, want) {
		t.Errorf("starts %v, want %v", starts, want)
	}
	if w := clk.Waits(); !slices.Equal(w, []time.Duration{30 * time.Second, 10 * time.Second, 10 * time.Second}) {
		t.Errorf("waits %v, want [30s 10s 10s]", w)
	}
}

// TestBurstStartsTogether: with RequestsPerMinute 60 and nothing else set,
// 10 concurrent requests all start at once (no wait, on a fake clock),
// where a token bucket of 1 took 9 seconds.
func TestBurstStartsTogether(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	spread := burstSpread(t, clk, ratelimit.Config{RequestsPerMinute: 60, Clock: clk}, clk.Now)
	t.Logf("10 concurrent requests at 60/min, fake clock: start spread %v, waits %v", spread, clk.Waits())
	if spread != 0 || len(clk.Waits()) != 0 {
		t.Errorf("start spread %v, waits %v; want all 10 at once", spread, clk.Waits())
	}
}

// TestBurstStartsTogetherRealClock measures the same on the real clock.
// The bound is generous (the old limiter took 9 s): it only fails when
// requests are serialised again.
func TestBurstStartsTogetherRealClock(t *testing.T) {
	t.Parallel()
	spread := burstSpread(t, nil, ratelimit.Config{RequestsPerMinute: 60}, time.Now)
	t.Logf("10 concurrent requests at 60/min, real clock: start spread %v", spread)
	if spread > 2*time.Second {
		t.Errorf("start spread %v: requests were serialised", spread)
	}
}

// burstSpread sends 10 requests at once through a limiter made from cfg
// and returns the time between the first and the last to reach upstream.
func burstSpread(t *testing.T, clk *providertest.Clock, cfg ratelimit.Config, now func() time.Time) time.Duration {
	t.Helper()
	var mu sync.Mutex
	var starts []time.Time
	all := make(chan struct{})
	up := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		mu.Lock()
		starts = append(starts, now())
		if len(starts) == 10 {
			close(all)
		}
		mu.Unlock()
		<-all // every request is in flight at once
		return &provider.Response{}, nil
	})
	g := testutil.Must(ratelimit.New(cfg))(up)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.SortFunc(starts, time.Time.Compare)
	return starts[len(starts)-1].Sub(starts[0])
}

// TestBurstCap: Burst caps the starts at once and spaces the rest at the
// average rate.
func TestBurstCap(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 60, Burst: 3, Clock: clk}))(&counter{})
	for range 6 {
		if err := gen(t, g, context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if w := clk.Waits(); !slices.Equal(w, []time.Duration{time.Second, time.Second, time.Second}) {
		t.Errorf("waits %v, want 3 at once then one a second", w)
	}
}

func TestFailFast(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	up := &counter{}
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1, FailFast: true, Clock: clk}))(up)
	if err := gen(t, g, context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(45 * time.Second)
	err := gen(t, g, context.Background(), 1)
	if !isLocal(err, provider.KindRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if d, _ := provider.RetryAfter(err); d != 15*time.Second {
		t.Errorf("RetryAfter = %v, want 15s", d)
	}
	if up.calls.Load() != 1 || len(clk.Waits()) != 0 {
		t.Errorf("upstream calls %d, waits %v", up.calls.Load(), clk.Waits())
	}
	clk.Advance(15 * time.Second)
	if err := gen(t, g, context.Background(), 1); err != nil {
		t.Errorf("after the hint: %v", err)
	}
}

func TestWaitBeyondDeadlineFailsAtOnce(t *testing.T) {
	t.Parallel()
	clk := newClock(noon)
	up := &counter{}
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 1, Clock: clk}))(up)
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	if d, _ := provider.RetryAfter(err); d != time.Minute {
		t.Errorf("RetryAfter = %v, want 1m (when the first 4 images leave the window)", d)
	}
	if err := gen(t, g, context.Background(), 2); err != nil {
		t.Errorf("2 images still fit: %v", err)
	}
	if err := gen(t, g, context.Background(), 1); !isLocal(err, provider.KindRateLimited) {
		t.Errorf("a 7th image in the minute: %v", err)
	}
	if err := gen(t, g, context.Background(), 7); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("7 images can never fit: %v", err)
	}
}

func TestMaxConcurrent(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
// three simulated minutes of one caller sending back to back: every minute
// carries at least 97% of the limit, no 60-second window holds more than
// 600 (by the emulator's record) and the emulator never answers 429.
func TestEfficiencyAgainstEmulator(t *testing.T) {
	clearEnv(t)
	clk := newClock(noon)
	srv := providertest.NewServer(providertest.Options{APIKey: "k", RequestsPerMinute: 600, Clock: clk})
	defer srv.Close()
	adapter, err := gemini.New(context.Background(), gemini.Config{APIKey: "k", BaseURL: srv.URL(), HTTPClient: srv.Client(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	g := testutil.Must(ratelimit.New(ratelimit.Config{RequestsPerMinute: 600, Clock: clk}))(adapter)
	req := &provider.Request{Prompt: "p", Model: "gemini-2.5-flash-image"}
	// Each call moves the clock on by 7 ms, as a real call takes time, so
	// that windows start at many different instants.
	end := noon.Add(3 * time.Minute)
	for clk.Now().Before(end) {
		if _, err := g.Generate(context.Background(), req); err != nil {
			t.Fatalf("at %v: %v", clk.Now().Sub(noon), err)
		}
		clk.Advance(7 * time.Millisecond)
	}
	if st := srv.Stats(); st.RateLimited != 0 {
		t.Errorf("emulator answered %d 429s", st.RateLimited)
	}
	var times []time.Time
	for _, r := range srv.Requests() {
		times = append(times, r.Time)
	}
	if n, at := busiestWindow(times, time.Minute); n > 600 {
		t.Errorf("%d requests in the 60 s window ending %v", n, at.Sub(noon))
	}
	perMinute := make([]int, 3)
	for _, tm := range times {
		if m := int(tm.Sub(noon) / time.Minute); m < 3 {
			perMinute[m]++
		}
	}
	t.Logf("requests per simulated minute at a limit of 600: %v", perMinute)
	for m, n := range perMinute {
		if n < 582 {
			t.Errorf("minute %d: %d requests, want >= 582 (97%%)", m, n)
		}
	}
}

// busiestWindow returns the most starts in any window (t−per, t], and its
// end.
func busiestWindow(times []time.Time, per time.Duration) (int, time.Time) {
	s := slices.Clone(times)
	slices.SortFunc(s, time.Time.Compare)
	best, at, lo := 0, time.Time{}, 0
	for hi, t := range s {
		for !s[lo].After(t.Add(-per)) {
			lo++
		}
		if n := hi - lo + 1; n > best {
			best, at = n, t
		}
	}
	return best, at
}

// TestMemoryStoreWindowProperty checks the store's rule on random
// traffic: callers whose clocks arrive slightly out of order, asking for
// 1 to 3 starts with random patience, with and without Burst. Every
// window of Per holds at most Limit starts; under Burst no instant holds
// more than Burst; a refusal reports a wait beyond the caller's patience.
func TestMemoryStoreWindowProperty(t *testing.T) {
	t.Parallel()
	for _, w := range []ratelimit.Window{
		{Limit: 5, Per: time.Minute},
		{Limit: 60, Per: time.Minute},
		{Limit: 7, Per: 10 * time.Second, Burst: 3},
		{Limit: 1, Per: time.Second},
	} {
		t.Run(fmt.Sprintf("%d per %v burst %d", w.Limit, w.Per, w.Burst), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(w.Limit), 7))
			s := ratelimit.NewMemoryStore()
			ctx := context.Background()
			var starts []time.Time
			now := noon
			granted := 0
			for range 3000 {
				now = now.Add(time.Duration(rng.IntN(int(3 * w.Per / time.Duration(w.Limit)))))
				n := 1 + rng.IntN(min(3, w.Limit))
				if w.Burst > 0 {
					n = min(n, w.Burst)
				}
				skew := -time.Duration(rng.IntN(int(time.Millisecond)))
				maxWait := []time.Duration{0, w.Per / 4, w.Per, time.Hour}[rng.IntN(4)]
				wait, ok, err := s.Take(ctx, "k", []ratelimit.Demand{{Name: "rpm", Window: w, N: n}}, now.Add(skew), maxWait)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					if wait <= maxWait {
						t.Fatalf("refused with wait %v within maxWait %v", wait, maxWait)
					}
					continue
				}
				granted++
				at := now.Add(skew).Add(wait)
				for range n {
					starts = append(starts, at)
				}
			}
			if got, end := busiestWindow(starts, w.Per); got > w.Limit {
				t.Fatalf("%d starts in the window ending %v, limit %d", got, end.Sub(noon), w.Limit)
			}
			if w.Burst > 0 {
				if got, _ := busiestWindow(starts, time.Nanosecond); got > w.Burst {
					t.Errorf("%d starts at one instant, burst %d", got, w.Burst)
				}
			}
			if granted < 100 {
				t.Errorf("only %d of 3000 calls granted", granted)
			}
		})
	}
}

// TestMemoryStoreTakesEveryWindowAtOnce: a call that needs both a
// request and its images waits for the later of the two windows, and is
// recorded in both at the time it starts.
func TestMemoryStoreTakesEveryWindowAtOnce(t *testing.T) {
	t.Parallel()
	s := ratelimit.NewMemoryStore()
	ctx := context.Background()
	rpm := ratelimit.Window{Limit: 10, Per: time.Minute}
	ipm := ratelimit.Window{Limit: 4, Per: time.Minute}
	take := func(at time.Duration, images int, maxWait time.Duration) (time.Duration, bool) {
		t.Helper()
		w, ok, err := s.Take(ctx, "k", []ratelimit.Demand{{Name: "rpm", Window: rpm, N: 1}, {Name: "ipm", Window: ipm, N: images}}, noon.Add(at), maxWait)
		if err != nil {
			t.Fatal(err)
		}
		return w, ok
	}
	if w, ok := take(0, 3, 0); !ok || w != 0 {
		t.Fatalf("first: %v %v", w, ok)
	}
	// 2 more images fit only when the first 3 leave, at 60s.
	if w, ok := take(10*time.Second, 2, time.Hour); !ok || w != 50*time.Second {
		t.Fatalf("second: %v %v, want a 50s wait", w, ok)
	}
	// A demand of nothing needs nothing: the request window has room.
	if w, ok := take(20*time.Second, 0, 0); !ok || w != 0 {
		t.Fatalf("a request without images: %v %v", w, ok)
	}
	if w, ok := take(20*time.Second, 4, 0); ok || w != 100*time.Second {
		t.Errorf("4 images at 20s: %v %v, want refused with 100s (when the 2 images of 60s leave)", w, ok)
	}
	if w, ok := take(0, 5, time.Hour); ok || w != ratelimit.Never {
		t.Errorf("more images than the limit: %v %v", w, ok)
	}
}

func TestMemoryStoreDayDoesNotGoBack(t *testing.T) {
	t.Parallel()
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

// recorder collects the events of the requests it is attached to.
type recorder struct {
	mu     sync.Mutex
	events []provider.Event
}

func (r *recorder) handle(_ context.Context, e provider.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) ctx(parent context.Context) context.Context {
	return provider.WithEventHandler(parent, r.handle)
}

func TestEvents(t *testing.T) {
	t.Parallel()
	ev := func(kind provider.EventKind, reason string, wait time.Duration) provider.Event {
		return provider.Event{Kind: kind, Provider: "fake", Reason: reason, Wait: wait}
	}
	tests := []struct {
		name string
		cfg  ratelimit.Config
		up   func(n int) error
		n    int // images per request
		want []provider.Event
	}{
		{name: "window wait", cfg: ratelimit.Config{RequestsPerMinute: 1},
			want: []provider.Event{ev(provider.EventRateLimitWaited, "window", time.Minute)}},
		{name: "window refused", cfg: ratelimit.Config{RequestsPerMinute: 1, FailFast: true},
			want: []provider.Event{ev(provider.EventRateLimitRefused, "window", time.Minute)}},
		{name: "day", cfg: ratelimit.Config{RequestsPerDay: 1},
			want: []provider.Event{ev(provider.EventRateLimitRefused, "day", 12*time.Hour)}},
		{name: "pause", cfg: ratelimit.Config{}, up: func(n int) error {
			if n == 1 {
				return &provider.Error{Kind: provider.KindRateLimited, Provider: "fake", RetryAfter: 7 * time.Second}
			}
			return nil
		}, want: []provider.Event{ev(provider.EventRateLimitWaited, "pause", 7*time.Second)}},
		{name: "images", cfg: ratelimit.Config{ImagesPerMinute: 2}, n: 3,
			want: []provider.Event{ev(provider.EventRateLimitRefused, "images", 0), ev(provider.EventRateLimitRefused, "images", 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.FixedZone("PST", -8*3600)))
			tt.cfg.Clock = clk
			tt.cfg.DayZone = time.FixedZone("PST", -8*3600)
			g := testutil.Must(ratelimit.New(tt.cfg))(&counter{next: tt.up})
			var rec recorder
			for range 2 {
				_ = gen(t, g, rec.ctx(context.Background()), tt.n)
			}
			got := rec.events
			for i := range got {
				got[i].Err = nil // checked by the other tests
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("events\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// blockingStore tells when a second call starts waiting for a
// concurrency slot.
type blockingStore struct {
	*ratelimit.MemoryStore
	waits   *atomic.Int32
	waiting chan struct{}
}

func (s blockingStore) Acquire(ctx context.Context, key string, limit int, ttl time.Duration, wait bool) (func(), error) {
	if wait && s.waits.Add(1) == 2 {
		close(s.waiting)
	}
	return s.MemoryStore.Acquire(ctx, key, limit, ttl, wait)
}

func TestConcurrencyWaitEvent(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{})
	up := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		if req.Prompt == "first" {
			close(entered)
			<-release
		}
		return &provider.Response{}, nil
	})
	store := blockingStore{MemoryStore: ratelimit.NewMemoryStore(), waits: new(atomic.Int32), waiting: make(chan struct{})}
	g := testutil.Must(ratelimit.New(ratelimit.Config{MaxConcurrent: 1, FailFast: false, Store: store}))(up)
	done := make(chan error)
	go func() {
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "first"})
		done <- err
	}()
	<-entered
	// The second call, listening, finds no slot free and waits.
	var rec recorder
	second := make(chan error)
	go func() {
		_, err := g.Generate(rec.ctx(context.Background()), &provider.Request{Prompt: "second"})
		second <- err
	}()
	<-store.waiting
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 1 || rec.events[0].Kind != provider.EventRateLimitWaited || rec.events[0].Reason != "concurrency" {
		t.Errorf("events = %+v, want one concurrency wait", rec.events)
	}
}
