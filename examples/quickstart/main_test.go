package main

import (
	"bytes"
	"context"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
