package redisledger

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider/redisopt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/internal/redistest"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
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
	return testutil.Must(New(c, opts)), c
}

func TestReserveSettle(t *testing.T) {
	t.Parallel()
	s, c := newStore(t, Options{})
	ctx := context.Background()
	keys := []string{"overall/day/2026-11-21", "team=a/day/2026-11-21"}
	id1, err := s.Reserve(ctx, keys, []provider.USD{0, 100}, 60)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Reserve(ctx, keys, []provider.USD{0, 100}, 50)
	var le *pricing.LimitError
	if !errors.As(err, &le) || le.Key != keys[1] || le.Reserved != 60 || le.Amount != 50 || le.Limit != 100 {
		t.Fatalf("over the cap: %v", err)
	}
	if sp, r, _ := s.Spent(ctx, keys[0]); sp != 0 || r != 60 {
		t.Errorf("overall after refusal: spent %v reserved %v", sp, r)
	}
	if err := s.Settle(ctx, id1, 45); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, id1, 45); err != nil {
		t.Errorf("second settle of the same id: %v", err)
	}
	if err := s.Settle(ctx, "nope", 1); !errors.Is(err, pricing.ErrUnknownReservation) {
		t.Errorf("unknown id: %v", err)
	}
	for _, k := range keys {
		if sp, r, _ := s.Spent(ctx, k); sp != 45 || r != 0 {
			t.Errorf("%s: spent %v reserved %v", k, sp, r)
		}
		if v := c.HGet(ctx, s.prefix+"t:"+k, "v").Val(); v != "1" {
			t.Errorf("%s: version %q", k, v)
		}
	}
	if _, err := s.Reserve(ctx, keys, []provider.USD{0, 100}, 55); err != nil {
		t.Errorf("reserve within the cap after settling: %v", err)
	}
	if first, _ := s.MarkAlert(ctx, keys[0], 0.5); !first {
		t.Error("first alert mark not first")
	}
	if first, _ := s.MarkAlert(ctx, keys[0], 0.5); first {
		t.Error("second alert mark first")
	}
}

// TestAbandonedReservationCountedAsSpent: a reservation never settled
// counts at its amount once ReservationTTL has passed.
func TestAbandonedReservationCountedAsSpent(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := newStore(t, Options{Common: redisopt.Common{Clock: provider.ClockFunc(clock)}, ReservationTTL: time.Minute})
	ctx := context.Background()
	keys := []string{"overall/day/2026-11-21"}
	id, err := s.Reserve(ctx, keys, []provider.USD{100}, 70)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if sp, r, _ := s.Spent(ctx, keys[0]); sp != 70 || r != 0 {
		t.Errorf("after sweep: spent %v reserved %v", sp, r)
	}
	if err := s.Settle(ctx, id, 10); err != nil {
		t.Errorf("late settle of a swept reservation: %v", err)
	}
	if sp, _, _ := s.Spent(ctx, keys[0]); sp != 70 {
		t.Errorf("late settle changed spend to %v", sp)
	}
	if n, _ := s.Open(ctx); n != 0 {
		t.Errorf("%d open", n)
	}
}

// TestAlertsFireOnceAcrossReplicas: two budgets (two replicas) on one
// ledger fire each threshold once between them.
func TestAlertsFireOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	s1, c := newStore(t, Options{})
	s2 := testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: s1.prefix[:len(s1.prefix)-len("budget:")], Timeout: redistest.Timeout}}))
	var fired atomic.Int32
	mk := func(s *Store) *pricing.Budget {
		return testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Store: s, Limits: pricing.Limits{Daily: 1000},
			OnAlert: func(pricing.Alert) { fired.Add(1) }}))
	}
	b1, b2 := mk(s1), mk(s2)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := b1
			if i%2 == 1 {
				b = b2
			}
			r, err := b.Reserve(ctx, nil, 50)
			if err != nil {
				t.Error(err)
				return
			}
			if err := b.Settle(ctx, r, 50); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := fired.Load(); n != 3 {
		t.Errorf("%d alerts fired, want 3 (50%%, 80%%, 100%%)", n)
	}
}

