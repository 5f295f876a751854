package gemini_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func batchSetup(t *testing.T, batchDuration time.Duration) (*providertest.Server, *gemini.Generator, *providertest.Clock) {
	clk := providertest.NewClock(now)
	srv, g := setup(t, providertest.Options{Clock: clk, BatchDuration: batchDuration}, gemini.Config{Model: "gemini-3-pro-image"})
	return srv, g, clk
}

func items(prompts ...string) []gemini.BatchItem {
	out := make([]gemini.BatchItem, len(prompts))
	for i, p := range prompts {
		out[i] = gemini.BatchItem{Key: "item-" + p, Request: &provider.Request{Prompt: p, Size: "1K"}}
	}
	return out
}

func TestBatchSuccessWithPartialFailure(t *testing.T) {
	t.Parallel()
	srv, g, clk := batchSetup(t, time.Hour)
	ctx := context.Background()
	job, err := g.SubmitBatch(ctx, items("a cat", "FAIL_ITEM a dog", "a fox"), gemini.BatchOptions{DisplayName: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	if job.State != gemini.BatchPending || job.Name == "" {
		t.Fatalf("submitted %+v", job)
	}
	var seen []gemini.BatchState
	done, err := g.WaitBatch(ctx, job.Name, gemini.WaitOptions{Clock: clk, OnPoll: func(j *gemini.BatchJob) { seen = append(seen, j.State) }})
	if err != nil || done.State != gemini.BatchSucceeded {
		t.Fatalf("wait: %v %+v", err, done)
	}
	if seen[0] != gemini.BatchPending || seen[len(seen)-1] != gemini.BatchSucceeded {
		t.Errorf("states seen %v", seen)
	}
	// The wire says BATCH_STATE_*; genai says JOB_STATE_*: both normalised.
	results, err := g.BatchResults(done)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results", len(results))
	}
	for i, want := range []string{"item-a cat", "item-FAIL_ITEM a dog", "item-a fox"} {
		if results[i].Key != want {
			t.Errorf("result %d key %q, want %q", i, results[i].Key, want)
		}
	}
	if results[0].Err != nil || len(results[0].Response.Images) != 1 || results[0].Response.Usage.OutputImageTokens == 0 {
		t.Errorf("item 0: %+v %v", results[0].Response, results[0].Err)
	}
	if !errors.Is(results[1].Err, provider.ErrUnavailable) {
		t.Errorf("item 1 error %v, want the typed INTERNAL failure", results[1].Err)
	}
	if results[2].Err != nil {
		t.Errorf("item 2: %v", results[2].Err)
	}
	if n := srv.Stats().PerEndpoint[providertest.EndpointBatchCreate]; n != 1 {
		t.Errorf("%d create calls", n)
	}
}

func TestBatchResumeAfterRestart(t *testing.T) {
	t.Parallel()
	srv, g, clk := batchSetup(t, time.Hour)
	ctx := context.Background()
	job, err := g.SubmitBatch(ctx, items("one", "two"), gemini.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := job.Name // all a restarted process keeps

	g2, err := gemini.New(ctx, gemini.Config{APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	resumed, err := g2.WaitBatch(ctx, name, gemini.WaitOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	results, err := g2.BatchResults(resumed)
	if err != nil || len(results) != 2 || results[0].Key != "item-one" || results[1].Key != "item-two" {
		t.Fatalf("results %+v %v", results, err)
	}
}

func TestBatchExpiry(t *testing.T) {
	t.Parallel()
	_, g, clk := batchSetup(t, 72*time.Hour)
	ctx := context.Background()
	job, err := g.SubmitBatch(ctx, items("slow"), gemini.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done, err := g.WaitBatch(ctx, job.Name, gemini.WaitOptions{Clock: clk, MaxInterval: time.Hour})
	if done == nil || done.State != gemini.BatchExpired || !errors.Is(err, provider.ErrTimeout) {
		t.Fatalf("state %v err %v", done, err)
	}
	if _, err := g.BatchResults(done); !errors.Is(err, provider.ErrTimeout) {
		t.Errorf("results of an expired job: %v", err)
	}
}

func TestBatchCancel(t *testing.T) {
	t.Parallel()
	_, g, clk := batchSetup(t, time.Hour)
	ctx := context.Background()
	job, err := g.SubmitBatch(ctx, items("x"), gemini.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.CancelBatch(ctx, job.Name); err != nil {
		t.Fatal(err)
	}
	done, err := g.WaitBatch(ctx, job.Name, gemini.WaitOptions{Clock: clk})
	if err != nil || done.State != gemini.BatchCancelled {
		t.Fatalf("%v %v", done, err)
	}
	if _, err := g.BatchResults(done); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("results of a cancelled job: %v", err)
	}
}

func TestBatchValidatesBeforeSubmitting(t *testing.T) {
	t.Parallel()
	tests := map[string][]gemini.BatchItem{
		"empty":         nil,
		"duplicate key": {{Key: "k", Request: &provider.Request{Prompt: "a"}}, {Key: "k", Request: &provider.Request{Prompt: "b"}}},
		"N > 1":         {{Request: &provider.Request{Prompt: "a", N: 2}}},
		"bad size":      {{Request: &provider.Request{Prompt: "a", Size: "3K"}}},
		"nil request":   {{Key: "k"}},
		"other model":   {{Request: &provider.Request{Prompt: "a", Model: "gemini-nano-banana-2.1"}}},
	}
	for name, its := range tests {
		t.Run(name, func(t *testing.T) {
			srv, g, _ := batchSetup(t, time.Hour)
			if _, err := g.SubmitBatch(context.Background(), its, gemini.BatchOptions{}); !errors.Is(err, provider.ErrInvalidRequest) {
				t.Errorf("err = %v", err)
			}
			if len(srv.Requests()) != 0 {
				t.Error("a request was sent")
			}
		})
	}
}

func TestBatchNotFound(t *testing.T) {
	t.Parallel()
	_, g, _ := batchSetup(t, time.Hour)
	if _, err := g.Batch(context.Background(), "batches/nope"); provider.KindOf(err) == provider.KindUnknown {
		t.Errorf("untyped error %v", err)
	}
}
