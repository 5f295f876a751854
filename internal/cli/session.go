package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/cache/rediscache"
	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/internal/cli/config"
	"github.com/imagegen-go/imagegen/internal/cli/ledger"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/redisopt"
	"github.com/imagegen-go/imagegen/provider/retry"
	"github.com/imagegen-go/imagegen/taskapi"
)

// EmulatorKey is the key every provider sends on the emulator.
const EmulatorKey = "test-key"

// keyEnv lists, per provider type, the environment variables that hold
// its key, in the order they are read.
var keyEnv = map[string][]string{
	"gemini":     {"GEMINI_API_KEY", "GOOGLE_API_KEY"},
	"imagen":     {"GEMINI_API_KEY", "GOOGLE_API_KEY"},
	"openai":     {"OPENAI_API_KEY"},
	"openrouter": {"OPENROUTER_API_KEY"},
	"laozhang":   {"LAOZHANG_API_KEY"},
	"aimlapi":    {"AIMLAPI_API_KEY"},
	"kie":        {"KIE_API_KEY"},
	"replicate":  {"REPLICATE_API_TOKEN"},
	"apimart":    {"APIMART_API_KEY"},
}

// emuTaskDuration is how long a task takes on the in-process emulator:
// long enough to be polled, short enough for a demo.
const emuTaskDuration = time.Second

// defaultProviders are tried in order, for their keys, when a command
// names neither a model nor a provider.
var defaultProviders = []string{"gemini", "openai", "openrouter", "kie", "replicate", "apimart"}

// emulatorFlag is --emulator (an emulator in this process) or
// --emulator=URL (a running `imagegen emulator`).
type emulatorFlag struct {
	on  bool
	url string
}

func (e *emulatorFlag) String() string {
	if e == nil || !e.on {
		return "false"
	}
	if e.url != "" {
		return e.url
	}
	return "true"
}

func (e *emulatorFlag) IsBoolFlag() bool { return true }

func (e *emulatorFlag) Set(v string) error {
	switch strings.ToLower(v) {
	case "true", "1", "on":
		e.on, e.url = true, ""
		return nil
	case "false", "0", "off":
		e.on, e.url = false, ""
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want true, false or the http URL of a running `imagegen emulator`, not %q", v)
	}
	e.on, e.url = true, strings.TrimRight(v, "/")
	return nil
}

// labelsFlag collects repeated --label key=value.
type labelsFlag map[string]string

func (l labelsFlag) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labelsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, not %q", v)
	}
	l[k] = val
	return nil
}

// common holds the flags every command that calls providers shares.
type common struct {
	configPath string
	emulator   emulatorFlag
	emuFaults  float64
	emuLatency time.Duration
	ledgerPath string
	labels     labelsFlag
}

func (c *common) register(fs *flag.FlagSet) {
	c.labels = labelsFlag{}
	fs.StringVar(&c.configPath, "config", "", "config `file` (TOML; default $IMAGEGEN_CONFIG, ./imagegen.toml, then ~/.config/imagegen/config.toml when present)")
	fs.Var(&c.emulator, "emulator", "run offline on the providertest emulator, in this process; --emulator=URL uses a running imagegen emulator")
	fs.Float64Var(&c.emuFaults, "emulator-faults", 0, "with --emulator: the `fraction` of calls that meet a random fault (unavailable, rate limited, slow)")
	fs.DurationVar(&c.emuLatency, "emulator-latency", 0, "with --emulator: delay added to every answer")
	fs.StringVar(&c.ledgerPath, "ledger", "", "spend ledger `file` (JSONL) to append to; \"off\" for none (default: the config's, else "+ledger.DefaultPath(false)+")")
	fs.Var(c.labels, "label", "a `key=value` label on every request, for cost reports and per-label budgets (repeatable)")
}

