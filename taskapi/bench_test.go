package taskapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/memtest"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/taskapi"
)

// pollStats summarises how tasks were watched: reads per task, seconds of
// task per read, and the delay between a task's end on the emulator and
// the moment Generate returned.
type pollStats struct {
	tasks               int
	reads               int
	taskTime            time.Duration
	added               []time.Duration
	meanAdded, p95Added time.Duration
}

// add counts task ti, whose Generate returned at done.
func (s *pollStats) add(ti providertest.TaskInfo, done time.Time) {
	s.tasks++
	s.reads += ti.Polls
	s.taskTime += ti.Ends.Sub(ti.Created)
	s.added = append(s.added, done.Sub(ti.Ends))
}

// addReturned counts the tasks whose prompt is in returned (prompt: when
// its Generate returned); others, a warm-up's, are left out.
func (s *pollStats) addReturned(tasks []providertest.TaskInfo, returned map[string]time.Time) {
	for _, ti := range tasks {
		if at, ok := returned[ti.Prompt]; ok {
			s.add(ti, at)
		}
	}
}

// generateAtOnce sends n requests at once to g, prompts prefix0 to
// prefix<n-1>, and returns when each one's Generate returned.
func generateAtOnce(b *testing.B, g provider.Generator, prefix string, n int) map[string]time.Time {
	var mu sync.Mutex
	returned := map[string]time.Time{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			prompt := fmt.Sprint(prefix, i)
			if _, err := g.Generate(context.Background(), &provider.Request{Prompt: prompt}); err != nil {
				b.Error(err)
			}
			mu.Lock()
			returned[prompt] = time.Now()
			mu.Unlock()
		})
	}
	wg.Wait()
	return returned
}

func (s *pollStats) finish() {
	slices.Sort(s.added)
	var sum time.Duration
	for _, d := range s.added {
		sum += d
	}
	s.meanAdded = sum / time.Duration(len(s.added))
	s.p95Added = s.added[len(s.added)*95/100]
}

func (s *pollStats) report(b *testing.B) {
	b.ReportMetric(float64(s.reads)/float64(s.tasks), "polls/task")
	b.ReportMetric(s.taskTime.Seconds()/float64(s.reads), "s/poll")
	b.ReportMetric(float64(s.meanAdded.Milliseconds()), "added-ms")
	b.ReportMetric(float64(s.p95Added.Milliseconds()), "p95-added-ms")
}

// BenchmarkPollSchedule measures, on a fake clock shared by the adapter
// and the emulator (so it is the schedule alone, not the machine), the
// reads of its record each task costs and the delay added beyond the
// emulator's completion time, over 200 tasks run one after the other
// (the generator learns the model's durations from the first ones), for
// task durations of 10 s ± 25 % (the emulator's default, jittered), 30 s
// ± 50 % and a fixed 20 s. The goal: on average at most one read per
// 2 s of task, at most 500 ms added.
//
//	go test -run '^$' -bench PollSchedule -benchtime 1x ./taskapi/
func BenchmarkPollSchedule(b *testing.B) {
	for _, svc := range []string{"kie", "apimart", "replicate-polled"} {
		for _, d := range []struct {
			name     string
			duration time.Duration
			jitter   float64
		}{{"10s±25%", 10 * time.Second, 0.25}, {"30s±50%", 30 * time.Second, 0.5}, {"20s", 20 * time.Second, 0}} {
			b.Run(svc+"/"+d.name, func(b *testing.B) {
				for b.Loop() {
					st := pollVirtual(b, svc, d.duration, d.jitter, 200)
					st.report(b)
				}
			})
		}
	}
}

func pollVirtual(b *testing.B, svc string, duration time.Duration, jitter float64, n int) *pollStats {
	clk := providertest.NewClock(start())
	srv := providertest.NewServer(providertest.Options{APIKey: testKey, Clock: clk, Seed: 1,
		Tasks: providertest.TaskOptions{Duration: duration, Jitter: jitter}})
	defer srv.Close()
	cfg := map[string]taskapi.Config{"kie": taskapi.Kie(""), "apimart": taskapi.APIMart(""), "replicate-polled": taskapi.Replicate("")}[svc]
	cfg.SyncWait = -1
	g := generator(b, srv, cfg, clk)
	st := &pollStats{}
	for range n {
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
			b.Fatal(err)
		}
		tasks := srv.Tasks()
		st.add(tasks[len(tasks)-1], clk.Now())
	}
	st.finish()
	return st
}

