// Package config reads imagegen's config file: providers, failover routes,
// rate limits, retry policies, budgets and the cache, in TOML.
//
// The file is decoded strictly with github.com/pelletier/go-toml/v2: a
// misspelt key, a value of the wrong type and a value a constructor refuses
// are all errors that name the file, the line and column, and the key path
// ("imagegen.toml:12:1: providers.gemini.limits.burst = 100: want 0 to
// RequestsPerMinute (60)"). Every error is a *provider.ConfigError.
//
// Durations are strings ("500ms", "2m") and dollar amounts are strings
// ("20.00"): a bare number is refused rather than read as nanoseconds or
// micro-dollars. API keys never live in the file: a provider names the
// environment variable that holds its key (api_key_env).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/imagegen-go/imagegen/provider"
)

// File is a parsed config file. The zero value is the configuration used
// when there is no file: the built-in providers, no routes, no budget, no
// cache.
type File struct {
	// Ledger is the JSONL file every metered call is appended to
	// ("" means the default under the user's state directory).
	Ledger string `toml:"ledger"`
	// Catalog is a newer catalog.json to use instead of the embedded one.
	Catalog string `toml:"catalog"`
	// Model is the model used when a command names none.
	Model string `toml:"model"`
	// Providers are named provider settings; a name that is a built-in
	// provider type ("gemini", "openai", ...) needs no type.
	Providers map[string]Provider `toml:"providers"`
	// Routes are failover routes, tried by priority when a command names
	// neither a model nor a provider.
	Routes []Route `toml:"routes"`
	// Failover configures each route's circuit breaker.
	Failover Breaker `toml:"failover"`
	// Budget caps spend.
	Budget Budget `toml:"budget"`
	// Cache configures the response cache.
	Cache Cache `toml:"cache"`

	path string
	pos  positions
}

// Provider configures one provider: its adapter, key, endpoint, retry
// policy and limits.
type Provider struct {
	// Type is the adapter and preset: see Types. Default: the table's name.
	Type string `toml:"type"`
	// APIKeyEnv names the environment variable holding the key; default
	// the type's usual variable (GEMINI_API_KEY, OPENAI_API_KEY, ...).
	APIKeyEnv string `toml:"api_key_env"`
	// BaseURL replaces the service's endpoint (a relay).
	BaseURL string `toml:"base_url"`
	// Model is the provider's default model.
	Model string `toml:"model"`
	// Mode is the wire shape of an OpenAI-compatible provider: images,
	// chat-images, chat-markdown, chat-content-array or openrouter-images.
	Mode string `toml:"mode"`
	// BearerAuth sends the key as a bearer token (Gemini-native relays).
	BearerAuth bool `toml:"bearer_auth"`
	// Ceiling is the most one image may cost, for models the catalog
	// cannot price (pricing.Ceiling).
	Ceiling *Money `toml:"ceiling"`
	// Retry is the provider's retry policy (provider/retry).
	Retry Retry `toml:"retry"`
	// Limits are the provider's rate limits (provider/ratelimit). For a
	// task API (kie, replicate, apimart), the fields left out take the
	// service's documented preset (taskapi.RateLimit).
	Limits Limits `toml:"limits"`
}

// Retry mirrors retry.Policy.
type Retry struct {
	MaxAttempts         int       `toml:"max_attempts"`
	InitialInterval     *Duration `toml:"initial_interval"`
	MaxInterval         *Duration `toml:"max_interval"`
	MaxWait             *Duration `toml:"max_wait"`
	Multiplier          float64   `toml:"multiplier"`
	RandomizationFactor float64   `toml:"randomization_factor"`
}

// Limits mirrors ratelimit.Config.
type Limits struct {
	RequestsPerMinute int    `toml:"requests_per_minute"`
	Burst             int    `toml:"burst"`
	RequestsPerDay    int    `toml:"requests_per_day"`
	ImagesPerMinute   int    `toml:"images_per_minute"`
	MaxConcurrent     int    `toml:"max_concurrent"`
	FailFast          bool   `toml:"fail_fast"`
	DayZone           string `toml:"day_zone"`
}

