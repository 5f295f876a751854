package gemini_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// A batch job: submit, poll with back-off, read the results by key. The
// emulator's jobs run on an injected clock that every wait advances, so the
// example finishes at once; against the real service leave
// WaitOptions.After nil. UseFile sends the requests through the Files API
// as a JSONL file, which SubmitBatch does by itself past 20 MB.
func ExampleGenerator_SubmitBatch() {
	var mu sync.Mutex
	clock := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	after := func(d time.Duration) <-chan time.Time {
		mu.Lock()
		clock = clock.Add(d)
		ch := make(chan time.Time, 1)
		ch <- clock
		mu.Unlock()
		return ch
	}
	srv := providertest.NewServer(providertest.Options{APIKey: "my-key", Now: now, BatchDuration: 2 * time.Hour})
	defer srv.Close()
	g, err := gemini.New(context.Background(), gemini.Config{
		APIKey: "my-key", Model: "gemini-3-pro-image", BaseURL: srv.URL(), HTTPClient: srv.Client(),
		Now: now, // model lifecycle checks on the same clock
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	job, err := g.SubmitBatch(ctx, []gemini.BatchItem{
		{Key: "cat", Request: &provider.Request{Prompt: "a cat in a hat", Size: "1K"}},
		{Key: "fox", Request: &provider.Request{Prompt: "a fox in a box", Size: "1K"}},
	}, gemini.BatchOptions{DisplayName: "nightly", UseFile: true})
	if err != nil {
		log.Fatal(err)
	}
	// Keep job.Name: gemini.New(...).WaitBatch(ctx, name, ...) resumes the
	// job in another process.
	done, err := g.WaitBatch(ctx, job.Name, gemini.WaitOptions{After: after})
	if err != nil {
		log.Fatal(err) // typed: a job that expired after 48 h is provider.ErrTimeout
	}
	results, err := g.BatchResultsContext(ctx, done)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(done.State)
	for _, r := range results {
		if r.Err != nil {
			fmt.Println(r.Key, "failed:", r.Err)
			continue
		}
		fmt.Println(r.Key, len(r.Response.Images), "image", r.Response.Images[0].MIMEType)
	}
	// Output:
	// SUCCEEDED
	// cat 1 image image/jpeg
	// fox 1 image image/jpeg
}
