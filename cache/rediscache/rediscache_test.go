package rediscache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/testutil"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/redistest"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
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

func key(i int) string { return fmt.Sprintf("%064x", i) }

func entry(size int, now time.Time, ttl time.Duration) *cache.Entry {
	e := &cache.Entry{Images: []provider.Image{{Data: bytes.Repeat([]byte{7}, size), MIMEType: "image/png", RevisedPrompt: "r"},
		{Data: []byte("second"), MIMEType: "image/jpeg"}},
		Text: "t", Provider: "p", Model: "m", Usage: provider.Usage{OutputImageTokens: 1290}, Cost: 39000,
		Warnings: []string{"w"}, Created: now}
	if ttl > 0 {
		e.Expires = now.Add(ttl)
	}
	return e
}

func TestSetGetRoundTrip(t *testing.T) {
	t.Parallel()
	s, c := newStore(t, Options{})
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	e := entry(1000, now, time.Hour)
	if err := s.Set(ctx, key(1), e); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, key(1))
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if !bytes.Equal(got.Images[0].Data, e.Images[0].Data) || string(got.Images[1].Data) != "second" ||
		got.Images[1].MIMEType != "image/jpeg" || got.Text != "t" || got.Cost != 39000 || got.Usage != e.Usage ||
		!got.Created.Equal(now) || !got.Expires.Equal(e.Expires) || got.Warnings[0] != "w" || got.Images[0].RevisedPrompt != "r" {
		t.Errorf("round trip: %+v", got)
	}
	raw := c.Get(ctx, s.prefix+"e:"+key(1)).Val()
	if raw[0] != 1 {
		t.Errorf("version byte %d", raw[0])
	}
	if ttl := c.PTTL(ctx, s.prefix+"e:"+key(1)).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("entry ttl %v", ttl)
	}
	// A corrupt value is a miss, and dropped.
	c.Set(ctx, s.prefix+"e:"+key(1), "\x09garbage", 0)
	if _, ok, err := s.Get(ctx, key(1)); ok || err != nil {
		t.Errorf("corrupt entry: %v %v", ok, err)
	}
	if n, b, _ := s.Len(ctx); n != 0 || b != 0 {
		t.Errorf("after dropping the corrupt entry: %d entries, %d bytes", n, b)
	}
	if err := s.Delete(ctx, key(9)); err != nil {
		t.Errorf("delete missing: %v", err)
	}
}

