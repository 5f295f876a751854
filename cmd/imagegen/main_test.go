package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain builds the binary once for the end-to-end tests, runs the
// tests, and checks that the in-process ones leaked no goroutine.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imagegen-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "imagegen")
	// go test puts its own toolchain's bin first on PATH.
	args := []string{"build", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building imagegen: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		out, inErr string
	}{
		{nil, 2, "", "Subcommands:\n  batch"},
		{[]string{"help"}, 0, "Usage: imagegen SUBCOMMAND", ""},
		{[]string{"--help"}, 0, "emulator", ""},
		{[]string{"paint"}, 2, "", `unknown subcommand "paint"`},
		{[]string{"emulator", "-h"}, 0, "", "Usage: imagegen emulator"},
		{[]string{"emulator", "--rpm", "-3"}, 2, "", "invalid configuration"},
		{[]string{"emulator", "--addr", "256.0.0.1:0"}, 1, "", "imagegen emulator: emulator: listen"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.inErr) {
			t.Errorf("%q: code %d, stdout %q, stderr %q", tc.args, code, out.String(), errOut.String())
		}
	}
}

func TestEmulatorStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	if code := run(ctx, []string{"emulator", "--addr", "127.0.0.1:0"}, &out, &bytes.Buffer{}); code != 0 ||
		!strings.HasPrefix(out.String(), "imagegen emulator listening on http://127.0.0.1:") {
		t.Errorf("code %d, output %q", code, out.String())
	}
}
