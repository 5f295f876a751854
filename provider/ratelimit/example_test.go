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

// RequestsPerMinute is a sliding window, as providers count: a burst of
// requests starts at once while the last minute has room, and a request
// beyond the limit waits until the oldest start leaves the window (here it
// is refused at once, fail-fast, with that wait as its RetryAfter).
func ExampleNew_burst() {
	upstream := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		return &provider.Response{Provider: "demo"}, nil
	})
	clock := newClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	limit, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: 10, FailFast: true, Clock: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	g := limit(upstream)
	started := 0
	for range 10 { // ten at once, at 12:00:00
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse"}); err == nil {
			started++
		}
	}
	fmt.Println("started at once:", started)
	clock.Advance(45 * time.Second)
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "one more"})
	d, _ := provider.RetryAfter(err)
	fmt.Println("11th request 45s later: rate limited =", errors.Is(err, provider.ErrRateLimited), "retry after", d)
	clock.Advance(d)
	_, err = g.Generate(context.Background(), &provider.Request{Prompt: "one more"})
	fmt.Println("a minute after the burst:", err)
	// Output:
	// started at once: 10
	// 11th request 45s later: rate limited = true retry after 15s
	// a minute after the burst: <nil>
}