// check reports flag values that make no sense.
func (c *common) check() error {
	if c.emuFaults < 0 || c.emuFaults > 1 {
		return provider.InvalidConfig("--emulator-faults", c.emuFaults, "a fraction from 0 to 1")
	}
	if (c.emuFaults > 0 || c.emuLatency != 0) && (!c.emulator.on || c.emulator.url != "") {
		return provider.InvalidConfig("--emulator-faults / --emulator-latency", "set", "--emulator (in this process)")
	}
	if c.emuLatency < 0 {
		return provider.InvalidConfig("--emulator-latency", c.emuLatency, "0 or more")
	}
	return nil
}

// loadConfig reads the config file named by --config, $IMAGEGEN_CONFIG,
// ./imagegen.toml or ~/.config/imagegen/config.toml, or returns the zero
// File when there is none.
func loadConfig(path string) (*config.File, error) {
	if path == "" {
		path = os.Getenv("IMAGEGEN_CONFIG")
	}
	if path != "" {
		return config.Load(expandHome(path))
	}
	candidates := []string{"imagegen.toml"}
	if dir, err := os.UserConfigDir(); err == nil {
		candidates = append(candidates, filepath.Join(dir, "imagegen", "config.toml"))
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return config.Load(p)
		}
	}
	return &config.File{}, nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// session is what a command that calls providers works with: the config,
// the catalog, the emulator when asked for, the ledger, the meter and the
// budget, and the provider stacks built so far.
type session struct {
	cfg    *config.File
	cat    *catalog.Catalog
	stderr io.Writer
	cmd    string // the command's name, a label on every request

	emu       *providertest.Server // in-process emulator
	emuURL    string               // the emulator's URL, "" when on real providers
	emuClient *http.Client

	ledger *ledger.Writer
	meter  *pricing.Meter
	budget *pricing.Budget
	cache  provider.Middleware // nil: no cache
	labels map[string]string
	retry  bool // wrap providers in their retry policy
	// taskPoll is the floor between two polls of a task (batch --poll in
	// tasks mode); 0 leaves taskapi's default (100 ms on the emulator).
	taskPoll time.Duration

	mu          sync.Mutex
	limitStores map[string]ratelimit.Store
	stacks      map[string]provider.Generator // provider|model → stack
	adapters    map[string]provider.Generator // provider|model → adapter
	closers     []func() error
}

// sessionOptions say what a command needs from its session.
type sessionOptions struct {
	noRetry bool // probe: measure providers without retries
}

// open builds the session for a command from its common flags.
func (c *common) open(ctx context.Context, cmd string, stderr io.Writer, opts sessionOptions) (_ *session, err error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	cfg, err := loadConfig(c.configPath)
	if err != nil {
		return nil, err
	}
	s := &session{
		cfg: cfg, stderr: stderr, cmd: cmd, retry: !opts.noRetry,
		limitStores: map[string]ratelimit.Store{},
		stacks:      map[string]provider.Generator{},
		adapters:    map[string]provider.Generator{},
		labels:      map[string]string{"cmd": cmd},
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	for k, v := range c.labels {
		s.labels[k] = v
	}
	s.cat = catalog.Default()
	if cfg.Catalog != "" {
		if s.cat, err = catalog.LoadFile(expandHome(cfg.Catalog)); err != nil {
			return nil, cfg.At(err, "catalog")
		}
	}
	if c.emulator.on {
		if c.emulator.url != "" {
			s.emuURL = c.emulator.url
		} else {
			s.emu = providertest.NewServer(providertest.Options{
				APIKey: EmulatorKey, Latency: c.emuLatency, BatchDuration: 2 * time.Second, Seed: time.Now().UnixNano(),
				Tasks: providertest.TaskOptions{Duration: emuTaskDuration},
			})
			if c.emuFaults > 0 {
				s.emu.InjectRandom(providertest.EndpointAny, c.emuFaults,
					providertest.Unavailable(), providertest.RateLimited(time.Second),
					providertest.Latency(400*time.Millisecond), providertest.Latency(1200*time.Millisecond))
			}
			s.emuURL, s.emuClient = s.emu.URL(), s.emu.Client()
			s.closers = append(s.closers, func() error { s.emu.Close(); return nil })
		}
	}
	path := c.ledgerPath
	if path == "" {
		path = cfg.Ledger
	}
	if path == "" {
		path = ledger.DefaultPath(c.emulator.on)
	}
	if path != "off" {
		if s.ledger, err = ledger.Open(expandHome(path)); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.ledger.Close)
	}
	if err := s.openBudget(); err != nil {
		return nil, err
	}
	mc := pricing.MeterConfig{Catalog: s.cat, Budget: s.budget}
	if s.ledger != nil {
		mc.OnRecord = s.ledger.Append
	}
	if s.meter, err = pricing.NewMeter(mc); err != nil {
		return nil, err
	}
	if err := s.openCache(); err != nil {
		return nil, err
	}
	return s, nil
}

