package pricing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// FileStore is a Store kept in one JSON file that survives a restart. Every
// change is written whole to a temporary file in the same directory,
// fsynced, renamed over the ledger and the directory fsynced, before the
// call returns: a process killed at any instant leaves either the previous
// or the new ledger, never a torn one, and every change a call
// acknowledged is on disk.
//
// Reservations still open when the file is opened again (the process died
// between reserving and settling) are counted as spent at their reserved
// amount, which is an upper estimate of what the interrupted call cost:
// safe for the cap, at worst pessimistic.
//
// A FileStore is for one process at a time (several goroutines are fine);
// replicas that share a budget need a shared store such as Redis. The file
// is created 0600 in a directory created 0700.
type FileStore struct {
	mu   sync.Mutex
	path string
	l    *ledger
	last []byte // the bytes on disk, to roll back a failed write
	now  func() time.Time
}

// OpenFileStore opens (or creates) the ledger at path. A file that exists
// but cannot be decoded is an error, not an empty ledger: budgets must not
// silently reset.
func OpenFileStore(path string) (*FileStore, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pricing: ledger: %w", err)
	}
	s := &FileStore{path: path, l: newLedger(), now: time.Now}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("pricing: ledger: %w", err)
	default:
		l := newLedger()
		if err := json.Unmarshal(b, l); err != nil {
			return nil, fmt.Errorf("pricing: ledger %s is corrupt: %w", path, err)
		}
		l.fix()
		s.l = l
		s.last = b
	}
	// Temporary files left by a process killed mid-write.
	if olds, _ := filepath.Glob(path + ".tmp-*"); len(olds) > 0 {
		for _, f := range olds {
			os.Remove(f)
		}
	}
	if len(s.l.Reservations) > 0 {
		for id, r := range s.l.Reservations {
			s.l.settle(id, r.Amount)
		}
	}
	if err := s.persist(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the ledger file's path.
func (s *FileStore) Path() string { return s.path }

// persist writes the ledger atomically; on failure the in-memory state is
// rolled back to what is on disk. s.mu must be held.
func (s *FileStore) persist() error {
	b, err := json.Marshal(s.l)
	if err == nil {
		err = writeAtomic(s.path, b)
	}
	if err != nil {
		l := newLedger()
		if s.last != nil {
			_ = json.Unmarshal(s.last, l)
		}
		l.fix()
		s.l = l
		return fmt.Errorf("pricing: writing ledger: %w", err)
	}
	s.last = b
	return nil
}

// writeAtomic writes b to path through a fsynced temporary file in the same
// directory and a rename, then fsyncs the directory.
func writeAtomic(path string, b []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // not supported everywhere; the rename is already atomic
		d.Close()
	}
	return nil
}

// Reserve implements Store.
func (s *FileStore) Reserve(ctx context.Context, keys []string, limits []provider.USD, amount provider.USD) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.l.reserve(keys, limits, amount, s.now())
	if err != nil {
		return "", err
	}
	if err := s.persist(); err != nil {
		return "", err
	}
	return id, nil
}

// Settle implements Store.
func (s *FileStore) Settle(_ context.Context, id string, actual provider.USD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.l.settle(id, actual); err != nil {
		return err
	}
	return s.persist()
}

// Spent implements Store.
func (s *FileStore) Spent(_ context.Context, key string) (spent, reserved provider.USD, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l.Spent[key], s.l.reserved[key], nil
}

// MarkAlert implements Store.
func (s *FileStore) MarkAlert(_ context.Context, key string, threshold float64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.l.markAlert(key, threshold) {
		return false, nil
	}
	return true, s.persist()
}

// Prune drops the totals and alert marks of keys for which drop returns
// true (for example periods older than a year: keys end in "/day/DATE" or
// "/month/YYYY-MM"), keeping the file small. Keys with open reservations
// are kept.
func (s *FileStore) Prune(drop func(key string) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.l.Spent {
		if s.l.reserved[k] == 0 && drop(k) {
			delete(s.l.Spent, k)
			delete(s.l.reserved, k)
		}
	}
	for k := range s.l.Alerts {
		if drop(k) {
			delete(s.l.Alerts, k)
		}
	}
	return s.persist()
}
