// Package cache is imagegen's caching decorator: responses stored under
// content-addressed keys, identical in-flight requests de-duplicated into
// one upstream call, entries that expire, and a per-request opt-out.
//
//	store, err := cache.OpenDisk(dir, cache.DiskConfig{MaxBytes: 2 << 30})
//	if err != nil { ... }
//	cached, err := cache.New(cache.Config{Store: store, TTL: 7 * 24 * time.Hour})
//	if err != nil { ... } // a *provider.ConfigError naming the field
//	gen := provider.Chain(adapter, cached, meter.Middleware())
//
// # Keys
//
// Key hashes (SHA-256) a canonical, versioned encoding of what decides the
// image: the model, the prompt exactly as given, the negative prompt, N,
// size, aspect ratio, quality, output format, seed, the typed Options
// (each with its type, sorted; controls such as Mode and catalog.Tier left
// out) and the SHA-256 of every reference image and mask.
// Labels are left out. Keys, and the file names of the disk store, are
// hashes only: no prompt or secret ever appears in them.
//
// # Hits and de-duplication
//
// A hit returns the stored response with Cached true, Cost 0, Attempts 0,
// zero Usage and no Warnings (they told of the call that filled the entry,
// not of the hit). Identical requests that arrive while one is in flight
// wait for it and get a copy marked the same way; only the caller whose
// call went upstream sees its cost and warnings. Image bytes are shared
// between copies and the store: never modify them. Errors are never
// cached, and neither are responses with images that carry only a link.
//
// The shared call carries the deadline of the caller that started it down
// to retry, the rate limiter and the adapter; a waiter with more time that
// gets a failure caused by that shorter deadline makes its own call; and
// the last caller to give up cancels the shared call and returns once it
// has unwound, so that no budget reservation outlives it (see New).
//
// # Previews
//
// A hit is replayed as the final response alone: a request with
// provider.Previews gets no drafts from the cache (provider.Stream yields
// only the final event), and Previews.On is not called. Only finished
// responses are stored, never a draft, and Previews is a Control, so a
// request with and without it share one entry. In a shared call only the
// caller that started it gets drafts (possibly from the call's goroutine,
// never after its Generate has returned: a caller that gives up while
// others wait hears no more of them); the others get the final response,
// or, when the shared call failed after the leader's drafts
// (provider.ErrStreamInterrupted), make a call of their own, which may
// retry and fail over since they have shown no draft.
//
// # Events
//
// Each decision is a provider.Event to the handlers of the request's
// context (provider.WithEventHandler): EventCacheHit, EventCacheMiss,
// EventCacheShared, EventCacheBypass, EventCacheStored and
// EventCacheError, with the key (a hash). The events of a shared call go
// to the caller that started it.
//
// # Opting out
//
// A request carrying Skip in its Options (provider.Options{cache.Skip})
// bypasses the cache entirely; Refresh calls upstream and replaces the
// entry.
//
// # Stores
//
// Memory is bounded by bytes with least-recently-used eviction on
// github.com/hashicorp/golang-lru/v2. Disk keeps content-addressed files
// (dir/ab/cd/<key>, directories 0700, files 0600) written atomically
// (temporary file, fsync, rename) with a CRC-32C checksum that drops
// corrupt entries (and files of an earlier format), size-bounded eviction by access time, and is safe to
// share between processes. cache/rediscache keeps entries in Redis for
// replicas to share, and implements Locker, so that identical requests in
// flight in several processes go upstream once: the others wait for the
// entry.
package cache