// Close releases what the session opened and reports a ledger that could
// not be written.
func (s *session) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

func (s *session) openBudget() error {
	b := s.cfg.Budget
	if b.Daily == nil && b.Monthly == nil && len(b.PerLabel) == 0 {
		if b.Store != "" || len(b.Thresholds) > 0 || b.WaitForRoom != nil {
			return s.cfg.Errorf("budget", "no cap", "daily, monthly or per_label caps for a budget")
		}
		return nil
	}
	bc := pricing.BudgetConfig{
		Catalog:    s.cat,
		Limits:     pricing.Limits{Daily: money(b.Daily), Monthly: money(b.Monthly)},
		Thresholds: b.Thresholds,
		OnAlert: func(a pricing.Alert) {
			if a.Kind == pricing.AlertOverrun {
				fmt.Fprintf(s.stderr, "budget: a call cost %s, more than the %s reserved\n", a.Actual, a.Reserved)
				return
			}
			fmt.Fprintf(s.stderr, "budget: %s %s spend %s reached %.0f%% of %s\n", a.Scope, a.Period, a.Spent, a.Threshold*100, a.Limit)
		},
	}
	if len(b.PerLabel) > 0 {
		bc.PerLabel = map[string]pricing.Limits{}
		for k, l := range b.PerLabel {
			bc.PerLabel[k] = pricing.Limits{Daily: money(l.Daily), Monthly: money(l.Monthly)}
		}
	}
	if b.WaitForRoom != nil {
		bc.WaitForRoom = b.WaitForRoom.D
	}
	if b.Timezone != "" {
		loc, err := time.LoadLocation(b.Timezone)
		if err != nil {
			return s.cfg.Errorf("budget.timezone", b.Timezone, "an IANA time zone")
		}
		bc.Location = loc
	}
	if b.Store != "" {
		st, err := pricing.OpenFileStore(expandHome(b.Store))
		if err != nil {
			return s.cfg.At(err, "budget.store")
		}
		bc.Store = st
	}
	budget, err := pricing.NewBudget(bc)
	if err != nil {
		return s.cfg.At(err, "budget")
	}
	s.budget = budget
	return nil
}

func money(m *config.Money) provider.USD {
	if m == nil {
		return 0
	}
	return m.USD
}

func dur(d *config.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.D
}

func (s *session) openCache() error {
	c := s.cfg.Cache
	var store cache.Store
	var err error
	switch c.Store {
	case "", "off":
		return nil
	case "memory":
		store, err = cache.NewMemory(c.MaxBytes, nil)
	case "disk":
		store, err = cache.OpenDisk(expandHome(c.Dir), cache.DiskConfig{MaxBytes: c.MaxBytes})
	case "redis":
		rdb := redis.NewClient(&redis.Options{Addr: c.RedisAddr, ContextTimeoutEnabled: true})
		s.closers = append(s.closers, rdb.Close)
		store, err = rediscache.New(rdb, rediscache.Options{Common: redisopt.Common{Prefix: c.RedisPrefix}, MaxBytes: c.MaxBytes})
	}
	if err != nil {
		return s.cfg.At(err, "cache")
	}
	ns := c.Namespace
	if s.emuURL != "" {
		ns += "|emulator" // emulator images never answer real requests
	}
	mw, err := cache.New(cache.Config{Store: store, TTL: dur(c.TTL), Namespace: ns})
	if err != nil {
		return s.cfg.At(err, "cache")
	}
	s.cache = mw
	return nil
}

