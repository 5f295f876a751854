package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/googleerr"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// Batch Mode runs many generateContent requests as one asynchronous job at
// half the standard price. Jobs target 24 hours and expire after 48; the
// job's name is all that is needed to find it again after a restart. Jobs
// under 20 MB are sent inline; larger ones as a JSONL file through the
// Files API (batch_file.go).

// BatchExpiry is how long Google keeps a batch job before it expires.
const BatchExpiry = 48 * time.Hour

// BatchItem is one request of a batch job, with the caller's key for
// matching its result.
type BatchItem struct {
	Key     string // unique within the job; empty means its index
	Request *provider.Request
}

// BatchState is a job's state, the same whichever spelling the wire used
// (BATCH_STATE_* on the wire, JOB_STATE_* in genai).
type BatchState string

// The batch job states.
const (
	BatchPending   BatchState = "PENDING"
	BatchRunning   BatchState = "RUNNING"
	BatchSucceeded BatchState = "SUCCEEDED"
	BatchFailed    BatchState = "FAILED"
	BatchCancelled BatchState = "CANCELLED"
	BatchExpired   BatchState = "EXPIRED"
	BatchUnknown   BatchState = "UNKNOWN"
)

// Done reports whether the job will not change any more.
func (s BatchState) Done() bool {
	switch s {
	case BatchSucceeded, BatchFailed, BatchCancelled, BatchExpired:
		return true
	}
	return false
}

// normalizeState maps JOB_STATE_* and BATCH_STATE_* to a BatchState.
func normalizeState(s string) BatchState {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "JOB_STATE_"), "BATCH_STATE_")
	switch s {
	case "PENDING", "QUEUED":
		return BatchPending
	case "RUNNING", "UPDATING", "CANCELLING", "PAUSED":
		return BatchRunning
	case "SUCCEEDED", "PARTIALLY_SUCCEEDED":
		return BatchSucceeded
	case "FAILED":
		return BatchFailed
	case "CANCELLED":
		return BatchCancelled
	case "EXPIRED":
		return BatchExpired
	}
	return BatchUnknown
}

// BatchJob describes a submitted job.
type BatchJob struct {
	Name        string // "batches/..."; keep it to resume after a restart
	DisplayName string
	Model       string
	State       BatchState
	Created     time.Time
	Ended       time.Time
	Err         error // why the job failed or expired, typed
	// InputFile is the uploaded JSONL ("files/...") of a job submitted
	// through the Files API by this generator; empty for inline jobs and
	// for jobs fetched by name. The Files API deletes it after 48 hours.
	InputFile string
	// ResultsFile is the responses file ("files/...") of a succeeded file
	// job; BatchResults downloads it. Empty for inline jobs.
	ResultsFile string

	keys   []string        // item keys in submission order, when this process submitted it
	job    *genai.BatchJob // what the API said last
	finish [][]string      // finishMessage of each inline result, which genai drops
}

// BatchResult is the outcome of one item.
type BatchResult struct {
	Key      string
	Response *provider.Response // the item's images, text and usage
	Err      error
}

// BatchOptions configures SubmitBatch.
type BatchOptions struct {
	DisplayName string
	Model       string // overrides the generator's default model
	// UseFile sends the requests as a JSONL file through the Files API even
	// when they would fit inline. SubmitBatch does so by itself when they
	// come to MaxRequestBytes (20 MB) or more. Gemini API only.
	UseFile bool
	// FileMIMEType is the MIME type of the uploaded JSONL; default
	// BatchFileMIMEType.
	FileMIMEType string
}

