package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

// drafting is an upstream that sends drafts "draft0", "draft1"... through
// the request's On, then answers "final:<prompt>", or fails with err. With
// hold set, each call waits for a value on hold between its start and its
// drafts (entered receives the call's context first).
type drafting struct {
	drafts  int
	err     error
	calls   atomic.Int32
	entered chan context.Context
	hold    chan struct{}
}

func (d *drafting) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	d.calls.Add(1)
	if d.entered != nil {
		d.entered <- ctx
	}
	if d.hold != nil {
		<-d.hold // not ctx: the test decides when the call goes on
	}
	if p, ok := provider.PreviewsOf(req); ok {
		for i := range d.drafts {
			p.On(provider.Preview{Index: i, Image: provider.Image{Data: []byte{'d', 'r', 'a', 'f', 't', byte('0' + i)}, MIMEType: "image/png"}})
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return &provider.Response{Images: []provider.Image{{Data: []byte("final:" + req.Prompt), MIMEType: "image/png"}},
		Provider: "fake", Model: "m", Attempts: 1, Usage: provider.Usage{Previews: d.drafts}}, nil
}

func (d *drafting) Describe() provider.Description {
	return provider.Description{Provider: "fake", Model: "m"}
}

// recorder collects the drafts a caller's On receives.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) on(p provider.Preview) {
	r.mu.Lock()
	r.got = append(r.got, string(p.Image.Data))
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func withPreviews(prompt string, r *recorder) *provider.Request {
	return &provider.Request{Prompt: prompt, Options: provider.Options{provider.Previews{Count: 2, On: r.on}}}
}

// TestPreviewsHitAndStore: a hit is the final response alone; only
// finished responses are stored; requests with and without Previews
// share one entry.
func TestPreviewsHitAndStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		first      bool // the first call asks for previews
		second     bool // the second call asks for previews
		err        error
		wantCalls  int32
		wantDrafts [2]int // drafts seen by the first and second call
	}{
		{name: "previews, then a hit with previews", first: true, second: true, wantCalls: 1, wantDrafts: [2]int{2, 0}},
		{name: "previews, then a hit without", first: true, second: false, wantCalls: 1, wantDrafts: [2]int{2, 0}},
		{name: "none, then a hit with previews", first: false, second: true, wantCalls: 1, wantDrafts: [2]int{0, 0}},
		{name: "drafts then a failure store nothing", first: true, second: true, err: &provider.Error{Kind: provider.KindUnavailable, Message: "reset"},
			wantCalls: 2, wantDrafts: [2]int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := &drafting{drafts: 2, err: tt.err}
			c := newCacher(Config{}.withDefaults(), up)
			g := provider.Wrap(up, c.generate)
			var recs [2]recorder
			for i, with := range []bool{tt.first, tt.second} {
				req := &provider.Request{Prompt: "p"}
				if with {
					req = withPreviews("p", &recs[i])
				}
				resp, err := g.Generate(context.Background(), req)
				if tt.err != nil {
					if !errors.Is(err, provider.ErrUnavailable) {
						t.Fatalf("call %d: err = %v", i, err)
					}
					continue
				}
				if err != nil || string(resp.Images[0].Data) != "final:p" || resp.Cached != (i == 1) {
					t.Fatalf("call %d: resp %+v, err %v", i, resp, err)
				}
			}
			if got := up.calls.Load(); got != tt.wantCalls {
				t.Errorf("upstream calls = %d, want %d", got, tt.wantCalls)
			}
			if got := [2]int{recs[0].count(), recs[1].count()}; got != tt.wantDrafts {
				t.Errorf("drafts seen = %v, want %v", got, tt.wantDrafts)
			}
			k, _ := Key(&provider.Request{Prompt: "p"}, "m")
			e, ok, _ := c.cfg.Store.Get(context.Background(), k)
			if stored := ok && string(e.Images[0].Data) == "final:p"; stored != (tt.err == nil) {
				t.Errorf("stored = %v (ok %v), want %v: only the final image is stored", stored, ok, tt.err == nil)
			}
		})
	}
}

