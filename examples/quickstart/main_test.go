package main

import (
	"bytes"
	"context"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuickstartOffline(t *testing.T) {
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), &out, dir); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "emulator") {
		t.Errorf("output does not say it used the emulator:\n%s", out.String())
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