// providerConfig returns the settings of the named provider: its table in
// the config, or the defaults of the built-in provider of that name.
func (s *session) providerConfig(name string) (config.Provider, bool) {
	if p, ok := s.cfg.Providers[name]; ok {
		return p, true
	}
	if slices.Contains(config.Types(), name) && name != "openai-compatible" {
		return config.Provider{Type: name}, true
	}
	return config.Provider{}, false
}

// providerNames lists the providers known: the config's, then the
// built-in ones it does not shadow.
func (s *session) providerNames() []string {
	var names []string
	for n := range s.cfg.Providers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, t := range config.Types() {
		if _, ok := s.cfg.Providers[t]; !ok && t != "openai-compatible" {
			names = append(names, t)
		}
	}
	return names
}

// key returns the API key of a provider from the environment.
func (s *session) key(name string, p config.Provider) (string, error) {
	if s.emuURL != "" {
		return EmulatorKey, nil
	}
	vars := keyEnv[p.TypeFor(name)]
	if p.APIKeyEnv != "" {
		vars = []string{p.APIKeyEnv}
	}
	for _, v := range vars {
		if k := os.Getenv(v); k != "" {
			return k, nil
		}
	}
	if len(vars) == 0 {
		return "", s.cfg.Errorf("providers."+name+".api_key_env", "", "the environment variable holding the key")
	}
	return "", &provider.ConfigError{Field: "provider " + name, Value: "no key",
		Want: "the key in $" + strings.Join(vars, " or $") + " (or --emulator to run offline)"}
}

// adapter builds the provider's adapter for model ("" for its default).
func (s *session) adapter(ctx context.Context, name, model string) (provider.Generator, error) {
	p, ok := s.providerConfig(name)
	if !ok {
		return nil, provider.InvalidConfig("--provider", name, "a provider: "+strings.Join(s.providerNames(), ", "))
	}
	id := name + "|" + model
	s.mu.Lock()
	g, ok := s.adapters[id]
	s.mu.Unlock()
	if ok {
		return g, nil
	}
	key, err := s.key(name, p)
	if err != nil {
		return nil, err
	}
	typ := p.TypeFor(name)
	base, client := p.BaseURL, (*http.Client)(nil)
	if s.emuURL != "" {
		base, client = s.emuURL, s.emuClient
		switch typ {
		case "openrouter":
			base += "/api/v1"
		case "openai", "laozhang", "aimlapi", "openai-compatible":
			base += "/v1"
		case "kie", "replicate", "apimart":
			base += "/" + typ // the emulator serves each task API under its name
		}
	}
	if model == "" {
		model = p.Model
	}
	switch typ {
	case "kie", "replicate", "apimart":
		g, err = s.taskAdapter(typ, name, key, base, model, client)
	case "gemini":
		g, err = gemini.New(ctx, gemini.Config{Name: name, APIKey: key, BearerAuth: p.BearerAuth, Model: model,
			BaseURL: base, HTTPClient: client, Catalog: s.cat})
	case "imagen":
		g, err = imagen.New(ctx, imagen.Config{Name: name, APIKey: key, BearerAuth: p.BearerAuth, Model: model,
			BaseURL: base, HTTPClient: client, Catalog: s.cat})
	default:
		var oc openaicompat.Config
		switch typ {
		case "openai":
			oc = openaicompat.OpenAI(key)
		case "openrouter":
			oc = openaicompat.OpenRouter(key)
		case "laozhang":
			oc = openaicompat.LaoZhang(key)
		case "aimlapi":
			oc = openaicompat.AIMLAPI(key)
		default:
			oc = openaicompat.Config{APIKey: key, Mode: parseMode(p.Mode)}
		}
		if p.Mode != "" {
			oc.Mode = parseMode(p.Mode)
		}
		oc.Name, oc.Catalog, oc.HTTPClient = name, s.cat, client
		if base != "" {
			oc.BaseURL = base
		}
		if model != "" {
			oc.Model = model
		}
		g, err = openaicompat.New(oc)
	}
	if err != nil {
		return nil, s.cfg.At(err, "providers."+name)
	}
	s.mu.Lock()
	s.adapters[id] = g
	s.mu.Unlock()
	return g, nil
}

