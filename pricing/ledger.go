package pricing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// Store is a budget ledger: spend and open reservations per key. Keys are
// opaque to the store; Budget uses one per scope and period
// ("overall/day/2026-11-21", "team=a/month/2026-11"). Every method is atomic
// on its own, so that a Store shared by several processes (a Redis
// implementation, say, with a Lua script for Reserve) keeps caps exact.
type Store interface {
	// Reserve atomically checks, for every i, that limits[i] is 0 (no cap)
	// or spent+reserved+amount ≤ limits[i] for keys[i], and if all pass
	// adds amount to the reserved total of every key and returns the
	// reservation's id. Otherwise nothing changes and the error is a
	// *LimitError for the first key that failed. keys and limits are
	// shared with other reservations: a Store must not modify them, nor
	// keep keys beyond the call without copying it.
	Reserve(ctx context.Context, keys []string, limits []provider.USD, amount provider.USD) (id string, err error)
	// Settle closes a reservation: its amount leaves the reserved totals
	// and actual is added to the spent totals of its keys (even beyond a
	// cap: what was billed was billed). Settling an unknown id is an error
	// wrapping ErrUnknownReservation.
	Settle(ctx context.Context, id string, actual provider.USD) error
	// Spent returns the spent and reserved totals of key.
	Spent(ctx context.Context, key string) (spent, reserved provider.USD, err error)
	// MarkAlert records that the alert for threshold has fired for key and
	// reports whether this call was the first to do so.
	MarkAlert(ctx context.Context, key string, threshold float64) (first bool, err error)
}

// ErrUnknownReservation is wrapped by Settle for an id the store does not
// hold (already settled, or never made).
var ErrUnknownReservation = errors.New("pricing: unknown reservation")

// LimitError says which key a reservation would take over its cap.
type LimitError struct {
	Key      string
	Spent    provider.USD
	Reserved provider.USD
	Amount   provider.USD // the amount asked for
	Limit    provider.USD
}

// Error says which scope and period the reservation would exceed.
func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: spent %v + reserved %v + estimate %v exceeds %v", e.Key, e.Spent, e.Reserved, e.Amount, e.Limit)
}

// ledger is the state shared by MemoryStore and FileStore. Its JSON form
// is FileStore's file.
type ledger struct {
	Version      int                     `json:"version"`
	Seq          uint64                  `json:"seq"` // last reservation number
	Spent        map[string]provider.USD `json:"spent"`
	Reservations map[string]reservation  `json:"reservations,omitempty"`
	Alerts       map[string][]float64    `json:"alerts,omitempty"`

	reserved map[string]provider.USD // derived from Reservations
	lastKeys []string                // the Keys of the last reservation, shared by the next ones with the same keys
}

type reservation struct {
	Keys    []string     `json:"keys"`
	Amount  provider.USD `json:"amount"`
	Created time.Time    `json:"created"`
}

func newLedger() *ledger {
	return &ledger{Version: 1, Spent: map[string]provider.USD{}, Reservations: map[string]reservation{},
		Alerts: map[string][]float64{}, reserved: map[string]provider.USD{}}
}

// fix fills maps that a decoded file left nil and derives reserved.
func (l *ledger) fix() {
	if l.Spent == nil {
		l.Spent = map[string]provider.USD{}
	}
	if l.Reservations == nil {
		l.Reservations = map[string]reservation{}
	}
	if l.Alerts == nil {
		l.Alerts = map[string][]float64{}
	}
	l.reserved = map[string]provider.USD{}
	for _, r := range l.Reservations {
		for _, k := range r.Keys {
			l.reserved[k] += r.Amount
		}
	}
}

func (l *ledger) reserve(keys []string, limits []provider.USD, amount provider.USD, now time.Time) (string, error) {
	if len(limits) != len(keys) {
		return "", fmt.Errorf("pricing: %d keys but %d limits", len(keys), len(limits))
	}
	if amount < 0 {
		return "", fmt.Errorf("pricing: negative reservation %v", amount)
	}
	for i, k := range keys {
		if lim := limits[i]; lim > 0 {
			s, r := l.Spent[k], l.reserved[k]
			if s+r+amount > lim {
				return "", &LimitError{Key: k, Spent: s, Reserved: r, Amount: amount, Limit: lim}
			}
		}
	}
	l.Seq++
	id := strconv.FormatUint(l.Seq, 10)
	if !slices.Equal(l.lastKeys, keys) {
		l.lastKeys = slices.Clone(keys) // reservations never modify their Keys: they can share them
	}
	l.Reservations[id] = reservation{Keys: l.lastKeys, Amount: amount, Created: now}
	for _, k := range keys {
		l.reserved[k] += amount
	}
	return id, nil
}

func (l *ledger) settle(id string, actual provider.USD) error {
	r, ok := l.Reservations[id]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownReservation, id)
	}
	delete(l.Reservations, id)
	for _, k := range r.Keys {
		// A key at zero stays: the next reservation of the day would add
		// it again (FileStore.Prune drops it with the spend).
		l.reserved[k] -= r.Amount
		l.Spent[k] += actual
	}
	return nil
}

func (l *ledger) markAlert(key string, threshold float64) bool {
	for _, t := range l.Alerts[key] {
		if t == threshold {
			return false
		}
	}
	l.Alerts[key] = append(l.Alerts[key], threshold)
	return true
}

// MemoryStore is a Store in memory, for one process. The zero value is not
// usable; call NewMemoryStore.
type MemoryStore struct {
	mu  sync.Mutex
	l   *ledger
	now func() time.Time
}

// NewMemoryStore returns an empty in-memory ledger.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{l: newLedger(), now: time.Now}
}

// Reserve implements Store.
func (s *MemoryStore) Reserve(ctx context.Context, keys []string, limits []provider.USD, amount provider.USD) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l.reserve(keys, limits, amount, s.now())
}

// Settle implements Store.
func (s *MemoryStore) Settle(_ context.Context, id string, actual provider.USD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l.settle(id, actual)
}

// Spent implements Store.
func (s *MemoryStore) Spent(_ context.Context, key string) (spent, reserved provider.USD, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l.Spent[key], s.l.reserved[key], nil
}

// MarkAlert implements Store.
func (s *MemoryStore) MarkAlert(_ context.Context, key string, threshold float64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l.markAlert(key, threshold), nil
}
