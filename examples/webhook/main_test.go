package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestWebhookOffline(t *testing.T) {
	providertest.ClearEnv(t)
	t.Setenv("KIE_API_KEY", "")
	t.Setenv("REPLICATE_API_TOKEN", "")
	var out bytes.Buffer
	opts, err := parseFlags(flag.NewFlagSet("webhook", flag.ContinueOnError), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.taskTime, opts.fallback = 200*time.Millisecond, 600*time.Millisecond // the user's pacing, not what is checked
	if err := run(context.Background(), &out, opts); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"callback from kie", "callback from replicate", "signed, succeeded", "1 read(s)", "0 read(s)",
		"handler answered 200", "the real image", "callbacks accepted",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"-listen", "nonsense"}} {
		fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, err := parseFlags(fs, args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseFlags(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