func deadClient(t *testing.T) *redis.Client { return redistest.DeadClient(t) }

// TestUnreachableFailClosed: the default policy refuses every request
// with a typed error, before the provider is called.
func TestUnreachableFailClosed(t *testing.T) {
	t.Parallel()
	s := testutil.Must(New(deadClient(t), Options{Common: redisopt.Common{Logger: slog.New(slog.DiscardHandler)}}))
	meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Store: s, Limits: pricing.Limits{Daily: provider.Dollar}}))}))
	called := false
	gen := meter.Middleware()(provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		called = true
		return &provider.Response{}, nil
	}))
	_, err := gen.Generate(context.Background(), &provider.Request{Prompt: "x", Model: "fake"})
	var pe *provider.Error
	if !errors.Is(err, provider.ErrUnavailable) || !errors.As(err, &pe) || pe.Code != redisopt.CodeUnavailable {
		t.Fatalf("err %v, want *provider.Error unavailable with code %s", err, redisopt.CodeUnavailable)
	}
	if errors.Is(err, provider.ErrBudgetExceeded) {
		t.Error("an unreachable ledger is not an exceeded budget")
	}
	if called {
		t.Error("provider called while the ledger is unreachable")
	}
}

// TestUnreachableFallback: redisopt.FallbackToMemory keeps enforcing the cap per
// process, with one warning.
func TestUnreachableFallback(t *testing.T) {
	t.Parallel()
	s := testutil.Must(New(deadClient(t), Options{Common: redisopt.Common{OnUnavailable: redisopt.FallbackToMemory, Logger: slog.New(slog.DiscardHandler)}}))
	b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Store: s, Limits: pricing.Limits{Daily: 100}}))
	ctx := context.Background()
	r, err := b.Reserve(ctx, nil, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, nil, 60); !errors.Is(err, provider.ErrBudgetExceeded) {
		t.Errorf("over the cap in fallback: %v", err)
	}
	if err := b.Settle(ctx, r, 30); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(ctx)
	if err != nil || st[0].Spent != 30 {
		t.Errorf("status %+v %v", st, err)
	}
}