// TestSizeAwareEviction: the total stays under MaxBytes, evicting the
// least recently used entries first.
func TestSizeAwareEviction(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Millisecond); return now }
	size := entry(10_000, now, 0).Size()
	s, _ := newStore(t, Options{Common: redisopt.Common{Clock: provider.ClockFunc(clock)}, MaxBytes: 3*size + 10})
	ctx := context.Background()
	for i := range 3 {
		if err := s.Set(ctx, key(i), entry(10_000, clock(), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := s.Get(ctx, key(0)); !ok { // 0 is now the most recent
		t.Fatal("entry 0 missing")
	}
	if err := s.Set(ctx, key(3), entry(10_000, clock(), 0)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true, true} {
		if _, ok, _ := s.Get(ctx, key(i)); ok != want {
			t.Errorf("entry %d present %v, want %v", i, ok, want)
		}
	}
	n, b, _ := s.Len(ctx)
	if n != 3 || b != 3*size {
		t.Errorf("%d entries, %d bytes; want 3, %d", n, b, 3*size)
	}
	// Too large for the cache: not stored.
	if err := s.Set(ctx, key(5), entry(int(4*size), clock(), 0)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, key(5)); ok {
		t.Error("oversized entry stored")
	}
	// Expired entries leave the accounting on the next Set.
	s2, _ := newStore(t, Options{MaxBytes: 1 << 30})
	if err := s2.Set(ctx, key(1), entry(100, time.Now(), 30*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, ok, _ := s2.Get(ctx, key(1)); ok {
		t.Error("expired entry served")
	}
	if err := s2.Set(ctx, key(2), entry(100, time.Now(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s2.Len(ctx); n != 1 {
		t.Errorf("%d entries after expiry, want 1", n)
	}
}

func TestLock(t *testing.T) {
	t.Parallel()
	s, c := newStore(t, Options{Common: redisopt.Common{PollInterval: 5 * time.Millisecond}})
	ctx := context.Background()
	unlock, ok, err := s.Lock(ctx, key(1), time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, ok, _ := s.Lock(ctx, key(1), time.Minute); ok {
		t.Fatal("lock taken twice")
	}
	done := make(chan error)
	go func() { done <- s.WaitUnlocked(ctx, key(1)) }()
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, s.prefix+"lock:"+key(1)).Val(); n != 0 {
		t.Error("lock still there after unlock")
	}
	// A dead holder's lock expires; the waiter sees it go.
	c.Set(ctx, s.prefix+"lock:"+key(2), "1:dead", 100*time.Millisecond)
	if err := s.WaitUnlocked(ctx, key(2)); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, s.prefix+"lock:"+key(2)).Val(); n != 0 {
		t.Error("WaitUnlocked returned while the lock was there")
	}
	// A waiter never waits past its own deadline, however long the lock.
	c.Set(ctx, s.prefix+"lock:"+key(4), "1:live", time.Hour)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.WaitUnlocked(cctx, key(4)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiter past its deadline: %v", err)
	}
	// A live holder refreshes its lock while it holds it. The test makes
	// the lock live an hour, so that it cannot expire however slow the
	// machine, and sees a refresh set it back to its TTL.
	unlock, _, _ = s.Lock(ctx, key(3), 300*time.Millisecond)
	lk := s.prefix + "lock:" + key(3)
	c.PExpire(ctx, lk, time.Hour)
	refreshed := redistest.WaitUntil(30*time.Second, func() bool {
		d := c.PTTL(ctx, lk).Val()
		return d > 0 && d <= 300*time.Millisecond
	})
	unlock()
	if !refreshed {
		t.Error("held lock never refreshed")
	}
	if n := c.Exists(ctx, lk).Val(); n != 0 {
		t.Error("lock still there after unlock")
	}
}

func deadClient(t *testing.T) *redis.Client { return redistest.DeadClient(t) }

type upstream struct{ calls atomic.Int32 }

func (u *upstream) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	u.calls.Add(1)
	return &provider.Response{Images: []provider.Image{{Data: []byte("png"), MIMEType: "image/png"}}, Provider: "fake", Model: "m", Cost: 10}, nil
}

// TestUnreachableFallback: with redisopt.FallbackToMemory the cache keeps working
// in the process.
func TestUnreachableFallback(t *testing.T) {
	t.Parallel()
	s := closing(t, testutil.Must(New(deadClient(t), Options{Common: redisopt.Common{Logger: slog.New(slog.DiscardHandler)}})))
	up := &upstream{}
	gen := testutil.Must(cache.New(cache.Config{Store: s}))(up)
	ctx := context.Background()
	for range 2 {
		if _, err := gen.Generate(ctx, &provider.Request{Prompt: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := up.calls.Load(); n != 1 {
		t.Errorf("%d upstream calls, want 1 (the second served from the memory fallback)", n)
	}
}

// TestUnreachableFailClosed: with redisopt.FailClosed every store operation returns
// the typed error; the decorator reports it and serves from upstream.
func TestUnreachableFailClosed(t *testing.T) {
	t.Parallel()
	s := closing(t, testutil.Must(New(deadClient(t), Options{Common: redisopt.Common{OnUnavailable: redisopt.FailClosed, Logger: slog.New(slog.DiscardHandler)}})))
	ctx := context.Background()
	var pe *provider.Error
	if _, _, err := s.Get(ctx, key(1)); !errors.As(err, &pe) || pe.Code != redisopt.CodeUnavailable || !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("Get: %v", err)
	}
	if err := s.Set(ctx, key(1), entry(10, time.Now(), time.Hour)); !errors.As(err, &pe) || pe.Code != redisopt.CodeUnavailable {
		t.Errorf("Set: %v", err)
	}
	if _, _, err := s.Lock(ctx, key(1), time.Minute); !errors.As(err, &pe) || pe.Code != redisopt.CodeUnavailable {
		t.Errorf("Lock: %v", err)
	}
	up := &upstream{}
	var events []provider.EventKind
	var mu sync.Mutex
	gen := testutil.Must(cache.New(cache.Config{Store: s}))(up)
	evctx := provider.WithEventHandler(ctx, func(_ context.Context, e provider.Event) { mu.Lock(); events = append(events, e.Kind); mu.Unlock() })
	for range 2 {
		resp, err := gen.Generate(evctx, &provider.Request{Prompt: "x"})
		if err != nil || resp.Cached {
			t.Fatalf("%v %+v", err, resp)
		}
	}
	if n := up.calls.Load(); n != 2 {
		t.Errorf("%d upstream calls, want 2", n)
	}
	if !strings.Contains(fmt.Sprint(events), "error") {
		t.Errorf("no error events: %v", events)
	}
}

// Multi-process tests.

type cacheResult struct {
	Cached bool   `json:"cached"`
	Err    string `json:"err,omitempty"`
	Events string `json:"events"`
}

func runCacheChildren(t *testing.T, n int, together bool, env []string) []cacheResult {
	res := make([]cacheResult, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := func(i int) any { return &res[i] }
	if !together {
		redistest.RunChildren(ctx, t, n, "TestHelperProcess", "cache", env, out)
		return res
	}
	redistest.RunChildrenTogether(ctx, t, n, "TestHelperProcess", "cache", env, out, func() []byte {
		return []byte(strconv.FormatInt(time.Now().Add(100*time.Millisecond).UnixNano(), 10))
	})
	return res
}

// TestEntrySharedAcrossProcesses: an entry written by one process is
// served to another, which makes no upstream call.
func TestEntrySharedAcrossProcesses(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	srv := providertest.NewServer(providertest.Options{APIKey: "emulator-key"})
	defer srv.Close()
	env := []string{"IMAGEGEN_PREFIX=" + prefix, "IMAGEGEN_EMULATOR=" + srv.URL()}
	a := runCacheChildren(t, 1, false, env)
	if a[0].Cached || a[0].Err != "" {
		t.Fatalf("writer: %+v", a[0])
	}
	b := runCacheChildren(t, 1, false, env)
	if !b[0].Cached || b[0].Err != "" {
		t.Errorf("reader: %+v", b[0])
	}
	if n := srv.Stats().PerEndpoint[providertest.EndpointGenerateContent]; n != 1 {
		t.Errorf("emulator saw %d calls, want 1 (the writer's)", n)
	}
	t.Logf("writer events %s; reader events %s; emulator calls %d", a[0].Events, b[0].Events, srv.Stats().PerEndpoint[providertest.EndpointGenerateContent])
}

// TestDeduplicationAcrossProcesses: two processes send the same request at
// once to a slow emulator (300 ms): it sees exactly one call.
func TestDeduplicationAcrossProcesses(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	srv := providertest.NewServer(providertest.Options{APIKey: "emulator-key", Latency: 300 * time.Millisecond})
	defer srv.Close()
	env := []string{"IMAGEGEN_PREFIX=" + prefix, "IMAGEGEN_EMULATOR=" + srv.URL()}
	res := runCacheChildren(t, 2, true, env)
	cached := 0
	for i, r := range res {
		if r.Err != "" {
			t.Errorf("child %d: %s", i, r.Err)
		}
		if r.Cached {
			cached++
		}
		t.Logf("child %d: cached %v, events %s", i, r.Cached, r.Events)
	}
	if n := srv.Stats().PerEndpoint[providertest.EndpointGenerateContent]; n != 1 {
		t.Errorf("emulator saw %d calls, want 1", n)
	}
	if cached != 1 {
		t.Errorf("%d children got a shared result, want 1", cached)
	}
}

// TestHelperProcess is a replica of the cache tests when run as their
// child.
func TestHelperProcess(t *testing.T) {
	if !redistest.IsChild("cache") {
		t.Skip("helper process for the cache's multi-process tests")
	}
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL"} {
		t.Setenv(k, "")
	}
	c := redistest.NewClient(t, os.Getenv("REDIS_ADDR"))
	store := closing(t, testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: os.Getenv("IMAGEGEN_PREFIX"), OnUnavailable: redisopt.FailClosed, Timeout: redistest.Timeout, PollInterval: 10 * time.Millisecond}})))
	ctx := context.Background()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	adapter, err := gemini.New(ctx, gemini.Config{APIKey: "emulator-key", BaseURL: os.Getenv("IMAGEGEN_EMULATOR"), HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []string
	gen := testutil.Must(cache.New(cache.Config{Store: store, Namespace: "gemini"}))(adapter)
	ctx = provider.WithEventHandler(ctx, func(_ context.Context, e provider.Event) {
		mu.Lock()
		events = append(events, strings.TrimPrefix(e.Kind.String(), "cache."))
		mu.Unlock()
	})
	if os.Getenv("IMAGEGEN_BARRIER") != "" {
		start, err := redistest.WaitBarrier()
		if err != nil {
			t.Fatal(err)
		}
		ns, _ := strconv.ParseInt(string(start), 10, 64)
		time.Sleep(time.Until(time.Unix(0, ns)))
	}
	resp, err := gen.Generate(ctx, &provider.Request{Prompt: "a lighthouse on a cliff at dusk", Model: "gemini-2.5-flash-image"})
	var r cacheResult
	if err != nil {
		r.Err = err.Error()
	} else {
		r.Cached = resp.Cached
	}
	r.Events = strings.Join(events, ",")
	redistest.Report(r)
}

// TestLockReleasedAfterRestart: a live holder's fill lock survives a Redis
// restart (appendfsync always keeps it), and its unlock, made while Redis
// was down, failed. The holder's store releases it once Redis answers, so
// a waiter in another process goes on within about a second of Redis
// returning, not after LockTTL (2 minutes). A waiter during the outage
// never hangs past its own deadline. Through the cache decorator, a
// request from the other process is then served.
func TestLockReleasedAfterRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	quiet := slog.New(slog.DiscardHandler)
	newStore := func(policy redisopt.Policy) *Store {
		c := redistest.NewClient(t, srv.Addr)
		return closing(t, testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: "imagegen-test:", Logger: quiet, RetryInterval: 50 * time.Millisecond, Timeout: redistest.Timeout, PollInterval: 10 * time.Millisecond, OnUnavailable: policy}})))
	}
	holder, waiter, strict := newStore(redisopt.FallbackToMemory), newStore(redisopt.FallbackToMemory), newStore(redisopt.FailClosed)
	ctx := context.Background()

	// The holder fills key(1) through the cache decorator: its upstream
	// call is in progress when Redis dies.
	entered, release := make(chan struct{}), make(chan struct{})
	up := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		close(entered)
		<-release
		return &provider.Response{Images: []provider.Image{{Data: []byte("png"), MIMEType: "image/png"}}, Provider: "fake", Model: "m"}, nil
	})
	holderGen := testutil.Must(cache.New(cache.Config{Store: holder}))(up)
	req := &provider.Request{Prompt: "a lighthouse", Model: "m"}
	k, _ := cache.Key(req, "m")
	holderDone := make(chan error, 1)
	go func() { _, err := holderGen.Generate(ctx, req); holderDone <- err }()
	<-entered

	srv.Kill()
	// A waiter that fails closed while Redis is down returns by its
	// deadline (or at once with the store's error), never later.
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	err := strict.WaitUnlocked(dctx, k)
	cancel()
	if err == nil || time.Since(start) > redistest.Timeout {
		t.Errorf("waiter during the outage: %v after %v", err, time.Since(start))
	}
	// The holder finishes while Redis is down: storing and unlocking fail.
	close(release)
	if err := <-holderDone; err != nil {
		t.Fatalf("holder: %v", err)
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	// The lock is still in Redis until the holder's store releases it.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = waiter.WaitUnlocked(wctx, k)
	took := time.Since(back)
	t.Logf("waiter went on %v after Redis returned (LockTTL is 2m)", took)
	if err != nil {
		t.Fatalf("waiter after the restart: %v", err)
	}
	if took > 10*time.Second {
		t.Errorf("waiter waited %v after Redis returned; the holder's lock was not released", took)
	}

	// The other process's request is served (its entry never reached
	// Redis: it is made again) without waiting for the lock's TTL.
	other := testutil.Must(cache.New(cache.Config{Store: waiter}))(provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Images: []provider.Image{{Data: []byte("png"), MIMEType: "image/png"}}, Provider: "fake", Model: "m"}, nil
	}))
	if _, err := other.Generate(wctx, req); err != nil {
		t.Errorf("other process: %v", err)
	}
}

// closing registers s.Close with t.Cleanup: the store's janitor goroutine
// must not outlive the test (goleak).
func closing(t testing.TB, s *Store) *Store {
	t.Cleanup(func() { _ = s.Close() })
	return s
}
