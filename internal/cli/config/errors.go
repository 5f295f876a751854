package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/pelletier/go-toml/v2"

	"github.com/imagegen-go/imagegen/provider"
)

// where formats the place of key: "imagegen.toml:12:5: providers.x.y",
// falling back to the nearest enclosing key that is written in the file.
func (f *File) where(key string) string {
	name := f.path
	if name == "" {
		name = "config"
	}
	for k := key; k != ""; k = parent(k) {
		if p, ok := f.pos.byKey[k]; ok {
			return fmt.Sprintf("%s:%d:%d: %s", name, p.Line, p.Col, key)
		}
	}
	return name + ": " + key
}

// parent drops the last component of a key path: "a.b[1].c" → "a.b[1]"
// → "a.b" → "a".
func parent(k string) string {
	if strings.HasSuffix(k, "]") {
		if i := strings.LastIndexByte(k, '['); i >= 0 {
			return k[:i]
		}
	}
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
}

// Errorf returns a *provider.ConfigError for key placed on its line.
func (f *File) Errorf(key string, value any, want string) error {
	return &provider.ConfigError{Field: f.where(key), Value: fmt.Sprint(value), Want: want}
}

// At places the *provider.ConfigError values in err, which a constructor
// returned for the values of the tables named (the first is the default),
// on the lines of the keys they name: retry.Policy.MaxAttempts under
// "providers.gemini.retry" is "providers.gemini.retry.max_attempts". Other
// errors are wrapped in a ConfigError for the first table.
func (f *File) At(err error, tables ...string) error {
	if err == nil {
		return nil
	}
	if len(tables) == 0 {
		tables = []string{""}
	}
	key := tables[0]
	var leaves []error
	flatten(err, &leaves)
	out := make([]error, 0, len(leaves))
	for _, e := range leaves {
		var ce *provider.ConfigError
		if !errors.As(e, &ce) {
			out = append(out, &provider.ConfigError{Field: f.where(key), Err: e})
			continue
		}
		k, found := "", false
		for _, t := range tables {
			if k, found = f.keyOf(t, ce.Field); found {
				break
			}
		}
		if !found {
			k, _ = f.keyOf(key, ce.Field)
		}
		out = append(out, &provider.ConfigError{Field: f.where(k), Value: ce.Value, Want: ce.Want, Err: ce.Err})
	}
	return errors.Join(out...)
}

func flatten(err error, out *[]error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			flatten(e, out)
		}
		return
	}
	*out = append(*out, err)
}

var bracket = regexp.MustCompile(`\[([^\]]*)\]`)

// keyOf turns a Go field path from a constructor ("failover.Config.Routes[1].Weight",
// "pricing.BudgetConfig.PerLabel[team=a].Daily", "cache.NewMemory maxBytes")
// into the longest key under table that the file has, and whether the
// file has it.
func (f *File) keyOf(table, field string) (string, bool) {
	if i := strings.LastIndexByte(field, ' '); i >= 0 {
		field = field[i+1:]
	}
	parts := strings.Split(field, ".")
	if len(parts) > 2 && isPackage(parts[0]) {
		parts = parts[2:] // "ratelimit.Config."
	}
	var rel []string
	for _, p := range parts {
		idx := ""
		if m := bracket.FindStringSubmatchIndex(p); m != nil {
			idx = p[m[2]:m[3]]
			if u, err := strconv.Unquote(idx); err == nil {
				idx = u // PerLabel["team=a"]
			}
			p = p[:m[0]]
		}
		rel = append(rel, snake(p))
		if idx != "" {
			if isDigits(idx) {
				rel[len(rel)-1] += "[" + idx + "]"
			} else {
				rel = append(rel, idx)
			}
		}
	}
	// Try the whole path, then shorter suffixes: "limits.daily" is
	// written as "daily" under [budget].
	for i := range rel {
		k := join(table, strings.Join(rel[i:], "."))
		if _, ok := f.pos.byKey[k]; ok {
			return k, true
		}
		if k2 := bracket.ReplaceAllString(k, ""); k2 != k {
			if _, ok := f.pos.byKey[k2]; ok {
				return k2, true
			}
		}
	}
	if len(rel) > 0 {
		return join(table, rel[len(rel)-1]), false
	}
	return table, false
}

func isPackage(s string) bool {
	return s != "" && unicode.IsLower(rune(s[0]))
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// snake turns a Go name into the file's spelling: MaxAttempts →
// max_attempts, maxBytes → max_bytes.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// decodeError turns go-toml's errors into ConfigErrors with a line,
// column and key path. An unknown key is reported for every one in the
// file; a type error for the first.
func (f *File) decodeError(err error) error {
	name := f.path
	if name == "" {
		name = "config"
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var errs []error
		for i := range strict.Errors {
			de := &strict.Errors[i]
			row, col := de.Position()
			key := f.keyAt(row, de.Key())
			errs = append(errs, &provider.ConfigError{
				Field: fmt.Sprintf("%s:%d:%d: %s", name, row, col, key),
				Err:   errors.New("unknown key" + f.hint(key)),
			})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		key := f.keyAt(row, de.Key())
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		msg = typeName.ReplaceAllString(msg, "into $1")
		if key == "" {
			return &provider.ConfigError{Field: fmt.Sprintf("%s:%d:%d", name, row, col), Err: errors.New(msg)}
		}
		return &provider.ConfigError{Field: fmt.Sprintf("%s:%d:%d: %s", name, row, col, key), Err: errors.New(msg)}
	}
	return &provider.ConfigError{Field: name, Err: err}
}

// typeName shortens go-toml's "struct field config.Limits.RequestsPerMinute
// of type int" to "of type int": the key path already names the field.
var typeName = regexp.MustCompile(`into struct field \S+ of type (\S+)`)

// keyAt returns the key path, with array indexes, defined on row that
// matches the key go-toml gave: the same path once indexes are dropped,
// else the same last key (go-toml leaves an inline table's name out of
// the path); else go-toml's key.
func (f *File) keyAt(row int, k toml.Key) string {
	dotted := strings.Join(k, ".")
	keys := f.pos.byLine[row]
	for _, key := range keys {
		if bracket.ReplaceAllString(key, "") == dotted {
			return key
		}
	}
	if len(k) > 0 {
		for _, key := range keys {
			if lastPart(key) == k[len(k)-1] {
				return key
			}
		}
	}
	return dotted
}

func lastPart(k string) string {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[i+1:]
	}
	return k
}

// hint suggests a known key close to a misspelt one.
func (f *File) hint(key string) string {
	bad := lastPart(key)
	best, bestD := "", 3
	for _, k := range knownKeys {
		if d := distance(bad, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// knownKeys are the keys of every table, for hints.
var knownKeys = []string{
	"ledger", "catalog", "model", "providers", "routes", "failover", "budget", "cache",
	"type", "api_key_env", "base_url", "mode", "bearer_auth", "ceiling", "retry", "limits",
	"max_attempts", "initial_interval", "max_interval", "max_wait", "multiplier", "randomization_factor",
	"requests_per_minute", "burst", "requests_per_day", "images_per_minute", "max_concurrent", "fail_fast", "day_zone",
	"name", "provider", "priority", "weight",
	"consecutive_failures", "failure_rate", "min_requests", "window", "open_timeout", "half_open_probes",
	"daily", "monthly", "per_label", "thresholds", "wait_for_room", "store", "timezone",
	"dir", "max_bytes", "ttl", "namespace", "redis_addr", "redis_prefix",
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