// TestPreviewsKeyIgnoresPreviews: Previews is a Control, so it never
// changes the key.
func TestPreviewsKeyIgnoresPreviews(t *testing.T) {
	t.Parallel()
	var r recorder
	for _, req := range []*provider.Request{
		withPreviews("p", &r),
		{Prompt: "p", Options: provider.Options{provider.Previews{Count: 3, On: r.on}}},
		{Prompt: "p", Options: provider.Options{&provider.Previews{Count: 1, On: r.on}}},
	} {
		plain, _ := Key(&provider.Request{Prompt: "p"}, "m")
		k, err := Key(req, "m")
		if err != nil || k != plain {
			t.Errorf("Key with %v = %q, %v; want the plain request's %q", req.Options, k, err, plain)
		}
	}
}

// TestStreamHitIsOneFinalEvent: through provider.Stream, a hit is a
// single final event.
func TestStreamHitIsOneFinalEvent(t *testing.T) {
	t.Parallel()
	up := &drafting{drafts: 3}
	g := provider.Wrap(up, newCacher(Config{}.withDefaults(), up).generate)
	for i, want := range []string{"PPR", "R"} {
		got := ""
		for ev, err := range provider.Stream(context.Background(), g, &provider.Request{Prompt: "p"}) {
			switch {
			case err != nil:
				t.Fatal(err)
			case ev.Preview != nil:
				got += "P"
			default:
				got += "R"
				if ev.Response.Cached != (i == 1) {
					t.Errorf("call %d: Cached = %v", i, ev.Response.Cached)
				}
			}
		}
		// Stream asks for DefaultPreviews (2); the fake sends 3 and
		// Stream passes on what comes.
		if i == 0 {
			want = "PPPR"
		}
		if got != want {
			t.Errorf("call %d: events %q, want %q", i, got, want)
		}
	}
}

// TestPreviewsOnlyToTheLeader: in a shared call, the leader gets the
// drafts and the followers the final response only.
func TestPreviewsOnlyToTheLeader(t *testing.T) {
	t.Parallel()
	const followers = 5
	up := &drafting{drafts: 2, entered: make(chan context.Context, 1), hold: make(chan struct{})}
	c := newCacher(Config{}.withDefaults(), up)
	g := provider.Wrap(up, c.generate)
	k, _ := Key(&provider.Request{Prompt: "p"}, "m")

	var recs [followers + 1]recorder
	resps := make([]*provider.Response, followers+1)
	errs := make([]error, followers+1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		resps[0], errs[0] = g.Generate(context.Background(), withPreviews("p", &recs[0]))
	}()
	<-up.entered
	for i := 1; i <= followers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = g.Generate(context.Background(), withPreviews("p", &recs[i]))
		}()
	}
	waitFor(func() bool { return c.waiters(k) == followers+1 })
	close(up.hold)
	wg.Wait()
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("%d upstream calls", n)
	}
	for i := range recs {
		wantDrafts, wantCached := 0, true
		if i == 0 {
			wantDrafts, wantCached = 2, false
		}
		if errs[i] != nil || resps[i].Cached != wantCached || string(resps[i].Images[0].Data) != "final:p" {
			t.Errorf("caller %d: resp %+v, err %v", i, resps[i], errs[i])
		}
		if got := recs[i].count(); got != wantDrafts {
			t.Errorf("caller %d saw %d drafts, want %d", i, got, wantDrafts)
		}
	}
}

