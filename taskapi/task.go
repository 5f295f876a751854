package taskapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/internal/fanin"
	"github.com/imagegen-go/imagegen/internal/fetch"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/fanout"
)

// Handle is what identifies a submitted request's tasks: plain data, to
// save (as JSON) and give to Generator.Resume after a restart. It also
// keeps what pricing the result needs (Request).
type Handle struct {
	Service     Service           `json:"service"`
	Provider    string            `json:"provider,omitempty"` // Config.Name of the generator that submitted it
	Model       string            `json:"model"`              // the model ID, with the service's prefix
	IDs         []string          `json:"ids"`                // the service's task IDs, one per task
	Created     time.Time         `json:"created"`            // when it was submitted, on the generator's clock
	Images      int               `json:"images,omitempty"`   // images asked for (Request.N)
	Size        string            `json:"size,omitempty"`
	AspectRatio string            `json:"aspect_ratio,omitempty"`
	Quality     string            `json:"quality,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"` // the request's labels, for metering
}

// Request returns a request standing for the one submitted, as much as
// pricing needs (model, size, quality, N, labels): give it to
// pricing.Meter.Observe with the result.
func (h Handle) Request() *provider.Request {
	return &provider.Request{Model: h.Model, N: h.Images, Size: h.Size, AspectRatio: h.AspectRatio, Quality: h.Quality,
		Labels: maps.Clone(h.Labels)}
}

// Status is where a request's tasks stand.
type Status struct {
	// State is the request's: running while any task runs, succeeded
	// when every task has ended and one succeeded, else failed (or
	// canceled when every task was).
	State State
	Tasks []TaskStatus
}

// TaskStatus is one task's state.
type TaskStatus struct {
	ID      string
	State   State
	Status  string    // the service's own word for it
	Err     error     // why it failed or was cancelled
	Expires time.Time // when its result links stop working, when known
}

// Task is a request submitted to a task API: one task per image, or one
// task for several images where the model takes a count. Save Handle to
// resume it after a restart. A Task is safe for concurrent use.
type Task struct {
	g    *Generator
	req  *provider.Request // the Generate call's request, for resuming on retry
	plan *plan             // nil for a resumed task

	mu       sync.Mutex
	h        Handle
	recs     []*record // what the service said last, per ID; nil until read
	read     []time.Time
	warnings []string
	attempts int
	resp     *provider.Response
}

// Submit submits req and returns at once with its Task: Wait, Status and
// Result follow it, and Handle saves it for Resume. A batch tool submits
// many, saves their handles and resumes them after a restart. Submit does
// not use sync mode and is never resumed from an earlier call.
func (g *Generator) Submit(ctx context.Context, req *provider.Request) (*Task, error) {
	p, err := g.prepare(req)
	if err != nil {
		return nil, err
	}
	return g.start(ctx, p, false)
}

var taskIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,200}$`)

// Resume returns the Task h identifies, without a network call, to
// follow a request submitted before (by this process or another, before a
// restart). h must come from a generator of the same service.
func (g *Generator) Resume(h Handle) (*Task, error) {
	if g == nil || g.http == nil {
		return nil, &provider.Error{Kind: provider.KindInvalidRequest, Provider: "taskapi", Message: "Generator: nil or not built with taskapi.New"}
	}
	invalid := func(format string, args ...any) error {
		return &provider.Error{Kind: provider.KindInvalidRequest, Provider: g.name, Model: h.Model, Code: "Handle",
			Message: "Handle: " + fmt.Sprintf(format, args...)}
	}
	if h.Service != g.svc {
		return nil, invalid("a %q task cannot be followed by a %s generator", h.Service, g.svc)
	}
	if len(h.IDs) == 0 || len(h.IDs) > provider.MaxN {
		return nil, invalid("%d task IDs; want 1 to %d", len(h.IDs), provider.MaxN)
	}
	for _, id := range h.IDs {
		if !taskIDPattern.MatchString(id) {
			return nil, invalid("%.40q is not a task ID", id)
		}
	}
	id, _, err := g.resolveModel(h.Model)
	if err != nil {
		return nil, err
	}
	h.Model, h.Provider = id, g.name
	h.IDs = append([]string(nil), h.IDs...)
	h.Labels = maps.Clone(h.Labels)
	return &Task{g: g, h: h, recs: make([]*record, len(h.IDs)), read: make([]time.Time, len(h.IDs))}, nil
}

// Handle returns what identifies the task, to save.
func (t *Task) Handle() Handle {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.h
	h.IDs = append([]string(nil), h.IDs...)
	h.Labels = maps.Clone(h.Labels)
	return h
}

// MarshalJSON encodes the task's Handle.
func (t *Task) MarshalJSON() ([]byte, error) { return json.Marshal(t.Handle()) }

// String names the task for logs.
func (t *Task) String() string {
	h := t.Handle()
	return fmt.Sprintf("taskapi.Task(%s %s %s)", h.Service, h.Model, strings.Join(h.IDs, ","))
}

// start uploads the references and submits the plan's tasks. For
// Generate (wait), it first resumes what an earlier attempt of the same
// request left running, and uses sync mode where the service has it.
func (g *Generator) start(ctx context.Context, p *plan, wait bool) (*Task, error) {
	now := g.clock.Now()
	var prior *pending
	if wait {
		prior = g.inflight.take(p.req, now)
	}
	if prior != nil && prior.task != nil {
		t := prior.task
		t.mu.Lock()
		t.req = p.req
		t.resp = nil
		t.warnings = append(t.warnings, "resumed "+strings.Join(t.h.IDs, ", ")+", started by an earlier attempt of this request")
		t.mu.Unlock()
		return t, nil
	}
	req := p.req
	t := &Task{g: g, plan: p, warnings: append([]string(nil), p.warnings...),
		h: Handle{Service: g.svc, Provider: g.name, Model: p.id, Created: now, Images: req.Count(),
			Size: req.Size, AspectRatio: req.AspectRatio, Quality: req.Quality, Labels: maps.Clone(req.Labels)}}
	if wait {
		t.req = req
	}
	urls, err := t.uploadRefs(ctx)
	if err != nil {
		return nil, err
	}
	webhook := ""
	if g.hooks != nil && g.svc != ServiceAPIMart && !p.opts.NoWebhook {
		webhook = g.hooks.url
	}
	var sync time.Duration
	if wait && g.svc == ServiceReplicate && webhook == "" && g.cfg.SyncWait >= 0 {
		sync = g.cfg.SyncWait
		if sync == 0 {
			sync = 60 * time.Second
		}
		if dl, ok := ctx.Deadline(); ok {
			sync = min(sync, max(time.Until(dl), time.Second))
		}
		if c := g.cfg.HTTPClient; c != nil && c.Timeout > 0 {
			// Answer before the client gives up on the held call.
			sync = min(sync, max(c.Timeout-5*time.Second, time.Second))
		}
	}
	cancelAfter := p.opts.CancelAfter
	if cancelAfter == 0 {
		cancelAfter = g.cfg.CancelAfter
	}
	taken := &idSet{m: map[string]bool{}}
	subs := make([]*submission, len(p.counts))
	for i, n := range p.counts {
		key := ""
		if prior != nil && i < len(prior.keys) {
			key = prior.keys[i]
		}
		if key == "" {
			key = newKey()
		}
		subs[i] = &submission{plan: p, remote: p.remote(), input: p.taskInput(urls, n), count: n, idemKey: key,
			webhook: webhook, sync: sync, cancel: cancelAfter, taken: taken}
	}
	since := time.Time{}
	if prior != nil {
		since = prior.since
	}
	recs := make([]*record, len(subs))
	errs := make([]error, len(subs))
	g.each(len(subs), func(i int) { recs[i], errs[i] = g.submitOne(ctx, subs[i], since) })

	var firstErr error
	var keys []string
	lost := time.Time{}
	for i, rec := range recs {
		if errs[i] != nil {
			t.attempts++
			if firstErr == nil {
				firstErr = errs[i]
			}
			var amb *ambiguousError
			if errors.As(errs[i], &amb) {
				keys = append(keys, subs[i].idemKey)
				if lost.IsZero() || amb.since.Before(lost) {
					lost = amb.since
				}
			}
			if len(subs) > 1 {
				t.warnings = append(t.warnings, fmt.Sprintf("task %d of %d not submitted: %v", i+1, len(subs), errs[i]))
			}
			continue
		}
		t.attempts++
		t.h.IDs = append(t.h.IDs, rec.id)
		t.recs = append(t.recs, rec)
		t.read = append(t.read, now)
		if rec.state.Done() {
			t.learn(rec, time.Time{}, g.clock.Now())
		}
	}
	if len(t.h.IDs) == 0 {
		if wait && (len(keys) > 0 || !lost.IsZero()) {
			g.inflight.put(req, &pending{keys: keys, since: lost}, g.clock.Now())
		}
		var amb *ambiguousError
		if errors.As(firstErr, &amb) {
			return nil, amb.err
		}
		return nil, firstErr
	}
	return t, nil
}

// ambiguousError is a submit that may have created a task the generator
// could not find; a retry of the same request looks again (Replicate) or
// resends the same Idempotency-Key (APIMart).
type ambiguousError struct {
	err   *provider.Error
	since time.Time
}

func (e *ambiguousError) Error() string { return e.err.Error() }
func (e *ambiguousError) Unwrap() error { return e.err }

// idSet is the task IDs one request already owns, so that a lookup after
// a lost answer does not claim a sibling's task.
type idSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (s *idSet) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[id] {
		return false
	}
	s.m[id] = true
	return true
}

func (s *submission) claimed(id string) bool {
	if s.taken == nil {
		return false
	}
	s.taken.mu.Lock()
	defer s.taken.mu.Unlock()
	return s.taken.m[id]
}

// submitOne creates one task. A failure that may have created it anyway
// is never simply repeated: APIMart's submit is resent with the same
// Idempotency-Key (twice more), Replicate's prediction is looked up, and
// Kie.ai's is CodeOutcomeUnknown.
func (g *Generator) submitOne(ctx context.Context, s *submission, since time.Time) (*record, error) {
	model := s.plan.id
	if !since.IsZero() && g.svc == ServiceReplicate {
		// An earlier attempt lost its answer: the prediction may exist.
		if rec, err := g.wire.find(ctx, s, since); err == nil && rec != nil && s.taken.add(rec.id) {
			return rec, nil
		}
	}
	for attempt := 0; ; attempt++ {
		t0 := g.clock.Now()
		rec, err := g.wire.submit(ctx, s)
		if err == nil {
			s.taken.add(rec.id)
			return rec, nil
		}
		if !ambiguous(err) {
			return nil, err
		}
		pe := asProviderError(err, g.name, model)
		switch g.svc {
		case ServiceAPIMart:
			// The same key answers the same task: resending is safe.
			if attempt < 2 && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-g.clock.After(time.Duration(attempt+1) * time.Second):
				}
				if ctx.Err() == nil {
					continue
				}
			}
			return nil, &ambiguousError{err: pe, since: t0}
		case ServiceReplicate:
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			found, ferr := g.wire.find(lctx, s, t0)
			if found != nil && s.taken.add(found.id) {
				if ctx.Err() != nil && !found.state.Done() {
					_ = g.wire.cancel(lctx, model, found.id) // the caller gave up
				}
				cancel()
				return found, nil
			}
			cancel()
			if ferr == nil {
				return nil, pe // listed, and not there: nothing was created
			}
			return nil, &ambiguousError{err: pe, since: t0}
		default:
			return nil, g.outcomeUnknown(model, pe)
		}
	}
}

func asProviderError(err error, name, model string) *provider.Error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe
	}
	return &provider.Error{Kind: provider.KindUnavailable, Provider: name, Model: model, Message: err.Error(), Err: err}
}

// newKey makes an Idempotency-Key.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "imagegen-" + hex.EncodeToString(b[:])
}

// each runs f(0..n-1), at most MaxConcurrency at once.
func (g *Generator) each(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	sem := make(chan struct{}, g.parallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// uploadRefs makes the references reachable by the tasks, once for all
// of them.
func (t *Task) uploadRefs(ctx context.Context) ([]string, error) {
	p := t.plan
	if len(p.refs) == 0 {
		return nil, nil
	}
	urls := make([]string, len(p.refs))
	errs := make([]error, len(p.refs))
	t.g.each(len(p.refs), func(i int) { urls[i], errs[i] = t.g.wire.upload(ctx, p.id, p.refs[i], i) })
	for i, err := range errs {
		if err != nil {
			return nil, provider.WithOrigin(fmt.Errorf("uploading References[%d]: %w", i, err), t.g.name, p.id)
		}
	}
	return urls, nil
}

// learn records how long a finished task took, for the schedule: from
// the service's timestamps when they are precise (Kie's milliseconds,
// Replicate's microseconds); else from what is known: the task ended
// after the last read that found it running (pending, when there was
// one) and before now, and within a second of what whole-second
// timestamps (APIMart's) say. The middle of that span is taken.
func (t *Task) learn(rec *record, pending, now time.Time) {
	if rec.state != StateSucceeded {
		return
	}
	stamped := !rec.created.IsZero() && !rec.done.IsZero() && rec.done.After(rec.created)
	if stamped && !rec.coarse {
		t.g.learned.add(t.h.Model, rec.done.Sub(rec.created))
		return
	}
	lo, hi := time.Duration(0), now.Sub(t.h.Created)
	if !pending.IsZero() && pending.After(t.h.Created) {
		lo = pending.Sub(t.h.Created)
	}
	if stamped {
		d := rec.done.Sub(rec.created)
		lo, hi = max(lo, d-time.Second), min(hi, d+time.Second)
		if lo > hi {
			lo, hi = d, d
		}
	}
	t.g.learned.add(t.h.Model, (lo+hi)/2)
}

// finish waits for Generate's tasks and downloads their results; when the
// wait ends first, it cancels what the service can cancel and remembers
// the rest for a retry of the same request.
func (t *Task) finish(ctx context.Context) (*provider.Response, error) {
	g := t.g
	if err := t.wait(ctx, true); err != nil {
		ids := t.unfinished()
		if len(ids) == 0 {
			return nil, err
		}
		var pe *provider.Error
		if errors.As(err, &pe) && !errors.Is(err, errWaitTooLong) {
			return nil, err // a refusal while reading (auth, ...)
		}
		if ctx.Err() != nil && g.svc == ServiceReplicate {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			var failed []string
			for _, id := range ids {
				if cerr := g.wire.cancel(cctx, t.h.Model, id); cerr != nil {
					failed = append(failed, id)
				}
			}
			kind := provider.KindTimeout
			if errors.Is(ctx.Err(), context.Canceled) {
				kind = provider.KindUnknown
			}
			msg := "cancelled " + strings.Join(ids, ", ") + " on " + g.name + ": the wait ended first"
			if len(failed) > 0 {
				msg += "; cancelling " + strings.Join(failed, ", ") + " failed, it may run on"
			}
			return nil, &provider.Error{Kind: kind, Provider: g.name, Model: t.h.Model, Message: msg, Err: ctx.Err()}
		}
		g.inflight.put(t.req, &pending{task: t}, g.clock.Now())
		cause := ctx.Err()
		if cause == nil {
			cause = err
		}
		return nil, g.stillRunning(t.h.Model, ids, cause)
	}
	resp, err := t.collect(ctx)
	if err != nil && provider.IsRetryable(err) && t.succeeded() {
		// Paid for but not downloaded: a retry downloads it again.
		g.inflight.put(t.req, &pending{task: t}, g.clock.Now())
	}
	return resp, err
}

// errWaitTooLong ends a wait at Config.Poll.MaxWait.
var errWaitTooLong = errors.New("taskapi: Config.Poll.MaxWait passed")

// Wait follows the tasks until every one has ended, and returns their
// status. It polls on the generator's schedule (or waits for the
// callbacks, with Config.Webhooks); when ctx ends or Config.Poll.MaxWait
// passes first it returns the context's error (or one with
// CodeStillRunning), and the tasks run on: Cancel stops them where the
// service can.
func (t *Task) Wait(ctx context.Context) (Status, error) {
	if err := t.wait(ctx, false); err != nil {
		if errors.Is(err, errWaitTooLong) {
			err = t.g.stillRunning(t.h.Model, t.unfinished(), err)
		}
		return t.status(), err
	}
	return t.status(), nil
}

// Status reads every task that has not ended once and returns where they
// stand.
func (t *Task) Status(ctx context.Context) (Status, error) {
	for i, id := range t.Handle().IDs {
		if r := t.rec(i); r != nil && r.state.Done() {
			continue
		}
		rec, err := t.g.wire.get(ctx, t.h.Model, id)
		if err != nil {
			return t.status(), err
		}
		t.set(i, rec)
	}
	return t.status(), nil
}

// Result waits for the tasks (as Wait) and downloads their results, as
// Generate returns them: images that succeeded even when a sibling task
// failed. Results are downloaded once; later calls return the same
// response. Links expire (Replicate's after an hour, Kie.ai's after a day):
// a result fetched too late is ErrResultExpired.
func (t *Task) Result(ctx context.Context) (*provider.Response, error) {
	t.mu.Lock()
	resp := t.resp
	t.mu.Unlock()
	if resp != nil {
		return resp, nil
	}
	if _, err := t.Wait(ctx); err != nil {
		return nil, err
	}
	return t.collect(ctx)
}

// Cancel asks the service to stop every task that has not ended. Kie.ai
// and APIMart have no way to: their tasks run on, and Cancel returns an
// error with Code "CANCEL_UNSUPPORTED".
func (t *Task) Cancel(ctx context.Context) error {
	ids := t.unfinished()
	var errs []error
	for _, id := range ids {
		if err := t.g.wire.cancel(ctx, t.h.Model, id); err != nil {
			if errors.Is(err, errCancelUnsupported) {
				return &provider.Error{Kind: provider.KindInvalidRequest, Provider: t.g.name, Model: t.h.Model, Code: "CANCEL_UNSUPPORTED",
					Message: t.g.name + " has no way to cancel a task; " + strings.Join(ids, ", ") + " run on", Err: err}
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (t *Task) rec(i int) *record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.recs[i]
}

func (t *Task) set(i int, rec *record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rec.id == "" || rec.id != t.h.IDs[i] {
		rec.id = t.h.IDs[i]
	}
	t.recs[i] = rec
}

// unfinished returns the IDs of the tasks that have not ended.
func (t *Task) unfinished() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for _, i := range t.pendingLocked() {
		ids = append(ids, t.h.IDs[i])
	}
	return ids
}

func (t *Task) succeeded() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.recs {
		if r != nil && r.state == StateSucceeded {
			return true
		}
	}
	return false
}

func (t *Task) status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := Status{Tasks: make([]TaskStatus, len(t.h.IDs))}
	running, ok, canceled := false, false, true
	for i, id := range t.h.IDs {
		ts := TaskStatus{ID: id, State: StatePending}
		if r := t.recs[i]; r != nil {
			ts.State, ts.Status, ts.Err, ts.Expires = r.state, r.status, r.err, r.expires
		}
		st.Tasks[i] = ts
		switch ts.State {
		case StatePending, StateRunning:
			running = true
		case StateSucceeded:
			ok = true
		}
		if ts.State != StateCanceled {
			canceled = false
		}
	}
	switch {
	case running:
		st.State = StateRunning
		if st.Tasks[0].State == StatePending {
			st.State = StatePending
		}
	case ok:
		st.State = StateSucceeded
	case canceled:
		st.State = StateCanceled
	default:
		st.State = StateFailed
	}
	return st
}

// wait reads the tasks that have not ended until none is left. Tasks are
// read together, on the schedule of the soonest; a callback (Webhooks)
// ends the wait for its task at once.
func (t *Task) wait(ctx context.Context, generate bool) error {
	g := t.g
	h := t.Handle()
	var notices <-chan notice
	if g.hooks != nil && g.svc != ServiceAPIMart && (!generate || t.plan == nil || !t.plan.opts.NoWebhook) {
		var unsubscribe func()
		notices, unsubscribe = g.hooks.subscribe(g.svc, h.IDs)
		defer unsubscribe()
	}
	start := g.clock.Now()
	failures := 0
	var hintWait time.Duration
	// A callback that came sooner than MinInterval after the task's last
	// read is not dropped: the read it asks for is made once the floor
	// allows (else a fast task waited for the fallback poll, seconds).
	var callbackDue time.Time
	for {
		todo := t.pendingIndexes()
		if len(todo) == 0 {
			return nil
		}
		now := g.clock.Now()
		d := g.poll.MaxInterval
		for _, i := range todo {
			r := t.rec(i)
			if r == nil {
				d = 0 // never read: read now
				break
			}
			d = min(d, g.scheduleFor(h.Model, r.estimate).next(now.Sub(h.Created)))
		}
		if notices != nil && d > 0 {
			// The callback ends the wait; the schedule's polls would only
			// cost reads. A poll every WebhookFallback covers a lost one,
			// so that it costs at most that (as documented).
			d = g.poll.WebhookFallback
		}
		if !callbackDue.IsZero() {
			d = min(d, max(callbackDue.Sub(now), 0))
		}
		if failures > 0 {
			d = max(d, min(g.poll.MinInterval<<min(failures, 6), g.poll.MaxInterval))
		}
		d = max(d, hintWait)
		waited := now.Sub(start)
		if waited >= g.poll.MaxWait {
			return errWaitTooLong
		}
		d = min(d, g.poll.MaxWait-waited)
		only := -1
		if d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-g.clock.After(d):
			case n := <-notices:
				i := indexOf(h.IDs, n.id)
				if i < 0 {
					continue
				}
				if rec := g.wire.parseCallback(h.Model, n.body); rec != nil && rec.id == n.id {
					t.set(i, rec) // a signed body: believed as it is
					if rec.state.Done() {
						t.learn(rec, t.lastRead(i), g.clock.Now())
					}
					continue
				}
				if last := t.lastRead(i); !last.IsZero() && g.clock.Now().Sub(last) < g.poll.MinInterval {
					callbackDue = last.Add(g.poll.MinInterval) // callbacks never read faster than the floor
					continue
				}
				only = i
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		hintWait, callbackDue = 0, time.Time{}
		for _, i := range todo {
			if only >= 0 && i != only {
				continue
			}
			before := t.lastRead(i) // the last read, which found the task running
			rec, err := g.wire.get(ctx, h.Model, h.IDs[i])
			t.markRead(i, g.clock.Now())
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if errors.Is(err, ErrTaskNotFound) {
					t.set(i, &record{state: StateFailed, status: "not found", err: err})
					continue
				}
				if !provider.IsRetryable(err) {
					return err
				}
				failures++
				if d, ok := provider.RetryAfter(err); ok {
					hintWait = d
				}
				break
			}
			failures = 0
			t.set(i, rec)
			if rec.state.Done() {
				t.learn(rec, before, g.clock.Now())
			}
		}
	}
}

func indexOf(ids []string, id string) int {
	for i, v := range ids {
		if v == id {
			return i
		}
	}
	return -1
}

// pendingIndexes returns the indexes of the tasks that have not ended.
func (t *Task) pendingIndexes() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pendingLocked()
}

// pendingLocked is pendingIndexes with t.mu held: a task not read yet or
// not in a final state.
func (t *Task) pendingLocked() []int {
	var out []int
	for i, r := range t.recs {
		if r == nil || !r.state.Done() {
			out = append(out, i)
		}
	}
	return out
}

func (t *Task) lastRead(i int) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.read[i]
}

func (t *Task) markRead(i int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.read[i] = at
}

// collect downloads the results of the tasks that succeeded and builds
// the response: images in task order, the billed images and the reported
// cost; failed tasks are listed in Warnings, or are the error when no
// task succeeded.
func (t *Task) collect(ctx context.Context) (*provider.Response, error) {
	g := t.g
	t.mu.Lock()
	h := t.h
	recs := append([]*record(nil), t.recs...)
	warnings := append([]string(nil), t.warnings...)
	attempts := t.attempts
	t.mu.Unlock()

	results := make([]fanout.Result, len(recs))
	g.each(len(recs), func(i int) { results[i] = t.result(ctx, h.Model, recs[i]) })
	reported := true
	for _, r := range results {
		if r.Err == nil && r.Response != nil && r.Response.Cost == 0 {
			reported = false
		}
	}
	if !reported {
		for _, r := range results {
			if r.Response != nil {
				r.Response.Cost = 0 // a partial figure would read as the whole cost
			}
		}
	}
	base := &provider.Response{Provider: g.name, Model: h.Model, Warnings: warnings}
	resp, err := fanin.Merge(base, results)
	if err != nil {
		return nil, err
	}
	resp.Attempts = max(attempts, 1)
	t.mu.Lock()
	t.resp = resp
	t.mu.Unlock()
	return resp, nil
}

// result downloads one task's images.
func (t *Task) result(ctx context.Context, model string, rec *record) fanout.Result {
	g := t.g
	switch {
	case rec == nil:
		return fanout.Result{Err: &provider.Error{Kind: provider.KindUnavailable, Provider: g.name, Model: model, Message: "the task was never read"}}
	case rec.state != StateSucceeded:
		if rec.err != nil {
			return fanout.Result{Err: rec.err}
		}
		return fanout.Result{Err: &provider.Error{Kind: provider.KindUnavailable, Provider: g.name, Model: model,
			Message: fmt.Sprintf("task %s ended %s", rec.id, rec.state)}}
	}
	billed := provider.Usage{Images: max(rec.images, len(rec.urls))}
	fail := func(e *provider.Error) fanout.Result {
		c := *e
		c.Usage = &billed // paid for, whatever became of the files
		return fanout.Result{Err: &c}
	}
	if rec.removed {
		return fail(&provider.Error{Kind: provider.KindNoImage, Provider: g.name, Model: model, Code: CodeResultExpired,
			Message: fmt.Sprintf("task %s succeeded but %s has deleted its results", rec.id, g.name), Err: ErrResultExpired})
	}
	if len(rec.urls) == 0 {
		return fail(&provider.Error{Kind: provider.KindNoImage, Provider: g.name, Model: model,
			Message: fmt.Sprintf("task %s succeeded without a result", rec.id)})
	}
	resp := &provider.Response{Provider: g.name, Model: model, Usage: billed, Attempts: 1}
	if rec.hasCost {
		resp.Cost = rec.cost
	}
	for _, u := range rec.urls {
		data, mt, err := g.wire.download(ctx, model, u)
		if err != nil {
			return fail(g.fetchError(model, rec, err))
		}
		resp.Images = append(resp.Images, provider.Image{Data: data, MIMEType: mt})
	}
	return fanout.Result{Response: resp}
}

// fetch downloads a result link under the fetch policy.
func (g *Generator) fetch(ctx context.Context, _ string, link string) ([]byte, string, error) {
	r, err := g.fetcher.Fetch(ctx, link)
	if err != nil {
		return nil, "", err
	}
	return r.Data, r.MIMEType, nil
}

// fetchError classifies a failed download of a result.
func (g *Generator) fetchError(model string, rec *record, err error) *provider.Error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe
	}
	e := &provider.Error{Kind: provider.KindUnavailable, Provider: g.name, Model: model, Code: "image_download",
		Message: g.secrets.Clean(err.Error(), textutil.MaxMessage), Err: g.secrets.Wrap(err)}
	var fe *fetch.Error
	if errors.As(err, &fe) {
		switch {
		case fe.Reason == fetch.ReasonBlocked:
			e.Kind, e.Code = provider.KindInvalidRequest, "url_blocked"
		case fe.Reason == fetch.ReasonTimeout:
			e.Kind = provider.KindTimeout
		case fe.Reason == fetch.ReasonStatus && (fe.StatusCode == http.StatusNotFound || fe.StatusCode == http.StatusGone ||
			(fe.StatusCode == http.StatusForbidden && !rec.expires.IsZero() && g.clock.Now().After(rec.expires))):
			e = withCause(e, ErrResultExpired)
			e.Kind, e.Code = provider.KindNoImage, CodeResultExpired
			e.Message = fmt.Sprintf("task %s succeeded but its result is gone (%d)", rec.id, fe.StatusCode)
			if !rec.expires.IsZero() {
				e.Message += "; its links expired at " + rec.expires.UTC().Format(time.RFC3339)
			}
		}
	} else if errors.Is(err, context.DeadlineExceeded) {
		e.Kind = provider.KindTimeout
	}
	return e
}
