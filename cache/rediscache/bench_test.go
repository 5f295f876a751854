package rediscache

import (
	"context"
	"testing"
	"time"
)

// Benchmarks against REDIS_ADDR on loopback, with a 1 MiB entry:
//
//	REDIS_ADDR=127.0.0.1:6379 go test -run '^$' -bench . ./cache/rediscache

func BenchmarkSet1MiB(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	e := entry(1<<20, time.Now(), time.Hour)
	b.SetBytes(1 << 20)
	for b.Loop() {
		if err := s.Set(ctx, key(1), e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet1MiB(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	if err := s.Set(ctx, key(1), entry(1<<20, time.Now(), time.Hour)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1 << 20)
	for b.Loop() {
		if _, ok, err := s.Get(ctx, key(1)); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkLockUnlock is one fill lock taken and released.
func BenchmarkLockUnlock(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	for b.Loop() {
		unlock, ok, err := s.Lock(ctx, key(1), time.Minute)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		unlock()
	}
}
