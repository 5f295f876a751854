package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/redistest"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

const (
	replicas      = 4
	perMinute     = 120
	workers       = 12 // goroutines per replica
	simulatedSpan = time.Minute
)

// speedup is how much faster than real time the shared clock runs (a
// simulated minute takes 2 s; 15 s under the race detector).
var speedup = 30.0

type childResult struct {
	Accepted int `json:"accepted"`
	Refused  int `json:"refused"`
	Errors   int `json:"errors"`
}

// TestReplicasShareMinuteLimit: four processes share a 120-per-minute limit
// through Redis against the emulator enforcing 120 per minute, on a clock
// running 30 times faster than real time: together they send no request
// the emulator refuses, and use at least 95% of the limit in the minute.
func TestReplicasShareMinuteLimit(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	// The epoch is fixed once every child is ready (see the barrier
	// below); the emulator reads the clock through clk.
	var clk atomic.Pointer[redistest.AccelClock]
	clk.Store(&redistest.AccelClock{Epoch: time.Now().Add(time.Hour), K: speedup})
	srv := providertest.NewServer(providertest.Options{APIKey: "emulator-key", RequestsPerMinute: perMinute,
		Now: func() time.Time { return clk.Load().Now() }})
	defer srv.Close()

	env := append(clk.Load().Env(), "IMAGEGEN_PREFIX="+prefix, "IMAGEGEN_EMULATOR="+srv.URL())
	results := make([]childResult, replicas)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	redistest.RunChildrenTogether(ctx, t, replicas, "TestHelperProcess", "rl120", env, func(i int) any { return &results[i] }, func() []byte {
		c := &redistest.AccelClock{Epoch: time.Now().Add(200 * time.Millisecond), K: speedup}
		clk.Store(c)
		return []byte(strconv.FormatInt(c.Epoch.UnixNano(), 10))
	})
	epoch := clk.Load().Epoch

	end := epoch.Add(simulatedSpan)
	inMinute := 0
	for _, r := range srv.Requests() {
		if r.Endpoint == providertest.EndpointGenerateContent && !r.Time.Before(epoch) && r.Time.Before(end) {
			inMinute++
		}
	}
	st := srv.Stats()
	total := 0
	for i, r := range results {
		t.Logf("replica %d: %d accepted, %d refused locally, %d errors", i, r.Accepted, r.Refused, r.Errors)
		total += r.Accepted
		if r.Errors > 0 {
			t.Errorf("replica %d: %d errors", i, r.Errors)
		}
	}
	t.Logf("shared limit %d/min: %d accepted in the simulated minute (%.1f%%), emulator 429s: %d",
		perMinute, inMinute, 100*float64(inMinute)/perMinute, st.RateLimited)
	if st.RateLimited != 0 {
		t.Errorf("emulator refused %d requests", st.RateLimited)
	}
	if inMinute < perMinute*95/100 {
		t.Errorf("%d requests in the minute, want at least %d", inMinute, perMinute*95/100)
	}
	if total != inMinute {
		t.Errorf("replicas report %d accepted, emulator saw %d in the minute", total, inMinute)
	}
}

// errLate marks a slot granted for after the simulated minute.
var errLate = errors.New("after the simulated minute")

// TestHelperProcess is a replica of TestReplicasShareMinuteLimit when run
// as its child; otherwise it does nothing.
func TestHelperProcess(t *testing.T) {
	if !redistest.IsChild("rl120") {
		t.Skip("helper process for TestReplicasShareMinuteLimit")
	}
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL"} {
		t.Setenv(k, "")
	}
	c := redistest.NewClient(t, os.Getenv("REDIS_ADDR"))
	store := testutil.Must(New(c, Options{Prefix: os.Getenv("IMAGEGEN_PREFIX"), OnUnavailable: FailClosed, Logger: slog.New(slog.DiscardHandler)}))
	ctx := context.Background()
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	adapter, err := gemini.New(ctx, gemini.Config{APIKey: "emulator-key", BaseURL: os.Getenv("IMAGEGEN_EMULATOR"), HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	epoch, err := redistest.WaitBarrier()
	if err != nil {
		t.Fatal(err)
	}
	clk, err := redistest.ClockFrom(string(epoch))
	if err != nil {
		t.Fatal(err)
	}
	end := clk.Epoch.Add(simulatedSpan)
	// Slots granted for after the minute are not used: the test counts one
	// minute.
	guard := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		if !clk.Now().Before(end) {
			return nil, errLate
		}
		return adapter.Generate(ctx, req)
	})
	gen := testutil.Must(ratelimit.New(ratelimit.Config{Key: "gemini-project", RequestsPerMinute: perMinute, Store: store, Clock: clk}))(guard)

	time.Sleep(time.Until(clk.Epoch))
	var mu sync.Mutex
	var res childResult
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for clk.Now().Before(end) {
				_, err := gen.Generate(ctx, &provider.Request{Prompt: "a lighthouse", Model: "gemini-2.5-flash-image"})
				mu.Lock()
				switch {
				case err == nil:
					res.Accepted++
				case errors.Is(err, errLate):
				case errors.Is(err, provider.ErrRateLimited):
					res.Refused++
				default:
					res.Errors++
					t.Logf("error: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	redistest.Report(res)
}
