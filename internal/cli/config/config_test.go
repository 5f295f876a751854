package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
)

// example is the config of the README; it must parse.
const example = `# imagegen.toml
ledger = "~/.local/state/imagegen/ledger.jsonl"

[providers.gemini]                 # a built-in type: GEMINI_API_KEY
model = "gemini-nano-banana-2.1"
limits = { requests_per_minute = 60, requests_per_day = 1000 }
retry = { max_attempts = 4, max_wait = "60s" }

[providers.relay]
type = "openai-compatible"
base_url = "https://relay.example/v1"
api_key_env = "RELAY_KEY"
mode = "chat-markdown"
ceiling = "0.10"                   # most one image may cost

[[routes]]
provider = "gemini"
priority = 0

[[routes]]
provider = "relay"
model = "gemini-3-pro-image"
priority = 1

[failover]
consecutive_failures = 3
open_timeout = "1m"

[budget]
daily = "20.00"
monthly = "200"
store = "~/.local/state/imagegen/budget.json"
[budget.per_label."team=search"]
daily = "5"

[cache]
store = "disk"
dir = "~/.cache/imagegen"
ttl = "72h"

[providers.kie]                    # a task API: KIE_API_KEY
model = "kie/nano-banana-pro"
`

func TestParseExample(t *testing.T) {
	t.Parallel()
	f, err := Parse("imagegen.toml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Providers["gemini"].Limits.RequestsPerMinute; got != 60 {
		t.Errorf("rpm %d", got)
	}
	if p := f.Providers["kie"]; p.TypeFor("kie") != "kie" || !IsTaskType(p.TypeFor("kie")) || p.Model != "kie/nano-banana-pro" {
		t.Errorf("kie: %+v", p)
	}
	if f.Providers["relay"].Ceiling.USD != 100_000 || f.Budget.Daily.USD != 20*provider.Dollar ||
		f.Budget.PerLabel["team=search"].Daily.USD != 5*provider.Dollar {
		t.Errorf("money: %+v %+v", f.Providers["relay"].Ceiling, f.Budget)
	}
	if f.Failover.OpenTimeout.D != time.Minute || f.Cache.TTL.D != 72*time.Hour || len(f.Routes) != 2 || f.Routes[1].Model != "gemini-3-pro-image" {
		t.Errorf("%+v %+v %+v", f.Failover, f.Cache, f.Routes)
	}
	if p, ok := f.pos.byKey["routes[1].model"]; !ok || p.Line != 22 {
		t.Errorf("routes[1].model at %+v", p)
	}
	if p := f.pos.byKey["budget.per_label.team=search.daily"]; p.Line != 34 {
		t.Errorf("per_label daily at %+v", p)
	}
	if p := f.pos.byKey["providers.gemini.limits.requests_per_minute"]; p.Line != 6 {
		t.Errorf("inline table key at %+v", p)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		want      []string // each must appear in the message
	}{
		{"unknown key", "[providers.gemini]\nmodel = \"x\"\ntimout = \"3s\"\n",
			[]string{"imagegen.toml:3:1: providers.gemini.timout: unknown key"}},
		{"two unknown keys", "lederg = \"x\"\n[cache]\nstroe = \"disk\"\n",
			[]string{`imagegen.toml:1:1: lederg: unknown key (did you mean "ledger"?)`, `imagegen.toml:3:1: cache.stroe: unknown key (did you mean "store"?)`}},
		{"wrong type", "[providers.gemini.limits]\nrequests_per_minute = \"fast\"\n",
			[]string{"imagegen.toml:2:23: providers.gemini.limits.requests_per_minute", "cannot decode TOML string into int"}},
		{"array of tables index", "[[routes]]\nprovider = \"gemini\"\n[[routes]]\nprovider = \"openai\"\nweight = \"x\"\n",
			[]string{"imagegen.toml:5:10: routes[1].weight"}},
		{"duration as a number", "[failover]\nopen_timeout = 30\n",
			[]string{"imagegen.toml:2:1: failover.open_timeout = a number: want a duration as a string"}},
		{"bad duration", "[failover]\nopen_timeout = \"30\"\n",
			[]string{"imagegen.toml:2:16: failover.open_timeout", `want a duration such as "500ms"`}},
		{"bad money", "[budget]\ndaily = \"20 dollars\"\n",
			[]string{"imagegen.toml:2:9: budget.daily", `want a dollar amount such as "20.00"`}},
		{"unknown type", "[providers.mine]\nbase_url = \"https://x.example/v1\"\n",
			[]string{"imagegen.toml:1:2: providers.mine.type", "a type for provider mine"}},
		{"route to nowhere", "[[routes]]\nprovider = \"gemini\"\n[[routes]]\nprovider = \"nope\"\n",
			[]string{"imagegen.toml:4:1: routes[1].provider = nope"}},
		{"bad mode", "[providers.r]\ntype = \"openai-compatible\"\nbase_url = \"https://r.example/v1\"\nmode = \"chat\"\n",
			[]string{"imagegen.toml:4:1: providers.r.mode = chat"}},
		{"syntax", "[providers.gemini\n", []string{"imagegen.toml:1:"}},
		{"cache store", "[cache]\nstore = \"s3\"\n", []string{"imagegen.toml:2:1: cache.store = s3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("imagegen.toml", []byte(tc.doc))
			if !errors.Is(err, provider.ErrInvalidConfig) {
				t.Fatalf("err %v, want a ConfigError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestAtPlacesConstructorErrors checks that the real constructors'
// *provider.ConfigError values land on the line of the key they name.
func TestAtPlacesConstructorErrors(t *testing.T) {
	t.Parallel()
	doc := "[providers.gemini.limits]\nrequests_per_minute = 10\nburst = 100\n[providers.gemini.retry]\nmultiplier = 0.5\nmax_wait = \"-1s\"\n"
	f, err := Parse("c.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	l := f.Providers["gemini"].Limits
	_, err = ratelimit.New(ratelimit.Config{RequestsPerMinute: l.RequestsPerMinute, Burst: l.Burst})
	got := f.At(err, "providers.gemini.limits").Error()
	if !strings.Contains(got, "c.toml:3:1: providers.gemini.limits.burst = 100") {
		t.Errorf("ratelimit: %s", got)
	}
	r := f.Providers["gemini"].Retry
	_, err = retry.New(retry.Policy{Multiplier: r.Multiplier, MaxWait: r.MaxWait.D})
	got = f.At(err, "providers.gemini.retry").Error()
	for _, w := range []string{"c.toml:5:1: providers.gemini.retry.multiplier = 0.5", "c.toml:6:1: providers.gemini.retry.max_wait = -1s"} {
		if !strings.Contains(got, w) {
			t.Errorf("retry: %s\nlacks %s", got, w)
		}
	}
	if !errors.Is(f.At(err, "x"), provider.ErrInvalidConfig) {
		t.Error("At lost ErrInvalidConfig")
	}
}

func TestKeyOf(t *testing.T) {
	t.Parallel()
	f, err := Parse("c.toml", []byte("[[routes]]\nprovider = \"gemini\"\n[[routes]]\nprovider = \"openai\"\nweight = -1\n[failover]\nmin_requests = -2\n[budget]\ndaily = \"1\"\n[budget.per_label.\"team\"]\ndaily = \"-1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tables      []string
		field, want string
	}{
		{[]string{"failover", ""}, "failover.Config.Routes[1].Weight", "c.toml:5:1: routes[1].weight"},
		{[]string{"failover", ""}, "failover.Config.Breaker.MinRequests", "c.toml:7:1: failover.min_requests"},
		{[]string{"budget"}, "pricing.BudgetConfig.PerLabel[team].Daily", "c.toml:11:1: budget.per_label.team.daily"},
		{[]string{"budget"}, "pricing.BudgetConfig.Limits.Daily", "c.toml:9:1: budget.daily"},
		{[]string{"cache"}, "cache.NewMemory maxBytes", "c.toml: cache.max_bytes"},
	} {
		got := f.At(provider.InvalidConfig(tc.field, 1, "x"), tc.tables...).Error()
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %s, want %s", tc.field, got, tc.want)
		}
	}
}

func TestMoneyAsNumber(t *testing.T) {
	t.Parallel()
	f, err := Parse("c.toml", []byte("[budget]\ndaily = 20\nmonthly = 150.5\n"))
	if err != nil || f.Budget.Daily.USD != 20*provider.Dollar || f.Budget.Monthly.USD != 150_500_000 {
		t.Errorf("%v %+v", err, f)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(t.TempDir() + "/none.toml")
	if !errors.Is(err, provider.ErrInvalidConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte("[[routes]]\n[[routes]]\na = { b = { c = 1 } }\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, err := Parse("f.toml", doc)
		if err != nil && !errors.Is(err, provider.ErrInvalidConfig) {
			t.Fatalf("%v is not a ConfigError", err)
		}
	})
}

// TestREADMEExample parses the config example of the README.
func TestREADMEExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```toml\n")
	doc, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no toml block in README.md")
	}
	f, err := Parse("README.md", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Routes) != 2 || f.Budget.PerLabel["cmd=probe"].Daily.USD != 2*provider.Dollar {
		t.Errorf("%+v", f)
	}
}