// taskAdapter builds a task API generator (package taskapi) from the
// service's preset.
func (s *session) taskAdapter(typ, name, key, base, model string, client *http.Client) (provider.Generator, error) {
	var tc taskapi.Config
	switch typ {
	case "kie":
		tc = taskapi.Kie(key)
	case "replicate":
		tc = taskapi.Replicate(key)
	default:
		tc = taskapi.APIMart(key)
	}
	tc.Name, tc.Catalog, tc.HTTPClient = name, s.cat, client
	if base != "" {
		// A relay or the emulator: Kie's uploads go to the same root.
		tc.BaseURL, tc.UploadURL = base, ""
	}
	if model != "" {
		tc.Model = model
	}
	if s.emuURL != "" {
		// The emulator's result links are plain http on loopback, and its
		// tasks end in about a second.
		tc.Fetch = taskapi.FetchPolicy{AllowHTTP: true, AllowPrivate: true}
		tc.Poll.Expected, tc.Poll.MinInterval = emuTaskDuration, 100*time.Millisecond
	}
	if s.taskPoll > 0 {
		tc.Poll.MinInterval = s.taskPoll
	}
	g, err := taskapi.New(tc)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// taskGenerator returns the task API generator of provider name, or an
// error saying that name is not a task API.
func (s *session) taskGenerator(ctx context.Context, name, model string) (*taskapi.Generator, error) {
	a, err := s.adapter(ctx, name, model)
	if err != nil {
		return nil, err
	}
	g, ok := a.(*taskapi.Generator)
	if !ok {
		return nil, provider.InvalidConfig("--mode tasks", name, "a task API provider (kie, replicate, apimart, or a [providers.NAME] of one of those types)")
	}
	return g, nil
}

func parseMode(m string) openaicompat.Mode {
	switch m {
	case "chat-images":
		return openaicompat.ModeChatImages
	case "chat-markdown":
		return openaicompat.ModeChatMarkdown
	case "chat-content-array":
		return openaicompat.ModeChatContentArray
	case "openrouter-images":
		return openaicompat.ModeOpenRouterImages
	}
	return openaicompat.ModeImages
}

// stack returns the provider's adapter inside its ceiling, retry policy
// and rate limits: what one failover route or a direct call goes through.
func (s *session) stack(ctx context.Context, name, model string) (provider.Generator, error) {
	id := name + "|" + model
	s.mu.Lock()
	g, ok := s.stacks[id]
	s.mu.Unlock()
	if ok {
		return g, nil
	}
	a, err := s.adapter(ctx, name, model)
	if err != nil {
		return nil, err
	}
	p, _ := s.providerConfig(name)
	key := "providers." + name
	var mws []provider.Middleware
	if p.Ceiling != nil {
		c, err := pricing.Ceiling(p.Ceiling.USD)
		if err != nil {
			return nil, s.cfg.At(err, key+".ceiling")
		}
		mws = append(mws, c)
	}
	if s.retry {
		rt, err := s.retryFor(name, s.retryPolicy(p))
		if err != nil {
			return nil, err
		}
		mws = append(mws, rt)
	}
	lim, err := s.limiter(name)
	if err != nil {
		return nil, err
	}
	mws = append(mws, lim)
	g = provider.Chain(a, mws...)
	s.mu.Lock()
	s.stacks[id] = g
	s.mu.Unlock()
	return g, nil
}

// retryPolicy is the provider's retry policy from the config.
func (s *session) retryPolicy(p config.Provider) retry.Policy {
	r := p.Retry
	return retry.Policy{MaxAttempts: r.MaxAttempts, InitialInterval: dur(r.InitialInterval),
		MaxInterval: dur(r.MaxInterval), MaxWait: dur(r.MaxWait), Multiplier: r.Multiplier, RandomizationFactor: r.RandomizationFactor}
}

// retryFor builds the retry decorator of provider name, placing a
// mistake in its policy on the config's line.
func (s *session) retryFor(name string, pol retry.Policy) (provider.Middleware, error) {
	rt, err := retry.New(pol)
	if err != nil {
		return nil, s.cfg.At(err, "providers."+name+".retry")
	}
	return rt, nil
}

// limiter builds the rate limiter of provider name. Every limiter of a
// provider shares its store.
func (s *session) limiter(name string) (provider.Middleware, error) {
	rc, err := s.limitsConfig(name)
	if err != nil {
		return nil, err
	}
	lim, err := ratelimit.New(rc)
	if err != nil {
		return nil, s.cfg.At(err, "providers."+name+".limits")
	}
	return lim, nil
}

// limitsConfig returns the rate limits of provider name: the config's,
// over, for a task API, the service's documented preset.
func (s *session) limitsConfig(name string) (ratelimit.Config, error) {
	p, _ := s.providerConfig(name)
	key := "providers." + name
	l := p.Limits
	rc := ratelimit.Config{Key: name, RequestsPerMinute: l.RequestsPerMinute, Burst: l.Burst, RequestsPerDay: l.RequestsPerDay,
		ImagesPerMinute: l.ImagesPerMinute, MaxConcurrent: l.MaxConcurrent, FailFast: l.FailFast, Store: s.limitStore(name)}
	if typ := p.TypeFor(name); config.IsTaskType(typ) {
		preset := taskapi.RateLimit(taskapi.Service(typ))
		if rc.RequestsPerMinute == 0 {
			rc.RequestsPerMinute = preset.RequestsPerMinute
			if rc.Burst == 0 {
				rc.Burst = preset.Burst
			}
		}
		if rc.ImagesPerMinute == 0 {
			rc.ImagesPerMinute = preset.ImagesPerMinute
		}
	}
	if l.DayZone != "" {
		var err error
		if rc.DayZone, err = time.LoadLocation(l.DayZone); err != nil {
			return rc, s.cfg.Errorf(key+".limits.day_zone", l.DayZone, "an IANA time zone")
		}
	}
	return rc, nil
}

// limitStore returns the one rate-limit store of a provider, shared by
// every model's stack so that they count against the same limits.
func (s *session) limitStore(name string) ratelimit.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.limitStores[name]
	if !ok {
		st = ratelimit.NewMemoryStore()
		s.limitStores[name] = st
	}
	return st
}

