package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadBatchInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	items, err := readBatchInput(write("ok.jsonl", "# comment\n{\"prompt\":\"a\"}\n\n{\"key\":\"k\",\"prompt\":\"b\",\"n\":2,\"refs\":[\"r.png\"]}\n"), "")
	if err != nil || len(items) != 2 || items[0].Key != "line-2" || items[1].N != 2 || items[1].Refs[0] != filepath.Join(dir, "r.png") {
		t.Fatalf("%v %+v", err, items)
	}
	items, err = readBatchInput(write("ok.csv", "prompt,key,labels,seed\n\"a, b\",x,team=a;env=dev,7\nc,,,\n"), "")
	if err != nil || len(items) != 2 || items[0].Prompt != "a, b" || items[0].Labels["env"] != "dev" || *items[0].Seed != 7 || items[1].Key != "row-3" {
		t.Fatalf("%v %+v", err, items)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"bad.jsonl", "{\"prompt\":\"a\"}\n{\"promt\":\"b\"}\n", "bad.jsonl:2"},
		{"dup.jsonl", "{\"key\":\"a\",\"prompt\":\"a\"}\n{\"key\":\"a\",\"prompt\":\"b\"}\n", "dup.jsonl:2: key = a: want a key used once (line 1"},
		{"empty.jsonl", "# nothing\n", "at least one item"},
		{"noprompt.jsonl", "{\"key\":\"a\"}\n", "noprompt.jsonl:1: prompt"},
		{"col.csv", "prompt,colour\na,red\n", "col.csv:1: column = colour"},
		{"n.csv", "prompt,n\na,two\n", "n.csv:2: n = two"},
	} {
		_, err := readBatchInput(write(tc.name, tc.doc), "")
		if !errors.Is(err, provider.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	if got := slug("A Lighthouse, at dusk!!", 40); got != "a-lighthouse-at-dusk" {
		t.Error(got)
	}
	if got := slug("日本", 40); got != "image" {
		t.Error(got)
	}
	if fileBase("k01") != "k01" || fileBase("../etc/passwd") == "../etc/passwd" || strings.Contains(fileBase("a/b"), "/") ||
		fileBase("a/b") == fileBase("a_b") {
		t.Error(fileBase("../etc/passwd"), fileBase("a/b"), fileBase("a_b"))
	}
}

func TestIsUsageError(t *testing.T) {
	t.Parallel()
	local := &provider.Error{Kind: provider.KindInvalidRequest, Code: "Size"}
	remote := &provider.Error{Kind: provider.KindInvalidRequest, StatusCode: 400}
	if !IsUsageError(provider.InvalidConfig("x", 1, "y")) || !IsUsageError(local) || IsUsageError(remote) ||
		IsUsageError(&provider.Error{Kind: provider.KindUnavailable}) {
		t.Error("IsUsageError")
	}
}

// TestGenerateInProcess runs the command's function on the in-process
// emulator, so that leaks of its goroutines show.
func TestGenerateInProcess(t *testing.T) {
	providertest.ClearEnv(t)
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	err := Generate(context.Background(), []string{"--emulator", "--ledger", filepath.Join(dir, "l.jsonl"), "--out", dir, "--name", "x", "a cat"}, &out, &errOut)
	if err != nil || strings.TrimSpace(out.String()) != filepath.Join(dir, "x-1.jpg") {
		t.Fatalf("%v: %q %q", err, out.String(), errOut.String())
	}
	out.Reset()
	if err := Generate(context.Background(), []string{"--emulator", "--ledger", "off", "--out", dir, "--name", "x", "a cat"}, &out, &errOut); err != nil ||
		strings.TrimSpace(out.String()) != filepath.Join(dir, "x-1-2.jpg") {
		t.Errorf("no overwrite: %v %q", err, out.String())
	}
}
