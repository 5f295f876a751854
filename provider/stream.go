package provider

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
)

// MaxPreviews is the most partial images a request may ask for: OpenAI's
// partial_images accepts 0 to 3.
const MaxPreviews = 3

// DefaultPreviews is the number of partial images asked for when
// Previews.Count is 0.
const DefaultPreviews = 2

// Preview is a partial image: a draft of the final image, sent while the
// provider is still working on it.
type Preview struct {
	// Index counts the call's previews from 0, in the order they reached
	// the caller. A provider may send fewer than were asked for, or none.
	Index int
	// Image holds the draft's bytes and MIME type. The bytes belong to the
	// receiver; nothing else keeps or modifies them.
	Image Image
	// Provider is the provider that sent the draft, when known.
	Provider string
}

// Previews is the Control option that asks for partial images while the
// final image is generated. An adapter that can stream calls On with each
// draft as it arrives, before Generate returns; an adapter or relay that
// cannot simply returns the final response, so On is never called. A
// caller that wants only the final image leaves it out.
//
// Decorators pass previews through: retry and failover may switch
// attempts or routes only until the first preview has reached On; after
// that, a failure ends the call with an error that matches
// ErrStreamInterrupted. The cache replays a hit without previews. The
// pricing meter prices the drafts the provider bills (Usage.Previews).
//
// Stream wraps Generate with Previews into an iterator; most callers use
// it rather than this option.
type Previews struct {
	// Count is how many drafts to ask for, 1 to MaxPreviews; 0 means
	// DefaultPreviews. OpenAI sends at most Count (each billed, see the
	// catalog); Gemini's image models send their thought images (at most
	// two), whatever Count says.
	Count int
	// On receives each draft, in order, on the goroutine that runs the
	// call. It should return quickly: the provider's stream waits for it.
	// It is never called after Generate returns.
	On func(Preview)
}

// OptionOwner implements Option.
func (Previews) OptionOwner() string { return "provider" }

// Control implements Control: previews change how an answer arrives, not
// which images are asked for, so the cache leaves them out of its keys.
func (Previews) Control() {}

// Want returns the number of drafts to ask for: Count, or DefaultPreviews
// when Count is 0.
func (p Previews) Want() int {
	if p.Count == 0 {
		return DefaultPreviews
	}
	return p.Count
}

// check validates p as Options[i].
func (p Previews) check(i int) error {
	field := fmt.Sprintf("Options[%d]", i)
	if p.On == nil {
		return invalid(field, "Previews without an On function")
	}
	if p.Count < 0 || p.Count > MaxPreviews {
		return invalid(field, "Previews.Count %d outside 0..%d", p.Count, MaxPreviews)
	}
	return nil
}

// PreviewsOf returns the Previews req asks for, and whether it asks.
func PreviewsOf(req *Request) (Previews, bool) {
	p, ok := OptionOf[Previews](req)
	return p, ok && p.On != nil
}

// ErrStreamInterrupted matches an error that ended a call after at least
// one preview had reached the caller: the call was not retried or sent to
// another route, since the caller has already shown a draft from this
// one. The error also matches what ended the stream (ErrUnavailable,
// ErrRateLimited, context.Canceled, ...). Stream marks every failure that
// follows a preview it yielded; under Generate with Previews, retry and
// failover mark the failures they stop on (PreviewTracker.Settle).
var ErrStreamInterrupted = errors.New("stream interrupted after a preview")

// Interrupted marks err as ending a call after previews had reached the
// caller (see ErrStreamInterrupted). It returns nil for nil and err
// itself when it is already marked.
func Interrupted(err error, previews int) error {
	if err == nil || errors.Is(err, ErrStreamInterrupted) {
		return err
	}
	return &interruptedError{err: err, previews: previews}
}

type interruptedError struct {
	err      error
	previews int
}

func (e *interruptedError) Error() string {
	return fmt.Sprintf("%v (after %d preview(s); not retried)", e.err, e.previews)
}

func (e *interruptedError) Unwrap() []error { return []error{ErrStreamInterrupted, e.err} }

// PreviewTracker records whether a request's previews have reached the
// caller. Decorators that repeat or reroute a call (retry, failover) use
// it to stop doing so once the caller has seen a draft.
type PreviewTracker struct {
	n atomic.Int64
}