// SubmitBatch validates every item and submits them as one batch job:
// inline when the requests come to less than MaxRequestBytes (20 MB), else
// (or with BatchOptions.UseFile) as a JSONL file uploaded through the Files
// API, one {"key": ..., "request": ...} line per item, each request the same
// JSON the inline path sends. Every item is validated before anything is
// sent. Creating a job is not idempotent: a retry after an ambiguous failure
// can create a second job, so SubmitBatch is never retried by this package;
// list jobs (Client().Batches.List) to find an orphan.
func (g *Generator) SubmitBatch(ctx context.Context, items []BatchItem, opts BatchOptions) (*BatchJob, error) {
	model := opts.Model
	if model == "" {
		model = g.model
	}
	if len(items) == 0 {
		return nil, g.invalid(model, "BatchItems: no items")
	}
	seen := make(map[string]bool, len(items))
	keys := make([]string, len(items))
	reqs := make([]*genai.InlinedRequest, 0, len(items))
	total := 0
	for i, it := range items {
		key := it.Key
		if key == "" {
			key = strconv.Itoa(i)
		}
		if seen[key] {
			return nil, g.invalid(model, "BatchItems[%d]: duplicate key %q", i, key)
		}
		seen[key], keys[i] = true, key
		if it.Request == nil {
			return nil, g.invalid(model, "BatchItems[%d]: nil request", i)
		}
		r := it.Request.Clone()
		if r.Model != "" && r.Model != model {
			return nil, g.invalid(model, "BatchItems[%d]: model %s differs from the job's %s", i, r.Model, model)
		}
		r.Model = model
		if r.Count() > 1 {
			return nil, g.invalid(model, "BatchItems[%d]: N: a batch item makes one image; add one item per image", i)
		}
		p, err := g.prepare(r)
		if err != nil {
			return nil, fmt.Errorf("BatchItems[%d] (%s): %w", i, key, err)
		}
		total += requestBytes(r)
		reqs = append(reqs, &genai.InlinedRequest{
			Contents: []*genai.Content{userTurn(r)},
			Metadata: map[string]string{"key": key},
			Config:   g.config(r, p.info),
		})
	}
	if opts.UseFile || total >= MaxRequestBytes {
		return g.submitFile(ctx, model, keys, reqs, opts)
	}
	ctx, rec := capture.WithRecord(ctx)
	job, err := answer.Guard(func() (*genai.BatchJob, error) {
		return g.client.Batches.Create(ctx, model, &genai.BatchJobSource{InlinedRequests: reqs}, &genai.CreateBatchJobConfig{DisplayName: opts.DisplayName})
	})
	if err != nil {
		return nil, g.mapError(ctx, model, err, rec)
	}
	out := g.batchJob(job)
	out.keys = keys
	return out, nil
}

// Batch fetches a job by name: to poll it, or to resume after a restart.
// The answer is read as the other answers are (capped, its images decoded
// as they stream in), and the finishMessage of each inline result, which
// genai drops, is kept for BatchResults.
func (g *Generator) Batch(ctx context.Context, name string) (*BatchJob, error) {
	ctx, rec := capture.WithRecord(ctx)
	bw := &batchWire{}
	rec.SetFilter(g.batchFilter(bw))
	job, err := answer.Guard(func() (*genai.BatchJob, error) { return g.client.Batches.Get(ctx, name, nil) })
	if err != nil {
		return nil, g.mapError(ctx, g.model, err, rec)
	}
	if bw.streamed != nil && job.Dest != nil {
		for _, it := range job.Dest.InlinedResponses {
			if it != nil && it.Response != nil {
				swapBlobs(it.Response, bw.streamed)
			}
		}
	}
	out := g.batchJob(job)
	out.finish = bw.finish
	return out, nil
}

// batchWire is what the transport read of a batch job beside genai.
type batchWire struct {
	streamed *jsonimg.Result
	finish   [][]string // per inline result, its candidates' finishMessage
}

