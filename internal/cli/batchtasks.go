package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/cli/batchstate"
	"github.com/imagegen-go/imagegen/internal/cli/config"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/taskapi"
)

// The tasks mode of `imagegen batch`: each item is submitted to a task API
// (package taskapi) as a detached task, its handle journaled right after
// the submit, then waited for and downloaded. A rerun resumes the saved
// handles instead of submitting again, so an item is paid for once.
//
// Per item, in this order: the request is checked (nothing sent), the
// budget reserves its estimate, the journal records the start (synced),
// the task is submitted through the provider's rate limits and a retry
// policy that never resends a submit that may have created a task, the
// handle is journaled (synced), the task is waited for and its images
// downloaded and written, the journal records the item done, the
// reservation is settled and the ledger gets the record.

// submitTimeout bounds one submit (with its retries and reference
// uploads). Ctrl-C does not cut a submit short: a submit cut mid-way may
// have created a task whose handle would be lost.
const submitTimeout = 5 * time.Minute

// defaultTaskConcurrency is --concurrency in tasks mode when not given:
// tasks are followed at once, each polled about once per 2 s (Kie.ai
// allows about 10 reads a second per key).
const defaultTaskConcurrency = 16

// taskRoute submits requests to one task API provider.
type taskRoute struct {
	name    string
	model   string // the model of items that name none
	gen     *taskapi.Generator
	submit  provider.Generator // retry → rate limit → Generator.Submit
	ceiling provider.USD       // the config's most per image, for models the catalog cannot price
}

// submitted carries the task a submit made out of the provider.Generator
// chain that rate-limits and retries submits.
type submitted struct{ task *taskapi.Task }

type submittedKey struct{}

// taskProviderFor names the task API provider for model: the one the
// model's prefix names, or, without a model, the config's model or the
// first task API provider with a key.
func (s *session) taskProviderFor(model string) (string, string, error) {
	if model == "" {
		model = s.cfg.Model
	}
	if model != "" {
		return s.providerFor(model)
	}
	for _, name := range s.providerNames() {
		p, _ := s.providerConfig(name)
		if !config.IsTaskType(p.TypeFor(name)) {
			continue
		}
		if _, err := s.key(name, p); err == nil {
			return name, "", nil
		}
	}
	return "", "", &provider.ConfigError{Field: "--mode tasks", Value: "no task API provider",
		Want: "a key in $KIE_API_KEY, $REPLICATE_API_TOKEN or $APIMART_API_KEY, a --model such as kie/nano-banana-pro, --provider, or --emulator to run offline"}
}

// taskRoute builds the route that submits to provider prov (or the one
// model names) for model.
func (s *session) taskRoute(ctx context.Context, prov, model string) (*taskRoute, error) {
	name := prov
	if name == "" {
		var err error
		if name, model, err = s.taskProviderFor(model); err != nil {
			return nil, err
		}
	}
	g, err := s.taskGenerator(ctx, name, model)
	if err != nil {
		return nil, err
	}
	p, _ := s.providerConfig(name)
	pol := s.retryPolicy(p)
	pol.Retryable = func(err error) bool { return provider.IsRetryable(err) && !submitMayHaveCreated(err) }
	rt, err := s.retryFor(name, pol)
	if err != nil {
		return nil, err
	}
	lim, err := s.limiter(name)
	if err != nil {
		return nil, err
	}
	submit := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		t, err := g.Submit(ctx, req)
		if err != nil {
			return nil, err
		}
		if out, ok := ctx.Value(submittedKey{}).(*submitted); ok {
			out.task = t
		}
		return &provider.Response{Provider: name, Model: t.Handle().Model}, nil
	})
	r := &taskRoute{name: name, model: model, gen: g, submit: provider.Chain(submit, rt, lim)}
	if r.model == "" {
		r.model = g.Describe().Model
	}
	if p.Ceiling != nil {
		r.ceiling = p.Ceiling.USD
	}
	return r, nil
}

// Submit submits req through the route's limits and retries.
func (rt *taskRoute) Submit(ctx context.Context, req *provider.Request) (*taskapi.Task, error) {
	out := &submitted{}
	if _, err := rt.submit.Generate(context.WithValue(ctx, submittedKey{}, out), req); err != nil {
		return nil, err
	}
	return out.task, nil
}

// estimate is what the budget reserves for req: the catalog's estimate,
// or the config's ceiling per image for a model the catalog cannot price.
func (rt *taskRoute) estimate(s *session, req *provider.Request) provider.USD {
	if _, known := s.cat.Lookup(req.Model); !known && rt.ceiling > 0 {
		return rt.ceiling * provider.USD(req.Count())
	}
	return s.budget.Estimate(req.Model, catalog.TierStandard, req)
}