// Route mirrors failover.Route, naming a provider of the file.
type Route struct {
	Name     string `toml:"name"`
	Provider string `toml:"provider"`
	Model    string `toml:"model"`
	Priority int    `toml:"priority"`
	Weight   int    `toml:"weight"`
}

// Breaker mirrors failover.BreakerSettings.
type Breaker struct {
	ConsecutiveFailures int       `toml:"consecutive_failures"`
	FailureRate         float64   `toml:"failure_rate"`
	MinRequests         int       `toml:"min_requests"`
	Window              *Duration `toml:"window"`
	OpenTimeout         *Duration `toml:"open_timeout"`
	HalfOpenProbes      int       `toml:"half_open_probes"`
}

// Budget mirrors pricing.BudgetConfig.
type Budget struct {
	Daily       *Money                 `toml:"daily"`
	Monthly     *Money                 `toml:"monthly"`
	PerLabel    map[string]LabelLimits `toml:"per_label"`
	Thresholds  []float64              `toml:"thresholds"`
	WaitForRoom *Duration              `toml:"wait_for_room"`
	// Store is the budget ledger file (pricing.FileStore), which keeps
	// spend across runs; "" keeps it in memory for one run.
	Store string `toml:"store"`
	// Timezone is where days and months begin; default UTC.
	Timezone string `toml:"timezone"`
}

// LabelLimits is a daily and monthly cap of one label scope.
type LabelLimits struct {
	Daily   *Money `toml:"daily"`
	Monthly *Money `toml:"monthly"`
}

// Cache configures the cache decorator and its store.
type Cache struct {
	// Store is off (default), memory, disk or redis.
	Store string `toml:"store"`
	// Dir is the disk store's directory.
	Dir string `toml:"dir"`
	// MaxBytes bounds the store (0: its default).
	MaxBytes int64 `toml:"max_bytes"`
	// TTL is how long entries live (default 24h).
	TTL       *Duration `toml:"ttl"`
	Namespace string    `toml:"namespace"`
	// RedisAddr and RedisPrefix configure the redis store.
	RedisAddr   string `toml:"redis_addr"`
	RedisPrefix string `toml:"redis_prefix"`
}

// Duration is a duration written as a string ("1.5s", "2m"). It is a
// struct so that a bare number is a type error, not nanoseconds.
type Duration struct{ D time.Duration }

// UnmarshalText reads a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("want a duration such as \"500ms\" or \"2m\": %w", err)
	}
	d.D = v
	return nil
}

// Money is a dollar amount: "20.00" or 20 (dollars, never micro-dollars,
// whatever provider.USD's integer form is).
type Money struct{ USD provider.USD }

// UnmarshalText reads decimal dollars.
func (m *Money) UnmarshalText(b []byte) error {
	v, err := provider.ParseUSD(string(b))
	if err != nil {
		return fmt.Errorf("want a dollar amount such as \"20.00\": %w", err)
	}
	m.USD = v
	return nil
}

// Types lists the provider types: the adapter and preset each one uses.
// kie, replicate and apimart are task APIs (package taskapi).
var types = []string{"gemini", "imagen", "openai", "openrouter", "laozhang", "aimlapi", "openai-compatible",
	"kie", "replicate", "apimart"}

// taskTypes are the types served by package taskapi.
var taskTypes = []string{"kie", "replicate", "apimart"}

// IsTaskType reports whether typ is a task API (kie, replicate, apimart):
// its limits default to the service's preset (taskapi.RateLimit), and
// `imagegen batch --mode tasks` can submit to it.
func IsTaskType(typ string) bool { return slices.Contains(taskTypes, typ) }

// Types returns the provider types a config may name.
func Types() []string { return slices.Clone(types) }

// Modes of an openai-compatible provider.
var modes = []string{"images", "chat-images", "chat-markdown", "chat-content-array", "openrouter-images"}

// Cache stores.
var stores = []string{"", "off", "memory", "disk", "redis"}

// Load reads and checks the config file at path.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &provider.ConfigError{Field: "--config", Value: path, Err: err}
	}
	return Parse(path, b)
}

