package cli

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/atomicfile"
	"github.com/imagegen-go/imagegen/internal/cli/batchstate"
	"github.com/imagegen-go/imagegen/internal/progress"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/taskapi"
)

const batchUsage = `Usage: imagegen batch --in FILE [flags]

Generate an image (or n of them) for every item of a JSONL or CSV file,
live (--concurrency calls at once), as Gemini Batch Mode jobs at half price
(--mode gemini-batch), or as detached tasks of a task API: Kie.ai,
Replicate, APIMart (--mode tasks, --concurrency tasks followed at once).
Images go to --out as KEY-1.png, ...

JSONL: one object a line: {"key", "prompt", "model", "size", "aspect_ratio",
"n", "quality", "format", "negative", "seed", "refs": [files], "labels": {}}.
CSV: a header row naming any of those columns (refs and labels separated by ;).
Only prompt is required; key defaults to line-N (row-N in CSV).

The state file (--state, default OUT/batch-state.jsonl) records each item
before and after its paid call, a Batch Mode job's name right after it is
created, and a task's handle right after it is submitted. Run the same
command again after a crash or Ctrl-C: done items are skipped, open jobs and
saved tasks are resumed (whatever the --mode), failed items are retried (not
those refused for good, such as blocked prompts, unless --retry-failed). An
item that was in flight when a run stopped (or whose submit may have created
a task) may have been billed: it is not sent again unless
--retry-interrupted. The exit status is 1 when any item did not finish.

  imagegen batch --emulator --in prompts.jsonl
  imagegen batch --in prompts.csv --mode gemini-batch --model gemini-nano-banana-2.1
  imagegen batch --in prompts.jsonl --mode tasks --model kie/nano-banana-pro
`

// finalKinds are failures a rerun does not retry by default: sending the
// same request again would fail (and may be billed) again.
var finalKinds = []provider.Kind{provider.KindInvalidRequest, provider.KindContentBlocked,
	provider.KindModelRetired, provider.KindModelNotFound, provider.KindNoImage}

// isFinal reports whether a rerun leaves the failure alone. A task the
// service does not know (a handle of another emulator, a task the
// service dropped) was not billed: a rerun submits the item again.
func isFinal(err error) bool {
	if errors.Is(err, taskapi.ErrTaskNotFound) {
		return false
	}
	return slices.Contains(finalKinds, provider.KindOf(err))
}

// batchRun is one run of `imagegen batch`.
type batchRun struct {
	s       *session
	j       *batchstate.Journal
	out     string
	name    string
	prog    *progress.Reporter
	items   map[string]*batchItem
	order   []string
	model   string // the model asked for ("" for each provider's default)
	conc    int
	jobSize int
	poll    time.Duration
	timeout time.Duration
	stderr  io.Writer

	total, done, failed atomic.Int64
	cost                atomic.Int64 // this run, micro-dollars

	errOnce  sync.Once
	stateErr error       // the state file could not be written: stop
	stopped  atomic.Bool // stateErr is set; read by the workers

	saved []batchstate.Item // task handles earlier runs saved, to resume
}

// batchModes are the ways pending items are sent. Saved task handles
// (Journal.Tasks) are resumed whatever the mode: tasks mode follows them
// beside its own submits, the others first.
var batchModes = map[string]func(r *batchRun, ctx context.Context, pending []*batchItem, prov string) error{
	"live":         (*batchRun).runLive,
	"gemini-batch": (*batchRun).runGeminiBatch,
	"tasks":        (*batchRun).runTasks,
}

