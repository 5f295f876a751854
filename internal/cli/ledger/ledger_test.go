package ledger

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imagegen-go/imagegen/pricing"
)

func TestAppendRead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dir", "ledger.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { w.Append(pricing.Record{Provider: "p", Model: "m", Cost: 1, Images: i % 2}) })
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	// A torn last line (a crash mid-write) is skipped with a warning.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"provider":"p","cost":"0.`)
	f.Close()
	recs, warnings, err := Read(path)
	if err != nil || len(recs) != 50 || len(warnings) != 1 || !strings.Contains(warnings[0], "line 51") {
		t.Errorf("%v: %d records, warnings %v", err, len(recs), warnings)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	t.Setenv("IMAGEGEN_LEDGER", "")
	if got := DefaultPath(false); got != "/state/imagegen/ledger.jsonl" {
		t.Error(got)
	}
	if got := DefaultPath(true); got != "/state/imagegen/ledger-emulator.jsonl" {
		t.Error(got)
	}
	t.Setenv("IMAGEGEN_LEDGER", "/x.jsonl")
	if DefaultPath(false) != "/x.jsonl" || DefaultPath(true) != "/state/imagegen/ledger-emulator.jsonl" {
		t.Error("IMAGEGEN_LEDGER")
	}
}
