package catalog

import (
	"fmt"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// Status is where a model stands in its lifecycle at some instant.
type Status int

// The statuses, from best to worst.
const (
	StatusActive     Status = iota // served, no retirement announced or reached
	StatusDeprecated               // still served, but retirement is announced
	StatusRetired                  // shut down: requests fail
)

// String returns "active", "deprecated" or "retired".
func (s Status) String() string {
	switch s {
	case StatusActive:
		return "active"
	case StatusDeprecated:
		return "deprecated"
	case StatusRetired:
		return "retired"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Status returns the lifecycle's status at the instant at: retired from the
// start (00:00 UTC) of the shutdown date, deprecated from the start of the
// deprecation date, active otherwise. A shutdown date without a deprecation
// date counts as deprecated until the shutdown (announcing a shutdown
// deprecates a model; the announcement date is simply not recorded).
func (l Lifecycle) Status(at time.Time) Status {
	switch {
	case l.Shutdown.Reached(at):
		return StatusRetired
	case l.Deprecated.Reached(at), l.Deprecated.IsZero() && !l.Shutdown.IsZero():
		return StatusDeprecated
	}
	return StatusActive
}

// Status returns the model's status at the instant at (see
// Lifecycle.Status). Aliases may retire before their model: use
// Catalog.StatusOf for an ID that may be an alias.
func (m *Model) Status(at time.Time) Status { return m.Lifecycle.Status(at) }

// StatusOf returns the status of an ID or alias at the instant at, and
// false for IDs the catalog does not know. An alias is retired when its own
// lifecycle says so or when its model is retired.
func (c *Catalog) StatusOf(id string, at time.Time) (Status, bool) {
	id = normalizeID(id)
	m, ok := c.index[id]
	if !ok {
		return 0, false
	}
	st := m.Status(at)
	if a, ok := c.alias[id]; ok {
		st = max(st, a.lifecycle.Status(at))
	}
	return st, true
}

// lifecycleOf returns the lifecycle that governs an ID: the alias's own
// when it is retired on its own, the model's otherwise.
func (c *Catalog) lifecycleOf(id string, at time.Time) Lifecycle {
	m := c.index[id]
	if a, ok := c.alias[id]; ok && a.lifecycle.Status(at) == StatusRetired && m.Status(at) != StatusRetired {
		return a.lifecycle
	}
	return m.Lifecycle
}

// Resolve finds the model to use instead of id at the instant at. It
// follows replacements from id while the current model is retired, or is
// deprecated and names a replacement, and returns the first active model;
// if the chain holds no active model, the first deprecated one; if every
// model in it is retired, an error of kind provider.KindModelRetired. A
// retired alias leads to its model first. chain lists the IDs walked, id
// first (without a "models/" prefix), e.g. imagen-4.0-fast-generate-001 →
// gemini-3.1-flash-image → gemini-nano-banana-2.1 at 2026-11-21. An id the
// catalog does not know gives an error of kind provider.KindModelNotFound;
// callers should pass such IDs through unvalidated.
func (c *Catalog) Resolve(id string, at time.Time) (live *Model, chain []string, err error) {
	id = normalizeID(id)
	m, ok := c.index[id]
	if !ok {
		return nil, []string{id}, &provider.Error{Kind: provider.KindModelNotFound, Model: id,
			Message: id + " is not in the model catalog (as of " + c.AsOf + ")"}
	}
	chain = []string{id}
	if m.ID != id {
		chain = append(chain, m.ID)
	}
	var fallback *Model
	seen := map[*Model]bool{}
	for {
		if seen[m] {
			break // impossible after Load's cycle check; stay safe
		}
		seen[m] = true
		st := m.Status(at)
		if st == StatusActive {
			return m.clone(), chain, nil
		}
		if st == StatusDeprecated && fallback == nil {
			fallback = m
		}
		next, ok := c.index[m.Lifecycle.Replacement]
		if m.Lifecycle.Replacement == "" || !ok {
			break
		}
		chain = append(chain, m.Lifecycle.Replacement)
		if next.ID != m.Lifecycle.Replacement {
			chain = append(chain, next.ID)
		}
		m = next
	}
	if fallback != nil {
		return fallback.clone(), chain, nil
	}
	l := c.lifecycleOf(id, at)
	return nil, chain, &provider.Error{Kind: provider.KindModelRetired, Model: id,
		Message: fmt.Sprintf("%s was shut down on %s and no live replacement is known", id, l.Shutdown)}
}

// CheckLive returns nil when id may be called at the instant at: unknown
// IDs (new models work the day they ship), active and deprecated models.
// For a retired model or alias it returns a *provider.Error of kind
// provider.KindModelRetired whose message names the shutdown date and the
// live replacement found by Resolve: "imagen-4.0-generate-001 was shut down
// on 2026-08-17; use gemini-nano-banana-2.1".
func (c *Catalog) CheckLive(id string, at time.Time) error {
	id = normalizeID(id)
	st, ok := c.StatusOf(id, at)
	if !ok || st != StatusRetired {
		return nil
	}
	l := c.lifecycleOf(id, at)
	msg := fmt.Sprintf("%s was shut down on %s", id, l.Shutdown)
	live, _, err := c.Resolve(id, at)
	if err == nil {
		msg += "; use " + live.ID
	} else {
		msg += "; no live replacement is known"
	}
	return &provider.Error{Kind: provider.KindModelRetired, Model: id, Message: msg}
}

// Warnings returns what a caller of m should hear at the instant at:
// deprecation, an announced shutdown, retirement, each naming the live
// replacement when there is one, e.g. "gemini-3.1-flash-image is deprecated
// since 2026-10-06; use gemini-nano-banana-2.1". Active models give none.
func (m *Model) Warnings(at time.Time) []string {
	l := m.Lifecycle
	var msg string
	switch m.Status(at) {
	case StatusActive:
		return nil
	case StatusRetired:
		msg = fmt.Sprintf("%s was shut down on %s", m.ID, l.Shutdown)
	case StatusDeprecated:
		switch {
		case !l.Deprecated.IsZero() && !l.Shutdown.IsZero():
			msg = fmt.Sprintf("%s is deprecated since %s and shuts down on %s", m.ID, l.Deprecated, l.Shutdown)
		case !l.Deprecated.IsZero():
			msg = fmt.Sprintf("%s is deprecated since %s", m.ID, l.Deprecated)
		default:
			msg = fmt.Sprintf("%s is deprecated and shuts down on %s", m.ID, l.Shutdown)
		}
	}
	if r := m.liveReplacement(at); r != "" {
		msg += "; use " + r
	}
	return []string{msg}
}

// liveReplacement returns the ID Resolve leads to from m, or "".
func (m *Model) liveReplacement(at time.Time) string {
	if m.cat == nil || m.Lifecycle.Replacement == "" {
		return ""
	}
	live, _, err := m.cat.Resolve(m.ID, at)
	if err != nil || live.ID == m.ID {
		return ""
	}
	return live.ID
}

// ExplainMissing classifies a provider's "model not found" for id at the
// given time, and names the live model to use instead, if any:
//   - an ID the catalog does not know is KindModelNotFound;
//   - a model the catalog has retired, or that has a replacement (its
//     shutdown may be disputed or not yet recorded), is KindModelRetired,
//     with the first live model of its replacement chain;
//   - a model the catalog believes live, with nothing to replace it, is
//     KindModelNotFound: more likely a relay that does not route it than a
//     retirement nobody announced.
func (c *Catalog) ExplainMissing(id string, at time.Time) (kind provider.Kind, replacement string) {
	m, known := c.Lookup(id)
	if !known {
		return provider.KindModelNotFound, ""
	}
	if live, _, err := c.Resolve(id, at); err == nil && live != nil && live.ID != m.ID {
		return provider.KindModelRetired, live.ID
	}
	if m.Lifecycle.Replacement == "" {
		return provider.KindModelNotFound, ""
	}
	if live, _, err := c.Resolve(m.Lifecycle.Replacement, at); err == nil && live != nil && live.ID != m.ID {
		return provider.KindModelRetired, live.ID
	}
	return provider.KindModelRetired, ""
}
