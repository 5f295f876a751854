// Package ledger is imagegen's spend ledger: a JSONL file holding one
// pricing.Record per metered call, appended by every command that calls a
// provider (generate, edit, batch, probe) through the pricing meter's
// OnRecord, and read by `imagegen cost`.
//
// Each record is one line written with a single write to a file opened
// for appending, then synced, so a process killed at any instant leaves
// whole lines and at worst a torn last line, which Read skips with a
// warning. The file is created 0600 in a directory created 0700: it names
// models and labels, never a key.
package ledger

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/imagegen-go/imagegen/pricing"
)

// DefaultPath returns the ledger used when neither --ledger nor the config
// file names one: $IMAGEGEN_LEDGER, else ledger.jsonl (ledger-emulator.jsonl
// for --emulator runs, so that play money stays apart) under
// $XDG_STATE_HOME/imagegen, else ~/.local/state/imagegen.
func DefaultPath(emulator bool) string {
	if p := os.Getenv("IMAGEGEN_LEDGER"); p != "" && !emulator {
		return p
	}
	name := "ledger.jsonl"
	if emulator {
		name = "ledger-emulator.jsonl"
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return name
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "imagegen", name)
}

// Writer appends records to a ledger file. It is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	err  error // the first write error, reported by Close
	path string
}

// Open opens (or creates) the ledger at path for appending.
func Open(path string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return &Writer{f: f, path: path}, nil
}

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Append writes r as one line and syncs it. Errors are kept for Close:
// the meter calls Append from OnRecord, which cannot fail a call that was
// already paid for.
func (w *Writer) Append(r pricing.Record) {
	b, err := json.Marshal(r)
	if err == nil {
		b = append(b, '\n')
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		_, err = w.f.Write(b)
	}
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("ledger %s: %w", w.path, err)
	}
}

// Close closes the file and returns the first error any Append met.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.err, w.f.Close())
}

// Read returns every record of the ledger at path. A line that is not a
// record (a torn last line after a crash, a hand edit) is skipped and
// reported in warnings with its line number.
func Read(path string) (recs []pricing.Record, warnings []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	return Decode(f)
}

// Decode reads records from r, one JSON object a line.
func Decode(r io.Reader) (recs []pricing.Record, warnings []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var rec pricing.Record
		if err := json.Unmarshal(line, &rec); err != nil {
			warnings = append(warnings, fmt.Sprintf("line %d skipped: %v", n, err))
			continue
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return recs, warnings, fmt.Errorf("ledger: %w", err)
	}
	return recs, warnings, nil
}
