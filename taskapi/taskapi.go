package taskapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/internal/fetch"
	"github.com/imagegen-go/imagegen/internal/secret"
	"github.com/imagegen-go/imagegen/provider"
)

// Default API roots.
const (
	DefaultKieURL       = "https://api.kie.ai"
	DefaultKieUploadURL = "https://kieai.redpandaai.co" // Kie.ai's file upload API lives on its own host
	DefaultReplicateURL = "https://api.replicate.com"
	DefaultAPIMartURL   = "https://api.apimart.ai"
)

// Defaults of zero Config fields.
const (
	// DefaultMaxResponseBytes caps a service's JSON answer: task records
	// carry result links, not images, and echo at most the request.
	DefaultMaxResponseBytes = 4 << 20
	// DefaultMaxReferenceBytes is the largest reference image accepted for
	// a model whose catalog entry gives no limit (Kie.ai's documented
	// limit is 30 MB).
	DefaultMaxReferenceBytes = 30_000_000
	// DefaultDataURIBytes: Replicate takes references of up to this size
	// inline, as data: URIs ("a small file <= 256kb", its API reference
	// says); larger ones go through its files API.
	DefaultDataURIBytes = 256 << 10
	// DefaultKieCreditUSD is what one Kie.ai credit costs at Kie's base
	// rate ($0.005): a task's creditsConsumed times it is the cost the
	// service reports.
	DefaultKieCreditUSD provider.USD = 5_000
)

// FetchPolicy governs the download of results: Kie.ai, Replicate and
// APIMart hand results out as links that expire (Replicate's after an
// hour), so they are fetched as soon as a task succeeds, under the URL
// policy of internal/fetch. The zero value is the safe default: https
// only, public addresses only, 50 MiB, 30 s per file.
type FetchPolicy struct {
	AllowHTTP    bool          // accept plain http links
	AllowPrivate bool          // accept loopback, private and link-local addresses
	MaxBytes     int64         // largest image accepted; 0 = 50 MiB
	Timeout      time.Duration // per download; 0 = 30 s
}

// PollPolicy says how a task is watched until it ends. Zero fields take
// the defaults.
type PollPolicy struct {
	// MinInterval is the floor between two polls of one task, whatever
	// the schedule or a hint says; default 500 ms. Kie.ai allows about 10
	// record reads a second per key: with many tasks at once, raise it.
	MinInterval time.Duration
	// MaxInterval caps the wait between two polls; default 15 s.
	MaxInterval time.Duration
	// Expected is how long a task is assumed to take until the generator
	// has seen a few of the model's tasks end (it then uses what it saw),
	// when the service gives no estimate; default 20 s (Replicate: 8 s).
	Expected time.Duration
	// MaxWait is how long Generate and Task.Wait wait for a task without
	// a deadline on the context; default 15 minutes (Kie.ai advises
	// giving up after 10-15; Replicate stops a prediction at 30).
	MaxWait time.Duration
	// WebhookFallback is the longest wait between polls of a task whose
	// service calls Config.Webhooks back: a lost callback costs at most
	// this much; default 30 s.
	WebhookFallback time.Duration
}