// route is what serves a command's requests, and how to describe it.
type route struct {
	gen      provider.Generator // the stack without cache and meter
	provider string             // "" for failover
	model    string
	what     string // "gemini gemini-3-pro-image", "failover: a, b"
}

// resolve picks what serves requests for --provider and --model: the
// provider named, else the one the catalog says speaks the model's
// protocol, else the config's failover routes, else the config's model,
// else the default model of the first provider with a key.
func (s *session) resolve(ctx context.Context, providerName, model string) (*route, error) {
	if providerName == "" && model == "" && len(s.cfg.Routes) > 0 {
		return s.failover(ctx)
	}
	if model == "" && providerName == "" {
		model = s.cfg.Model
	}
	if providerName == "" {
		var err error
		if providerName, model, err = s.providerFor(model); err != nil {
			return nil, err
		}
	}
	g, err := s.stack(ctx, providerName, model)
	if err != nil {
		return nil, err
	}
	m := model
	if m == "" {
		m = provider.Describe(g).Model
	}
	return &route{gen: g, provider: providerName, model: m, what: providerName + " " + m}, nil
}

// providerFor names the provider for model: a config provider of the
// model's protocol, else the built-in one; "" picks the first provider
// with a key and its default model.
func (s *session) providerFor(model string) (string, string, error) {
	if model == "" {
		for _, name := range defaultProviders {
			p, _ := s.providerConfig(name)
			if _, err := s.key(name, p); err == nil {
				return name, "", nil
			}
		}
		return "", "", &provider.ConfigError{Field: "provider", Value: "none",
			Want: "a key in $GEMINI_API_KEY, $OPENAI_API_KEY, $OPENROUTER_API_KEY, $KIE_API_KEY, $REPLICATE_API_TOKEN or $APIMART_API_KEY, a --model and --provider, or --emulator to run offline"}
	}
	var typ string
	if svc := taskServiceOf(model); svc != "" {
		typ = svc // kie/..., replicate/..., apimart/...: known to the catalog or not
	} else if m, ok := s.cat.Lookup(model); ok {
		typ = m.Protocol
	} else if strings.Contains(model, "/") {
		typ = "openrouter" // vendor-prefixed IDs are aggregators' names
	} else {
		return "", "", provider.InvalidConfig("--model", model,
			"a model of the catalog (imagegen models), or --provider naming who serves it")
	}
	for _, name := range s.providerNames() {
		if p, _ := s.providerConfig(name); p.TypeFor(name) == typ {
			return name, model, nil
		}
	}
	return typ, model, nil
}

