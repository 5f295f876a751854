package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestPlainLinesOffTerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clk := providertest.NewClock(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	r := &Reporter{W: &buf, Clock: clk}
	for i := 0; i <= 10; i++ {
		r.Update(State{Done: i, Total: 10, Cost: "$0.10"})
		clk.Advance(time.Second)
	}
	out := buf.String()
	if strings.Contains(out, "\r") || strings.Contains(out, "\x1b") {
		t.Fatalf("control characters in a log: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// 0, 5 (five seconds later) and the final 10/10.
	if len(lines) != 3 || !strings.Contains(lines[2], "10/10") {
		t.Fatalf("lines = %q", lines)
	}
	if !strings.Contains(lines[1], "ETA 5s") {
		t.Errorf("no ETA: %q", lines[1])
	}
}

func TestRedrawOnTerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := &Reporter{W: &buf, Terminal: true}
	r.Update(State{Done: 1, Total: 2})
	r.Update(State{Done: 2, Total: 2, Failed: 1})
	r.Update(State{Done: 2, Total: 2, Failed: 1})
	if got := strings.Count(buf.String(), "\r"); got != 2 || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("%q", buf.String())
	}
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a file is a terminal")
	}
}

func TestBar(t *testing.T) {
	t.Parallel()
	if got := Bar(5, 10, 10); got != "[#####.....]" {
		t.Error(got)
	}
	if got := Bar(20, 10, 4); got != "[####]" {
		t.Error(got)
	}
}
