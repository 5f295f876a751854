package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

// Benchmarks of each operation against REDIS_ADDR on loopback:
//
//	REDIS_ADDR=127.0.0.1:6379 go test -run '^$' -bench . ./provider/ratelimit/redisstore

func BenchmarkTake(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	d := []ratelimit.Demand{{Name: "rpm", Window: ratelimit.Window{Limit: 1 << 30, Per: time.Second}, N: 1}}
	for b.Loop() {
		if _, _, err := s.Take(ctx, "k", d, time.Now(), 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTakeDay(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	day := ratelimit.Day{Name: "2026-11-21", Left: time.Hour}
	for b.Loop() {
		if _, err := s.TakeDay(ctx, "k", day, 1<<30, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetPause(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	now := time.Now()
	for b.Loop() {
		if err := s.SetPause(ctx, "k", now, now.Add(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPauseUntil(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	now := time.Now()
	_ = s.SetPause(ctx, "k", now, now.Add(time.Hour))
	for b.Loop() {
		if _, err := s.PauseUntil(ctx, "k"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcquireRelease is one lease taken and given back.
func BenchmarkAcquireRelease(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	for b.Loop() {
		rel, err := s.Acquire(ctx, "k", 1000, time.Minute, false)
		if err != nil {
			b.Fatal(err)
		}
		rel()
	}
}
