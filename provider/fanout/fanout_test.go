package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/fanout"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func requests(n int) []*provider.Request {
	reqs := make([]*provider.Request, n)
	for i := range reqs {
		reqs[i] = &provider.Request{Prompt: strconv.Itoa(i)}
	}
	return reqs
}

func TestOrderPartialFailuresAndProgress(t *testing.T) {
	t.Parallel()
	var inFlight, maxInFlight atomic.Int32
	g := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		i, _ := strconv.Atoi(req.Prompt)
		if i%7 == 3 {
			return nil, &provider.Error{Kind: provider.KindContentBlocked}
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte{byte(i)}}}, Cost: 10}, nil
	})
	var (
		mu      sync.Mutex
		calls   int
		last    fanout.Progress
		running atomic.Bool
	)
	results := fanout.Run(context.Background(), g, requests(100), fanout.Options{Concurrency: 5, OnProgress: func(p fanout.Progress) {
		if !running.CompareAndSwap(false, true) {
			t.Error("OnProgress called concurrently")
		}
		defer running.Store(false)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if p.Done != last.Done+1 || p.Total != 100 {
			t.Errorf("progress went from %+v to %+v", last, p)
		}
		last = p
	}})
	if len(results) != 100 || calls != 100 {
		t.Fatalf("results=%d progress calls=%d", len(results), calls)
	}
	failed := 0
	for i, r := range results {
		if r.Index != i {
			t.Fatalf("result %d has index %d", i, r.Index)
		}
		if i%7 == 3 {
			failed++
			if !errors.Is(r.Err, provider.ErrContentBlocked) {
				t.Errorf("result %d: %v", i, r.Err)
			}
			continue
		}
		if r.Err != nil || r.Response.Images[0].Data[0] != byte(i) {
			t.Errorf("result %d out of order or failed: %v", i, r.Err)
		}
	}
	if last.Failed != failed || last.Images != 100-failed || last.Cost != provider.USD(10*(100-failed)) {
		t.Errorf("final progress %+v", last)
	}
	if m := maxInFlight.Load(); m > 5 {
		t.Errorf("%d requests in flight, limit 5", m)
	}
	resps, err := fanout.Responses(results)
	if len(resps) != 100-failed || !errors.Is(err, provider.ErrContentBlocked) {
		t.Errorf("Responses = %d, %v", len(resps), err)
	}
}

func TestCancelStopsNewWorkAndWaitsForInFlight(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 10)
	var finished atomic.Int32
	g := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		started <- struct{}{}
		<-ctx.Done()
		finished.Add(1)
		return nil, ctx.Err()
	})
	done := make(chan []fanout.Result)
	go func() { done <- fanout.Run(ctx, g, requests(50), fanout.Options{Concurrency: 3}) }()
	for range 3 {
		<-started
	}
	cancel()
	results := <-done
	if finished.Load() != 3 {
		t.Errorf("Run returned with %d of 3 in-flight calls finished", finished.Load())
	}
	notStarted := 0
	for _, r := range results {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("result %d: %v", r.Index, r.Err)
		}
		if errors.Is(r.Err, fanout.ErrNotStarted) {
			notStarted++
		}
	}
	if notStarted != 47 {
		t.Errorf("%d requests marked not started, want 47", notStarted)
	}
}

func TestEmptyAndAlreadyCancelled(t *testing.T) {
	t.Parallel()
	g := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		t.Error("called")
		return nil, nil
	})
	if r := fanout.Run(context.Background(), g, nil, fanout.Options{}); len(r) != 0 {
		t.Errorf("%d results for no requests", len(r))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range fanout.Run(ctx, g, requests(4), fanout.Options{}) {
		if !errors.Is(r.Err, fanout.ErrNotStarted) {
			t.Errorf("result %d: %v", r.Index, r.Err)
		}
	}
}

func ExampleRun() {
	g := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		if req.Prompt == "forbidden" {
			return nil, &provider.Error{Kind: provider.KindContentBlocked}
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte(req.Prompt)}}}, nil
	})
	reqs := []*provider.Request{{Prompt: "a cat"}, {Prompt: "forbidden"}, {Prompt: "a dog"}}
	for _, r := range fanout.Run(context.Background(), g, reqs, fanout.Options{Concurrency: 2}) {
		if r.Err != nil {
			fmt.Println(r.Index, "failed:", errors.Is(r.Err, provider.ErrContentBlocked))
			continue
		}
		fmt.Println(r.Index, string(r.Response.Images[0].Data))
	}
	// Output:
	// 0 a cat
	// 1 failed: true
	// 2 a dog
}

// BenchmarkEfficiency runs 1,000 requests with 50 ms of latency each at
// concurrency 50: ideally 20 rounds of 50 ms, 1 s. It reports elapsed/ideal
// as "x-ideal".
//
// "sleep" emulates the latency in the generator, so it measures fan-out
// alone. "emulator" goes through the gemini adapter to providertest with
// Options.Latency; on a 2-core machine both ends' JSON work then competes
// for the CPU with the schedule, so it shows the whole path's cost.
func BenchmarkEfficiency(b *testing.B) {
	reqs := make([]*provider.Request, 1000)
	for i := range reqs {
		reqs[i] = &provider.Request{Prompt: "the same small image"}
	}
	run := func(b *testing.B, g provider.Generator) {
		const ideal = time.Second
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			results := fanout.Run(context.Background(), g, reqs, fanout.Options{Concurrency: 50})
			total += time.Since(start)
			if _, err := fanout.Responses(results); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(total)/float64(b.N)/float64(ideal), "x-ideal")
	}
	b.Run("sleep", func(b *testing.B) {
		run(b, provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
			t := time.NewTimer(50 * time.Millisecond)
			defer t.Stop()
			select {
			case <-t.C:
				return &provider.Response{Images: []provider.Image{{Data: []byte{1}}}}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}))
	})
	b.Run("emulator", func(b *testing.B) {
		providertest.ClearEnv(b)
		srv := providertest.NewServer(providertest.Options{APIKey: "k", Latency: 50 * time.Millisecond})
		defer srv.Close()
		g, err := gemini.New(context.Background(), gemini.Config{APIKey: "k", BaseURL: srv.URL(), HTTPClient: srv.Client(), Model: "gemini-2.5-flash-image", ImageOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		run(b, g)
	})
}

// Careless inputs are typed errors, never panics.
func TestNilInputs(t *testing.T) {
	t.Parallel()
	res := fanout.Run(context.Background(), nil, []*provider.Request{{Prompt: "p"}, nil}, fanout.Options{})
	for i, r := range res {
		if !errors.Is(r.Err, provider.ErrInvalidRequest) {
			t.Errorf("result %d: %v", i, r.Err)
		}
	}
}
