package redishealth

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider/redisopt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/internal/redistest"
	"github.com/imagegen-go/imagegen/provider"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newHealth(t testing.TB, opts Options) (*Health, *redis.Client) {
	t.Helper()
	c := redistest.Client(t)
	opts.Prefix = redistest.Prefix(t, c)
	if opts.Timeout == 0 {
		opts.Timeout = redistest.Timeout
	}
	return testutil.Must(New(c, opts)), c
}

var noon = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// TestMatchesMemoryBreaker drives a Redis breaker and the in-memory one
// through the same random calls, outcomes and clock, and compares every
// answer. (Time moves only when no call is in flight: the Redis breaker
// also writes off probes that never report, which the in-memory one,
// whose probes cannot outlive their process, does not need to.)
func TestMatchesMemoryBreaker(t *testing.T) {
	t.Parallel()
	h, _ := newHealth(t, Options{})
	ctx := context.Background()
	for _, s := range []failover.BreakerSettings{
		{ConsecutiveFailures: 3, OpenTimeout: 10 * time.Second, HalfOpenProbes: 2},
		{ConsecutiveFailures: -1, FailureRate: 0.5, MinRequests: 4, Window: 30 * time.Second, OpenTimeout: 5 * time.Second},
	} {
		// Both report the same changes of state, in the same order.
		var rchanges, mchanges []string
		rs, ms := s, s
		rs.OnStateChange = func(_ context.Context, from, to failover.State) {
			rchanges = append(rchanges, from.String()+">"+to.String())
		}
		ms.OnStateChange = func(_ context.Context, from, to failover.State) {
			mchanges = append(mchanges, from.String()+">"+to.String())
		}
		rb := h.NewBreaker("route-"+strconv.Itoa(s.MinRequests), rs)
		mb := failover.NewBreaker(ms)
		rng := rand.New(rand.NewPCG(1, 2))
		now := noon
		type pending struct {
			r, m func(failover.Outcome, time.Time)
		}
		var inflight []pending
		for i := range 400 {
			if len(inflight) == 0 {
				now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
			}
			if rng.IntN(3) > 0 || len(inflight) == 0 {
				rd, rr, rerr := rb.Allow(ctx, now)
				md, mr, merr := mb.Allow(ctx, now)
				if (rerr == nil) != (merr == nil) || (rr-mr).Abs() > time.Microsecond {
					t.Fatalf("step %d: redis (%v, %v), memory (%v, %v)", i, rr, rerr, mr, merr)
				}
				if rerr == nil {
					inflight = append(inflight, pending{rd, md})
				}
			} else {
				j := rng.IntN(len(inflight))
				o := failover.Outcome(rng.IntN(3))
				if rng.IntN(2) == 0 {
					o = failover.Failure
				}
				inflight[j].r(o, now)
				inflight[j].m(o, now)
				inflight = append(inflight[:j], inflight[j+1:]...)
			}
			if rs, ms := rb.State(now), mb.State(now); rs != ms {
				t.Fatalf("step %d: state redis %v, memory %v", i, rs, ms)
			}
			if !slices.Equal(rchanges, mchanges) {
				t.Fatalf("step %d: changes redis %q, memory %q", i, rchanges, mchanges)
			}
		}
		if len(mchanges) < 3 {
			t.Errorf("only %d changes of state: %q", len(mchanges), mchanges)
		}
	}
}

type flaky struct {
	name  string
	calls atomic.Int32
	fail  bool
}

func (f *flaky) Generate(context.Context, *provider.Request) (*provider.Response, error) {
	f.calls.Add(1)
	if f.fail {
		return nil, &provider.Error{Kind: provider.KindUnavailable, Provider: f.name, Message: "overloaded"}
	}
	return &provider.Response{Provider: f.name}, nil
}

func (f *flaky) Describe() provider.Description { return provider.Description{Provider: f.name} }

