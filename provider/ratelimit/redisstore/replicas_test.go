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
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

const (
	replicas  = 4
	perMinute = 120
	workers   = 12 // goroutines per replica
	minutes   = 2  // phases, each a minute later than the one before
)

type childResult struct {
	Accepted [minutes]int `json:"accepted"`
	Refused  [minutes]int `json:"refused"`
	Errors   int          `json:"errors"`
}

// TestReplicasShareMinuteLimit: four processes share a 120-per-minute limit
// through Redis against the emulator enforcing 120 per minute. In each of
// two minutes every replica's workers send back to back until the shared
// limiter (fail-fast) refuses them: together they send exactly 120 a
// minute, all at once, and the emulator answers no 429.
//
// Nothing depends on timing: the replicas and the emulator read one clock,
// the real one plus an offset that the parent moves a minute on between
// the phases, once every replica has finished the one before. Within a
// phase the window never turns over (a phase would have to last a real
// minute), so the limiter must refuse the 121st request wherever it comes
// from, and the emulator, which counts by the time requests reach it,
// sees the 120 of a phase a minute after those of the phase before.
func TestReplicasShareMinuteLimit(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv := providertest.NewServer(providertest.Options{APIKey: "emulator-key", RequestsPerMinute: perMinute, Clock: provider.ClockFunc(now)})
	defer srv.Close()

	env := []string{"IMAGEGEN_PREFIX=" + prefix, "IMAGEGEN_EMULATOR=" + srv.URL()}
	results := make([]childResult, replicas)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	phaseStart := make([]int, minutes) // requests the emulator had seen when each phase began
	redistest.RunChildrenInPhases(ctx, t, replicas, "TestHelperProcess", "rl120", env, func(i int) any { return &results[i] }, minutes, func(p int) []byte {
		phaseStart[p] = len(srv.Requests())
		offset.Store(int64(time.Duration(p) * time.Minute))
		return []byte(strconv.FormatInt(offset.Load(), 10))
	})

	reqs := srv.Requests()
	st := srv.Stats()
	var total [minutes]int
	for i, r := range results {
		t.Logf("replica %d: accepted %v, refused locally %v, %d errors", i, r.Accepted, r.Refused, r.Errors)
		for p := range minutes {
			total[p] += r.Accepted[p]
		}
		if r.Errors > 0 {
			t.Errorf("replica %d: %d errors", i, r.Errors)
		}
	}
	for p := range minutes {
		end := len(reqs)
		if p+1 < minutes {
			end = phaseStart[p+1]
		}
		phase := reqs[phaseStart[p]:end]
		var spread time.Duration
		if len(phase) > 0 {
			spread = phase[len(phase)-1].Time.Sub(phase[0].Time)
		}
		t.Logf("minute %d: replicas accepted %d of %d (%.1f%%); emulator saw %d, first to last %v",
			p, total[p], perMinute, 100*float64(total[p])/perMinute, len(phase), spread)
		if total[p] != perMinute || len(phase) != perMinute {
			t.Errorf("minute %d: replicas accepted %d, emulator saw %d; want %d", p, total[p], len(phase), perMinute)
		}
	}
	t.Logf("emulator 429s: %d", st.RateLimited)
	if st.RateLimited != 0 {
		t.Errorf("emulator refused %d requests", st.RateLimited)
	}
}

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
	store := closing(t, testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: os.Getenv("IMAGEGEN_PREFIX"), OnUnavailable: redisopt.FailClosed, Timeout: redistest.Timeout, Logger: slog.New(slog.DiscardHandler)}})))
	ctx := context.Background()
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	adapter, err := gemini.New(ctx, gemini.Config{APIKey: "emulator-key", BaseURL: os.Getenv("IMAGEGEN_EMULATOR"), HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	clk := &offsetClock{}
	gen := testutil.Must(ratelimit.New(ratelimit.Config{Key: "gemini-project", RequestsPerMinute: perMinute, FailFast: true, Store: store, Clock: clk}))(adapter)

	var res childResult
	for p := range minutes {
		payload, err := redistest.WaitPhase(p)
		if err != nil {
			t.Fatal(err)
		}
		off, err := strconv.ParseInt(string(payload), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		clk.offset.Store(off)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					_, err := gen.Generate(ctx, &provider.Request{Prompt: "a lighthouse", Model: "gemini-2.5-flash-image"})
					mu.Lock()
					switch {
					case err == nil:
						res.Accepted[p]++
					case errors.Is(err, provider.ErrRateLimited) && provider.IsLocal(err):
						res.Refused[p]++
					default:
						res.Errors++
						t.Logf("error: %v", err)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			})
		}
		wg.Wait()
	}
	redistest.Report(res)
}

// offsetClock is the real clock plus an offset the parent sets per phase.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *offsetClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