// Batch is `imagegen batch`.
func Batch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	terminal := progress.IsTerminal(stderr)
	stderr = &syncWriter{w: stderr} // workers, the progress bar and the budget's alerts share it
	fs := newFlagSet("batch", batchUsage, stderr)
	var (
		c         common
		in        = fs.String("in", "", "input `file`: JSONL or CSV (by extension; - reads JSONL from stdin)")
		format    = fs.String("format", "", "input format: jsonl or csv (default: from the extension)")
		mode      = fs.String("mode", "live", "live, gemini-batch or tasks")
		out       = fs.String("out", "out", "`directory` for the images")
		statePath = fs.String("state", "", "state `file` (default OUT/batch-state.jsonl)")
		model     = fs.String("model", "", "model for items that name none")
		prov      = fs.String("provider", "", "provider `name` (default: from the model, or the config's routes)")
		conc      = fs.Int("concurrency", 4, fmt.Sprintf("live: calls at once; tasks: tasks followed at once, default %d (1-64)", defaultTaskConcurrency))
		name      = fs.String("name", "", "the batch's `name`: label batch=NAME on every request, Batch Mode job name (default: the input's base name)")
		retryInt  = fs.Bool("retry-interrupted", false, "send again items that were in flight when a run stopped (they may have been billed)")
		retryFail = fs.Bool("retry-failed", false, "retry failures a rerun skips by default (blocked prompts, invalid requests)")
		jobSize   = fs.Int("job-size", 1000, "gemini-batch: most items in one job")
		poll      = fs.Duration("poll", 0, "gemini-batch: first wait between polls of a job (default 10s; 500ms on --emulator); tasks: the least time between two polls of a task (default 500ms)")
		itemTO    = fs.Duration("item-timeout", 10*time.Minute, "live: the longest one call may take; tasks: the longest this run waits for one task (it stays saved for a rerun)")
	)
	c.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *in == "" && fs.NArg() == 1 {
		*in = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return provider.InvalidConfig("arguments", strings.Join(fs.Args(), " "), "flags, and at most the input file")
	}
	switch {
	case *in == "":
		return provider.InvalidConfig("--in", `""`, "the input file (JSONL or CSV)")
	case batchModes[*mode] == nil:
		return provider.InvalidConfig("--mode", *mode, "live, gemini-batch or tasks")
	case *conc < 1 || *conc > 64:
		return provider.InvalidConfig("--concurrency", *conc, "1 to 64")
	case *jobSize < 1:
		return provider.InvalidConfig("--job-size", *jobSize, "1 or more")
	case *poll < 0 || *itemTO <= 0:
		return provider.InvalidConfig("--poll / --item-timeout", "negative", "a positive duration")
	}
	items, err := readBatchInput(*in, *format)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(*in), filepath.Ext(*in))
		if *in == "-" {
			*name = "stdin"
		}
	}
	if *statePath == "" {
		*statePath = filepath.Join(*out, "batch-state.jsonl")
	}
	j, err := batchstate.Open(*statePath)
	if err != nil {
		return err
	}
	defer j.Close()
	r := &batchRun{j: j, out: *out, name: *name, items: map[string]*batchItem{}, model: *model, conc: *conc, jobSize: *jobSize,
		poll: *poll, timeout: *itemTO, stderr: stderr, prog: &progress.Reporter{W: stderr, Terminal: terminal}}
	for _, it := range items {
		r.items[it.Key] = it
		r.order = append(r.order, it.Key)
		st := j.Item(it.Key)
		if st.FP != "" && st.FP != it.fingerprint() && st.Status != batchstate.Pending {
			return provider.InvalidConfig(fmt.Sprintf("%s:%d: item %q", *in, it.line, it.Key), "changed",
				"the item as it was when "+*statePath+" recorded it ("+st.Status.String()+"); give it a new key or use another --state")
		}
	}
	s, err := c.open(ctx, "batch", stderr, sessionOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	r.s = s
	if *mode == "tasks" {
		s.taskPoll = r.poll
		concSet := false
		fs.Visit(func(f *flag.Flag) { concSet = concSet || f.Name == "concurrency" })
		if !concSet {
			r.conc = defaultTaskConcurrency
		}
	}
	if r.poll == 0 {
		r.poll = 10 * time.Second
		if s.emuURL != "" {
			r.poll = 500 * time.Millisecond
		}
	}

	// Sort the items by what their state says.
	var pending, interrupted []*batchItem
	doneBefore, openJobs := 0, j.OpenJobs()
	for _, k := range r.order {
		it, st := r.items[k], j.Item(k)
		switch st.Status {
		case batchstate.Done:
			doneBefore++
		case batchstate.Submitted:
			// resumed with its job below
		case batchstate.Task:
			r.saved = append(r.saved, st) // resumed below
		case batchstate.InFlight:
			if *retryInt {
				pending = append(pending, it)
			} else {
				interrupted = append(interrupted, it)
			}
		case batchstate.Failed:
			if !st.Final || *retryFail {
				pending = append(pending, it)
			}
		default:
			pending = append(pending, it)
		}
	}
	inJobs := 0
	for _, jb := range openJobs {
		inJobs += len(jb.Keys)
	}
	r.total.Store(int64(len(pending) + inJobs + len(r.saved)))
	fmt.Fprintf(stderr, "batch %s: %d items on %s: %d done before, %d to send, %d in %d open Batch Mode job(s), %d saved task(s); state %s\n",
		r.name, len(items), s.where(), doneBefore, len(pending), inJobs, len(openJobs), len(r.saved), j.Path())
	if len(interrupted) > 0 {
		fmt.Fprintf(stderr, "batch: %d item(s) were in flight when a run stopped and may have been billed; not sent again (--retry-interrupted sends them)\n", len(interrupted))
	}
	r.update("")
	if len(openJobs) > 0 {
		if err := r.resumeJobs(ctx, openJobs, *prov); err != nil {
			return err
		}
	}
	if len(r.saved) > 0 && *mode != "tasks" && ctx.Err() == nil {
		if err := r.runTaskPool(ctx, r.saved, nil, *prov); err != nil {
			return err
		}
	}
	if (len(pending) > 0 || *mode == "tasks" && len(r.saved) > 0) && ctx.Err() == nil && r.stateErr == nil {
		if err := batchModes[*mode](r, ctx, pending, *prov); err != nil {
			return err
		}
	}
	if r.stateErr != nil {
		return r.stateErr
	}
	if err := s.Close(); err != nil {
		return err
	}
	return r.summary(stdout)
}