// TestRedisRestartKeepsAcknowledgedSpend: a private Redis with
// appendfsync always is killed (SIGKILL) and restarted while 16 callers
// reserve and settle. Under redisopt.FailClosed every call fails with the typed
// error during the outage and nothing panics; afterwards every settle
// that was acknowledged is in the ledger, and nothing exceeds the cap.
func TestRedisRestartKeepsAcknowledgedSpend(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	c := redistest.NewClient(t, srv.Addr)
	const limit = 1_000_000_000
	s := testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: "imagegen-test:", Logger: slog.New(slog.DiscardHandler), RetryInterval: 20 * time.Millisecond, Timeout: redistest.Timeout}}))
	b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Store: s, Limits: pricing.Limits{Daily: limit}}))
	ctx := context.Background()
	var acked, reservedOnly atomic.Int64
	var okCalls, typedFails, otherFails atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				amount := provider.USD(1000 + w*10 + i%7)
				r, err := b.Reserve(ctx, nil, amount)
				if err != nil {
					if errors.Is(err, provider.ErrUnavailable) {
						typedFails.Add(1)
						time.Sleep(2 * time.Millisecond)
					} else {
						otherFails.Add(1)
						t.Errorf("reserve: %v", err)
					}
					continue
				}
				if err := b.Settle(ctx, r, amount-1); err != nil {
					reservedOnly.Add(int64(amount))
					if !errors.Is(err, provider.ErrUnavailable) {
						otherFails.Add(1)
						t.Errorf("settle: %v", err)
					}
					continue
				}
				acked.Add(int64(amount - 1))
				okCalls.Add(1)
			}
		}()
	}
	// Each phase waits for what it needs, never a fixed time.
	if !redistest.WaitUntil(30*time.Second, func() bool { return okCalls.Load() >= 20 }) {
		t.Error("no calls settled before the outage")
	}
	srv.Kill()
	killed := time.Now()
	if !redistest.WaitUntil(30*time.Second, func() bool { return typedFails.Load() >= 20 }) {
		t.Error("no calls refused during the outage")
	}
	// The outage lasts at least a second, longer than the client's retry
	// back-off (512 ms at most): a call sent before the kill must not be
	// retried on the restarted server, where the reserve script would run
	// a second time for the same reservation (it is not idempotent).
	time.Sleep(time.Until(killed.Add(time.Second)))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	afterRestart := okCalls.Load()
	if !redistest.WaitUntil(30*time.Second, func() bool { return okCalls.Load() >= afterRestart+20 }) {
		t.Error("no calls settled after Redis returned")
	}
	close(stop)
	wg.Wait()
	// Retry settles that failed during the outage, then count whatever
	// is still open at its reserved amount.
	s.flushPending(ctx)
	s.now = func() time.Time { return time.Now().Add(2 * DefaultReservationTTL) }
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Format(time.DateOnly)
	spent, reserved, err := s.Spent(ctx, pricing.StoreKey(pricing.ScopeOverall, pricing.PeriodDaily, day))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d calls settled (%v acknowledged), %d refused with the typed error during the outage, %v in settles that failed; ledger: spent %v, reserved %v",
		okCalls.Load(), provider.USD(acked.Load()), typedFails.Load(), provider.USD(reservedOnly.Load()), spent, reserved)
	if okCalls.Load() == 0 || typedFails.Load() == 0 {
		t.Errorf("the run did not span the outage: %d ok, %d refused", okCalls.Load(), typedFails.Load())
	}
	if int64(spent) < acked.Load() {
		t.Errorf("ledger spent %v < acknowledged %v: acknowledged spend lost", spent, provider.USD(acked.Load()))
	}
	// A reservation whose reply the kill cut off (at most one per caller)
	// was made but not acknowledged: it is counted at its amount.
	if slack := int64(16 * 2000); int64(spent) > acked.Load()+reservedOnly.Load()+slack {
		t.Errorf("ledger spent %v > acknowledged %v + unsettled %v + in flight at the kill", spent, provider.USD(acked.Load()), provider.USD(reservedOnly.Load()))
	}
	if reserved != 0 {
		t.Errorf("reserved %v left after the sweep", reserved)
	}
}

// Multi-process budget test.

const (
	budgetReplicas = 4
	perReplica     = 250
	callCost       = 4 * provider.Cent
)

type budgetResult struct {
	budgetOutcomes
	MaxSpent int64
}

// budgetOutcomes counts a replica's calls by how the shared budget
// answered them.
type budgetOutcomes struct {
	OK      int      `json:"ok"`
	Refused int      `json:"refused"`
	Other   int      `json:"other"`
	Errors  []string `json:"errors,omitempty"` // the other errors
}

// add counts one call's outcome; the caller serializes calls.
func (o *budgetOutcomes) add(err error) {
	switch {
	case err == nil:
		o.OK++
	case errors.Is(err, provider.ErrBudgetExceeded):
		o.Refused++
	default:
		o.Other++
		o.Errors = append(o.Errors, err.Error())
	}
}

// callTogether runs call n times at once, all released at the same
// moment, and waits for them.
func callTogether(n int, call func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			call()
		})
	}
	close(start)
	wg.Wait()
}

