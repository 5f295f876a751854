package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestBatchExampleBothModes(t *testing.T) {
	providertest.ClearEnv(t)
	for _, mode := range []string{"live", "batch"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			var out, progress bytes.Buffer
			cfg := config{file: "prompts.txt", mode: mode, out: dir, concurrency: 4, batchPoll: 200 * time.Millisecond}
			if err := run(context.Background(), cfg, &out, &progress); err != nil {
				t.Fatalf("%v\n%s\n%s", err, out.String(), progress.String())
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			if len(files) != 5 {
				t.Errorf("wrote %d images, want 5:\n%s", len(files), out.String())
			}
			if !strings.Contains(out.String(), mode) || !strings.Contains(progress.String(), "[####") {
				t.Errorf("no progress shown:\n%s", progress.String())
			}
			if mode == "batch" && !strings.Contains(out.String(), "batch tier") {
				t.Errorf("batch spend not priced at the batch tier:\n%s", out.String())
			}
		})
	}
}

func TestReadItems(t *testing.T) {
	items, err := readItems(strings.NewReader("# c\n\nplain prompt\n{\"key\":\"k\",\"prompt\":\"p\",\"size\":\"2K\"}\n"))
	if err != nil || len(items) != 2 || items[0].Prompt != "plain prompt" || items[1].Key != "k" || items[1].Size != "2K" {
		t.Fatalf("%+v %v", items, err)
	}
	if _, err := readItems(strings.NewReader("{not json\n")); err == nil {
		t.Error("bad JSON line accepted")
	}
}