// taskServiceOf returns the task API a model ID names by its prefix
// ("kie/nano-banana-pro" → "kie"), or "".
func taskServiceOf(model string) string {
	if svc, _, ok := strings.Cut(model, "/"); ok && config.IsTaskType(svc) {
		return svc
	}
	return ""
}

// failover builds the config's routes into one failover generator.
func (s *session) failover(ctx context.Context) (*route, error) {
	var routes []failover.Route
	var names []string
	for _, r := range s.cfg.Routes {
		g, err := s.stack(ctx, r.Provider, r.Model)
		if err != nil {
			return nil, err
		}
		name := r.Name
		if name == "" {
			name = r.Provider
			if r.Model != "" {
				name += "/" + r.Model
			}
		}
		names = append(names, name)
		routes = append(routes, failover.Route{Name: name, Generator: g, Priority: r.Priority, Weight: r.Weight})
	}
	b := s.cfg.Failover
	fo, err := failover.New(failover.Config{Routes: routes, Breaker: failover.BreakerSettings{
		ConsecutiveFailures: b.ConsecutiveFailures, FailureRate: b.FailureRate, MinRequests: b.MinRequests,
		Window: dur(b.Window), OpenTimeout: dur(b.OpenTimeout), HalfOpenProbes: b.HalfOpenProbes,
	}})
	if err != nil {
		return nil, s.cfg.At(err, "failover", "")
	}
	return &route{gen: fo, what: "failover: " + strings.Join(names, ", ")}, nil
}

// wrap puts g inside the cache and the meter (with its budget).
func (s *session) wrap(g provider.Generator) provider.Generator {
	mws := []provider.Middleware{}
	if s.cache != nil {
		mws = append(mws, s.cache)
	}
	mws = append(mws, s.meter.Middleware())
	return provider.Chain(g, mws...)
}

// requestLabels returns the session's labels plus extra ones.
func (s *session) requestLabels(extra map[string]string) map[string]string {
	out := make(map[string]string, len(s.labels)+len(extra))
	for k, v := range s.labels {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// where says what the session runs on, for the first line of output.
func (s *session) where() string {
	switch {
	case s.emu != nil:
		return "the emulator (offline, in this process)"
	case s.emuURL != "":
		return "the emulator at " + s.emuURL
	}
	return "live providers"
}
