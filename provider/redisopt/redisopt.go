// Package redisopt holds what imagegen's four Redis stores share: the
// options each takes (Common) and the policy for a server that cannot be
// reached. One Common value configures them all:
//
//	common := redisopt.Common{Prefix: "prod:", OnUnavailable: redisopt.FailClosed}
//	limits, err := redisstore.New(rdb, redisstore.Options{Common: common})
//	ledger, err := redisledger.New(rdb, redisledger.Options{Common: common})
//	entries, err := rediscache.New(rdb, rediscache.Options{Common: common, MaxBytes: 1 << 30})
//	health, err := redishealth.New(rdb, redishealth.Options{Common: common})
//
// The stores are provider/ratelimit/redisstore, pricing/redisledger,
// cache/rediscache and failover/redishealth.
package redisopt

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// Policy says what a Redis store does when the server cannot be reached.
type Policy int

const (
	// DefaultPolicy is the zero Policy: the store's documented default
	// (FailClosed for the budget ledger, FallbackToMemory for the others).
	DefaultPolicy Policy = iota
	// FallbackToMemory serves from an in-memory store of the same kind,
	// logging a warning once per outage, and goes back to Redis when it
	// answers again. State kept in memory meanwhile is not merged back.
	FallbackToMemory
	// FailClosed refuses: the operation returns a *provider.Error of kind
	// provider.KindUnavailable with Code CodeUnavailable.
	FailClosed
)

// String returns "default", "fallback-to-memory" or "fail-closed".
func (p Policy) String() string {
	switch p {
	case DefaultPolicy:
		return "default"
	case FallbackToMemory:
		return "fallback-to-memory"
	case FailClosed:
		return "fail-closed"
	}
	return fmt.Sprintf("policy(%d)", int(p))
}

// Or returns p, or def when p is DefaultPolicy.
func (p Policy) Or(def Policy) Policy {
	if p == DefaultPolicy {
		return def
	}
	return p
}

// CodeUnavailable is the Code of the *provider.Error a fail-closed store
// returns while Redis is unreachable.
const CodeUnavailable = "STORE_UNAVAILABLE"

// Defaults for the zero fields of Common.
const (
	DefaultPrefix        = "imagegen:"
	DefaultTimeout       = 250 * time.Millisecond
	DefaultRetryInterval = time.Second
	DefaultPollInterval  = 50 * time.Millisecond
)

// Common are the options every Redis store takes; each store's Options
// embeds it beside the store's own settings. The zero value is usable.
type Common struct {
	// Prefix starts every key; default DefaultPrefix. Use a hash tag
	// ("{imagegen}:") on Redis Cluster.
	Prefix string
	// OnUnavailable is the policy when Redis is unreachable; the zero
	// value means the store's default.
	OnUnavailable Policy
	// Logger receives the warning when Redis becomes unreachable (once per
	// outage); nil means slog.Default().
	Logger *slog.Logger
	// Timeout bounds every Redis call; default DefaultTimeout.
	Timeout time.Duration
	// RetryInterval is how long a store stays on its fallback (or fails
	// fast) after a failure before trying Redis again; default
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// PollInterval is the longest wait between tries of an operation that
	// waits on Redis (a concurrency lease, a cache fill lock); default
	// DefaultPollInterval.
	PollInterval time.Duration
	// Clock tells the time where a store keeps its own (entry expiry,
	// reservation expiry); nil means provider.SystemClock(). Limits and
	// breakers take the caller's time instead.
	Clock provider.Clock
}