// BenchmarkPollRealClock is the same measure on the real clock, loopback,
// goroutines and downloads included: tasks of 8 s ± 25 %, a first round
// of 8 at once that the generator learns from, then 40 at once,
// measured: added-ms is the wall-clock delay between a task's end on the
// emulator and the return of its Generate.
//
//	go test -run '^$' -bench PollRealClock -benchtime 1x ./taskapi/
func BenchmarkPollRealClock(b *testing.B) {
	for _, svc := range []string{"kie", "apimart", "replicate-sync"} {
		b.Run(svc, func(b *testing.B) {
			for b.Loop() {
				srv := providertest.NewServer(providertest.Options{APIKey: testKey, Seed: 2,
					Tasks: providertest.TaskOptions{Duration: 8 * time.Second, Jitter: 0.25}})
				cfg := map[string]taskapi.Config{"kie": taskapi.Kie(""), "apimart": taskapi.APIMart(""), "replicate-sync": taskapi.Replicate("")}[svc]
				g := generator(b, srv, cfg, nil)
				generateAtOnce(b, g, "warm-up ", 8)
				returned := generateAtOnce(b, g, "measured ", 40)
				st := &pollStats{}
				st.addReturned(srv.Tasks(), returned)
				srv.Close()
				st.finish()
				st.reads = max(st.reads, 1) // sync mode reads nothing
				st.report(b)
			}
		})
	}
}

// BenchmarkLargeResult measures what downloading one 16 MiB result
// costs in memory, as the other adapters' stream benchmarks do: bytes
// allocated per call and the heap high-water mark of a call, as
// multiples of the image size. The emulator (in this process) serves the
// file from memory with its Content-Length.
//
//	go test -run '^$' -bench LargeResult -benchtime 10x ./taskapi/
func BenchmarkLargeResult(b *testing.B) {
	for name, cfg := range presets() {
		b.Run(name, func(b *testing.B) {
			clk := providertest.NewClock(start())
			srv := providertest.NewServer(providertest.Options{APIKey: testKey, Clock: clk, LargeImageBytes: 16 << 20})
			defer srv.Close()
			g := generator(b, srv, cfg, clk)
			memtest.ImageMultiples(b, func() int {
				resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "noise"})
				if err != nil {
					b.Fatal(err)
				}
				return len(resp.Images[0].Data)
			})
		})
	}
}

// BenchmarkWebhookRealClock measures the callback path on the real
// clock: 20 tasks of 2 s ± 25 % at once, each ended by its service's
// callback to a Webhooks handler on loopback (the emulator looks for
// ended tasks every 10 ms). Kie's callbacks are read back once;
// Replicate's signed bodies are believed.
//
//	go test -run '^$' -bench WebhookRealClock -benchtime 1x ./taskapi/
func BenchmarkWebhookRealClock(b *testing.B) {
	for _, svc := range []string{"kie", "replicate"} {
		b.Run(svc, func(b *testing.B) {
			for b.Loop() {
				srv := providertest.NewServer(providertest.Options{APIKey: testKey, Seed: 3,
					Tasks: providertest.TaskOptions{Duration: 2 * time.Second, Jitter: 0.25, KieHMACKey: kieKey}})
				var hooks *taskapi.Webhooks
				hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hooks.ServeHTTP(w, r) }))
				var err error
				hooks, err = taskapi.NewWebhooks(taskapi.WebhookConfig{URL: hs.URL, ReplicateSecret: srv.ReplicateWebhookSecret(), KieKey: kieKey})
				if err != nil {
					b.Fatal(err)
				}
				cfg := map[string]taskapi.Config{"kie": taskapi.Kie(""), "replicate": taskapi.Replicate("")}[svc]
				cfg = config(srv, cfg, nil)
				cfg.Webhooks = hooks
				g, err := taskapi.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				returned := generateAtOnce(b, g, "p", 20)
				st := &pollStats{}
				st.addReturned(srv.Tasks(), returned)
				hs.Close()
				srv.Close()
				st.finish()
				b.ReportMetric(float64(st.reads)/float64(st.tasks), "polls/task")
				b.ReportMetric(float64(st.meanAdded.Milliseconds()), "added-ms")
				b.ReportMetric(float64(st.p95Added.Milliseconds()), "p95-added-ms")
			}
		})
	}
}
