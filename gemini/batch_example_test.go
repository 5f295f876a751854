package gemini_test

import (
	"context"
	"fmt"
	"log"
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
	// A fake clock: each poll's wait moves it on, so the example never sleeps.
	clock := providertest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	srv := providertest.NewServer(providertest.Options{APIKey: "my-key", Clock: clock, BatchDuration: 2 * time.Hour})
	defer srv.Close()
	g, err := gemini.New(context.Background(), gemini.Config{
		APIKey: "my-key", Model: "gemini-3-pro-image", BaseURL: srv.URL(), HTTPClient: srv.Client(),
		Clock: clock, // lifecycle checks and the polls' waits on the same clock
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
	done, err := g.WaitBatch(ctx, job.Name, gemini.WaitOptions{})
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
