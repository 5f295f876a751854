package redisledger

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

// BenchmarkReserveSettle is one reservation over two keys (a day and a
// month) and its settlement, against REDIS_ADDR on loopback:
//
//	REDIS_ADDR=127.0.0.1:6379 go test -run '^$' -bench . ./pricing/redisledger
func BenchmarkReserveSettle(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	keys := []string{"overall/day/2026-11-21", "overall/month/2026-11"}
	limits := []provider.USD{1 << 60, 1 << 60}
	for b.Loop() {
		id, err := s.Reserve(ctx, keys, limits, 39000)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Settle(ctx, id, 39000); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSpent(b *testing.B) {
	s, _ := newStore(b, Options{})
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := s.Spent(ctx, "overall/day/2026-11-21"); err != nil {
			b.Fatal(err)
		}
	}
}
