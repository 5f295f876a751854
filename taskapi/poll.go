package taskapi

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// Polling schedule. A task is read first when the quickest of the model's
// recent tasks had ended, then at an even spacing until the slowest had,
// then less and less often. The spacing spends a budget of one read per
// two seconds of a typical task across the window where tasks end, so
// that the reads a task costs and the delay between its end and the read
// that sees it stay small together; MinInterval is a floor under all of
// it. Before the generator has seen the model's tasks end, the window is
// guessed around Poll.Expected, or the service's own estimate (APIMart's
// estimated_time).

// pollBudget is the average spacing of reads the schedule aims at: one
// per 2 s of task, with a tenth to spare.
const pollBudget = 2200 * time.Millisecond

// learnedTasks is how many recent task durations are kept per model.
const learnedTasks = 32

// learner keeps the durations of recent tasks, per model.
type learner struct {
	mu sync.Mutex
	m  map[string][]time.Duration
}

func newLearner() *learner { return &learner{m: map[string][]time.Duration{}} }

// add records how long a task of model took.
func (l *learner) add(model string, d time.Duration) {
	if d <= 0 || d > 24*time.Hour {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[model]; !ok && len(l.m) >= 256 {
		for k := range l.m { // forget one model to stay bounded
			delete(l.m, k)
			break
		}
	}
	r := append(l.m[model], d)
	if len(r) > learnedTasks {
		r = r[len(r)-learnedTasks:]
	}
	l.m[model] = r
}

// window returns the 5th and 95th percentiles and the mean of the
// model's recent durations, and how many there are.
func (l *learner) window(model string) (lo, hi, mean time.Duration, n int) {
	l.mu.Lock()
	r := slices.Clone(l.m[model])
	l.mu.Unlock()
	if len(r) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(r)
	var sum time.Duration
	for _, d := range r {
		sum += d
	}
	q := func(p float64) time.Duration { return r[int(p*float64(len(r)-1)+0.5)] }
	return q(0.05), q(0.95), sum / time.Duration(len(r)), len(r)
}

// schedule says when to read a task next.
type schedule struct {
	lo, hi, mean time.Duration
	spacing      time.Duration
	min, max     time.Duration
}

// scheduleFor builds the schedule of a task of model; estimate is the
// service's own estimate of its whole duration (0 = none).
func (g *Generator) scheduleFor(model string, estimate time.Duration) schedule {
	lo, hi, mean, n := g.learned.window(model)
	if n < 3 {
		e := g.poll.Expected
		if estimate > 0 {
			e = estimate
		}
		lo, hi, mean = e/2, e*3/2, e
	}
	s := schedule{lo: lo, hi: hi, mean: mean, min: g.poll.MinInterval, max: g.poll.MaxInterval}
	// Reads a task may cost: mean/pollBudget. One goes to the first read
	// at lo, about one more to rounding; the rest spread over [lo, hi],
	// where on average half of them are made.
	reads := float64(mean)/float64(pollBudget) - 1.5
	s.spacing = time.Duration(float64(hi-lo) / max(2*reads, 1))
	s.spacing = min(max(s.spacing, s.min), s.max)
	return s
}

// next returns how long to wait before reading a task that was submitted
// elapsed ago. The first wait, until the quickest tasks end, is not held
// to MaxInterval: reads before then would find the task running.
func (s schedule) next(elapsed time.Duration) time.Duration {
	var d time.Duration
	switch {
	case elapsed < s.lo:
		return max(s.lo-elapsed, s.min)
	case elapsed < s.hi:
		d = s.spacing
	default:
		// Past the slowest recent task: back off with the overrun.
		d = max(s.spacing, (elapsed-s.hi)/4)
	}
	return min(max(d, s.min), s.max)
}

// inflight remembers, per request, tasks a Generate call gave up on while
// they may still run (or had succeeded but could not be downloaded), and
// the Idempotency-Keys of submits whose outcome is unknown, so that a
// retry of the same *provider.Request (the retry decorator sends the same
// pointer) resumes them instead of starting new, billed tasks.
type inflight struct {
	mu sync.Mutex
	m  map[*provider.Request]*pending
}

type pending struct {
	task    *Task     // tasks to resume
	keys    []string  // APIMart Idempotency-Keys to send again
	since   time.Time // a Replicate submit whose answer was lost: look it up from here
	expires time.Time
}

// inflightLife bounds how long a request's tasks are remembered.
const inflightLife = 2 * time.Hour

// inflightMax bounds how many requests are remembered.
const inflightMax = 1024

func newInflight() *inflight { return &inflight{m: map[*provider.Request]*pending{}} }

func (f *inflight) put(req *provider.Request, p *pending, now time.Time) {
	if req == nil {
		return
	}
	p.expires = now.Add(inflightLife)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.m) >= inflightMax {
		evict(f.m, inflightMax, func(p *pending) bool { return !p.expires.After(now) })
	}
	f.m[req] = p
}

// evict makes room in m, a memory bounded to limit entries: it forgets
// the entries that are over, then arbitrary ones until fewer than limit
// remain.
func evict[K comparable, V any](m map[K]V, limit int, over func(V) bool) {
	maps.DeleteFunc(m, func(_ K, v V) bool { return over(v) })
	for k := range m {
		if len(m) < limit {
			break
		}
		delete(m, k)
	}
}

func (f *inflight) take(req *provider.Request, now time.Time) *pending {
	if req == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.m[req]
	if !ok {
		return nil
	}
	delete(f.m, req)
	if !p.expires.After(now) {
		return nil
	}
	return p
}
