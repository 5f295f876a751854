// Package redisx is what imagegen's Redis stores share: the policy for an
// unreachable server, the guard that applies it (per-call timeout, warning
// once per outage, fallback or a typed error), key prefixes and hashing.
package redisx

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

// Policy is redisopt.Policy, so that the guard can apply it.
type Policy = redisopt.Policy

// The policies and defaults, from redisopt.
const (
	DefaultPolicy    = redisopt.DefaultPolicy
	FallbackToMemory = redisopt.FallbackToMemory
	FailClosed       = redisopt.FailClosed
	CodeUnavailable  = redisopt.CodeUnavailable
	DefaultPrefix    = redisopt.DefaultPrefix
	DefaultTimeout   = redisopt.DefaultTimeout
	DefaultRetry     = redisopt.DefaultRetryInterval
)

// Version is the format version every stored value carries.
const Version = 1

// Guard applies a Policy around Redis calls. The zero value is not usable;
// fill Store and call through Do.
type Guard struct {
	Store   string        // the store's name in warnings and errors: "ratelimit", "budget", ...
	Policy  Policy        // what to do when Redis is unreachable
	Logger  *slog.Logger  // warnings; nil means slog.Default()
	Timeout time.Duration // per call; 0 means DefaultTimeout
	Retry   time.Duration // how long to skip Redis after a failure; 0 means DefaultRetry

	mu        sync.Mutex
	down      bool
	downUntil time.Time
	lastErr   error
}

func (g *Guard) logger() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.Default()
}

// skip reports whether Redis is known down and should not be tried yet.
func (g *Guard) skip() (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down && time.Now().Before(g.downUntil) {
		return true, g.lastErr
	}
	return false, nil
}

func (g *Guard) failed(op string, err error) {
	retry := g.Retry
	if retry <= 0 {
		retry = DefaultRetry
	}
	g.mu.Lock()
	first := !g.down
	g.down, g.downUntil, g.lastErr = true, time.Now().Add(retry), err
	g.mu.Unlock()
	if first {
		what := "failing closed"
		if g.Policy == FallbackToMemory {
			what = "falling back to an in-memory store; limits and state are per process until it returns"
		}
		g.logger().Warn("imagegen: Redis unreachable", "store", g.Store, "op", op, "policy", g.Policy.String(), "action", what, "err", err)
	}
}

func (g *Guard) ok() {
	g.mu.Lock()
	was := g.down
	g.down, g.lastErr = false, nil
	g.mu.Unlock()
	if was {
		g.logger().Info("imagegen: Redis reachable again", "store", g.Store)
	}
}

// Down reports whether the guard currently considers Redis unreachable.
func (g *Guard) Down() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.down
}

// Unavailable returns the typed error of a fail-closed store.
func (g *Guard) Unavailable(op string, err error) error {
	return &provider.Error{Kind: provider.KindUnavailable, Code: CodeUnavailable,
		Message: fmt.Sprintf("%s store: Redis unreachable (%s), failing closed", g.Store, op), Err: err}
}

// Do runs redisFn with a per-call timeout. When Redis is unreachable (now,
// or within Retry of the last failure) it runs memFn under
// FallbackToMemory, or returns the typed error under FailClosed. Errors
// that are not about reaching Redis (a script's answer, the caller's
// cancelled context) are returned as they are. memFn may be nil for
// operations that have no fallback; the typed error is returned then.
func Do[T any](ctx context.Context, g *Guard, op string, redisFn func(ctx context.Context) (T, error), memFn func() (T, error)) (T, error) {
	return DoTimeout(ctx, g, g.Timeout, op, redisFn, memFn)
}

