package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		out, inErr string
	}{
		{nil, 2, "", "Subcommands:\n  emulator"},
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
