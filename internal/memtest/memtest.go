// Package memtest measures what decoding an image costs in memory, for the
// adapters' benchmarks: bytes allocated and peak heap as multiples of the
// image size, and a transport that replays an answer from memory.
package memtest

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

// ImageMultiples runs call under b.Loop after one warm-up call, and reports
// "x-image", the bytes allocated per call over the image size, and
// "peak-x-image", the worst heap high-water mark of three calls over the
// image size. call returns the size of the image it decoded; the last one
// is returned.
func ImageMultiples(b *testing.B, call func() int) int {
	size := call() // warm up connections and pools
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		size = call()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if size == 0 {
		b.Fatal("no image decoded")
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(size), "x-image")
	var peak uint64
	for range 3 {
		peak = max(peak, PeakHeap(func() { size = call() }))
	}
	b.ReportMetric(float64(peak)/float64(size), "peak-x-image")
	return size
}

// PeakHeap runs f and returns the heap high-water mark above the heap after
// a forced GC just before it. A goroutine samples runtime/metrics every few
// microseconds while f runs, with the garbage collector working as usual.
func PeakHeap(f func()) uint64 {
	const name = "/memory/classes/heap/objects:bytes"
	read := func(s []metrics.Sample) uint64 { metrics.Read(s); return s[0].Value.Uint64() }
	s := []metrics.Sample{{Name: name}}
	runtime.GC()
	base := read(s)
	var peak atomic.Uint64
	peak.Store(base)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		ss := []metrics.Sample{{Name: name}}
		for !stop.Load() {
			if v := read(ss); v > peak.Load() {
				peak.Store(v)
			}
			time.Sleep(5 * time.Microsecond)
		}
	}()
	f()
	stop.Store(true)
	<-done
	return max(peak.Load(), read(s)) - base
}

// Transport answers every request with Body, from memory, with a
// Content-Length when WithLength is set (else as a chunked answer would
// arrive).
type Transport struct {
	Body        []byte
	WithLength  bool
	ContentType string // default "application/json"
}

// RoundTrip implements http.RoundTripper.
func (m Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	n := int64(-1)
	if m.WithLength {
		n = int64(len(m.Body))
	}
	ct := m.ContentType
	if ct == "" {
		ct = "application/json"
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {ct}}, ContentLength: n,
		Body: io.NopCloser(bytes.NewReader(m.Body)), Request: r}, nil
}