// syncWriter serializes writes to w. A terminal or a file takes
// concurrent writes, but a writer handed to Batch need not.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// update shows the run's progress.
func (r *batchRun) update(note string) {
	if r.total.Load() == 0 {
		return
	}
	r.prog.Update(progress.State{Done: int(r.done.Load()), Total: int(r.total.Load()), Failed: int(r.failed.Load()),
		Cost: provider.USD(r.cost.Load()).String(), Note: note})
}

// journal reports the first state write that failed and stops the run:
// without the state, a rerun could pay twice.
func (r *batchRun) journal(err error) bool {
	if err != nil {
		r.errOnce.Do(func() {
			r.stateErr = fmt.Errorf("batch: stopped: %w", err)
			r.stopped.Store(true)
		})
		return false
	}
	return true
}

func (r *batchRun) labels(it *batchItem) map[string]string {
	extra := map[string]string{"batch": r.name}
	for k, v := range it.Labels {
		extra[k] = v
	}
	return r.s.requestLabels(extra)
}

// fileBase is the file name stem of an item's images.
func fileBase(key string) string {
	s := safeName(key)
	if s != key {
		sum := sha256.Sum256([]byte(key))
		s += "-" + hex.EncodeToString(sum[:3])
	}
	return s
}

// save writes an item's images atomically as OUT/KEY-i.ext.
func (r *batchRun) save(key string, imgs []provider.Image) ([]string, error) {
	var files []string
	for i, img := range imgs {
		p := filepath.Join(r.out, fmt.Sprintf("%s-%d%s", fileBase(key), i+1, img.Extension()))
		if err := atomicfile.Write(p, img.Data, 0o644); err != nil {
			return files, err
		}
		files = append(files, p)
	}
	return files, nil
}

// finish records an item's outcome in the state and the counters.
func (r *batchRun) finish(it *batchItem, resp *provider.Response, cost provider.USD, err error) {
	r.done.Add(1)
	if err == nil {
		var files []string
		files, err = r.save(it.Key, resp.Images)
		if err == nil {
			r.cost.Add(int64(cost))
			r.journal(r.j.Done(it.Key, files, resp.Provider, resp.Model, cost))
			r.update("")
			return
		}
		// Paid for but not saved (a full disk): failed for good, so that a
		// rerun does not pay again unless asked.
		err = fmt.Errorf("images paid for but not saved: %w", err)
		r.failed.Add(1)
		r.journal(r.j.Fail(it.Key, err, true))
		fmt.Fprintf(r.stderr, "batch: %s: %v\n", it.Key, err)
		r.update("")
		return
	}
	r.failed.Add(1)
	r.journal(r.j.Fail(it.Key, err, isFinal(err)))
	if !r.prog.Terminal {
		fmt.Fprintf(r.stderr, "batch: %s failed: %v\n", it.Key, err)
	}
	r.update("")
}