// Config configures a Generator. Start from a preset (Kie, Replicate,
// APIMart) and change what you need.
type Config struct {
	// Service is the task API spoken; required (the presets set it).
	Service Service
	// Name is the provider name in responses and errors; default the
	// service's ("kie", "replicate", "apimart").
	Name string
	// APIKey is sent as Authorization: Bearer. When empty and BaseURL is
	// the service's own (or empty), New reads KIE_API_KEY,
	// REPLICATE_API_TOKEN or APIMART_API_KEY.
	APIKey string
	// BaseURL is the API root without a version ("https://api.kie.ai").
	BaseURL string
	// UploadURL is the root of Kie.ai's file upload API, where reference
	// images go before a task can name them; default DefaultKieUploadURL
	// with Kie's own BaseURL, else BaseURL (an emulator or a proxy serving
	// both). Unused by the other services, which upload to BaseURL.
	UploadURL string
	// Model is the default model, an ID with the service's prefix
	// ("kie/nano-banana-pro", "replicate/google/nano-banana-pro",
	// "apimart/gemini-3-pro-image-preview"); Request.Model overrides it.
	Model string
	// HTTPClient carries the calls to the service (not the downloads,
	// which follow Fetch); its Transport is wrapped, not replaced.
	HTTPClient *http.Client
	// Catalog validates and describes known models; nil means
	// catalog.Default().
	Catalog *catalog.Catalog
	// Clock is the time source of polling, deadlines and lifecycles; nil
	// means provider.SystemClock().
	Clock provider.Clock
	// Fetch is the policy for downloading results.
	Fetch FetchPolicy
	// Poll is how tasks are watched.
	Poll PollPolicy
	// Webhooks, when set, is the handler the services call back: tasks
	// are created with its URL (Kie.ai's callBackUrl, Replicate's
	// webhook) and waits end when the callback arrives, with polls only as
	// a fallback (Poll.WebhookFallback). APIMart has no callbacks.
	Webhooks *Webhooks
	// SyncWait (Replicate) holds the create request open until the
	// prediction ends, up to this long (Prefer: wait=N, 1-60 s); then the
	// generator polls. 0 means 60 s; negative turns sync mode off. It is
	// off when Webhooks is set.
	SyncWait time.Duration
	// CancelAfter (Replicate) is a deadline on every prediction
	// (Cancel-After; at least 5 s), after which Replicate stops it; 0
	// sends none.
	CancelAfter time.Duration
	// MaxConcurrency bounds the tasks one request submits and watches at
	// once (N > 1 makes N tasks on Kie.ai and Replicate); default 4.
	MaxConcurrency int
	// MaxResponseBytes caps an answer's body after decompression; 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// DataURIBytes (Replicate): references up to this size go inline as
	// data: URIs, larger ones through the files API; 0 means
	// DefaultDataURIBytes, negative always uploads.
	DataURIBytes int64
	// CreditUSD (Kie.ai) is the price of one credit, for the cost of a
	// task that reports creditsConsumed; 0 means DefaultKieCreditUSD.
	CreditUSD provider.USD
	// PerSecond (Replicate) prices a model billed by GPU time: a
	// prediction's metrics.predict_time times it becomes the response's
	// cost. Give the hardware's rate from replicate.com/pricing; 0 leaves
	// the cost to the catalog (per output image).
	PerSecond provider.USD
}

// Kie returns the Config for Kie.ai's Market jobs API with Nano Banana Pro.
// An empty key means KIE_API_KEY.
func Kie(key string) Config {
	return Config{Service: ServiceKie, APIKey: key, BaseURL: DefaultKieURL, UploadURL: DefaultKieUploadURL,
		Model: "kie/nano-banana-pro"}
}

// Replicate returns the Config for Replicate's predictions API with
// google/nano-banana-pro, in sync mode. An empty key means
// REPLICATE_API_TOKEN.
func Replicate(key string) Config {
	return Config{Service: ServiceReplicate, APIKey: key, BaseURL: DefaultReplicateURL,
		Model: "replicate/google/nano-banana-pro"}
}

// APIMart returns the Config for APIMart's image tasks API with Nano
// Banana Pro. An empty key means APIMART_API_KEY.
func APIMart(key string) Config {
	return Config{Service: ServiceAPIMart, APIKey: key, BaseURL: DefaultAPIMartURL,
		Model: "apimart/gemini-3-pro-image-preview"}
}

func (s Service) defaultURL() string {
	switch s {
	case ServiceKie:
		return DefaultKieURL
	case ServiceReplicate:
		return DefaultReplicateURL
	case ServiceAPIMart:
		return DefaultAPIMartURL
	}
	return ""
}