// batchFilter reads a successful batch job answer in the transport.
func (g *Generator) batchFilter(bw *batchWire) func(*http.Response) error {
	return func(resp *http.Response) error {
		if resp.StatusCode < 200 || resp.StatusCode > 299 || (resp.Request != nil && resp.Request.Method != http.MethodGet) {
			return nil
		}
		data, res, err := jsonimg.Read(resp.Body, resp.ContentLength, 0, jsonimg.GeminiBatch, answer.JSONCap(g.maxResponse))
		_ = resp.Body.Close()
		if err == nil {
			err = answer.CheckObject(data)
		}
		if err != nil {
			return err
		}
		bw.streamed = res
		var op struct {
			Metadata struct {
				Output batchOutput `json:"output"`
			} `json:"metadata"`
			Response batchOutput `json:"response"`
		}
		_ = json.Unmarshal(data, &op)
		items := op.Metadata.Output.InlinedResponses.InlinedResponses
		if len(items) == 0 {
			items = op.Response.InlinedResponses.InlinedResponses
		}
		for _, it := range items {
			var msgs []string
			if it.Response != nil {
				for _, c := range it.Response.Candidates {
					msgs = append(msgs, c.FinishMessage)
				}
			}
			bw.finish = append(bw.finish, msgs)
		}
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
		resp.Header.Del("Content-Length")
		return nil
	}
}

type batchOutput struct {
	InlinedResponses struct {
		InlinedResponses []struct {
			Response *wireAnswer `json:"response"`
		} `json:"inlinedResponses"`
	} `json:"inlinedResponses"`
}

// CancelBatch asks the service to cancel a job; it ends as BatchCancelled.
func (g *Generator) CancelBatch(ctx context.Context, name string) error {
	ctx, rec := capture.WithRecord(ctx)
	if _, err := answer.Guard(func() (struct{}, error) { return struct{}{}, g.client.Batches.Cancel(ctx, name, nil) }); err != nil {
		return g.mapError(ctx, g.model, err, rec)
	}
	return nil
}

// WaitOptions configures WaitBatch's polling.
type WaitOptions struct {
	// MinInterval is the first wait between polls (default 10 s); waits
	// double up to MaxInterval (default 5 min).
	MinInterval, MaxInterval time.Duration
	// Clock waits between polls; nil means the generator's Config.Clock
	// (tests pass providertest.NewClock).
	Clock provider.Clock
	// OnPoll, when set, sees every state observed.
	OnPoll func(*BatchJob)
}