// TestOneReplicaProtectsTheOthers: replica A's failures open the shared
// breaker; replica B then skips the failing route without calling it.
func TestOneReplicaProtectsTheOthers(t *testing.T) {
	t.Parallel()
	h, c := newHealth(t, Options{})
	h2 := testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: strings.TrimSuffix(h.prefix, "health:default:"), Timeout: redistest.Timeout}}))
	ctx := context.Background()
	mk := func(h *Health) (*failover.Failover, *flaky, *flaky) {
		p, s := &flaky{name: "primary", fail: true}, &flaky{name: "secondary"}
		f, err := failover.New(failover.Config{Routes: []failover.Route{
			{Name: "primary", Generator: p}, {Name: "secondary", Generator: s, Priority: 1},
		}, Breaker: failover.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: time.Minute}, NewBreaker: h.NewBreaker})
		if err != nil {
			t.Fatal(err)
		}
		return f, p, s
	}
	fa, pa, _ := mk(h)
	fb, pb, sb := mk(h2)
	for range 3 {
		if _, err := fa.Generate(ctx, &provider.Request{Prompt: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if pa.calls.Load() != 3 {
		t.Fatalf("replica A called the primary %d times", pa.calls.Load())
	}
	if st, _ := fb.RouteState("primary"); st != failover.StateOpen {
		t.Fatalf("replica B sees the primary %v", st)
	}
	resp, err := fb.Generate(ctx, &provider.Request{Prompt: "x"})
	if err != nil || resp.Provider != "secondary" {
		t.Fatalf("replica B: %v %v", resp, err)
	}
	if pb.calls.Load() != 0 || sb.calls.Load() != 1 {
		t.Errorf("replica B called the primary %d times, the secondary %d", pb.calls.Load(), sb.calls.Load())
	}
	if v := c.HGet(ctx, h.prefix+"primary", "v").Val(); v != "1" {
		t.Errorf("breaker hash version %q", v)
	}
}

// TestStuckProbesWrittenOff: a probe whose replica died does not keep a
// half-open breaker shut for ever.
func TestStuckProbesWrittenOff(t *testing.T) {
	t.Parallel()
	h, _ := newHealth(t, Options{})
	ctx := context.Background()
	b := h.NewBreaker("r", failover.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 10 * time.Second})
	done, _, _ := b.Allow(ctx, noon)
	done(failover.Failure, noon)
	now := noon.Add(10 * time.Second)
	if _, _, err := b.Allow(ctx, now); err != nil { // the probe, never reported
		t.Fatal(err)
	}
	if _, _, err := b.Allow(ctx, now); !errors.Is(err, failover.ErrOpen) {
		t.Fatalf("second probe: %v", err)
	}
	if _, _, err := b.Allow(ctx, now.Add(10*time.Second)); err != nil {
		t.Errorf("probe after the stuck one was written off: %v", err)
	}
}

func deadClient(t *testing.T) *redis.Client { return redistest.DeadClient(t) }

func TestUnreachableFallback(t *testing.T) {
	t.Parallel()
	h := testutil.Must(New(deadClient(t), Options{Common: redisopt.Common{Logger: slog.New(slog.DiscardHandler)}}))
	ctx := context.Background()
	b := h.NewBreaker("r", failover.BreakerSettings{ConsecutiveFailures: 2})
	for range 2 {
		done, _, err := b.Allow(ctx, noon)
		if err != nil {
			t.Fatal(err)
		}
		done(failover.Failure, noon)
	}
	if _, _, err := b.Allow(ctx, noon); !errors.Is(err, failover.ErrOpen) {
		t.Errorf("fallback breaker did not open: %v", err)
	}
	if b.State(noon) != failover.StateOpen {
		t.Error("state")
	}
}

func TestUnreachableFailClosed(t *testing.T) {
	t.Parallel()
	h := testutil.Must(New(deadClient(t), Options{Common: redisopt.Common{OnUnavailable: redisopt.FailClosed, Logger: slog.New(slog.DiscardHandler)}}))
	p := &flaky{name: "primary"}
	f, err := failover.New(failover.Config{Routes: []failover.Route{{Name: "primary", Generator: p}}, NewBreaker: h.NewBreaker})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Generate(context.Background(), &provider.Request{Prompt: "x"})
	var pe *provider.Error
	if !errors.Is(err, provider.ErrUnavailable) || !errors.As(err, &pe) || pe.Code != failover.CodeHealthUnknown {
		t.Fatalf("err %v", err)
	}
	if !errors.As(pe.Err, &pe) || pe.Code != redisopt.CodeUnavailable {
		t.Errorf("inner %v", pe)
	}
	if p.calls.Load() != 0 {
		t.Error("route called with its health unknown")
	}
	if st, _ := f.RouteState("primary"); st != failover.StateOpen {
		t.Errorf("state %v, want open", st)
	}
}
