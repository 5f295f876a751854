package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/internal/redistest"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newStore(t testing.TB, opts Options) (*Store, *redis.Client) {
	t.Helper()
	c := redistest.Client(t)
	opts.Prefix = redistest.Prefix(t, c)
	if opts.Timeout == 0 {
		opts.Timeout = redistest.Timeout
	}
	return closing(t, testutil.Must(New(c, opts))), c
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// TestTakeMatchesMemoryStore replays random traffic (windows with and
// without Burst, one or two windows per call, random patience, callers'
// clocks slightly out of order) through the Redis store and the memory
// store: they answer every call alike.
func TestTakeMatchesMemoryStore(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Options{})
	mem := ratelimit.NewMemoryStore()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	stats := map[string]int{} // "<granted> <had to wait>": how many calls
	rpm := []ratelimit.Window{{Limit: 5, Per: time.Minute}, {Limit: 57, Per: time.Minute, Burst: 3}, {Limit: 3, Per: 10 * time.Second}}
	ipm := ratelimit.Window{Limit: 8, Per: time.Minute}
	now := t0
	for i := range 600 {
		r := rpm[i/200]
		now = now.Add(time.Duration(rng.IntN(int(2 * r.Per / time.Duration(r.Limit)))))
		demands := []ratelimit.Demand{{Name: "rpm", Window: r, N: 1}}
		if rng.IntN(2) == 0 {
			demands = append(demands, ratelimit.Demand{Name: "ipm", Window: ipm, N: 1 + rng.IntN(4)})
		}
		at := now.Add(-time.Duration(rng.IntN(1000)) * time.Microsecond)
		maxWait := []time.Duration{0, time.Second, 30 * time.Second, time.Hour}[rng.IntN(4)]
		key := fmt.Sprintf("k%d", i/200)
		w1, ok1, err1 := s.Take(ctx, key, demands, at, maxWait)
		w2, ok2, err2 := mem.Take(ctx, key, demands, at, maxWait)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		stats[fmt.Sprint(ok1, w1 > 0)]++
		if ok1 != ok2 || (w1-w2).Abs() > time.Millisecond {
			t.Fatalf("call %d (%+v at %v, max wait %v): redis (%v, %v), memory (%v, %v)", i, demands, at.Sub(t0), maxWait, w1, ok1, w2, ok2)
		}
	}
	for _, k := range []string{"true false", "true true", "false true"} {
		if stats[k] < 50 {
			t.Errorf("the traffic did not exercise every case: %v", stats)
		}
	}
	if w, ok, _ := s.Take(ctx, "k", []ratelimit.Demand{{Name: "ipm", Window: ipm, N: 9}}, now, time.Hour); ok || w != ratelimit.Never {
		t.Errorf("a demand above the limit: %v %v", w, ok)
	}
}

// TestTakeSharedBetweenStores: two stores (two replicas) on one Redis share
// one window: 9 per minute admits 9 in any minute in total, whichever
// store asks, all at once when they come at once.
func TestTakeSharedBetweenStores(t *testing.T) {
	t.Parallel()
	a, c := newStore(t, Options{})
	b := closing(t, testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: strings.TrimSuffix(a.prefix, "rl:"), Timeout: redistest.Timeout}})))
	ctx := context.Background()
	w := []ratelimit.Demand{{Name: "rpm", Window: ratelimit.Window{Limit: 9, Per: time.Minute}, N: 1}}
	var starts []time.Duration
	for ms := 0; ms < 150_000; ms += 100 {
		s := a
		if ms%200 == 0 {
			s = b
		}
		at := time.Duration(ms) * time.Millisecond
		if _, ok, err := s.Take(ctx, "shared", w, t0.Add(at), 0); err != nil {
			t.Fatal(err)
		} else if ok {
			starts = append(starts, at)
		}
	}
	// 9 at once at 0s (as fast as they ask), then again at 60s and 120s.
	if len(starts) != 27 || starts[8] != 800*time.Millisecond || starts[9] != time.Minute || starts[18] != 2*time.Minute {
		t.Errorf("admitted at %v", starts)
	}
}