// submitMayHaveCreated reports whether a failed submit may have created a
// task anyway: its outcome is unknown (a timeout, a reset, a 5xx, an
// answer that could not be read), so sending it again could pay twice.
// It is taskapi's own rule for its retries; taskapi already looked such a
// task up where the service allows (Replicate) and resent the same
// Idempotency-Key (APIMart) before giving up.
func submitMayHaveCreated(err error) bool {
	if errors.Is(err, taskapi.ErrOutcomeUnknown) {
		return true
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return true
	}
	if pe.Code == provider.CodeLocalLimit || pe.Kind == provider.KindBudgetExceeded {
		return false // refused here, before any call
	}
	if pe.Code == answer.CodeMalformed || pe.Code == answer.CodeTooLarge {
		return true
	}
	switch pe.Kind {
	case provider.KindUnavailable, provider.KindTimeout, provider.KindUnknown:
		return pe.StatusCode == 0 || pe.StatusCode >= 500
	}
	return false
}

// taskJob is one item for the task pool: a pending item to submit, or a
// saved task to resume.
type taskJob struct {
	it      *batchItem
	resumed *taskapi.Task // nil: submit it
}

// runTasks is --mode tasks: the saved tasks are resumed and the pending
// items submitted, conc tasks followed at once.
func (r *batchRun) runTasks(ctx context.Context, pending []*batchItem, prov string) error {
	return r.runTaskPool(ctx, r.saved, pending, prov)
}

// runTaskPool resumes the saved tasks, then submits the pending items as
// tasks, with at most conc tasks followed at once. A mistake in the flags
// or config shows before anything is sent.
func (r *batchRun) runTaskPool(ctx context.Context, saved []batchstate.Item, pending []*batchItem, prov string) error {
	var jobs []taskJob
	for _, st := range saved {
		it := r.items[st.Key]
		task, err := r.resumeHandle(ctx, st.Handle)
		if err != nil {
			if errors.Is(err, provider.ErrInvalidConfig) {
				return err // a key or provider missing: nothing is lost, the handles stay saved
			}
			r.finish(it, nil, 0, err)
			continue
		}
		jobs = append(jobs, taskJob{it: it, resumed: task})
	}
	if len(jobs) > 0 {
		fmt.Fprintf(r.stderr, "batch: resuming %d saved task(s)\n", len(jobs))
		if r.s.emu != nil {
			fmt.Fprintf(r.stderr, "batch: note: --emulator starts a new emulator each run, which knows no earlier run's tasks; to resume across runs, serve one with `imagegen emulator` and use --emulator=URL\n")
		}
	}

	routeFor := perModel(func(model string) (*taskRoute, error) {
		return r.s.taskRoute(ctx, prov, model)
	})
	if len(pending) > 0 {
		if _, err := routeFor(r.model); err != nil {
			return err
		}
	}
	for _, it := range pending {
		jobs = append(jobs, taskJob{it: it})
	}

	var running atomic.Int64
	pool(ctx, r, jobs, func(job taskJob) {
		running.Add(1)
		if job.resumed != nil {
			r.await(ctx, job.it, job.resumed, nil, &running)
		} else {
			r.submitTask(ctx, job.it, routeFor, &running)
		}
		running.Add(-1)
	})
	return nil
}

// resumeHandle turns a saved handle back into a Task of the provider
// that submitted it (or, when the config no longer names it, of one of
// the same service).
func (r *batchRun) resumeHandle(ctx context.Context, saved json.RawMessage) (*taskapi.Task, error) {
	var h taskapi.Handle
	if err := json.Unmarshal(saved, &h); err != nil {
		return nil, &provider.Error{Kind: provider.KindInvalidRequest, Code: "handle",
			Message: "the saved task handle cannot be read (" + err.Error() + "); the task may have run: not submitted again without --retry-failed"}
	}
	name := ""
	if p, ok := r.s.providerConfig(h.Provider); ok && p.TypeFor(h.Provider) == string(h.Service) {
		name = h.Provider
	} else {
		for _, n := range r.s.providerNames() {
			if p, _ := r.s.providerConfig(n); p.TypeFor(n) == string(h.Service) {
				name = n
				break
			}
		}
	}
	if name == "" {
		return nil, provider.InvalidConfig("saved task", string(h.Service), "a provider of type kie, replicate or apimart")
	}
	g, err := r.s.taskGenerator(ctx, name, "")
	if err != nil {
		return nil, err
	}
	return g.Resume(h)
}

