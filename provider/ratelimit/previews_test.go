package ratelimit_test

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

// drafts is an upstream that sends three drafts through the request's On,
// calling during (when set) from inside the first, then answers.
type drafts struct {
	counter
	during func()
}

func (d *drafts) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	if p, ok := provider.PreviewsOf(req); ok {
		for i := range 3 {
			p.On(provider.Preview{Index: i, Image: provider.Image{Data: []byte{byte(i)}}})
			if i == 0 && d.during != nil {
				d.during()
			}
		}
	}
	return d.counter.Generate(ctx, req)
}

// TestStreamCountsOneRequest: a streamed call with three drafts takes one
// request (and one image) of every limit, and holds its concurrency slot
// until the stream ends.
func TestStreamCountsOneRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  ratelimit.Config
	}{
		{"requests per minute", ratelimit.Config{RequestsPerMinute: 2}},
		{"requests per day", ratelimit.Config{RequestsPerDay: 2}},
		{"images per minute", ratelimit.Config{ImagesPerMinute: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.FailFast, cfg.Clock = true, newClock(noon)
			up := &drafts{}
			g := testutil.Must(ratelimit.New(cfg))(up)
			events := 0
			for _, err := range provider.Stream(context.Background(), g, &provider.Request{Prompt: "p"}) {
				if err != nil {
					t.Fatal(err)
				}
				events++
			}
			if events != 4 {
				t.Fatalf("%d events, want 3 drafts and the response", events)
			}
			if err := gen(t, g, context.Background(), 1); err != nil {
				t.Fatalf("the second call of a limit of 2 was refused: %v", err)
			}
			if err := gen(t, g, context.Background(), 1); !isLocal(err, provider.KindRateLimited) && !isLocal(err, provider.KindQuotaExhausted) {
				t.Fatalf("the third call: %v, want a local refusal", err)
			}
			if n := up.calls.Load(); n != 2 {
				t.Errorf("%d upstream calls, want 2", n)
			}
		})
	}

	t.Run("concurrency slot held for the whole stream", func(t *testing.T) {
		t.Parallel()
		up := &drafts{}
		g := testutil.Must(ratelimit.New(ratelimit.Config{MaxConcurrent: 1, FailFast: true, Clock: newClock(noon)}))(up)
		var during error
		up.during = func() { during = gen(t, g, context.Background(), 1) }
		for _, err := range provider.Stream(context.Background(), g, &provider.Request{Prompt: "p"}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		if !isLocal(during, provider.KindRateLimited) {
			t.Errorf("a call while the stream runs: %v, want a local refusal", during)
		}
		if err := gen(t, g, context.Background(), 1); err != nil {
			t.Errorf("a call after the stream ended: %v", err)
		}
	})
}