// TestReplicasShareBudget: four processes each send 250 concurrent
// requests through the meter and a $1.00 daily budget on one Redis ledger,
// over a generator that costs $0.04 a call: the ledger never exceeds
// $1.00 and every refusal is ErrBudgetExceeded.
func TestReplicasShareBudget(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	results := make([]budgetResult, budgetReplicas)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	redistest.RunChildren(ctx, t, budgetReplicas, "TestHelperProcess", "budget", []string{"IMAGEGEN_PREFIX=" + prefix}, func(i int) any { return &results[i] })
	s := testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: prefix, Timeout: redistest.Timeout}}))
	day := time.Now().UTC().Format(time.DateOnly)
	spent, reserved, err := s.Spent(ctx, pricing.StoreKey(pricing.ScopeOverall, pricing.PeriodDaily, day))
	if err != nil {
		t.Fatal(err)
	}
	ok, refused := 0, 0
	var maxSeen provider.USD
	for i, r := range results {
		t.Logf("replica %d: %d served, %d refused (budget), %d other errors; highest spend it saw %v", i, r.OK, r.Refused, r.Other, provider.USD(r.MaxSpent))
		ok += r.OK
		refused += r.Refused
		maxSeen = max(maxSeen, provider.USD(r.MaxSpent))
		if r.Other > 0 {
			t.Errorf("replica %d: %d errors other than ErrBudgetExceeded: %q", i, r.Other, r.Errors)
		}
	}
	t.Logf("$1.00 budget, %d requests from %d processes: %d served, %d refused; ledger spent %v (highest seen %v), reserved %v",
		budgetReplicas*perReplica, budgetReplicas, ok, refused, spent, maxSeen, reserved)
	if spent > provider.Dollar || maxSeen > provider.Dollar {
		t.Errorf("spent %v (highest seen %v) exceeds $1.00", spent, maxSeen)
	}
	if spent != provider.USD(ok)*callCost || reserved != 0 {
		t.Errorf("spent %v reserved %v for %d calls", spent, reserved, ok)
	}
	if ok+refused != budgetReplicas*perReplica {
		t.Errorf("%d outcomes", ok+refused)
	}
}

// TestHelperProcess is a replica of TestReplicasShareBudget when run as its
// child.
func TestHelperProcess(t *testing.T) {
	if !redistest.IsChild("budget") {
		t.Skip("helper process for TestReplicasShareBudget")
	}
	c := redistest.NewClient(t, os.Getenv("REDIS_ADDR"))
	s := testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: os.Getenv("IMAGEGEN_PREFIX"), Timeout: redistest.Timeout}}))
	budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Store: s, Limits: pricing.Limits{Daily: provider.Dollar},
		Estimate: catalog.EstimateConfig{UnknownPerImage: callCost}}))
	meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
	gen := meter.Middleware()(provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		time.Sleep(20 * time.Millisecond)
		return &provider.Response{Images: []provider.Image{{Data: []byte("png"), MIMEType: "image/png"}}, Cost: callCost, Provider: "fake", Model: req.Model}, nil
	}))
	ctx := context.Background()
	key := pricing.StoreKey(pricing.ScopeOverall, pricing.PeriodDaily, time.Now().UTC().Format(time.DateOnly))
	var mu sync.Mutex
	var res budgetResult
	callTogether(perReplica, func() {
		_, err := gen.Generate(ctx, &provider.Request{Prompt: "x", Model: "fake-image-model"})
		sp, _, serr := s.Spent(ctx, key)
		mu.Lock()
		defer mu.Unlock()
		if serr == nil {
			res.MaxSpent = max(res.MaxSpent, int64(sp))
		}
		res.add(err)
	})
	redistest.Report(res)
}

// A client retry of a reserve whose answer was lost (a restart, a timeout)
// runs the script again with the same id: it must not count twice.
func TestReserveRetryCountsOnce(t *testing.T) {
	t.Parallel()
	s, c := newStore(t, Options{})
	ctx := context.Background()
	key := "overall/day/2026-12-04"
	now := time.Now()
	args := []any{s.prefix, "retried-id", int64(70), now.UnixMilli(), now.Add(time.Hour).UnixMilli(), key, int64(100)}
	for range 2 {
		v, err := reserveScript.Run(ctx, c, []string{s.prefix + "t:" + key}, args...).Int64Slice()
		if err != nil || v[0] != 1 {
			t.Fatalf("reserve: %v %v", v, err)
		}
	}
	if _, r, _ := s.Spent(ctx, key); r != 70 {
		t.Fatalf("reserved %v after a retried reserve, want $0.000070 once", r)
	}
	if err := s.Settle(ctx, "retried-id", 70); err != nil {
		t.Fatal(err)
	}
	if v, _ := reserveScript.Run(ctx, c, []string{s.prefix + "t:" + key}, args...).Int64Slice(); v[0] != 1 {
		t.Fatal("a retry after the settle was refused")
	}
	if sp, r, _ := s.Spent(ctx, key); sp != 70 || r != 0 {
		t.Fatalf("a retry after the settle changed the ledger: spent %v reserved %v", sp, r)
	}
}