// runLive sends the pending items through the stack, conc at once. Each
// item goes to the provider of its own model (or --provider, or the
// config's routes when neither names one).
func (r *batchRun) runLive(ctx context.Context, pending []*batchItem, prov string) error {
	routeFor := perModel(func(model string) (*route, error) {
		rt, err := r.s.resolve(ctx, prov, model)
		if err != nil {
			return nil, err
		}
		rt.gen = r.s.wrap(rt.gen)
		return rt, nil
	})
	// A mistake in the flags or config shows before anything is sent.
	if _, err := routeFor(r.model); err != nil {
		return err
	}
	pool(ctx, r, pending, func(it *batchItem) {
		if rt, ok := itemRoute(r, it, routeFor); ok {
			r.sendLive(ctx, rt.gen, rt.model, it)
		}
	})
	return nil
}

// perModel returns resolve memoised per model, safe for the workers to
// share: each model's route is built once however many items name it (a
// failure is not kept, so the next item of that model tries again).
func perModel[T any](resolve func(model string) (T, error)) func(model string) (T, error) {
	var mu sync.Mutex
	routes := map[string]T{}
	return func(model string) (T, error) {
		mu.Lock()
		defer mu.Unlock()
		if rt, ok := routes[model]; ok {
			return rt, nil
		}
		rt, err := resolve(model)
		if err != nil {
			var none T
			return none, err
		}
		routes[model] = rt
		return rt, nil
	}
}

// itemRoute returns the route of it's model (the run's when it names
// none); when there is none, it finishes the item with the reason.
func itemRoute[T any](r *batchRun, it *batchItem, routeFor func(model string) (T, error)) (T, bool) {
	rt, err := routeFor(cmp.Or(it.Model, r.model))
	if err != nil {
		r.finish(it, nil, 0, err)
		return rt, false
	}
	return rt, true
}

