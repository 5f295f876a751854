package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestTasksOffline(t *testing.T) {
	providertest.ClearEnv(t)
	dir := t.TempDir()
	var out bytes.Buffer
	opts, err := parseFlags(flag.NewFlagSet("tasks", flag.ContinueOnError), []string{"-out", dir})
	if err != nil {
		t.Fatal(err)
	}
	opts.taskTime = 150 * time.Millisecond // what the user sees waited for is not what the test checks
	if err := run(context.Background(), &out, opts); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"emulator", "kie/nano-banana-pro", "replicate/google/nano-banana-pro", "apimart/gemini-3-pro-image-preview", "succeeded"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Three Generate calls and six detached tasks.
	if !regexp.MustCompile(`total: 9 calls, 9 images`).MatchString(out.String()) {
		t.Errorf("totals:\n%s", out.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	if len(files) != 9 {
		t.Errorf("%d images written, want 9", len(files))
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-service", "midjourney"}, {"extra"}, {"-out", " "}} {
		fs := flag.NewFlagSet("tasks", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, err := parseFlags(fs, args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	fs := flag.NewFlagSet("tasks", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseFlags(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