func (s Service) keyEnv() string {
	switch s {
	case ServiceKie:
		return "KIE_API_KEY"
	case ServiceReplicate:
		return "REPLICATE_API_TOKEN"
	case ServiceAPIMart:
		return "APIMART_API_KEY"
	}
	return ""
}

func (s Service) defaultModel() string {
	switch s {
	case ServiceKie:
		return Kie("").Model
	case ServiceReplicate:
		return Replicate("").Model
	}
	return APIMart("").Model
}

// String describes the configuration without its key.
func (c Config) String() string { return fmt.Sprintf("%v", c) }

// Format prints the configuration with its key redacted, under every
// verb (%v, %+v, %#v, %s, ...).
func (c Config) Format(f fmt.State, verb rune) {
	type config Config // without methods
	r := config(c)
	if r.APIKey != "" {
		r.APIKey = secret.Mask
	}
	r.BaseURL = secret.URL(r.BaseURL)
	r.UploadURL = secret.URL(r.UploadURL)
	secret.Format(f, verb, r, "taskapi.config", "taskapi.Config")
}

// Options are this package's settings for one request, carried in
// Request.Options. The zero value changes nothing.
type Options struct {
	// Input is a JSON object of extra input fields, for what the common
	// Request fields do not cover (Replicate's safety_filter_level, Kie's
	// google_search, a model this package does not know). A field the
	// request already sets (prompt, references, size, ...) is not
	// overridden.
	Input json.RawMessage
	// CancelAfter (Replicate) overrides Config.CancelAfter for this
	// request.
	CancelAfter time.Duration
	// NoWebhook leaves Config.Webhooks out of this request's tasks: they
	// are polled.
	NoWebhook bool
}

// OptionOwner makes Options a provider.Option.
func (Options) OptionOwner() string { return "taskapi" }

// Generator generates images through a task API. It is safe for
// concurrent use.
type Generator struct {
	cfg      Config
	svc      Service
	name     string
	model    string
	base     string
	upload   string
	key      string
	http     *http.Client
	fetcher  *fetch.Fetcher
	catalog  *catalog.Catalog
	clock    provider.Clock
	secrets  *secret.Redactor
	desc     provider.Description
	wire     wire
	poll     PollPolicy
	parallel int
	maxResp  int64
	hooks    *Webhooks

	learned  *learner
	inflight *inflight
}