// TestPreviewsStopWhenTheLeaderGivesUp: a leader whose context ends while
// a follower still waits returns at once; the flight goes on for the
// follower, and the drafts it sends afterwards never reach the leader's
// On (which must not be called after the leader's Generate returned).
func TestPreviewsStopWhenTheLeaderGivesUp(t *testing.T) {
	t.Parallel()
	up := &drafting{drafts: 2, entered: make(chan context.Context, 1), hold: make(chan struct{})}
	c := newCacher(Config{}.withDefaults(), up)
	g := provider.Wrap(up, c.generate)
	k, _ := Key(&provider.Request{Prompt: "p"}, "m")

	var returned atomic.Bool
	var late atomic.Int32
	leaderOn := func(provider.Preview) {
		if returned.Load() {
			late.Add(1)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := g.Generate(ctx, &provider.Request{Prompt: "p", Options: provider.Options{provider.Previews{On: leaderOn}}})
		returned.Store(true)
		leaderErr <- err
	}()
	<-up.entered
	var follower recorder
	followerResp := make(chan *provider.Response, 1)
	go func() {
		r, _ := g.Generate(context.Background(), withPreviews("p", &follower))
		followerResp <- r
	}()
	waitFor(func() bool { return c.waiters(k) == 2 })
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: err = %v", err)
	}
	close(up.hold) // the flight sends its drafts now, after the leader returned
	r := <-followerResp
	if r == nil || string(r.Images[0].Data) != "final:p" {
		t.Fatalf("follower: %+v", r)
	}
	if n := late.Load(); n != 0 {
		t.Errorf("the leader's On was called %d times after its Generate returned", n)
	}
	if n := follower.count(); n != 0 {
		t.Errorf("the follower saw %d drafts", n)
	}
}

// TestInterruptedFlightRerunsForFollowers: a shared call that failed
// after the leader's drafts (not retried for the leader's sake) is not
// the followers' failure: they saw no draft, so one of them goes upstream
// again and the others share that call.
func TestInterruptedFlightRerunsForFollowers(t *testing.T) {
	t.Parallel()
	const followers = 3
	var calls atomic.Int32
	entered, hold := make(chan struct{}, 1), make(chan struct{})
	up := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		if calls.Add(1) == 1 {
			entered <- struct{}{}
			<-hold
			p, _ := provider.PreviewsOf(req)
			p.On(provider.Preview{Image: provider.Image{Data: []byte("draft0")}})
			return nil, provider.Interrupted(&provider.Error{Kind: provider.KindUnavailable, Message: "reset"}, 1)
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte("final:" + req.Prompt)}}, Provider: "fake", Model: "m", Attempts: 1}, nil
	})
	c := newCacher(Config{}.withDefaults(), up)
	g := provider.Wrap(up, c.generate)
	k, _ := Key(&provider.Request{Prompt: "p"}, "") // a GeneratorFunc describes no model

	var leader recorder
	leaderErr := make(chan error, 1)
	go func() {
		_, err := g.Generate(context.Background(), withPreviews("p", &leader))
		leaderErr <- err
	}()
	<-entered
	var wg sync.WaitGroup
	resps := make([]*provider.Response, followers)
	errs := make([]error, followers)
	for i := range followers {
		wg.Go(func() { resps[i], errs[i] = g.Generate(context.Background(), &provider.Request{Prompt: "p"}) })
	}
	waitFor(func() bool { return c.waiters(k) == followers+1 })
	close(hold)
	if err := <-leaderErr; !errors.Is(err, provider.ErrStreamInterrupted) || leader.count() != 1 {
		t.Fatalf("leader: err %v after %d drafts, want ErrStreamInterrupted after 1", err, leader.count())
	}
	wg.Wait()
	for i := range followers {
		if errs[i] != nil || string(resps[i].Images[0].Data) != "final:p" {
			t.Errorf("follower %d: %+v, %v", i, resps[i], errs[i])
		}
	}
	if n := calls.Load(); n < 2 || n > 1+followers {
		t.Errorf("%d upstream calls, want 2 (a rerun shared by the followers) to %d", n, 1+followers)
	}
}
