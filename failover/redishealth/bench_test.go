package redishealth

import (
	"context"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/failover"
)

// BenchmarkAllowRecord is one call through a shared breaker: Allow, then
// its outcome reported. Against REDIS_ADDR on loopback:
//
//	REDIS_ADDR=127.0.0.1:6379 go test -run '^$' -bench . ./failover/redishealth
func BenchmarkAllowRecord(b *testing.B) {
	h, _ := newHealth(b, Options{})
	br := h.NewBreaker("r", failover.BreakerSettings{})
	ctx := context.Background()
	now := time.Now()
	for b.Loop() {
		done, _, err := br.Allow(ctx, now)
		if err != nil {
			b.Fatal(err)
		}
		done(failover.Success, now)
	}
}