func TestDayPauseAndKeys(t *testing.T) {
	t.Parallel()
	s, c := newStore(t, Options{})
	ctx := context.Background()
	const apiKey = "AIzaSy-secret-api-key-0123456789"
	day := ratelimit.Day{Name: "2026-11-21", Left: 2 * time.Hour}
	for i := range 3 {
		ok, err := s.TakeDay(ctx, apiKey, day, 3, 1)
		if err != nil || !ok {
			t.Fatalf("take %d: %v %v", i, ok, err)
		}
	}
	if ok, _ := s.TakeDay(ctx, apiKey, day, 3, 1); ok {
		t.Error("fourth request of a 3-per-day quota admitted")
	}
	if ok, _ := s.TakeDay(ctx, apiKey, day, 3, -1); !ok {
		t.Error("give-back refused")
	}
	if n, _, _ := s.DayCount(ctx, apiKey, day); n != 2 {
		t.Errorf("count %d after give-back", n)
	}
	if err := s.ExhaustDay(ctx, apiKey, day); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.TakeDay(ctx, apiKey, day, 3, 1); ok {
		t.Error("exhausted day admitted a request")
	}
	ttl := c.PTTL(ctx, s.dayKey(apiKey, day)).Val()
	if ttl < 2*time.Hour || ttl > 3*time.Hour+time.Second {
		t.Errorf("day key ttl %v, want midnight + 1h", ttl)
	}
	// The next day starts afresh.
	if ok, _ := s.TakeDay(ctx, apiKey, ratelimit.Day{Name: "2026-11-22", Left: 26 * time.Hour}, 3, 1); !ok {
		t.Error("next day refused")
	}

	if u, err := s.PauseUntil(ctx, apiKey); err != nil || !u.IsZero() {
		t.Fatalf("pause before any: %v %v", u, err)
	}
	until := t0.Add(30 * time.Second)
	if err := s.SetPause(ctx, apiKey, t0, until); err != nil {
		t.Fatal(err)
	}
	_ = s.SetPause(ctx, apiKey, t0, t0.Add(10*time.Second)) // earlier: ignored
	if u, _ := s.PauseUntil(ctx, apiKey); !u.Equal(until) {
		t.Errorf("pause until %v, want %v", u, until)
	}

	keys := c.Keys(ctx, strings.TrimSuffix(s.prefix, "rl:")+"*").Val()
	if len(keys) == 0 {
		t.Fatal("no keys")
	}
	for _, k := range keys {
		if strings.Contains(k, apiKey) || strings.Contains(k, "secret") {
			t.Errorf("key %q shows the API key", k)
		}
	}
	for _, k := range keys {
		if typ := c.Type(ctx, k).Val(); typ == "string" {
			if v := c.Get(ctx, k).Val(); !strings.HasPrefix(v, "1:") {
				t.Errorf("value of %s has no version: %q", k, v)
			}
		} else if typ == "hash" {
			if v := c.HGet(ctx, k, "v").Val(); v != "1" {
				t.Errorf("hash %s has no version", k)
			}
		}
	}
}

