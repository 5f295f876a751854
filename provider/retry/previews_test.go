package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// step is what one try of a scripted streaming generator does: send
// previews drafts, then fail with err (or succeed when err is nil).
type step struct {
	previews int
	err      error
}

// streamer plays steps, one per call, calling the request's On for each
// draft as an adapter does; it cancels cancel (when set) before failing.
type streamer struct {
	mu     sync.Mutex
	steps  []step
	calls  int
	cancel context.CancelFunc
}

func (s *streamer) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	s.mu.Lock()
	st := s.steps[min(s.calls, len(s.steps)-1)]
	s.calls++
	try := s.calls
	s.mu.Unlock()
	if p, ok := provider.PreviewsOf(req); ok {
		for i := range st.previews {
			p.On(provider.Preview{Index: i, Image: provider.Image{Data: []byte{byte(try), byte(i)}, MIMEType: "image/png"}, Provider: "fake"})
		}
	}
	if st.err != nil {
		if s.cancel != nil {
			s.cancel()
		}
		return nil, st.err
	}
	return &provider.Response{Provider: "fake", Images: []provider.Image{{Data: []byte{byte(try)}}}, Usage: provider.Usage{Previews: st.previews}}, nil
}

func TestPreviews(t *testing.T) {
	t.Parallel()
	unavailable := perr(provider.KindUnavailable, 0)
	tests := []struct {
		name        string
		steps       []step
		cancel      bool   // the context ends as the failing try returns
		wantCalls   int    // upstream calls made
		wantSeen    []byte // the try each draft the caller saw came from
		wantReason  string // "" for success
		wantKind    provider.Kind
		interrupted bool // the error matches ErrStreamInterrupted
	}{
		{name: "a failure before any draft is retried",
			steps: []step{{0, unavailable}, {2, nil}}, wantCalls: 2, wantSeen: []byte{2, 2}},
		{name: "a failure after a draft ends the call",
			steps: []step{{1, unavailable}, {2, nil}}, wantCalls: 1, wantSeen: []byte{1},
			wantReason: retry.StopInterrupted, wantKind: provider.KindUnavailable, interrupted: true},
		{name: "a draft on the second try, then a failure, ends the call",
			steps: []step{{0, unavailable}, {2, perr(provider.KindRateLimited, 0)}, {1, nil}}, wantCalls: 2, wantSeen: []byte{2, 2},
			wantReason: retry.StopInterrupted, wantKind: provider.KindRateLimited, interrupted: true},
		{name: "a non-retryable failure after a draft is marked too",
			steps: []step{{1, perr(provider.KindContentBlocked, 0)}}, wantCalls: 1, wantSeen: []byte{1},
			wantReason: retry.StopInterrupted, wantKind: provider.KindContentBlocked, interrupted: true},
		{name: "a cancelled call after a draft is marked",
			steps: []step{{1, context.Canceled}}, cancel: true, wantCalls: 1, wantSeen: []byte{1},
			wantReason: retry.StopContext, wantKind: provider.KindUnknown, interrupted: true},
		{name: "a non-retryable failure without a draft is not marked",
			steps: []step{{0, perr(provider.KindAuth, 0)}}, wantCalls: 1,
			wantReason: retry.StopNotRetryable, wantKind: provider.KindAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := &streamer{steps: tt.steps}
			if tt.cancel {
				s.cancel = cancel
			}
			clk := newClock()
			g := testutil.Must(retry.New(retry.Policy{Clock: clk, RandomizationFactor: -1, InitialInterval: time.Second}))(s)
			var seen []byte
			req := &provider.Request{Prompt: "p", Options: provider.Options{provider.Previews{Count: 2, On: func(p provider.Preview) {
				seen = append(seen, p.Image.Data[0])
			}}}}
			resp, err := g.Generate(ctx, req)
			if s.calls != tt.wantCalls || string(seen) != string(tt.wantSeen) {
				t.Errorf("calls %d, drafts from tries %v; want %d, %v", s.calls, seen, tt.wantCalls, tt.wantSeen)
			}
			if tt.wantReason == "" {
				if err != nil || resp.Attempts != tt.wantCalls {
					t.Fatalf("resp %+v, err %v", resp, err)
				}
				return
			}
			var re *retry.Error
			if !errors.As(err, &re) || re.Reason != tt.wantReason || re.Attempts != tt.wantCalls {
				t.Fatalf("err = %v (%T), want a *retry.Error with reason %q after %d calls", err, err, tt.wantReason, tt.wantCalls)
			}
			if got := errors.Is(err, provider.ErrStreamInterrupted); got != tt.interrupted {
				t.Errorf("errors.Is(err, ErrStreamInterrupted) = %v, want %v (err %v)", got, tt.interrupted, err)
			}
			if got := provider.KindOf(err); got != tt.wantKind {
				t.Errorf("KindOf = %v, want %v", got, tt.wantKind)
			}
			if got := provider.AttemptsOf(err); got != tt.wantCalls {
				t.Errorf("AttemptsOf = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestStreamThroughRetry checks the events a caller of provider.Stream
// sees: drafts of the failed try are never followed by another try's.
func TestStreamThroughRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		steps    []step
		want     string // P for a draft, R for the response, E for an error
		wantCall int
	}{
		{"retried before any draft", []step{{0, perr(provider.KindUnavailable, 0)}, {3, nil}}, "PPPR", 2},
		{"interrupted after a draft", []step{{1, perr(provider.KindUnavailable, 0)}, {3, nil}}, "PE", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &streamer{steps: tt.steps}
			g := testutil.Must(retry.New(retry.Policy{Clock: newClock()}))(s)
			got := ""
			for ev, err := range provider.Stream(context.Background(), g, &provider.Request{Prompt: "p"}) {
				switch {
				case err != nil:
					got += "E"
					if !errors.Is(err, provider.ErrStreamInterrupted) || !errors.Is(err, provider.ErrUnavailable) {
						t.Errorf("err = %v, want ErrStreamInterrupted and ErrUnavailable", err)
					}
				case ev.Preview != nil:
					got += "P"
				default:
					got += "R"
				}
			}
			if got != tt.want || s.calls != tt.wantCall {
				t.Errorf("events %q after %d calls, want %q after %d", got, s.calls, tt.want, tt.wantCall)
			}
		})
	}
}
