package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

// A fail-fast limiter of 2 requests per day: the third call is refused
// locally, with RetryAfter pointing at midnight in Los Angeles.
func ExampleNew() {
	upstream := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		return &provider.Response{Provider: "demo"}, nil
	})
	clock := newClock(time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)) // noon in Los Angeles; each call a minute later
	limit, err := ratelimit.New(ratelimit.Config{
		Key:               "demo-project",
		RequestsPerMinute: 60,
		RequestsPerDay:    2,
		FailFast:          true,
		Clock:             clock,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	g := limit(upstream)
	for i := 1; i <= 3; i++ {
		clock.Advance(time.Minute)
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse"})
		d, _ := provider.RetryAfter(err)
		fmt.Printf("call %d: quota exhausted=%v retry after %v\n", i, errors.Is(err, provider.ErrQuotaExhausted), d.Round(time.Minute))
	}
	// Output:
	// call 1: quota exhausted=false retry after 0s
	// call 2: quota exhausted=false retry after 0s
	// call 3: quota exhausted=true retry after 11h57m0s
}