// Parse decodes doc, read from path (used in messages), strictly, and
// checks what the decoder cannot: provider types and modes, routes naming
// known providers, URLs, time zones, cache stores. Values that only the
// constructors check (a negative limit, a Burst above the per-minute
// limit) are checked when the stack is built; File.At places those
// errors on their line.
func Parse(path string, doc []byte) (*File, error) {
	f := &File{path: path, pos: scanPositions(doc)}
	if err := f.checkDurations(); err != nil {
		return nil, err
	}
	dec := toml.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(f); err != nil {
		return nil, f.decodeError(err)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path returns the file's path, "" for the zero File.
func (f *File) Path() string { return f.path }

// ProviderType returns the type of the named provider: its type field, or
// its name when that is a type.
func (p Provider) TypeFor(name string) string {
	if p.Type != "" {
		return p.Type
	}
	return name
}

func (f *File) check() error {
	var errs []error
	add := func(key string, value any, want string) {
		errs = append(errs, f.Errorf(key, value, want))
	}
	for _, name := range sortedKeys(f.Providers) {
		p := f.Providers[name]
		key := "providers." + name
		typ := p.TypeFor(name)
		if !slices.Contains(types, typ) {
			if p.Type == "" {
				add(key+".type", "", "a type for provider "+name+": "+strings.Join(types, ", "))
			} else {
				add(key+".type", p.Type, strings.Join(types, ", "))
			}
		}
		if p.Mode != "" && typ != "openai-compatible" {
			add(key+".mode", p.Mode, `no mode: only type "openai-compatible" takes one`)
		} else if p.Mode != "" && !slices.Contains(modes, p.Mode) {
			add(key+".mode", p.Mode, strings.Join(modes, ", "))
		}
		if typ == "openai-compatible" && p.BaseURL == "" {
			add(key+".base_url", "", "the relay's API root, e.g. https://relay.example/v1")
		}
		if p.BaseURL != "" {
			if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(key+".base_url", p.BaseURL, "an http(s) URL")
			}
		}
		if p.APIKeyEnv != "" && strings.ContainsAny(p.APIKeyEnv, "= \t") {
			add(key+".api_key_env", p.APIKeyEnv, "the name of an environment variable (the key itself never goes in the file)")
		}
		if p.Limits.DayZone != "" {
			if _, err := time.LoadLocation(p.Limits.DayZone); err != nil {
				add(key+".limits.day_zone", p.Limits.DayZone, "an IANA time zone such as America/Los_Angeles")
			}
		}
	}
	for i, r := range f.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		if r.Provider == "" {
			add(key+".provider", "", "the name of a [providers.NAME] table or a built-in provider")
		} else if _, ok := f.Providers[r.Provider]; !ok && !slices.Contains(types, r.Provider) {
			add(key+".provider", r.Provider, "a [providers.NAME] table of this file or a built-in provider ("+strings.Join(types, ", ")+")")
		}
	}
	if f.Budget.Timezone != "" {
		if _, err := time.LoadLocation(f.Budget.Timezone); err != nil {
			add("budget.timezone", f.Budget.Timezone, "an IANA time zone such as UTC or Europe/Paris")
		}
	}
	if !slices.Contains(stores, f.Cache.Store) {
		add("cache.store", f.Cache.Store, "off, memory, disk or redis")
	}
	if f.Cache.Store == "disk" && f.Cache.Dir == "" {
		add("cache.dir", "", `a directory for store = "disk"`)
	}
	if f.Cache.Store == "redis" && f.Cache.RedisAddr == "" {
		add("cache.redis_addr", "", `host:port for store = "redis"`)
	}
	return errors.Join(errs...)
}

// durationKeys are the keys whose values are durations.
var durationKeys = []string{"initial_interval", "max_interval", "max_wait", "window", "open_timeout", "wait_for_room", "ttl"}

// checkDurations refuses a duration written as a number before decoding:
// go-toml hands the number's text to Duration.UnmarshalText and reports
// its error without a position.
func (f *File) checkDurations() error {
	var errs []error
	for _, key := range sortedKeys(f.pos.kinds) {
		if k := f.pos.kinds[key]; slices.Contains(durationKeys, lastPart(key)) && k != unstable.String {
			what := "a " + strings.ToLower(k.String())
			if k == unstable.Integer || k == unstable.Float {
				what = "a number"
			}
			errs = append(errs, f.Errorf(key, what, `a duration as a string such as "30s" or "2m" (a bare number has no unit)`))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
