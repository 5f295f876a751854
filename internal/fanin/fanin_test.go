package fanin_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imagegen-go/imagegen/internal/fanin"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/fanout"
)

func TestRepeatAndMerge(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	results := fanin.Repeat(context.Background(), 4, 2, func(context.Context) (*provider.Response, error) {
		switch n.Add(1) {
		case 2:
			return nil, &provider.Error{Kind: provider.KindContentBlocked, Usage: &provider.Usage{ThoughtTokens: 7}}
		case 3:
			return nil, &provider.Error{Kind: provider.KindUnavailable}
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte{1}}}, Usage: provider.Usage{OutputImageTokens: 100, Images: 1},
			Cost: 5, Attempts: 2, Text: "t", Warnings: []string{"same"}}, nil
	})
	resp, err := fanin.Merge(&provider.Response{Provider: "p", Model: "m", Warnings: []string{"deprecated"}}, results)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 2 || resp.Attempts != 2+2+1+1 || resp.Cost != 10 || resp.Usage.ThoughtTokens != 7 || resp.Usage.OutputImageTokens != 200 {
		t.Errorf("merged %+v", resp)
	}
	joined := strings.Join(resp.Warnings, "|")
	if strings.Count(joined, "same") != 1 || !strings.HasPrefix(joined, "deprecated|") || strings.Count(joined, "failed") != 2 {
		t.Errorf("warnings %q", resp.Warnings)
	}
	if resp.Text != "t\n\nt" || resp.Provider != "p" || resp.Model != "m" {
		t.Errorf("text/provider/model %q %q %q", resp.Text, resp.Provider, resp.Model)
	}
}

func TestMergeAllFailedCarriesBilledUsage(t *testing.T) {
	t.Parallel()
	blocked := func(context.Context) (*provider.Response, error) {
		return nil, &provider.Error{Kind: provider.KindContentBlocked, Usage: &provider.Usage{ThoughtTokens: 10}}
	}
	_, err := fanin.Merge(&provider.Response{}, fanin.Repeat(context.Background(), 3, 3, blocked))
	if u, ok := provider.BilledUsage(err); !ok || u.ThoughtTokens != 30 || !errors.Is(err, provider.ErrContentBlocked) {
		t.Errorf("err %v usage %+v", err, u)
	}
	single := fanin.Repeat(context.Background(), 1, 3, blocked)
	if _, err := fanin.Merge(&provider.Response{}, single); err != single[0].Err {
		t.Errorf("a single failed call's error was rewritten: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := fanin.Merge(&provider.Response{Provider: "p", Model: "m"}, fanin.Repeat(ctx, 3, 1, blocked))
	var pe *provider.Error
	if resp != nil || !errors.Is(err, context.Canceled) || !errors.As(err, &pe) || pe.Provider != "p" || pe.Model != "m" {
		t.Errorf("cancelled: %v %v, want a typed error naming p and m", resp, err)
	}
}

// Careless inputs are typed errors, never panics.
func TestMergeNil(t *testing.T) {
	t.Parallel()
	if _, err := fanin.Merge(nil, []fanout.Result{{}}); !errors.Is(err, provider.ErrNoImage) {
		t.Errorf("Merge(nil, no response and no error) = %v", err)
	}
}