// Track returns req with its Previews' On wrapped to count the drafts
// that reach the caller, and the tracker. A request without previews is
// returned as it is, with a nil tracker, whose methods report nothing.
func Track(req *Request) (*Request, *PreviewTracker) {
	p, ok := PreviewsOf(req)
	if !ok {
		return req, nil
	}
	t := &PreviewTracker{}
	on := p.On
	p.On = func(pv Preview) {
		t.n.Add(1)
		on(pv)
	}
	return WithPreviews(req, p), t
}

// Delivered returns how many drafts have reached the caller.
func (t *PreviewTracker) Delivered() int {
	if t == nil {
		return 0
	}
	return int(t.n.Load())
}

// Settle returns err unchanged while no draft has reached the caller, and
// marked with ErrStreamInterrupted once one has.
func (t *PreviewTracker) Settle(err error) error {
	if n := t.Delivered(); n > 0 {
		return Interrupted(err, n)
	}
	return err
}

// StreamEvent is one event of a streamed call: a preview, or the final
// response (the last event of a call that succeeds).
type StreamEvent struct {
	Preview  *Preview  // a draft; nil on the final event
	Response *Response // the final response; nil on a preview
}

// Stream calls g with previews and yields each draft as it arrives, then
// the final response; a failure is yielded once, as the last event's
// error. When req already carries Previews, its Count is used and its On
// is called too. A generator or relay that cannot stream yields only the
// final response. Breaking out of the loop cancels the call and waits for
// it to end.
//
//	for ev, err := range provider.Stream(ctx, g, req) {
//		if err != nil { ... }
//		if ev.Preview != nil { show(ev.Preview.Image) } else { save(ev.Response) }
//	}
func Stream(ctx context.Context, g Generator, req *Request) iter.Seq2[StreamEvent, error] {
	return func(yield func(StreamEvent, error) bool) {
		if g == nil {
			yield(StreamEvent{}, invalid("generator", "nil Generator"))
			return
		}
		if req == nil {
			yield(StreamEvent{}, invalid("request", "nil Request"))
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		previews := make(chan Preview)
		var (
			wg       sync.WaitGroup
			resp     *Response
			err      error
			panicked any // recover()'s value: never nil for a panic since Go 1.21
		)
		p, _ := OptionOf[Previews](req)
		own := p.On
		p.On = func(pv Preview) {
			if own != nil {
				own(pv)
			}
			select {
			case previews <- pv:
			case <-ctx.Done():
			}
		}
		sreq := WithPreviews(req, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(previews)
			// A panic in the adapter or in the request's own On is raised
			// again on the caller's goroutine, as Generate would raise it,
			// instead of ending the process.
			defer func() { panicked = recover() }()
			resp, err = g.Generate(ctx, sreq)
		}()
		// Cancel before waiting: a loop body that panics (or calls
		// t.Fatal) leaves the call blocked in On until ctx ends.
		defer func() {
			cancel()
			wg.Wait()
		}()
		yielded := 0
		for pv := range previews {
			if !yield(StreamEvent{Preview: &pv}, nil) {
				cancel()
				for range previews { // let the call unwind
				}
				wg.Wait()
				if panicked != nil {
					panic(panicked)
				}
				return
			}
			yielded++
		}
		wg.Wait()
		if panicked != nil {
			panic(panicked)
		}
		if err != nil {
			if yielded > 0 {
				err = Interrupted(err, yielded)
			}
			yield(StreamEvent{}, err)
			return
		}
		if resp == nil {
			yield(StreamEvent{}, fmt.Errorf("%w: generator returned neither a response nor an error", ErrUnavailable))
			return
		}
		yield(StreamEvent{Response: resp}, nil)
	}
}

// WithPreviews returns a shallow copy of req whose Previews option is p,
// in place of the one req carries (value or pointer) or added: how a
// decorator wraps a request's On without touching the caller's request.
func WithPreviews(req *Request, p Previews) *Request {
	out := *req
	out.Options = make(Options, len(req.Options), len(req.Options)+1)
	replaced := false
	for i, o := range req.Options {
		if _, ok := previewsAt(o); ok {
			o, replaced = p, true
		}
		out.Options[i] = o
	}
	if !replaced {
		out.Options = append(out.Options, p)
	}
	return &out
}
