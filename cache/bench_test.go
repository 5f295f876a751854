package cache

import (
	"context"
	"testing"

	"github.com/imagegen-go/imagegen/internal/testutil"

	"github.com/imagegen-go/imagegen/provider"
)

func benchHit(b *testing.B, store Store, size int) {
	img := make([]byte, size)
	up := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Images: []provider.Image{{Data: img, MIMEType: "image/png"}}, Model: "m"}, nil
	})
	g := provider.Chain(up, testutil.Must(New(Config{Store: store})))
	req := &provider.Request{Prompt: "a lighthouse at dusk", Model: "m", Size: "1K"}
	ctx := context.Background()
	if _, err := g.Generate(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := g.Generate(ctx, req)
		if err != nil || !r.Cached {
			b.Fatal("miss")
		}
	}
}

// BenchmarkMemoryHit: a hit of a 1 MiB image in the memory store.
func BenchmarkMemoryHit(b *testing.B) { benchHit(b, testutil.Must(NewMemory(0, nil)), 1<<20) }

// BenchmarkDiskHit1MiB: a hit of a 1 MiB image in the disk store (read,
// checksum, decode).
func BenchmarkDiskHit1MiB(b *testing.B) {
	d, err := OpenDisk(b.TempDir(), DiskConfig{})
	if err != nil {
		b.Fatal(err)
	}
	benchHit(b, d, 1<<20)
}

// BenchmarkKey: computing a key for a request without references.
func BenchmarkKey(b *testing.B) {
	req := &provider.Request{Prompt: "a lighthouse at dusk", Size: "1K", Options: provider.Options{optA{1}}}
	b.ReportAllocs()
	for b.Loop() {
		Key(req, "m")
	}
}
