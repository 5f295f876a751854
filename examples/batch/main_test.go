package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
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
			// A job of 400 ms polled every 50 ms still shows progress.
			cfg := config{file: "prompts.txt", mode: mode, out: dir, concurrency: 4, batchPoll: 50 * time.Millisecond,
				emulatorBatch: 400 * time.Millisecond}
			if err := run(context.Background(), cfg, &out, &progress); err != nil {
				t.Fatalf("%v\n%s\n%s", err, out.String(), progress.String())
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			if len(files) != 5 {
				t.Errorf("wrote %d images, want 5:\n%s", len(files), out.String())
			}
			if !strings.Contains(out.String(), mode) || !strings.Contains(progress.String(), "[####") || strings.Contains(progress.String(), "\r") {
				t.Errorf("no progress shown:\n%s", progress.String())
			}
			if mode == "batch" && !strings.Contains(out.String(), "batch tier") {
				t.Errorf("batch spend not priced at the batch tier:\n%s", out.String())
			}
		})
	}
}

func TestReadItems(t *testing.T) {
	t.Parallel()
	items, err := readItems(strings.NewReader("# c\n\nplain prompt\n{\"key\":\"k\",\"prompt\":\"p\",\"size\":\"2K\"}\n"))
	if err != nil || len(items) != 2 || items[0].Prompt != "plain prompt" || items[1].Key != "k" || items[1].Size != "2K" {
		t.Fatalf("%+v %v", items, err)
	}
	if _, err := readItems(strings.NewReader("{not json\n")); err == nil {
		t.Error("bad JSON line accepted")
	}
}

func TestFlagsValidatedBeforeAnythingRuns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-concurrency", "0"}, "-concurrency 0"},
		{[]string{"-mode", "foo"}, `-mode "foo"`},
		{[]string{"-out", " "}, "-out"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"-nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("batch", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, err := parseFlags(fs, tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	if _, err := parseFlags(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-concurrency") {
		t.Errorf("-h: %v\n%s", err, help.String())
	}
}

func TestFailuresMakeTheRunFail(t *testing.T) {
	providertest.ClearEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "prompts.jsonl")
	lines := `{"key":"ok","prompt":"a lighthouse"}` + "\n" + `{"key":"bad","prompt":"a fox","size":"9K"}` + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, progress bytes.Buffer
	err := run(context.Background(), config{file: file, mode: "live", out: dir, concurrency: 2}, &out, &progress)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 prompts failed") || !strings.Contains(err.Error(), "bad:") {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
	if strings.Contains(progress.String(), "\r") {
		t.Errorf("progress redraws into a log: %q", progress.String())
	}
}

func TestBuiltInPromptsFromAnyDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	items, err := loadItems("")
	if err != nil || len(items) != 5 {
		t.Fatalf("%d items, %v", len(items), err)
	}
}
