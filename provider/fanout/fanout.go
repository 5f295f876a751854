// Package fanout runs many requests through any provider.Generator with
// bounded concurrency, keeping every result in input order with its own
// error, and reporting progress as it goes.
//
//	results := fanout.Run(ctx, gen, reqs, fanout.Options{Concurrency: 16,
//		OnProgress: func(p fanout.Progress) { log.Printf("%d/%d done, %s", p.Done, p.Total, p.Cost) }})
//
// Partial results are kept: a failed request does not stop the others.
// Cancelling ctx stops new work; Run still waits for the calls in flight, so
// nothing already paid for is lost, and marks the requests never started
// with an error matching ctx.Err().
package fanout

import (
	"context"
	"errors"
	"sync"

	"github.com/imagegen-go/imagegen/provider"
)

// DefaultConcurrency is used when Options.Concurrency is 0.
const DefaultConcurrency = 8

// Options configures Run. The zero value runs DefaultConcurrency requests
// at a time without progress reports.
type Options struct {
	// Concurrency bounds the requests in flight at once.
	Concurrency int
	// OnProgress, when set, is called after each request ends, never
	// concurrently with itself, in the order requests end.
	OnProgress func(Progress)
}

// Progress is a snapshot of a Run.
type Progress struct {
	Total  int          // requests given to Run
	Done   int          // requests ended, successfully or not
	Failed int          // of Done, those that ended with an error
	Images int          // images received so far
	Cost   provider.USD // sum of the successful responses' Cost (set by a pricing meter)
	Last   Result       // the result that caused this report
}

// Result is the outcome of one request.
type Result struct {
	Index    int // position in the input
	Response *provider.Response
	Err      error
}

// ErrNotStarted is matched (with errors.Is) by the error of a request that
// Run never started because ctx ended first; the error also matches
// ctx.Err().
var ErrNotStarted = errors.New("fanout: not started")

type notStarted struct{ cause error }

func (e notStarted) Error() string   { return "fanout: not started: " + e.cause.Error() }
func (e notStarted) Unwrap() []error { return []error{ErrNotStarted, e.cause} }

// Run sends every request to g, at most opts.Concurrency at once, and
// returns one Result per request in input order. It returns only when every
// started call has returned. A nil g fails every request with
// provider.ErrInvalidRequest; nil requests go to g, whose adapters refuse
// them the same way.
func Run(ctx context.Context, g provider.Generator, reqs []*provider.Request, opts Options) []Result {
	if g == nil {
		g = provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
			return nil, provider.Errorf(provider.KindInvalidRequest, "fanout: nil Generator")
		})
	}
	results := make([]Result, len(reqs))
	for i := range results {
		results[i].Index = i
	}
	workers := opts.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	workers = min(workers, len(reqs))

	var (
		mu   sync.Mutex
		prog = Progress{Total: len(reqs)}
	)
	report := func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		prog.Done++
		if r.Err != nil {
			prog.Failed++
		}
		if r.Response != nil {
			prog.Images += len(r.Response.Images)
			prog.Cost += r.Response.Cost
		}
		if opts.OnProgress != nil {
			prog.Last = r
			opts.OnProgress(prog)
		}
	}

	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				resp, err := g.Generate(ctx, reqs[i])
				results[i].Response, results[i].Err = resp, err
				report(results[i])
			}
		}()
	}
	started := 0
feed:
	for ; started < len(reqs); started++ {
		// Checked first so that a cancelled context wins over a free worker.
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- started:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i := started; i < len(reqs); i++ {
		results[i].Err = notStarted{ctx.Err()}
		report(results[i])
	}
	return results
}

// Responses returns the successful responses of results, in order, and the
// errors of the others joined (nil when all succeeded).
func Responses(results []Result) ([]*provider.Response, error) {
	var out []*provider.Response
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
			continue
		}
		out = append(out, r.Response)
	}
	return out, errors.Join(errs...)
}
