// Package hostiletest serves the answers of a hostile or broken provider
// to the adapters' tests: bodies of any size (2 GB and more) that the
// server streams without holding them, gzip bombs, and arbitrary bodies
// under any status (Fixed); and it measures what an answer costs in heap,
// in a fresh process, with a bound that no sampling can miss (RunHuge
// runs each case in its child; ChildCase, ServeHuge and Answer.Check are
// the child's side).
package hostiletest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Huge is the size of the hostile answers: 2 GiB.
const Huge = 2 << 30

// Body is an answer: Prefix, then Filler repeated up to Size bytes in all
// (Prefix and Suffix included), then Suffix. The server streams it; it
// never holds more than one copy of Filler.
type Body struct {
	Status int // default 200
	Header http.Header
	Prefix string
	Filler string // default "A"
	Suffix string
	Size   int64
	// WithLength sends a Content-Length; without it the answer is chunked.
	WithLength bool
	// Gzip sends the body gzip-encoded (Content-Encoding: gzip), as a
	// stream of members that each hold 8 MiB of filler in about 8 KiB:
	// a few MiB on the wire for 2 GB inflated.
	Gzip bool
}

// Stats is what the server saw of one answer.
type Stats struct {
	mu       sync.Mutex
	written  int64 // body bytes written (before compression)
	wire     int64 // bytes handed to the connection
	closed   bool  // a write failed: the client closed the connection
	finished bool
	done     chan struct{}
}

// Wait waits for the handler to end (at most timeout) and returns the
// body bytes it wrote, how many went on the wire, and whether the client
// closed the connection before the end.
func (s *Stats) Wait(timeout time.Duration) (written, wire int64, closedEarly bool) {
	select {
	case <-s.done:
	case <-time.After(timeout):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written, s.wire, s.closed
}

type countingWriter struct {
	w  http.ResponseWriter
	st *Stats
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.st.mu.Lock()
	c.st.wire += int64(n)
	if err != nil {
		c.st.closed = true
	}
	c.st.mu.Unlock()
	return n, err
}

// member returns one gzip member holding filler repeated to n bytes.
func member(filler string, n int64) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	chunk := []byte(strings.Repeat(filler, max(1, (64<<10)/len(filler))))
	for w := int64(0); w < n; {
		c := chunk[:min(int64(len(chunk)), n-w)]
		_, _ = zw.Write(c)
		w += int64(len(c))
	}
	_ = zw.Close()
	return b.Bytes()
}

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.Bytes()
}

// Serve starts a server answering every request with b and returns it
// with the Stats of the last answer.
func Serve(t testing.TB, b Body) (*httptest.Server, func() *Stats) {
	t.Helper()
	if b.Filler == "" {
		b.Filler = "A"
	}
	if b.Status == 0 {
		b.Status = http.StatusOK
	}
	const unit = 8 << 20
	var bomb []byte
	if b.Gzip {
		bomb = member(b.Filler, unit)
	}
	var last atomic.Pointer[Stats]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &Stats{done: make(chan struct{})}
		last.Store(st)
		defer close(st.done)
		for k, vs := range b.Header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/json")
		if b.Gzip {
			w.Header().Set("Content-Encoding", "gzip")
		} else if b.WithLength {
			w.Header().Set("Content-Length", strconv.FormatInt(b.Size, 10))
		}
		w.WriteHeader(b.Status)
		out := countingWriter{w, st}
		write := func(p []byte, n int64) bool {
			if _, err := out.Write(p); err != nil {
				return false
			}
			st.mu.Lock()
			st.written += n
			st.mu.Unlock()
			return true
		}
		body := b.Size - int64(len(b.Prefix)) - int64(len(b.Suffix))
		if b.Gzip {
			if !write(gz(b.Prefix), int64(len(b.Prefix))) {
				return
			}
			for left := body; left > 0; left -= unit {
				if left < unit {
					if !write(member(b.Filler, left), left) {
						return
					}
					break
				}
				if !write(bomb, unit) {
					return
				}
			}
			write(gz(b.Suffix), int64(len(b.Suffix)))
		} else {
			if !write([]byte(b.Prefix), int64(len(b.Prefix))) {
				return
			}
			chunk := []byte(strings.Repeat(b.Filler, max(1, (256<<10)/len(b.Filler))))
			for left := body; left > 0; {
				c := chunk[:min(int64(len(chunk)), left)]
				if !write(c, int64(len(c))) {
					return
				}
				left -= int64(len(c))
			}
			write([]byte(b.Suffix), int64(len(b.Suffix)))
		}
		st.mu.Lock()
		st.finished = true
		st.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, func() *Stats { return last.Load() }
}

// Peak is what an answer cost in heap.
type Peak struct {
	// Sampled is the highest /memory/classes/heap/objects:bytes seen by a
	// goroutine sampling every 50µs, above its value at the start: what
	// the heap really held, but a sample can miss a short spike.
	Sampled uint64
	// Bound is the heap's high-water mark at the end above the live heap
	// at the start: a bound no spike can escape. The runtime never
	// returns heap address space it has mapped (MemStats.HeapSys
	// "estimates the largest size the heap has had"; runtime/metrics
	// spells it as the sum of /memory/classes/heap/{objects,unused,free,
	// released}:bytes), so every byte the heap held at any moment,
	// garbage included, is inside it. Measured in a fresh process (Child)
	// the start is a few MiB, so the bound is tight.
	Bound uint64
}

var heapClasses = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
}

// Measure runs f and returns its Peak.
func Measure(f func()) Peak {
	samples := make([]metrics.Sample, len(heapClasses))
	for i, n := range heapClasses {
		samples[i].Name = n
	}
	read := func() (objects, mapped uint64) {
		metrics.Read(samples)
		objects = samples[0].Value.Uint64()
		for _, s := range samples {
			mapped += s.Value.Uint64()
		}
		return objects, mapped
	}
	runtime.GC()
	start, _ := read()
	var peak atomic.Uint64
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: heapClasses[0]}}
		for !stop.Load() {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	f()
	stop.Store(true)
	<-done
	objects, mapped := read()
	p := Peak{Bound: mapped - min(mapped, start)}
	if s := max(peak.Load(), objects); s > start {
		p.Sampled = s - start
	}
	return p
}

// ChildEnv is the environment variable that names the case a child
// process runs.
const ChildEnv = "IMAGEGEN_HOSTILE_CASE"

// Case returns the case this process runs as a child, or "".
func Case() string { return os.Getenv(ChildEnv) }

// Report prints a child's result for Child to read.
func Report(p Peak, detail string) {
	fmt.Printf("hostile: sampled=%d bound=%d detail=%s\n", p.Sampled, p.Bound, strings.ReplaceAll(detail, "\n", " "))
}

// Child runs the test named test of this test binary in a fresh process
// with ChildEnv set to name, and returns the Peak and detail it reported.
func Child(t testing.TB, test, name string) (Peak, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), ChildEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", name, err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "hostile: ")
		if !ok {
			continue
		}
		var p Peak
		var detail string
		fields := strings.SplitN(rest, " ", 3)
		for _, f := range fields {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "sampled":
				p.Sampled, _ = strconv.ParseUint(v, 10, 64)
			case "bound":
				p.Bound, _ = strconv.ParseUint(v, 10, 64)
			case "detail":
				detail = v
			}
		}
		return p, detail
	}
	t.Fatalf("child %s reported nothing:\n%s", name, out)
	return Peak{}, ""
}

// MiB formats bytes in MiB.
func MiB(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
