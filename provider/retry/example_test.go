package retry_test

import (
	"context"
	"fmt"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// A provider that is overloaded once and then asks for 2 seconds: the
// decorator waits at least the hint and reports every attempt.
func ExampleNew() {
	calls := 0
	flaky := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		calls++
		switch calls {
		case 1:
			return nil, &provider.Error{Kind: provider.KindUnavailable, Provider: "demo", Message: "overloaded"}
		case 2:
			return nil, &provider.Error{Kind: provider.KindRateLimited, Provider: "demo", RetryAfter: 2 * time.Second}
		}
		return &provider.Response{Provider: "demo", Model: "m"}, nil
	})
	mw, err := retry.New(retry.Policy{
		InitialInterval:     10 * time.Millisecond,
		RandomizationFactor: -1, // no jitter, for a stable output
		Clock:               newClock(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Every try is an event to the handlers of the request's context.
	report := func(_ context.Context, e provider.Event) {
		if e.Kind == provider.EventRetryAttempt {
			fmt.Printf("attempt %d: err=%v wait=%v (%s)\n", e.Attempt, e.Err, e.Wait, e.Reason)
		}
	}
	gen := provider.Chain(flaky, provider.HandleEvents(report), mw)
	resp, err := gen.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse"})
	fmt.Println(resp.Attempts, err)
	// Output:
	// attempt 1: err=demo: provider unavailable: overloaded wait=10ms (backoff)
	// attempt 2: err=demo: rate limited; retry after 2s wait=2s (hint)
	// attempt 3: err=<nil> wait=0s ()
	// 3 <nil>
}