// WaitBatch polls a job with back-off until it is done or ctx ends. A job
// that failed or expired is returned together with its typed error.
func (g *Generator) WaitBatch(ctx context.Context, name string, opts WaitOptions) (*BatchJob, error) {
	wait, maxWait := opts.MinInterval, opts.MaxInterval
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if maxWait <= 0 {
		maxWait = 5 * time.Minute
	}
	after := g.clock.After
	if opts.Clock != nil {
		after = opts.Clock.After
	}
	for {
		job, err := g.Batch(ctx, name)
		if err != nil && !provider.IsRetryable(err) {
			return nil, err
		}
		if err == nil {
			if opts.OnPoll != nil {
				opts.OnPoll(job)
			}
			if job.State.Done() {
				return job, job.Err
			}
		}
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-after(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

// batchJob converts genai's view of a job.
func (g *Generator) batchJob(j *genai.BatchJob) *BatchJob {
	out := &BatchJob{Name: j.Name, DisplayName: j.DisplayName, Model: strings.TrimPrefix(j.Model, "models/"),
		State: normalizeState(string(j.State)), Created: j.CreateTime, Ended: j.EndTime, job: j}
	if j.Dest != nil {
		out.ResultsFile = j.Dest.FileName
	}
	switch out.State {
	case BatchExpired:
		out.Err = &provider.Error{Kind: provider.KindTimeout, Provider: g.name, Model: out.Model, Code: "BATCH_STATE_EXPIRED",
			Message: fmt.Sprintf("batch job %s expired: not finished within %s of %s", j.Name, BatchExpiry, j.CreateTime.Format(time.RFC3339))}
	case BatchFailed:
		msg := "batch job failed"
		kind := provider.KindUnavailable
		if j.Error != nil {
			msg += ": " + g.redact.Clean(j.Error.Message, textutil.MaxMessage)
			if j.Error.Code != nil {
				if k, _, _ := googleerr.ClassifyRPC(int(*j.Error.Code), j.Error.Message); k != provider.KindUnknown {
					kind = k
				}
			}
		}
		out.Err = &provider.Error{Kind: kind, Provider: g.name, Model: out.Model, Code: "BATCH_STATE_FAILED", Message: msg}
	}
	return out
}

// BatchResults returns every item's outcome, keyed as submitted, in
// submission order when the job was submitted by this generator, else in the
// order the service returned them. It fails unless the job succeeded. A file
// job's responses file is downloaded with context.Background; use
// BatchResultsContext to bound that.
func (g *Generator) BatchResults(job *BatchJob) ([]BatchResult, error) {
	return g.BatchResultsContext(context.Background(), job)
}

// BatchResultsContext is BatchResults with a context for downloading a file
// job's responses file. An item whose line of that file cannot be read gets
// a typed error of its own.
func (g *Generator) BatchResultsContext(ctx context.Context, job *BatchJob) ([]BatchResult, error) {
	if job == nil || job.job == nil {
		return nil, g.invalid(g.model, "BatchJob: nil job")
	}
	if job.State != BatchSucceeded {
		if job.Err != nil {
			return nil, job.Err
		}
		return nil, g.invalid(job.Model, "BatchJob: %s is %s, not succeeded", job.Name, job.State)
	}
	if d := job.job.Dest; d != nil && d.FileName != "" && len(d.InlinedResponses) == 0 {
		results, err := g.fileResults(ctx, job, d.FileName)
		if err != nil {
			return nil, err
		}
		if len(job.keys) > 0 {
			results = inOrder(job.keys, results)
		}
		return results, nil
	}
	var items []*genai.InlinedResponse
	if job.job.Dest != nil {
		items = job.job.Dest.InlinedResponses
	}
	results := make([]BatchResult, 0, len(items))
	for i, it := range items {
		if it == nil {
			continue
		}
		key := it.Metadata["key"]
		if key == "" {
			key = strconv.Itoa(i)
		}
		r := BatchResult{Key: key}
		switch {
		case it.Error != nil:
			r.Err = g.itemError(job.Model, it.Error)
		default:
			w := &wire{}
			if i < len(job.finish) {
				w.finishMessages = job.finish[i]
			}
			r.Response, r.Err = g.parseWire(job.Model, it.Response, w, nil)
			if r.Response != nil {
				r.Response.Attempts = 1
			}
		}
		results = append(results, r)
	}
	if len(job.keys) > 0 {
		results = inOrder(job.keys, results)
	}
	return results, nil
}

// itemError types a per-item google.rpc.Status.
func (g *Generator) itemError(model string, e *genai.JobError) error {
	code := 0
	if e.Code != nil {
		code = int(*e.Code)
	}
	kind, name, status := googleerr.ClassifyRPC(code, e.Message)
	if kind == provider.KindUnknown {
		kind = provider.KindUnavailable
	}
	return &provider.Error{Kind: kind, Provider: g.name, Model: model, StatusCode: status, Code: name, Message: g.redact.Clean(e.Message, textutil.MaxMessage)}
}

// inOrder sorts results by the submission order of their keys; results
// whose key was not submitted keep their place at the end, and submitted
// keys without a result get a typed error.
func inOrder(keys []string, results []BatchResult) []BatchResult {
	byKey := make(map[string]BatchResult, len(results))
	var extra []BatchResult
	for _, r := range results {
		if _, dup := byKey[r.Key]; dup {
			extra = append(extra, r)
			continue
		}
		byKey[r.Key] = r
	}
	out := make([]BatchResult, 0, len(keys)+len(extra))
	for _, k := range keys {
		r, ok := byKey[k]
		if !ok {
			r = BatchResult{Key: k, Err: &provider.Error{Kind: provider.KindNoImage, Message: "the job returned no result for this item"}}
		}
		delete(byKey, k)
		out = append(out, r)
	}
	for _, r := range results {
		if _, left := byKey[r.Key]; left {
			out = append(out, r)
			delete(byKey, r.Key)
		}
	}
	return append(out, extra...)
}