// submitTask submits one item as a task and follows it.
func (r *batchRun) submitTask(ctx context.Context, it *batchItem, routeFor func(string) (*taskRoute, error), running *atomic.Int64) {
	if ctx.Err() != nil || r.stopped.Load() {
		return
	}
	rt, ok := itemRoute(r, it, routeFor)
	if !ok {
		return
	}
	req, err := it.request(rt.model, r.labels(it))
	if err == nil {
		err = rt.gen.CheckRequest(req)
	}
	if err != nil {
		r.finish(it, nil, 0, err) // nothing was sent
		return
	}
	var res *pricing.Reservation
	if r.s.budget != nil {
		if res, err = r.s.budget.Reserve(ctx, req.Labels, rt.estimate(r.s, req)); err != nil {
			r.finish(it, nil, 0, err)
			return
		}
	}
	settle, settleFull := r.settler(ctx, res)
	if !r.journal(r.j.Start(it.Key, it.fingerprint())) {
		settle(0)
		return
	}
	subCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), submitTimeout)
	task, err := rt.Submit(subCtx, req)
	cancel()
	if err != nil {
		if submitMayHaveCreated(err) {
			// Journaled as started, not failed: a rerun does not send it
			// again unless --retry-interrupted.
			settleFull()
			r.done.Add(1)
			r.failed.Add(1)
			fmt.Fprintf(r.stderr, "batch: %s: the submit may have created a task (%v); not sent again unless --retry-interrupted\n", it.Key, err)
			r.update("")
			return
		}
		settle(0)
		r.finish(it, nil, 0, err)
		return
	}
	h, err := json.Marshal(task.Handle())
	if err == nil {
		err = r.j.Task(it.Key, it.fingerprint(), h)
	}
	if !r.journal(err) {
		settleFull()
		return
	}
	r.await(ctx, it, task, res, running)
}

// await waits for an item's task, downloads its images and records the
// outcome. A task still running when the wait ends (Ctrl-C,
// --item-timeout) or whose result could not be downloaded yet keeps its
// saved handle: a rerun resumes it.
func (r *batchRun) await(ctx context.Context, it *batchItem, task *taskapi.Task, res *pricing.Reservation, running *atomic.Int64) {
	settle, settleFull := r.settler(ctx, res)
	r.update(fmt.Sprintf("%d tasks running", running.Load()))
	waitCtx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	st, err := task.Wait(waitCtx)
	if err == nil {
		var resp *provider.Response
		resp, err = task.Result(waitCtx)
		// A download cut short by the wait's end, or one that may work on
		// a rerun, keeps the handle; a task that failed, or whose result
		// is gone, is recorded.
		cut := err != nil && waitCtx.Err() != nil
		again := err != nil && st.State == taskapi.StateSucceeded && provider.IsRetryable(err) && !errors.Is(err, taskapi.ErrResultExpired)
		if !cut && !again {
			r.record(it, task.Handle(), resp, err, settle)
			return
		}
	}
	// Still running, or paid for and not downloaded: the handle stays.
	settleFull()
	switch {
	case ctx.Err() != nil: // Ctrl-C: the summary lists what waits
	case waitCtx.Err() != nil:
		fmt.Fprintf(r.stderr, "batch: %s: still running after --item-timeout %s; its task is saved, a rerun resumes it\n", it.Key, r.timeout)
	default:
		fmt.Fprintf(r.stderr, "batch: %s: %v; its task is saved, a rerun resumes it\n", it.Key, err)
	}
}

// record writes an ended task's outcome: the journal first (done, with
// the cost), then the budget and the ledger, so that a crash between them
// never records a cost twice.
func (r *batchRun) record(it *batchItem, h taskapi.Handle, resp *provider.Response, err error, settle func(provider.USD)) {
	req := h.Request()
	var cost provider.USD
	switch {
	case err == nil:
		cost = r.s.cat.CostOf(h.Model, catalog.TierStandard, req, resp).Amount
		resp.Cost = cost
	default:
		if u, billed := provider.BilledUsage(err); billed {
			cost = r.s.cat.UsageCostOf(h.Model, catalog.TierStandard, req, u, 0).Amount
		}
	}
	if err != nil {
		err = fmt.Errorf("task %s: %w", strings.Join(h.IDs, ", "), err)
	}
	r.finish(it, resp, cost, err)
	settle(cost)
	_, _ = r.s.meter.Observe(h.Provider, h.Model, catalog.TierStandard, req, resp, err)
}

// settler returns the functions that settle an item's reservation res
// at an actual cost, or in full (a task that may have been billed); both
// do nothing without a budget (res nil).
func (r *batchRun) settler(ctx context.Context, res *pricing.Reservation) (settle func(actual provider.USD), settleFull func()) {
	settle = func(actual provider.USD) {
		if res != nil {
			_ = r.s.budget.Settle(context.WithoutCancel(ctx), res, actual)
		}
	}
	settleFull = func() {
		if res != nil {
			settle(res.Amount)
		}
	}
	return settle, settleFull
}