// pool runs do on each job, r.conc at once, and returns when every job
// started has ended. It stops handing out jobs once the run is stopped
// (the journal failed) or ctx ends; the jobs not handed out stay pending.
func pool[T any](ctx context.Context, r *batchRun, jobs []T, do func(T)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range r.conc {
		wg.Go(func() {
			for job := range work {
				do(job)
			}
		})
	}
feed:
	for _, job := range jobs {
		if r.stopped.Load() {
			break
		}
		select {
		case work <- job:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

func (r *batchRun) sendLive(ctx context.Context, gen provider.Generator, model string, it *batchItem) {
	if ctx.Err() != nil || r.stopped.Load() {
		return
	}
	req, err := it.request(model, r.labels(it))
	if err != nil {
		r.finish(it, nil, 0, err)
		return
	}
	if !r.journal(r.j.Start(it.Key, it.fingerprint())) {
		return
	}
	// Ctrl-C stops new calls, not those in flight: they are paid for.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	resp, err := gen.Generate(callCtx, req)
	if err != nil {
		r.finish(it, nil, 0, err)
		return
	}
	r.finish(it, resp, resp.Cost, nil)
}

// geminiGenerator returns the gemini adapter that serves Batch Mode jobs,
// and its provider name.
func (r *batchRun) geminiGenerator(ctx context.Context, prov string) (*gemini.Generator, string, error) {
	name := prov
	if name == "" {
		var err error
		if name, _, err = r.s.providerFor(r.model); err != nil {
			return nil, "", err
		}
		if r.model == "" {
			name = "gemini"
			for _, n := range r.s.providerNames() {
				if p, _ := r.s.providerConfig(n); p.TypeFor(n) == "gemini" {
					name = n
					break
				}
			}
		}
	}
	a, err := r.s.adapter(ctx, name, r.model)
	if err != nil {
		return nil, "", err
	}
	g, ok := a.(*gemini.Generator)
	if !ok {
		return nil, "", provider.InvalidConfig("--mode gemini-batch", name, "a provider of type gemini (Batch Mode is Gemini's)")
	}
	return g, name, nil
}

// runGeminiBatch submits the pending items as Batch Mode jobs of at most
// jobSize items and waits for each.
func (r *batchRun) runGeminiBatch(ctx context.Context, pending []*batchItem, prov string) error {
	g, name, err := r.geminiGenerator(ctx, prov)
	if err != nil {
		return err
	}
	model := r.model
	if model == "" {
		model = g.Describe().Model
	}
	var ok []*batchItem
	for _, it := range pending {
		if it.Model != "" && it.Model != model {
			r.finish(it, nil, 0, &provider.Error{Kind: provider.KindInvalidRequest, Code: "model",
				Message: fmt.Sprintf("item model %s: a Batch Mode job has one model (%s); use --mode live or another batch", it.Model, model)})
			continue
		}
		ok = append(ok, it)
	}
	size := r.jobSize
	for start := 0; start < len(ok) && ctx.Err() == nil && !r.stopped.Load(); start += size {
		chunk := ok[start:min(start+size, len(ok))]
		if err := r.submitJob(ctx, g, name, model, chunk); err != nil {
			return err
		}
	}
	return nil
}

func (r *batchRun) submitJob(ctx context.Context, g *gemini.Generator, prov, model string, chunk []*batchItem) error {
	var (
		bitems   []gemini.BatchItem
		keys     []string
		fps      []string
		estimate provider.USD
		labels   = r.s.requestLabels(map[string]string{"batch": r.name})
	)
	for _, it := range chunk {
		req, err := it.request("", r.labels(it))
		if err == nil {
			req.Model = ""
			if err = req.Validate(); err == nil {
				err = g.CheckRequest(&provider.Request{Prompt: req.Prompt, Model: model, N: req.N, Size: req.Size,
					AspectRatio: req.AspectRatio, Quality: req.Quality, OutputFormat: req.OutputFormat, References: req.References})
			}
		}
		if err != nil {
			r.finish(it, nil, 0, err)
			continue
		}
		if r.s.budget != nil {
			estimate += r.s.budget.Estimate(model, catalog.TierBatch, req)
		}
		bitems = append(bitems, gemini.BatchItem{Key: it.Key, Request: req})
		keys = append(keys, it.Key)
		fps = append(fps, it.fingerprint())
	}
	if len(bitems) == 0 {
		return nil
	}
	var res *pricing.Reservation
	if r.s.budget != nil {
		var err error
		if res, err = r.s.budget.Reserve(ctx, labels, estimate); err != nil {
			for _, it := range chunk {
				if slices.Contains(keys, it.Key) {
					r.finish(it, nil, 0, err)
				}
			}
			return nil
		}
	}
	if !r.journal(r.j.Submit(keys, fps)) {
		return nil
	}
	job, err := g.SubmitBatch(ctx, bitems, gemini.BatchOptions{DisplayName: "imagegen batch " + r.name, Model: model})
	if err != nil {
		if res != nil {
			r.s.budget.Settle(context.WithoutCancel(ctx), res, 0)
		}
		if IsUsageError(err) {
			for _, k := range keys {
				r.finish(r.items[k], nil, 0, err)
			}
			return nil
		}
		// The job may exist: its items stay in flight, never resubmitted
		// without --retry-interrupted.
		return fmt.Errorf("batch: submitting a Batch Mode job failed; its %d items may be in a job that was created (list your jobs before --retry-interrupted): %w", len(keys), err)
	}
	if !r.journal(r.j.Job(job.Name, keys)) {
		return nil
	}
	fmt.Fprintf(r.stderr, "batch: submitted %s (%d items, %s)\n", job.Name, len(keys), model)
	return r.waitJob(ctx, g, prov, job.Name, keys, res)
}

// resumeJobs waits for the Batch Mode jobs earlier runs submitted.
func (r *batchRun) resumeJobs(ctx context.Context, jobs []batchstate.Job, prov string) error {
	g, name, err := r.geminiGenerator(ctx, prov)
	if err != nil {
		return err
	}
	for _, jb := range jobs {
		fmt.Fprintf(r.stderr, "batch: resuming %s (%d items)\n", jb.Name, len(jb.Keys))
		if err := r.waitJob(ctx, g, name, jb.Name, jb.Keys, nil); err != nil {
			return err
		}
	}
	return nil
}

// waitJob polls a job until it ends, then records every item's result:
// the state first (done, with the cost from the catalog), then the meter
// (the ledger), so that a crash between them never records a cost twice.
func (r *batchRun) waitJob(ctx context.Context, g *gemini.Generator, prov, name string, keys []string, res *pricing.Reservation) error {
	job, err := g.WaitBatch(ctx, name, gemini.WaitOptions{MinInterval: r.poll, OnPoll: func(j *gemini.BatchJob) {
		r.update(fmt.Sprintf("%s %s", j.Name, j.State))
	}})
	if job == nil || (err != nil && !job.State.Done()) {
		if ctx.Err() != nil {
			return nil // still open in the state: a rerun resumes it
		}
		return fmt.Errorf("batch: waiting for %s: %w", name, err)
	}
	var actual provider.USD
	defer func() {
		if res != nil {
			r.s.budget.Settle(context.WithoutCancel(ctx), res, actual)
		}
	}()
	if job.State != gemini.BatchSucceeded {
		reason := job.Err
		if reason == nil {
			reason = fmt.Errorf("job %s ended %s", name, job.State)
		}
		for _, k := range keys {
			if r.j.Item(k).Status == batchstate.Submitted {
				r.done.Add(1)
				r.failed.Add(1)
			}
		}
		r.journal(r.j.JobEnd(name, reason))
		fmt.Fprintf(r.stderr, "batch: %s: %v\n", name, reason)
		r.update("")
		return nil
	}
	results, err := g.BatchResultsContext(ctx, job)
	if err != nil {
		return fmt.Errorf("batch: results of %s: %w", name, err)
	}
	for _, br := range results {
		it := r.items[br.Key]
		if it == nil || r.j.Item(br.Key).Status != batchstate.Submitted {
			continue // recorded by an earlier run, or not ours
		}
		req, rerr := it.request(job.Model, r.labels(it))
		if rerr != nil {
			req = &provider.Request{Prompt: it.Prompt, Model: job.Model, Labels: r.labels(it)}
		}
		req.Options = provider.Options{catalog.TierBatch}
		var cost provider.USD
		if br.Err == nil && br.Response != nil {
			cost = r.s.cat.CostOf(job.Model, catalog.TierBatch, req, br.Response).Amount
			br.Response.Cost = cost
			if br.Response.Provider == "" {
				br.Response.Provider = prov
			}
			if br.Response.Model == "" {
				br.Response.Model = job.Model
			}
			r.finish(it, br.Response, cost, nil)
		} else {
			err := br.Err
			if err == nil {
				err = errors.New("no result")
			}
			r.finish(it, nil, 0, err)
		}
		actual += cost
		r.s.meter.Observe(prov, job.Model, catalog.TierBatch, req, br.Response, br.Err)
	}
	r.journal(r.j.JobEnd(name, nil))
	return nil
}

// summary prints what the batch became and fails when anything did not
// finish.
func (r *batchRun) summary(stdout io.Writer) error {
	var done, failed, interrupted []string
	var total provider.USD
	for _, k := range r.order {
		st := r.j.Item(k)
		switch st.Status {
		case batchstate.Done:
			done = append(done, k)
			total += st.Cost
		case batchstate.Failed:
			failed = append(failed, k)
		default:
			interrupted = append(interrupted, k)
		}
	}
	fmt.Fprintf(stdout, "batch %s: %d items: %d done, %d failed, %d not finished; cost %s (this run %s); images in %s\n",
		r.name, len(r.order), len(done), len(failed), len(interrupted), total, provider.USD(r.cost.Load()), r.out)
	for _, k := range failed {
		st := r.j.Item(k)
		again := "retried by a rerun"
		if st.Final {
			again = "not retried without --retry-failed"
		}
		fmt.Fprintf(stdout, "  failed %s: %s (%s)\n", k, st.Error, again)
	}
	for _, k := range interrupted {
		st := r.j.Item(k)
		switch st.Status {
		case batchstate.InFlight:
			fmt.Fprintf(stdout, "  interrupted %s: in flight when a run stopped, may have been billed (--retry-interrupted sends it again)\n", k)
		case batchstate.Submitted:
			fmt.Fprintf(stdout, "  waiting %s: in Batch Mode job %s (a rerun resumes it)\n", k, st.Job)
		case batchstate.Task:
			fmt.Fprintf(stdout, "  waiting %s: its task is saved (a rerun resumes it)\n", k)
		default:
			fmt.Fprintf(stdout, "  not sent %s\n", k)
		}
	}
	if n := len(failed) + len(interrupted); n > 0 {
		return fmt.Errorf("%d of %d items did not finish; state in %s", n, len(r.order), r.j.Path())
	}
	return nil
}
