package providertest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// TestRateLimitSlidingWindowConcurrent: the emulator's minute is an exact
// sliding window under concurrent requests too. 50 requests at once
// against 20 a minute: 20 pass and 30 get 429 with a hint of when the
// oldest leaves; a minute after the first, exactly 20 pass again.
func TestRateLimitSlidingWindowConcurrent(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk, RequestsPerMinute: 20})
	g := geminiClient(t, srv, "test-key", nil)
	burst := func() (ok, limited int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				_, err := g.Models.GenerateContent(context.Background(), "gemini-2.5-flash-image", genai.Text("x"), nil)
				var ae genai.APIError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.As(err, &ae) && ae.Code == 429:
					limited++
					if d := detail(ae, "RetryInfo", "retryDelay"); d != "60s" {
						t.Errorf("retryDelay %q, want 60s", d)
					}
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		return ok, limited
	}
	if ok, limited := burst(); ok != 20 || limited != 30 {
		t.Errorf("first burst: %d ok, %d limited; want 20 and 30", ok, limited)
	}
	clk.Advance(59*time.Second + 999*time.Millisecond)
	if _, err := g.Models.GenerateContent(context.Background(), "gemini-2.5-flash-image", genai.Text("x"), nil); err == nil {
		t.Error("accepted before the first burst left the window")
	}
	clk.Advance(time.Millisecond)
	if ok, limited := burst(); ok != 20 || limited != 30 {
		t.Errorf("a minute later: %d ok, %d limited; want 20 and 30", ok, limited)
	}
}