// New returns a Generator for cfg. It makes no network call. A
// configuration mistake is a *provider.ConfigError naming the field; a
// missing key is provider.ErrAuth.
func New(cfg Config) (*Generator, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, svc: cfg.Service, name: cfg.Name, model: cfg.Model, catalog: cfg.Catalog,
		clock: provider.ClockOr(cfg.Clock), poll: cfg.Poll, parallel: cfg.MaxConcurrency, maxResp: cfg.MaxResponseBytes,
		hooks: cfg.Webhooks, learned: newLearner(), inflight: newInflight()}
	if g.name == "" {
		g.name = string(g.svc)
	}
	if g.catalog == nil {
		g.catalog = catalog.Default()
	}
	if g.parallel == 0 {
		g.parallel = 4
	}
	if g.maxResp == 0 {
		g.maxResp = DefaultMaxResponseBytes
	}
	g.poll = g.poll.withDefaults(g.svc)
	g.base = strings.TrimRight(cfg.BaseURL, "/")
	if g.base == "" {
		g.base = g.svc.defaultURL()
	}
	g.upload = strings.TrimRight(cfg.UploadURL, "/")
	if g.upload == "" {
		g.upload = DefaultKieUploadURL
		if g.base != DefaultKieURL {
			g.upload = g.base // an emulator or a proxy serves both
		}
	}
	g.key = cfg.APIKey
	if g.key == "" && g.base == g.svc.defaultURL() {
		g.key = os.Getenv(g.svc.keyEnv())
	}
	if g.key == "" {
		return nil, &provider.Error{Kind: provider.KindAuth, Provider: g.name,
			Message: "no API key: set Config.APIKey (or " + g.svc.keyEnv() + ")"}
	}
	if g.model == "" {
		g.model = g.svc.defaultModel()
	}
	id, _, err := g.resolveModel(g.model)
	if err != nil {
		return nil, provider.InvalidConfig("taskapi.Config.Model", fmt.Sprintf("%q", cfg.Model),
			"a model ID of "+string(g.svc)+" such as "+g.svc.defaultModel())
	}
	g.model = id
	g.secrets = secret.New(g.key)
	key := g.key
	g.http = capture.Client(cfg.HTTPClient, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+key)
		if r.Header.Get("User-Agent") == "" {
			// Replicate sits behind Cloudflare, which refuses some default agents.
			r.Header.Set("User-Agent", "imagegen-taskapi/1")
		}
	}, answer.Limits(g.maxResp))
	g.fetcher = fetch.New(fetch.Policy{AllowHTTP: cfg.Fetch.AllowHTTP, AllowPrivate: cfg.Fetch.AllowPrivate,
		MaxBytes: cfg.Fetch.MaxBytes, Timeout: cfg.Fetch.Timeout})
	switch g.svc {
	case ServiceKie:
		g.wire = &kie{g: g}
	case ServiceReplicate:
		g.wire = &replicate{g: g}
	default:
		g.wire = &apimart{g: g}
	}
	g.desc = g.describe()
	return g, nil
}

func (p PollPolicy) withDefaults(s Service) PollPolicy {
	if p.MinInterval == 0 {
		p.MinInterval = 500 * time.Millisecond
	}
	if p.MaxInterval == 0 {
		p.MaxInterval = 15 * time.Second
	}
	p.MaxInterval = max(p.MaxInterval, p.MinInterval)
	if p.Expected == 0 {
		p.Expected = 20 * time.Second
		if s == ServiceReplicate {
			p.Expected = 8 * time.Second
		}
	}
	if p.MaxWait == 0 {
		p.MaxWait = 15 * time.Minute
	}
	if p.WebhookFallback == 0 {
		p.WebhookFallback = 30 * time.Second
	}
	return p
}

// checkConfig refuses configuration values that cannot work.
func checkConfig(cfg Config) error {
	var e cfgcheck.Errors
	if !cfg.Service.known() {
		e.Add("taskapi.Config.Service", fmt.Sprintf("%q", cfg.Service), "ServiceKie, ServiceReplicate or ServiceAPIMart (start from a preset: taskapi.Kie, Replicate or APIMart)")
	}
	for field, raw := range map[string]string{"BaseURL": cfg.BaseURL, "UploadURL": cfg.UploadURL} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			e.Add("taskapi.Config."+field, fmt.Sprintf("%q", secret.URL(raw)), "an http(s) URL such as "+cmpOr(cfg.Service.defaultURL(), DefaultKieURL))
		}
	}
	cfgcheck.NonNegative(&e, "taskapi.Config.MaxConcurrency", cfg.MaxConcurrency, "0 (the default, 4) or more")
	cfgcheck.NonNegative(&e, "taskapi.Config.MaxResponseBytes", cfg.MaxResponseBytes, "0 (the default, 4 MiB) or a positive number of bytes")
	cfgcheck.NonNegative(&e, "taskapi.Config.CreditUSD", cfg.CreditUSD, "0 (the default, $0.005) or a positive price")
	cfgcheck.NonNegative(&e, "taskapi.Config.PerSecond", cfg.PerSecond, "0 (none) or a positive price")
	cfgcheck.NonNegative(&e, "taskapi.Config.Fetch.MaxBytes", cfg.Fetch.MaxBytes, "0 (the default, 50 MiB) or a positive number of bytes")
	cfgcheck.NonNegative(&e, "taskapi.Config.Fetch.Timeout", cfg.Fetch.Timeout, "0 (the default, 30s) or a positive duration")
	for field, d := range map[string]time.Duration{"MinInterval": cfg.Poll.MinInterval, "MaxInterval": cfg.Poll.MaxInterval,
		"Expected": cfg.Poll.Expected, "MaxWait": cfg.Poll.MaxWait, "WebhookFallback": cfg.Poll.WebhookFallback} {
		cfgcheck.NonNegative(&e, "taskapi.Config.Poll."+field, d, "0 (the default) or a positive duration")
	}
	if cfg.SyncWait > 60*time.Second {
		e.Add("taskapi.Config.SyncWait", cfg.SyncWait, "at most 60s (Replicate's Prefer: wait=N takes 1-60), 0 for 60s, negative for off")
	}
	if cfg.CancelAfter != 0 && cfg.CancelAfter < 5*time.Second {
		e.Add("taskapi.Config.CancelAfter", cfg.CancelAfter, "0 (none) or at least 5s (Replicate's minimum)")
	}
	if cfg.Webhooks != nil && cfg.Webhooks.url == "" {
		e.Add("taskapi.Config.Webhooks", "a Webhooks not built with NewWebhooks", "a *Webhooks from NewWebhooks")
	}
	return e.Err()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Service returns the task API the generator speaks.
