package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestQuickstartOffline(t *testing.T) {
	providertest.ClearEnv(t)
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), &out, dir); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"emulator", "cached"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Four prompts, one a repeat: three upstream calls, three images billed.
	if !regexp.MustCompile(`(?m)^total\s+3\s+3\s`).MatchString(out.String()) {
		t.Errorf("cost table does not total 3 calls and 3 images:\n%s", out.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != len(prompts) {
		t.Fatalf("wrote %d files, want %d", len(files), len(prompts))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, format, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s does not decode: %v", f, err)
		}
		ext := map[string]string{"jpeg": ".jpg", "png": ".png"}[format]
		if filepath.Ext(f) != ext {
			t.Errorf("%s holds %s bytes", f, format)
		}
	}
}

func TestFailureExitsNonZeroWithSummary(t *testing.T) {
	t.Parallel()
	blocked := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		if strings.Contains(req.Prompt, "fox") {
			return nil, &provider.Error{Kind: provider.KindContentBlocked, Provider: "demo", Message: "blocked"}
		}
		return &provider.Response{Provider: "demo", Model: "m", Images: []provider.Image{{Data: []byte("\x89PNG\r\n\x1a\nxx"), MIMEType: "image/png"}}}, nil
	})
	var out bytes.Buffer
	err := generate(context.Background(), &out, t.TempDir(), blocked, "a fake")
	if err == nil || !strings.Contains(err.Error(), "1 of 4 prompts failed") || !strings.Contains(err.Error(), "fox") {
		t.Fatalf("err = %v", err)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-out", ""}, {"extra"}, {"-bogus"}} {
		fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, err := parseFlags(fs, args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	if _, err := parseFlags(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-out") {
		t.Errorf("-h: %v %q", err, help.String())
	}
	if got := shorten("ééééé", 3); got != "ééé" {
		t.Errorf("shorten cut a character: %q", got)
	}
}
