// Package fanin is what adapters whose provider returns one image per
// call share: N images are N calls (Repeat), merged back into one response
// (Merge) that keeps every image paid for even when a sibling call failed.
package fanin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/fanout"
)

// Repeat makes n calls of call, at most concurrency at once, and returns
// their results in call order: the shape of an adapter whose provider
// returns one image per call, so that N images are N calls. A call never
// started because ctx ended has an error matching ErrNotStarted.
func Repeat(ctx context.Context, n, concurrency int, call func(context.Context) (*provider.Response, error)) []fanout.Result {
	if n == 1 {
		// The common case needs no goroutine.
		resp, err := call(ctx)
		return []fanout.Result{{Response: resp, Err: err}}
	}
	reqs := make([]*provider.Request, n)
	g := provider.GeneratorFunc(func(ctx context.Context, _ *provider.Request) (*provider.Response, error) { return call(ctx) })
	return fanout.Run(ctx, g, reqs, fanout.Options{Concurrency: concurrency})
}

// Merge combines the results of the calls made for one request into base
// (which carries the provider, model and warnings known before the calls):
// images in call order, usage and reported cost summed, text joined,
// warnings de-duplicated, Attempts summed (a started call that failed
// counts one). Images that succeeded are kept even when a sibling failed;
// the failures are listed in Warnings. When no call produced an image, the
// first error is returned as a *provider.Error (with several calls, a copy
// carrying the usage billed by all of them).
func Merge(base *provider.Response, results []fanout.Result) (*provider.Response, error) {
	if base == nil {
		base = &provider.Response{}
	}
	out := *base
	out.Warnings = append([]string(nil), base.Warnings...)
	var firstErr error
	var failures, texts []string
	for i, r := range results {
		if r.Err != nil {
			if !errors.Is(r.Err, fanout.ErrNotStarted) {
				out.Attempts++
			}
			if firstErr == nil {
				firstErr = r.Err
			}
			if u, ok := provider.BilledUsage(r.Err); ok {
				out.Usage = out.Usage.Add(u)
			}
			failures = append(failures, fmt.Sprintf("image %d of %d failed: %v", i+1, len(results), r.Err))
			continue
		}
		resp := r.Response
		if resp == nil {
			// A call that returned neither a response nor an error.
			out.Attempts++
			failures = append(failures, fmt.Sprintf("image %d of %d failed: no response and no error", i+1, len(results)))
			continue
		}
		out.Attempts += max(resp.Attempts, 1)
		out.Images = append(out.Images, resp.Images...)
		out.Usage = out.Usage.Add(resp.Usage)
		out.Cost += resp.Cost
		if resp.Text != "" {
			texts = append(texts, resp.Text)
		}
		if resp.Model != "" {
			out.Model = resp.Model
		}
		if resp.Provider != "" {
			out.Provider = resp.Provider
		}
		for _, w := range resp.Warnings {
			if !slices.Contains(out.Warnings, w) {
				out.Warnings = append(out.Warnings, w)
			}
		}
	}
	out.Text = strings.Join(texts, "\n\n")
	if len(out.Images) == 0 {
		if firstErr == nil {
			u := out.Usage // billed even without an image
			return nil, &provider.Error{Kind: provider.KindNoImage, Provider: out.Provider, Model: out.Model, Message: "no call returned an image", Usage: &u}
		}
		var pe *provider.Error
		if !errors.As(firstErr, &pe) {
			// Calls never started (ctx ended first) still end in a typed
			// error that says who would have served.
			return nil, &provider.Error{Kind: provider.KindOf(firstErr), Provider: out.Provider, Model: out.Model,
				Message: firstErr.Error(), Err: firstErr}
		}
		if len(results) > 1 {
			c := *pe
			u := out.Usage
			c.Usage = &u
			return nil, &c
		}
		return nil, firstErr
	}
	out.Warnings = append(out.Warnings, failures...)
	return &out, nil
}
