package failover_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// drafter is a route that sends previews drafts through the request's
// On, as a streaming adapter does, then fails with err or succeeds.
type drafter struct {
	name     string
	previews int
	err      error
	calls    atomic.Int32
}

func (d *drafter) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	d.calls.Add(1)
	if p, ok := provider.PreviewsOf(req); ok {
		for i := range d.previews {
			p.On(provider.Preview{Index: i, Image: provider.Image{Data: []byte(d.name), MIMEType: "image/png"}, Provider: d.name})
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return &provider.Response{Provider: d.name, Model: d.name + "-model", Attempts: 1, Images: []provider.Image{{Data: []byte(d.name)}}}, nil
}

func (d *drafter) Describe() provider.Description {
	return provider.Description{Provider: d.name, Model: d.name + "-model"}
}

func TestPreviewsPinTheRoute(t *testing.T) {
	t.Parallel()
	unavailable := perr(provider.KindUnavailable)
	tests := []struct {
		name        string
		primary     *drafter
		withRetry   bool // the primary route is retry → drafter, as in production
		wantSeen    []string
		wantServed  string // "" when the call fails
		wantCalls   [3]int32
		wantKind    provider.Kind
		interrupted bool
		wantState   failover.State // the primary's breaker after the call
	}{
		{name: "failure before a draft fails over",
			primary:  &drafter{name: "primary", err: unavailable},
			wantSeen: []string{"secondary", "secondary"}, wantServed: "secondary", wantCalls: [3]int32{1, 1, 0},
			wantState: failover.StateOpen},
		{name: "failure after a draft ends the call",
			primary:  &drafter{name: "primary", previews: 1, err: unavailable},
			wantSeen: []string{"primary"}, wantCalls: [3]int32{1, 0, 0},
			wantKind: provider.KindUnavailable, interrupted: true, wantState: failover.StateOpen},
		{name: "content block after a draft skips the fallback",
			primary:  &drafter{name: "primary", previews: 2, err: perr(provider.KindContentBlocked)},
			wantSeen: []string{"primary", "primary"}, wantCalls: [3]int32{1, 0, 0},
			wantKind: provider.KindContentBlocked, interrupted: true, wantState: failover.StateClosed},
		{name: "retry below stops too",
			primary: &drafter{name: "primary", previews: 1, err: unavailable}, withRetry: true,
			wantSeen: []string{"primary"}, wantCalls: [3]int32{1, 0, 0},
			wantKind: provider.KindUnavailable, interrupted: true, wantState: failover.StateOpen},
		{name: "drafts then success",
			primary:  &drafter{name: "primary", previews: 2},
			wantSeen: []string{"primary", "primary"}, wantServed: "primary", wantCalls: [3]int32{1, 0, 0},
			wantState: failover.StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			primary := tt.primary
			secondary := &drafter{name: "secondary", previews: 2}
			lenient := &drafter{name: "lenient", previews: 2}
			var route provider.Generator = primary
			if tt.withRetry {
				route = testutil.Must(retry.New(retry.Policy{Clock: newClock(noon)}))(primary)
			}
			f := newFailover(t, failover.Config{Clock: newClock(noon),
				Breaker:               failover.BreakerSettings{ConsecutiveFailures: 1},
				Routes:                []failover.Route{{Name: "primary", Generator: route}, {Name: "secondary", Generator: secondary, Priority: 1}},
				ContentPolicyFallback: &failover.Route{Name: "lenient", Generator: lenient},
			})
			var seen []string
			req := &provider.Request{Prompt: "p", Options: provider.Options{provider.Previews{On: func(p provider.Preview) {
				seen = append(seen, p.Provider)
			}}}}
			resp, err := f.Generate(context.Background(), req)
			if got := [3]int32{primary.calls.Load(), secondary.calls.Load(), lenient.calls.Load()}; got != tt.wantCalls {
				t.Errorf("calls (primary, secondary, fallback) = %v, want %v", got, tt.wantCalls)
			}
			if len(seen) != len(tt.wantSeen) || (len(seen) > 0 && seen[0] != tt.wantSeen[0]) {
				t.Errorf("drafts from %v, want %v", seen, tt.wantSeen)
			}
			for _, s := range seen[1:] {
				if s != seen[0] {
					t.Errorf("drafts from two routes: %v", seen)
				}
			}
			if s, _ := f.RouteState("primary"); s != tt.wantState {
				t.Errorf("primary's breaker = %v, want %v", s, tt.wantState)
			}
			if tt.wantServed != "" {
				if err != nil || resp.Provider != tt.wantServed {
					t.Fatalf("resp %+v, err %v; want served by %s", resp, err, tt.wantServed)
				}
				return
			}
			var fe *failover.Error
			if !errors.As(err, &fe) || len(fe.Routes) != 1 {
				t.Fatalf("err = %v (%T), want a *failover.Error with one route", err, err)
			}
			if got := errors.Is(err, provider.ErrStreamInterrupted); got != tt.interrupted {
				t.Errorf("errors.Is(err, ErrStreamInterrupted) = %v, want %v", got, tt.interrupted)
			}
			if got := provider.KindOf(err); got != tt.wantKind {
				t.Errorf("KindOf = %v, want %v", got, tt.wantKind)
			}
		})
	}
}

// TestStreamThroughFailover checks what a caller of provider.Stream sees
// when the primary fails before and after its first draft.
func TestStreamThroughFailover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		primary *drafter
		want    []string // the provider of each event; "error" for an error
	}{
		{"before", &drafter{name: "primary", err: perr(provider.KindUnavailable)}, []string{"secondary", "secondary", "secondary"}},
		{"after", &drafter{name: "primary", previews: 1, err: perr(provider.KindUnavailable)}, []string{"primary", "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFailover(t, failover.Config{Routes: []failover.Route{
				{Name: "primary", Generator: tt.primary}, {Name: "secondary", Generator: &drafter{name: "secondary", previews: 2}, Priority: 1}}})
			var got []string
			for ev, err := range provider.Stream(context.Background(), f, &provider.Request{Prompt: "p"}) {
				switch {
				case err != nil:
					got = append(got, "error")
					if !errors.Is(err, provider.ErrStreamInterrupted) {
						t.Errorf("err = %v, want ErrStreamInterrupted", err)
					}
				case ev.Preview != nil:
					got = append(got, ev.Preview.Provider)
				default:
					got = append(got, ev.Response.Provider)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("events %v, want %v", got, tt.want)
				}
			}
		})
	}
}
