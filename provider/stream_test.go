package provider_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// drafter sends n previews through the request's Previews, then answers
// or fails with err.
func drafter(n int, err error) provider.Generator {
	return provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		p, ok := provider.PreviewsOf(req)
		for i := 0; ok && i < n; i++ {
			p.On(provider.Preview{Index: i, Image: provider.Image{Data: []byte{byte(i)}, MIMEType: "image/png"}})
		}
		if err != nil {
			return nil, err
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte("final"), MIMEType: "image/png"}}}, nil
	})
}

func TestStream(t *testing.T) {
	t.Parallel()
	boom := provider.Errorf(provider.KindUnavailable, "boom")
	tests := []struct {
		name     string
		g        provider.Generator
		previews int
		final    bool
		err      error
	}{
		{"previews then final", drafter(3, nil), 3, true, nil},
		{"no previews (a relay that does not stream)", drafter(0, nil), 0, true, nil},
		{"failure after previews", drafter(1, boom), 1, false, provider.ErrStreamInterrupted},
		{"nil generator", nil, 0, false, provider.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			previews, final := 0, false
			var gotErr error
			for ev, err := range provider.Stream(context.Background(), tt.g, &provider.Request{Prompt: "p"}) {
				switch {
				case err != nil:
					gotErr = err
				case ev.Preview != nil:
					if final || ev.Preview.Index != previews {
						t.Errorf("preview %d out of order", ev.Preview.Index)
					}
					previews++
				default:
					final = ev.Response != nil
				}
			}
			if previews != tt.previews || final != tt.final || !errors.Is(gotErr, tt.err) || (tt.err == nil) != (gotErr == nil) {
				t.Errorf("previews %d final %v err %v; want %d %v %v", previews, final, gotErr, tt.previews, tt.final, tt.err)
			}
		})
	}
}

func TestStreamBreakCancelsTheCall(t *testing.T) {
	t.Parallel()
	var ended atomic.Bool
	g := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		p, _ := provider.PreviewsOf(req)
		p.On(provider.Preview{})
		p.On(provider.Preview{Index: 1}) // the consumer has left: must not block
		<-ctx.Done()
		ended.Store(true)
		return nil, ctx.Err()
	})
	for range provider.Stream(context.Background(), g, &provider.Request{Prompt: "p"}) {
		break
	}
	if !ended.Load() {
		t.Error("Stream returned before the call ended")
	}
}

func TestStreamCallsTheRequestsOwnPreviews(t *testing.T) {
	t.Parallel()
	seen := 0
	req := &provider.Request{Prompt: "p", Options: provider.Options{provider.Previews{Count: 3, On: func(provider.Preview) { seen++ }}}}
	var count int
	g := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		p, _ := provider.PreviewsOf(req)
		count = p.Want()
		p.On(provider.Preview{})
		return &provider.Response{}, nil
	})
	n := 0
	for range provider.Stream(context.Background(), g, req) {
		n++
	}
	if n != 2 || seen != 1 || count != 3 {
		t.Errorf("events %d, own On called %d times, Count %d", n, seen, count)
	}
}

func TestPreviewsValidated(t *testing.T) {
	t.Parallel()
	on := func(provider.Preview) {}
	for _, p := range []provider.Previews{{Count: 1}, {Count: -1, On: on}, {Count: 4, On: on}} {
		req := &provider.Request{Prompt: "p", Options: provider.Options{p}}
		if err := req.Validate(); !errors.Is(err, provider.ErrInvalidRequest) {
			t.Errorf("%+v: %v", p.Count, err)
		}
	}
	if err := (&provider.Request{Prompt: "p", Options: provider.Options{provider.Previews{On: on}}}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestTracker(t *testing.T) {
	t.Parallel()
	boom := provider.Errorf(provider.KindRateLimited, "429")
	plain, tr := provider.Track(&provider.Request{Prompt: "p"})
	if tr != nil || tr.Delivered() != 0 || tr.Settle(boom) != boom || plain == nil {
		t.Fatal("a request without previews is not tracked")
	}
	req := &provider.Request{Prompt: "p", Options: provider.Options{provider.Previews{On: func(provider.Preview) {}}}}
	tracked, tr := provider.Track(req)
	if err := tr.Settle(boom); err != boom {
		t.Errorf("before a preview: %v", err)
	}
	p, _ := provider.PreviewsOf(tracked)
	p.On(provider.Preview{})
	err := tr.Settle(boom)
	if !errors.Is(err, provider.ErrStreamInterrupted) || !errors.Is(err, provider.ErrRateLimited) {
		t.Errorf("after a preview: %v", err)
	}
	if _, isPrev := provider.PreviewsOf(req); !isPrev || tr.Delivered() != 1 {
		t.Error("Track changed the caller's request or did not count")
	}
}

func TestStreamMarksAFailureAfterAPreview(t *testing.T) {
	t.Parallel()
	var last error
	for _, err := range provider.Stream(context.Background(), drafter(1, provider.Errorf(provider.KindUnavailable, "reset")), &provider.Request{Prompt: "p"}) {
		last = err
	}
	if !errors.Is(last, provider.ErrStreamInterrupted) || !errors.Is(last, provider.ErrUnavailable) {
		t.Errorf("err = %v; want ErrStreamInterrupted and ErrUnavailable", last)
	}
	for _, err := range provider.Stream(context.Background(), drafter(0, provider.Errorf(provider.KindUnavailable, "503")), &provider.Request{Prompt: "p"}) {
		last = err
	}
	if errors.Is(last, provider.ErrStreamInterrupted) {
		t.Errorf("a failure before any preview is marked interrupted: %v", last)
	}
}

// TestStreamPanics: a panic in the generator reaches the caller, who can
// recover it as from Generate; a panic in the loop body (t.Fatal ends the
// goroutine the same way) does not leave Stream waiting for the call.
func TestStreamPanics(t *testing.T) {
	t.Parallel()
	bug := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		p, _ := provider.PreviewsOf(req)
		p.On(provider.Preview{})
		panic("adapter bug")
	})
	got := func() (v any) {
		defer func() { v = recover() }()
		for range provider.Stream(context.Background(), bug, &provider.Request{Prompt: "p"}) {
		}
		return nil
	}()
	if got != "adapter bug" {
		t.Errorf("recovered %v, want the generator's panic", got)
	}
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		for range provider.Stream(context.Background(), drafter(3, nil), &provider.Request{Prompt: "p"}) {
			panic("loop body")
		}
	}()
	select {
	case v := <-done:
		if v != "loop body" {
			t.Errorf("recovered %v", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stream waited for a call whose consumer panicked")
	}
}

func TestWithPreviews(t *testing.T) {
	t.Parallel()
	on := func(provider.Preview) {}
	p := provider.Previews{Count: 3, On: on}
	for _, opts := range []provider.Options{nil, {provider.Previews{Count: 1, On: on}}, {&provider.Previews{Count: 1}}, {testOption{N: 1}}} {
		req := &provider.Request{Prompt: "p", Options: opts}
		out := provider.WithPreviews(req, p)
		got, ok := provider.PreviewsOf(out)
		n := 0
		for _, o := range out.Options {
			if _, isTest := o.(testOption); !isTest {
				n++
			}
		}
		if !ok || got.Count != 3 || n != 1 || len(req.Options) != len(opts) {
			t.Errorf("%v: %+v %v, %d Previews options", opts, got, ok, n)
		}
	}
}