// DoTimeout is Do with a per-call timeout other than the guard's (for calls
// that move many bytes); 0 means DefaultTimeout.
func DoTimeout[T any](ctx context.Context, g *Guard, timeout time.Duration, op string, redisFn func(ctx context.Context) (T, error), memFn func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	fallback := func(err error) (T, error) {
		if g.Policy == FallbackToMemory && memFn != nil {
			return memFn()
		}
		return zero, g.Unavailable(op, err)
	}
	if skip, err := g.skip(); skip {
		return fallback(err)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	v, err := redisFn(cctx)
	cancel()
	switch {
	case err == nil:
		g.ok()
		return v, nil
	case ctx.Err() != nil:
		return zero, ctx.Err()
	case !IsOutage(err):
		g.ok()
		return v, err
	}
	g.failed(op, err)
	return fallback(err)
}

// IsOutage reports whether err means Redis could not be reached or could
// not serve (network, timeout, closed client, loading, read-only replica),
// as opposed to an answer.
func IsOutage(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	s := err.Error()
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "connection refused", "broken pipe", "connection reset", "i/o timeout", "use of closed network connection"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// Prefix returns p, or DefaultPrefix when p is empty.
func Prefix(p string) string {
	if p == "" {
		return DefaultPrefix
	}
	return p
}

// Hash returns the first 128 bits of the SHA-256 of s in hex: how a name
// that may be derived from a secret (an API key used as a rate-limit key)
// appears in Redis keys.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// Token returns 16 random bytes in hex, for lock tokens, lease members
// and reservation ids.
func Token() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Micros returns t in microseconds since the Unix epoch (0 for the zero
// Time).
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// CheckOptions records the mistakes in the options every store shares:
// a nil client, an unknown policy, negative durations. store names the
// package in field names ("redisstore").
func CheckOptions(e *cfgcheck.Errors, store string, rdb redis.UniversalClient, c redisopt.Common) {
	if rdb == nil {
		e.Add(store+".New rdb", "nil", "a Redis client")
	}
	f := store + ".Options.Common."
	if c.OnUnavailable < DefaultPolicy || c.OnUnavailable > FailClosed {
		e.Add(f+"OnUnavailable", c.OnUnavailable, "DefaultPolicy, FallbackToMemory or FailClosed")
	}
	cfgcheck.NonNegative(e, f+"Timeout", c.Timeout, "0 (default 250ms) or more")
	cfgcheck.NonNegative(e, f+"RetryInterval", c.RetryInterval, "0 (default 1s) or more")
	cfgcheck.NonNegative(e, f+"PollInterval", c.PollInterval, "0 (default 50ms) or more")
}

// NewGuard returns the guard of a store named store whose policy defaults
// to def.
func NewGuard(store string, c redisopt.Common, def Policy) *Guard {
	return &Guard{Store: store, Policy: c.OnUnavailable.Or(def), Logger: c.Logger, Timeout: c.Timeout, Retry: c.RetryInterval}
}

// Poll returns c's PollInterval, or its default.
func Poll(c redisopt.Common) time.Duration {
	if c.PollInterval <= 0 {
		return redisopt.DefaultPollInterval
	}
	return c.PollInterval
}

// Janitor retries clean-up writes that failed because Redis was
// unreachable (a lease or lock released during an outage), so that what
// they free is freed for every replica soon after Redis returns rather
// than when its TTL runs out. Each job is retried until it succeeds, fails
// with an answer (not an outage), or passes its expiry (Redis drops the
// key by itself then). One goroutine runs while jobs are queued and ends
// when none is, or at Stop. The zero value is ready to use.
type Janitor struct {
	// Timeout bounds each try; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxInterval is the longest wait between tries; 0 means
	// DefaultJanitorInterval. Tries start 10 ms apart and double.
	MaxInterval time.Duration

	mu      sync.Mutex
	jobs    []janitorJob
	running bool
	stopped bool
	stop    chan struct{} // closed by Stop; made with the first goroutine
	wg      sync.WaitGroup
}

// DefaultJanitorInterval is the longest wait between a Janitor's tries:
// what is freed is freed within about that long of Redis returning.
const DefaultJanitorInterval = 250 * time.Millisecond

type janitorJob struct {
	run     func(ctx context.Context) error
	expires time.Time
}

// Add queues run, to be retried until expires. After Stop it does
// nothing: Redis expires what run would have removed.
func (j *Janitor) Add(expires time.Time, run func(ctx context.Context) error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stopped {
		return
	}
	j.jobs = append(j.jobs, janitorJob{run, expires})
	if j.running {
		return
	}
	j.running = true
	if j.stop == nil {
		j.stop = make(chan struct{})
	}
	j.wg.Add(1)
	go j.loop(j.stop)
}

// Stop ends the goroutine, dropping the queued jobs, and waits for it.
func (j *Janitor) Stop() {
	j.mu.Lock()
	if !j.stopped {
		j.stopped = true
		j.jobs = nil
		if j.stop != nil {
			close(j.stop)
		}
	}
	j.mu.Unlock()
	j.wg.Wait()
}

// Pending returns the number of queued jobs.
func (j *Janitor) Pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.jobs)
}

// Flush tries the queued jobs once, now, in the order they were queued;
// it stops at the first outage.
func (j *Janitor) Flush(ctx context.Context) {
	j.mu.Lock()
	jobs := j.jobs
	j.jobs = nil
	j.mu.Unlock()
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	for i, job := range jobs {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := job.run(cctx)
		cancel()
		if IsOutage(err) {
			j.mu.Lock()
			if !j.stopped {
				j.jobs = append(jobs[i:], j.jobs...)
			}
			j.mu.Unlock()
			return
		}
	}
}

func (j *Janitor) loop(stop <-chan struct{}) {
	defer j.wg.Done()
	maxWait := j.MaxInterval
	if maxWait <= 0 {
		maxWait = DefaultJanitorInterval
	}
	wait := 10 * time.Millisecond
	for {
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		j.Flush(context.Background())
		j.mu.Lock()
		now := time.Now()
		j.jobs = slices.DeleteFunc(j.jobs, func(job janitorJob) bool { return now.After(job.expires) })
		if len(j.jobs) == 0 || j.stopped {
			j.running = false
			j.mu.Unlock()
			return
		}
		j.mu.Unlock()
		wait = min(wait*2, maxWait)
	}
}