func (g *Generator) Service() Service {
	if g == nil {
		return ""
	}
	return g.svc
}

// String names the generator, its service and default model, for logs.
func (g *Generator) String() string {
	if g == nil {
		return "taskapi.Generator(nil)"
	}
	return fmt.Sprintf("taskapi.Generator(%s, %s)", g.name, g.model)
}

// Format prints String under every verb; %#v adds the field names. No
// verb reaches the key through reflection.
func (g *Generator) Format(f fmt.State, verb rune) {
	secret.FormatGenerator(f, verb, g == nil, g.String, func() string {
		return fmt.Sprintf("&taskapi.Generator{Provider:%q, Service:%q, Model:%q}", g.name, g.svc, g.model)
	})
}

// Describe reports the provider name, default model and its
// capabilities, computed once when the generator was built.
func (g *Generator) Describe() provider.Description {
	if g == nil {
		return provider.Description{}
	}
	return g.desc
}

func (g *Generator) describe() provider.Description {
	c := provider.Capabilities{MaxImages: provider.MaxN, Mask: false, Edit: true, EditKnown: true}
	if m, ok := g.catalog.Lookup(g.model); ok {
		c = m.Capabilities()
	}
	c.Mask = false // none of the services takes a mask
	return provider.Description{Provider: g.name, Model: g.model, Capabilities: c}
}

// CheckRequest validates req for the model it would use, without calling
// the network.
func (g *Generator) CheckRequest(req *provider.Request) error {
	_, err := g.prepare(req)
	return err
}

// Generate submits req as one task per image (one task for several images
// where the model takes a count: APIMart), waits for them — holding the
// create request open where the service offers that (Replicate), else
// polling on a schedule learned from the model's past tasks and the
// service's hints, or on the callback when Config.Webhooks is set — and
// downloads the results before their links expire. Images that succeeded
// are returned even when a sibling task failed (the failures are listed
// in Warnings).
//
// When ctx ends first, the tasks are cancelled where the service allows
// it (Replicate); elsewhere they run on, and a retry of the same
// *provider.Request resumes them instead of starting others. A submit
// whose outcome is unknown is never repeated blindly: APIMart's submit is
// resent with the same Idempotency-Key, Replicate's prediction is looked
// up, and Kie.ai's, which cannot be, is ErrOutcomeUnknown.
func (g *Generator) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	p, err := g.prepare(req)
	if err != nil {
		return nil, err
	}
	t, err := g.start(ctx, p, true)
	if err != nil {
		return nil, err
	}
	return t.finish(ctx)
}
