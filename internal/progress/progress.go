// Package progress shows how far a long job has got: a bar redrawn in
// place on a terminal, or plain lines elsewhere (logs, pipes, CI), where a
// carriage return would leave garbage.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// IsTerminal reports whether w is a character device, such as an
// interactive terminal. Files, pipes and buffers are not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// State is what a Reporter shows.
type State struct {
	Done, Total, Failed int
	Cost                string // already formatted; "" to leave out
	Note                string // free text, such as a job state
}

// Reporter writes State updates to W. On a terminal it redraws one line
// with a bar and an estimated time left; elsewhere it writes a plain line
// only when the state changes and at most every Every (default 5 s),
// plus the final state. It is safe for concurrent use.
type Reporter struct {
	W        io.Writer
	Terminal bool           // redraw in place; set from IsTerminal(W)
	Every    time.Duration  // the least time between plain lines
	Clock    provider.Clock // nil means provider.SystemClock()

	mu       sync.Mutex
	start    time.Time
	lastLine time.Time
	last     State
	printed  bool
	finished bool
}

// New returns a Reporter for w that redraws when w is a terminal.
func New(w io.Writer) *Reporter {
	return &Reporter{W: w, Terminal: IsTerminal(w)}
}

func (r *Reporter) now() time.Time { return provider.ClockOr(r.Clock).Now() }

// Update shows s.
func (r *Reporter) Update(s State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.start.IsZero() {
		r.start = now
	}
	if r.finished {
		return
	}
	final := s.Total > 0 && s.Done >= s.Total
	if r.Terminal {
		fmt.Fprintf(r.W, "\r%s%s", r.line(s, now), "\x1b[K")
		if final {
			fmt.Fprintln(r.W)
			r.finished = true
		}
		r.last, r.printed = s, true
		return
	}
	every := r.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	changed := !r.printed || s != r.last
	if final || (changed && now.Sub(r.lastLine) >= every) {
		fmt.Fprintln(r.W, r.line(s, now))
		r.last, r.printed, r.lastLine = s, true, now
		r.finished = final
	}
}

// line formats s: "[#####.....] 5/10, 1 failed, $0.1200, ETA 12s".
func (r *Reporter) line(s State, now time.Time) string {
	var b strings.Builder
	if s.Total > 0 {
		b.WriteString(Bar(s.Done, s.Total, 30))
		fmt.Fprintf(&b, " %d/%d", s.Done, s.Total)
	}
	if s.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", s.Failed)
	}
	if s.Cost != "" {
		b.WriteString(", " + s.Cost)
	}
	if s.Done > 0 && s.Done < s.Total {
		elapsed := now.Sub(r.start)
		left := time.Duration(float64(elapsed) / float64(s.Done) * float64(s.Total-s.Done))
		fmt.Fprintf(&b, ", ETA %s", left.Round(time.Second))
	}
	if s.Note != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.Note)
	}
	return b.String()
}

// Bar draws done of total as "[#####.....]" of width characters.
func Bar(done, total, width int) string {
	n := width
	if total > 0 {
		n = min(max(done, 0)*width/total, width)
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}
