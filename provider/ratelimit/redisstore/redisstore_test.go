package redisstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/internal/redistest"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

func newStore(t testing.TB, opts Options) (*Store, *redis.Client) {
	t.Helper()
	c := redistest.Client(t)
	opts.Prefix = redistest.Prefix(t, c)
	return testutil.Must(New(c, opts)), c
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func TestTakeMatchesMemoryStore(t *testing.T) {
	s, _ := newStore(t, Options{})
	mem := ratelimit.NewMemoryStore()
	ctx := context.Background()
	r := ratelimit.Rate{Events: 57, Per: time.Minute, Burst: 3}
	now := t0
	steps := []struct {
		advance time.Duration
		n       int
		maxWait time.Duration
	}{{0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, time.Hour}, {time.Second, 1, time.Hour},
		{10 * time.Second, 2, 0}, {0, 4, time.Hour}, {time.Minute, 3, 0}, {0, 1, 500 * time.Millisecond}, {0, 1, 2 * time.Second}}
	for i, st := range steps {
		now = now.Add(st.advance)
		w1, ok1, err1 := s.Take(ctx, "k", r, st.n, now, st.maxWait)
		w2, ok2, err2 := mem.Take(ctx, "k", r, st.n, now, st.maxWait)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if ok1 != ok2 || (w1-w2).Abs() > time.Millisecond {
			t.Errorf("step %d: redis (%v, %v), memory (%v, %v)", i, w1, ok1, w2, ok2)
		}
	}
}

// TestTakeSharedBetweenStores: two stores (two replicas) on one Redis share
// one bucket: a refill of 9 per minute with burst 1 admits 9 in the
// minute [0, 60s), in total, whichever store asks, as one memory store does.
func TestTakeSharedBetweenStores(t *testing.T) {
	a, c := newStore(t, Options{})
	b := testutil.Must(New(c, Options{Prefix: strings.TrimSuffix(a.prefix, "rl:")}))
	ctx := context.Background()
	r := ratelimit.Rate{Events: 9, Per: time.Minute, Burst: 1}
	got, want := 0, 0
	mem := ratelimit.NewMemoryStore()
	for ms := 0; ms < 60_000; ms += 100 {
		if _, ok, _ := mem.Take(ctx, "shared", r, 1, t0.Add(time.Duration(ms)*time.Millisecond), 0); ok {
			want++
		}
		s := a
		if ms%200 == 0 {
			s = b
		}
		if _, ok, err := s.Take(ctx, "shared", r, 1, t0.Add(time.Duration(ms)*time.Millisecond), 0); err != nil {
			t.Fatal(err)
		} else if ok {
			got++
		}
	}
	if got != want || got != 9 {
		t.Errorf("admitted %d in a minute, memory store %d, want 9", got, want)
	}
}

func TestDayPauseAndKeys(t *testing.T) {
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
	s, _ := newStore(t, Options{PollInterval: 5 * time.Millisecond})
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

// TestLeaseOfDeadHolderExpires: a holder that died (its lease taken by the
// script but never refreshed nor released) frees its slot after the TTL.
func TestLeaseOfDeadHolderExpires(t *testing.T) {
	s, c := newStore(t, Options{})
	ctx := context.Background()
	if err := acquireScript.Run(ctx, c, []string{s.key("c", "k")}, 1, 150, "1:dead").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "k", 1, time.Minute, false); !errors.Is(err, ratelimit.ErrNoSlot) {
		t.Fatalf("slot free while the dead holder's lease lives: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	rel, err := s.Acquire(ctx, "k", 1, time.Minute, false)
	if err != nil {
		t.Fatalf("slot of a dead holder not freed after its TTL: %v", err)
	}
	rel()
}

// TestLeaseRefreshedWhileHeld: a long call keeps its lease past the TTL.
func TestLeaseRefreshedWhileHeld(t *testing.T) {
	s, _ := newStore(t, Options{})
	ctx := context.Background()
	rel, err := s.Acquire(ctx, "k", 1, 150*time.Millisecond, false)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := s.Acquire(ctx, "k", 1, 150*time.Millisecond, false); !errors.Is(err, ratelimit.ErrNoSlot) {
		t.Errorf("held lease expired: %v", err)
	}
	rel()
}

// deadClient is a client for a port nothing listens on.
func deadClient(t *testing.T) *redis.Client {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return redistest.NewClient(t, "127.0.0.1:"+strconv.Itoa(port))
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestUnreachableFallback: with FallbackToMemory, an unreachable Redis
// leaves the limiter working per process, with one warning.
func TestUnreachableFallback(t *testing.T) {
	var logs logBuf
	s := testutil.Must(New(deadClient(t), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
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

// TestUnreachableFailClosed: with FailClosed, calls are refused with a
// typed error and the provider is not called.
func TestUnreachableFailClosed(t *testing.T) {
	s := testutil.Must(New(deadClient(t), Options{OnUnavailable: FailClosed, Logger: slog.New(slog.DiscardHandler)}))
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
	if !errors.As(inner, &pe) || pe.Code != CodeUnavailable {
		t.Errorf("inner error %v, want Code %s", inner, CodeUnavailable)
	}
	if called {
		t.Error("provider called while failing closed")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %v", d)
	}
	// The typed error is returned by every operation.
	if _, _, err := s.Take(context.Background(), "k", ratelimit.Rate{Events: 1, Per: time.Minute, Burst: 1}, 1, t0, 0); !errors.As(err, &pe) || pe.Code != CodeUnavailable {
		t.Errorf("Take: %v", err)
	}
	if _, err := s.Acquire(context.Background(), "k", 1, time.Minute, true); !errors.As(err, &pe) || pe.Code != CodeUnavailable {
		t.Errorf("Acquire: %v", err)
	}
}

// TestRedisRestartMidRun stops and restarts a private Redis while callers
// go through the limiter: with the fallback they keep being served
// (nothing panics), and after the restart the store is on Redis again.
func TestRedisRestartMidRun(t *testing.T) {
	srv := redistest.StartServer(t)
	c := redistest.NewClient(t, srv.Addr)
	s := testutil.Must(New(c, Options{Prefix: "imagegen-test:", Logger: slog.New(slog.DiscardHandler), RetryInterval: 50 * time.Millisecond}))
	gen := testutil.Must(ratelimit.New(ratelimit.Config{Key: "k", RequestsPerMinute: math.MaxInt32 / 2, Burst: 1000, MaxConcurrent: 8, Store: s}))(
		provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
			time.Sleep(time.Millisecond)
			return &provider.Response{}, nil
		}))
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var ok, failed int
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := gen.Generate(ctx, &provider.Request{Prompt: "x"})
				mu.Lock()
				if err == nil {
					ok++
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	srv.Kill()
	time.Sleep(300 * time.Millisecond)
	if !s.Unavailable() {
		t.Error("store did not notice the outage")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if s.Unavailable() {
		t.Error("store still on its fallback after Redis returned")
	}
	if failed > 0 {
		t.Errorf("%d of %d calls failed under FallbackToMemory", failed, ok+failed)
	}
	if n, err := s.Leases(ctx, "k"); err != nil || n != 0 {
		t.Errorf("leases left: %d %v", n, err)
	}
}