func TestAcquireLeases(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Options{Common: redisopt.Common{PollInterval: 5 * time.Millisecond}})
	ctx := context.Background()
	r1, err := s.Acquire(ctx, "k", 2, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Acquire(ctx, "k", 2, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "k", 2, time.Minute, false); !errors.Is(err, ratelimit.ErrNoSlot) {
		t.Fatalf("third slot: %v", err)
	}
	if n, _ := s.Leases(ctx, "k"); n != 2 {
		t.Errorf("leases %d", n)
	}
	// A waiter gets the slot that is released.
	got := make(chan error, 1)
	go func() {
		rel, err := s.Acquire(ctx, "k", 2, time.Minute, true)
		if err == nil {
			rel()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	r1()
	r1() // twice is harmless
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	r2()
	if n, _ := s.Leases(ctx, "k"); n != 0 {
		t.Errorf("leases after release %d", n)
	}
	// A waiter whose context ends gets its error.
	r3, _ := s.Acquire(ctx, "k", 1, time.Minute, false)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := s.Acquire(cctx, "k", 1, time.Minute, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiter past its deadline: %v", err)
	}
	r3()
}

// TestLeaseOfDeadHolderExpires: a holder that died (its lease in Redis,
// never refreshed nor released) keeps its slot until the lease's expiry
// and frees it after. The expiry is set by hand around Redis's own clock,
// so nothing depends on how fast the test runs.
func TestLeaseOfDeadHolderExpires(t *testing.T) {
	t.Parallel()
	s, c := newStore(t, Options{})
	ctx := context.Background()
	k := s.key("c", "k")
	serverNow := c.Time(ctx).Val()
	c.ZAdd(ctx, k, redis.Z{Score: float64(serverNow.Add(time.Hour).UnixMilli()), Member: "1:dead"})
	if _, err := s.Acquire(ctx, "k", 1, time.Minute, false); !errors.Is(err, ratelimit.ErrNoSlot) {
		t.Fatalf("slot free while the dead holder's lease lives: %v", err)
	}
	c.ZAdd(ctx, k, redis.Z{Score: float64(serverNow.Add(-time.Millisecond).UnixMilli()), Member: "1:dead"})
	rel, err := s.Acquire(ctx, "k", 1, time.Minute, false)
	if err != nil {
		t.Fatalf("slot of a dead holder not freed after its expiry: %v", err)
	}
	rel()
	if n, _ := c.ZCard(ctx, k).Result(); n != 0 {
		t.Errorf("%d leases left after release", n)
	}
}

// TestLeaseRefreshedWhileHeld: a live holder pushes its lease's expiry
// forward while it holds it. (Whether a refresh comes before the expiry
// depends on the machine keeping up with a third of the TTL; the test
// checks that refreshes happen, not their timing.)
func TestLeaseRefreshedWhileHeld(t *testing.T) {
	t.Parallel()
	s, c := newStore(t, Options{})
	ctx := context.Background()
	k := s.key("c", "k")
	// 3 s: a refresh comes every second, and a loaded machine that let
	// the key expire (it has the lease's TTL) would leave nothing to refresh.
	rel, err := s.Acquire(ctx, "k", 1, 3*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	members := c.ZRangeWithScores(ctx, k, 0, -1).Val()
	if len(members) != 1 {
		t.Fatalf("leases %v", members)
	}
	first := members[0].Score
	refreshed := redistest.WaitUntil(30*time.Second, func() bool {
		score, err := c.ZScore(ctx, k, members[0].Member.(string)).Result()
		return err == nil && score > first
	})
	rel()
	if !refreshed {
		t.Error("lease never refreshed while held")
	}
	if n, _ := c.ZCard(ctx, k).Result(); n != 0 {
		t.Errorf("%d leases left after release", n)
	}
}

// deadClient is a client for a port nothing listens on.
func deadClient(t *testing.T) *redis.Client { return redistest.DeadClient(t) }

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestUnreachableFallback: with redisopt.FallbackToMemory, an unreachable Redis
// leaves the limiter working per process, with one warning.
func TestUnreachableFallback(t *testing.T) {
	t.Parallel()
	var logs logBuf
	s := closing(t, testutil.Must(New(deadClient(t), Options{Common: redisopt.Common{Logger: slog.New(slog.NewTextHandler(&logs, nil))}})))
	gen := testutil.Must(ratelimit.New(ratelimit.Config{Key: "k", RequestsPerMinute: 3, Burst: 3, FailFast: true, Store: s,
		RequestsPerDay: 100, MaxConcurrent: 2}))(provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{}, nil
	}))
	ctx := context.Background()
	for i := range 3 {
		if _, err := gen.Generate(ctx, &provider.Request{Prompt: "x"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := gen.Generate(ctx, &provider.Request{Prompt: "x"})
	if !errors.Is(err, provider.ErrRateLimited) {
		t.Errorf("fourth call in a 3-per-minute fallback: %v", err)
	}
	if n := strings.Count(logs.String(), "Redis unreachable"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	if !s.Unavailable() {
		t.Error("store does not report the outage")
	}
}

// TestUnreachableFailClosed: with redisopt.FailClosed, calls are refused with a
// typed error and the provider is not called.
func TestUnreachableFailClosed(t *testing.T) {
	t.Parallel()
	s := closing(t, testutil.Must(New(deadClient(t), Options{Common: redisopt.Common{OnUnavailable: redisopt.FailClosed, Logger: slog.New(slog.DiscardHandler)}})))
	called := false
	gen := testutil.Must(ratelimit.New(ratelimit.Config{Key: "k", RequestsPerMinute: 3, Store: s}))(provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		called = true
		return &provider.Response{}, nil
	}))
	start := time.Now()
	_, err := gen.Generate(context.Background(), &provider.Request{Prompt: "x"})
	if !errors.Is(err, provider.ErrUnavailable) {
		t.Fatalf("err %v, want unavailable", err)
	}
	var pe *provider.Error
	if errors.As(err, &pe); pe.Code != ratelimit.CodeLocalLimit {
		t.Errorf("outer code %q", pe.Code)
	}
	if !strings.Contains(err.Error(), "failing closed") {
		t.Errorf("error does not say it failed closed: %v", err)
	}
	inner := errors.Unwrap(err)
	if !errors.As(inner, &pe) || pe.Code != redisopt.CodeUnavailable {
		t.Errorf("inner error %v, want Code %s", inner, redisopt.CodeUnavailable)
	}
	if called {
		t.Error("provider called while failing closed")
	}
	if d := time.Since(start); d > redistest.Timeout {
		t.Errorf("refusal took %v", d) // a dead port refuses at once; the bound is generous
	}
	// The typed error is returned by every operation.
	if _, _, err := s.Take(context.Background(), "k", []ratelimit.Demand{{Name: "rpm", Window: ratelimit.Window{Limit: 1, Per: time.Minute}, N: 1}}, t0, 0); !errors.As(err, &pe) || pe.Code != redisopt.CodeUnavailable {
		t.Errorf("Take: %v", err)
	}
	if _, err := s.Acquire(context.Background(), "k", 1, time.Minute, true); !errors.As(err, &pe) || pe.Code != redisopt.CodeUnavailable {
		t.Errorf("Acquire: %v", err)
	}
}

// TestRedisRestartMidRun stops and restarts a private Redis while callers
// go through the limiter: with the fallback they keep being served
// (nothing panics, nothing fails), the store notices the outage and goes
// back to Redis once it answers, and the leases released during the
// outage are removed from Redis without any further call. Each step waits
// for what it needs (polling with a generous timeout), never for a fixed
// time.
func TestRedisRestartMidRun(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	c := redistest.NewClient(t, srv.Addr)
	s := closing(t, testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: "imagegen-test:", Logger: slog.New(slog.DiscardHandler), RetryInterval: 50 * time.Millisecond, Timeout: redistest.Timeout}})))
	gen := testutil.Must(ratelimit.New(ratelimit.Config{Key: "k", RequestsPerMinute: math.MaxInt32 / 2, Burst: 1000, MaxConcurrent: 8, Store: s}))(
		provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
			time.Sleep(time.Millisecond)
			return &provider.Response{}, nil
		}))
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := gen.Generate(ctx, &provider.Request{Prompt: "x"}); err == nil {
					ok.Add(1)
				} else {
					failed.Add(1)
					t.Logf("call failed: %v", err)
				}
			}
		})
	}
	served := func(n int64) bool { return redistest.WaitUntil(30*time.Second, func() bool { return ok.Load() >= n }) }
	if !served(50) {
		t.Fatal("no traffic before the outage")
	}
	srv.Kill()
	if !redistest.WaitUntil(30*time.Second, s.Unavailable) {
		t.Error("store did not notice the outage")
	}
	duringOutage := ok.Load()
	if !served(duringOutage + 50) {
		t.Error("callers not served from the fallback during the outage")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if !redistest.WaitUntil(30*time.Second, func() bool { return !s.Unavailable() }) {
		t.Error("store still on its fallback after Redis returned")
	}
	if !served(ok.Load() + 50) {
		t.Error("callers not served after Redis returned")
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d calls failed under redisopt.FallbackToMemory", n, n+ok.Load())
	}
	var left int
	var err error
	if !redistest.WaitUntil(30*time.Second, func() bool { left, err = s.Leases(ctx, "k"); return err == nil && left == 0 }) {
		t.Errorf("leases left: %d %v", left, err)
	}
}

// closing registers s.Close with t.Cleanup: the store's janitor goroutine
// must not outlive the test (goleak).
func closing(t testing.TB, s *Store) *Store {
	t.Cleanup(func() { _ = s.Close() })
	return s
}
