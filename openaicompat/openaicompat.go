package openaicompat

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sashabaranov/go-openai"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/fetch"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/internal/secret"
	"github.com/imagegen-go/imagegen/provider"
)

// DefaultModel is the model used when neither Config.Model nor
// Request.Model names one.
const DefaultModel = "gpt-image-2"

// DefaultBaseURL is OpenAI's API root, version included.
const DefaultBaseURL = "https://api.openai.com/v1"

// MaxReferences is the most image[] parts /v1/images/edits accepts.
const MaxReferences = 16

// Mode selects the wire shape used to reach the model.
type Mode int

const (
	// ModeImages is the OpenAI Images API: POST {base}/images/generations,
	// and {base}/images/edits (multipart) when the request has References.
	ModeImages Mode = iota
	// ModeChatImages is OpenRouter's chat completions image output: the
	// request carries modalities ["image","text"] and image_config; images
	// come back in choices[0].message.images[].image_url.url as data URIs.
	ModeChatImages
	// ModeChatMarkdown is the new-api / one-api relay shape (laozhang.ai and
	// many others): a plain chat completion whose message.content holds the
	// images as markdown links, ![image](data:...) or hosted https links.
	ModeChatMarkdown
	// ModeChatContentArray is a plain chat completion whose message.content
	// comes back as an array of {"type":"image_url"} parts.
	ModeChatContentArray
	// ModeOpenRouterImages is OpenRouter's POST {base}/images, which
	// answers data[].b64_json with usage.cost, the billed cost.
	ModeOpenRouterImages
)

// String names the mode, as in the README's presets table.
func (m Mode) String() string {
	switch m {
	case ModeImages:
		return "images"
	case ModeChatImages:
		return "chat-images"
	case ModeChatMarkdown:
		return "chat-markdown"
	case ModeChatContentArray:
		return "chat-content-array"
	case ModeOpenRouterImages:
		return "openrouter-images"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

func (m Mode) chat() bool {
	return m == ModeChatImages || m == ModeChatMarkdown || m == ModeChatContentArray
}

// FetchPolicy governs images returned as links (dall-e URLs, hosted links
// in relay text). The zero value is the safe default: https (and data:)
// only, public addresses only (checked on the address dialled, redirects
// included), 50 MiB, 30 s. Links are fetched as soon as the answer
// arrives, since providers' links expire (dall-e's after 60 minutes).
type FetchPolicy struct {
	AllowHTTP    bool          // accept plain http links
	AllowPrivate bool          // accept loopback, private and link-local addresses
	MaxBytes     int64         // largest image accepted; 0 = 50 MiB
	Timeout      time.Duration // per download; 0 = 30 s
	// NoDownload leaves http(s) links in Image.URL without fetching them
	// (data: URIs are still decoded). The caller then owns the policy.
	NoDownload bool
}

// Config configures a Generator. The zero value, with an APIKey, talks to
// OpenAI's Images API with DefaultModel. The presets OpenAI, OpenRouter,
// LaoZhang and AIMLAPI fill it in for known services.
type Config struct {
	// Name is the provider name reported in responses and errors; default
	// "openai".
	Name string
	// APIKey is sent as Authorization: Bearer. When empty and the base URL is
	// OpenAI's own (or empty), New reads OPENAI_API_KEY; a key from the
	// environment is never sent to a third-party relay.
	APIKey string
	// BaseURL is the API root including its version: "https://api.openai.com/v1",
	// "https://openrouter.ai/api/v1". Endpoint paths are appended to it.
	BaseURL string
	// Model is the default model; Request.Model overrides it. Catalog IDs
	// ("gpt-image-2", "gemini-3-pro-image") or the relay's own names.
	Model string
	// HTTPClient carries the calls; its Transport is wrapped, not replaced.
	HTTPClient *http.Client
	// Mode selects the wire shape; default ModeImages.
	Mode Mode
	// ModelName turns a model ID into the name the service expects, e.g.
	// VendorPrefix ("gpt-image-2" → "openai/gpt-image-2"). IDs that already
	// hold a "/" should be passed through. nil sends IDs unchanged.
	ModelName func(model string) string
	// ExtraHeaders are added to every call (OpenRouter's HTTP-Referer and
	// X-Title, for example). Authorization cannot be overridden here.
	ExtraHeaders http.Header
	// User is sent as "user" (Images API and chat), the end-user ID OpenAI
	// uses for abuse monitoring; a request's Options.User overrides it.
	User string
	// SafetyIdentifier is sent as "safety_identifier", OpenAI's newer
	// replacement for user; a request's Options.SafetyIdentifier overrides it.
	SafetyIdentifier string
	// Catalog validates known models; nil means catalog.Default().
	Catalog *catalog.Catalog
	// Clock tells the time for lifecycle checks; nil means
	// provider.SystemClock().
	Clock provider.Clock
	// Fetch is the policy for images returned as links.
	Fetch FetchPolicy
	// MaxConcurrency bounds the calls made at once for one request with
	// N > 1 in the chat modes (one image per call), and the downloads of
	// one answer; default 4.
	MaxConcurrency int
	// KeepDrafts keeps every image a chat relay put into message text. By
	// default only the last one is kept: new-api relays flatten Gemini's
	// interim drafts into the text ahead of the final image.
	KeepDrafts bool
	// ImageOnly asks OpenRouter for modalities ["image"] instead of
	// ["image","text"].
	ImageOnly bool
	// StreamThreshold is the answer size, in bytes, from which a
	// successful answer is decoded as it streams in: base64 images
	// (b64_json, data: URIs in urls, chat images and message text) go
	// straight into their final byte slices and only the small JSON left is
	// decoded as before (internal/jsonimg), so a 16 MiB image costs about
	// 16 MiB of heap instead of several times that. An answer of unknown
	// length (chunked) is read up to the threshold first and streams if it
	// is longer; without a length the decoder cannot size an image up
	// front and copies it once (about 2× instead of 1×). 0 means 256 KiB;
	// -1 turns streaming off: the answer is then read whole and decoded at
	// once, which holds several copies of it.
	StreamThreshold int64
	// MaxResponseBytes caps a successful answer's body, counted after
	// decompression; 0 means DefaultMaxResponseBytes. A larger answer
	// ends the call with provider.ErrUnavailable, Code
	// "RESPONSE_TOO_LARGE", and the connection is closed, not drained.
	// Error answers are read up to 1 MiB whatever this says.
	MaxResponseBytes int64
}

// DefaultMaxResponseBytes caps an answer (after decompression) when
// Config.MaxResponseBytes is 0. The largest real answer: ten images (n) of
// a GPT image model at its largest, 3840x2160 (8.3 MP), each at most about
// 33 MB as a PNG of incompressible RGBA: 10 x 33 MB x 4/3 for base64 =
// 443 MB, plus headroom for the JSON around them: 512 MiB. The images are
// decoded as the answer streams in (StreamThreshold), so a call costs
// about its images' size, and past the cap it stops reading.
const DefaultMaxResponseBytes = 512 << 20

// String describes the configuration without its key.
func (c Config) String() string { return fmt.Sprintf("%v", c) }

// Format prints the configuration with APIKey (and ExtraHeaders that
// carry credentials) redacted, under every verb (%v, %+v, %#v, %s, ...).
func (c Config) Format(f fmt.State, verb rune) {
	type config Config // without methods
	r := config(c)
	if r.APIKey != "" {
		r.APIKey = secret.Mask
	}
	r.BaseURL = secret.URL(r.BaseURL)
	r.ExtraHeaders = secret.Headers(c.ExtraHeaders)
	secret.Format(f, verb, r, "openaicompat.config", "openaicompat.Config")
}

func (g *Generator) streamThreshold() int64 {
	switch t := g.cfg.StreamThreshold; {
	case t == 0:
		return jsonimg.DefaultThreshold
	case t < 0:
		return -1
	default:
		return t
	}
}

// VendorPrefix names a model the way aggregators do: catalog models get
// their provider's prefix ("google/gemini-3-pro-image",
// "openai/gpt-image-2"); IDs that already hold a "/" and unknown IDs are
// returned unchanged.
func VendorPrefix(cat *catalog.Catalog) func(string) string {
	if cat == nil {
		cat = catalog.Default()
	}
	return func(id string) string {
		if strings.Contains(id, "/") {
			return id
		}
		if m, ok := cat.Lookup(id); ok && m.Provider != "" {
			return m.Provider + "/" + id
		}
		return id
	}
}

// OpenAI returns the Config for OpenAI's Images API. An empty key means
// OPENAI_API_KEY.
func OpenAI(key string) Config {
	return Config{Name: "openai", APIKey: key, BaseURL: DefaultBaseURL, Mode: ModeImages, Model: DefaultModel}
}

// OpenRouter returns the Config for OpenRouter's chat completions image
// output (ModeChatImages), with vendor-prefixed model names. Switch Mode to
// ModeOpenRouterImages for its images endpoint, which reports the billed
// cost.
func OpenRouter(key string) Config {
	return Config{Name: "openrouter", APIKey: key, BaseURL: "https://openrouter.ai/api/v1", Mode: ModeChatImages,
		Model: "gemini-3-pro-image", ModelName: VendorPrefix(nil)}
}

// LaoZhang returns the Config for laozhang.ai, a new-api relay: chat
// completions with markdown images in message.content, upstream model names.
func LaoZhang(key string) Config {
	return Config{Name: "laozhang", APIKey: key, BaseURL: "https://api.laozhang.ai/v1", Mode: ModeChatMarkdown,
		Model: "gemini-3-pro-image"}
}

// AIMLAPI returns the Config for AI/ML API's OpenAI-compatible images
// endpoint, with vendor-prefixed model names ("openai/gpt-image-2").
func AIMLAPI(key string) Config {
	return Config{Name: "aimlapi", APIKey: key, BaseURL: "https://api.aimlapi.com/v1", Mode: ModeImages,
		Model: DefaultModel, ModelName: VendorPrefix(nil)}
}

// Generator generates images through an OpenAI-compatible API. It is safe
// for concurrent use.
type Generator struct {
	desc     provider.Description // what Describe reports, computed once
	cfg      Config
	name     string
	model    string
	base     string
	key      string
	http     *http.Client // wrapped in capture.Transport: auth, extra headers, records
	fetcher  *fetch.Fetcher
	catalog  *catalog.Catalog
	clock    provider.Clock
	now      func() time.Time
	parallel int
	secrets  *secret.Redactor
	oa       *openai.Client
	models   sync.Map // catalog ID → *catalog.Model: Lookup's copy, made once (the catalog is immutable; plans only read it)

	maxResponse int64
}

// lookup is g.catalog.Lookup(id) without a fresh deep copy on every call:
// the copy took 3 KB and 2 µs of every request. The *catalog.Model is
// shared and must not be modified.
func (g *Generator) lookup(id string) (*catalog.Model, bool) {
	if m, ok := g.models.Load(id); ok {
		return m.(*catalog.Model), true
	}
	m, ok := g.catalog.Lookup(id)
	if ok {
		g.models.Store(id, m)
	}
	return m, ok
}

// New returns a Generator for cfg. It makes no network call. A
// configuration mistake is a *provider.ConfigError naming the field; a
// missing key is provider.ErrAuth.
func New(cfg Config) (*Generator, error) {
	g := &Generator{cfg: cfg, name: cfg.Name, model: cfg.Model, catalog: cfg.Catalog, clock: provider.ClockOr(cfg.Clock), parallel: cfg.MaxConcurrency,
		maxResponse: cfg.MaxResponseBytes}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	if g.maxResponse == 0 {
		g.maxResponse = DefaultMaxResponseBytes
	}
	if g.name == "" {
		g.name = "openai"
	}
	if g.model == "" {
		g.model = DefaultModel
	}
	if g.catalog == nil {
		g.catalog = catalog.Default()
	}
	g.now = g.clock.Now
	if g.parallel == 0 {
		g.parallel = 4
	}
	g.base = strings.TrimRight(cfg.BaseURL, "/")
	if g.base == "" {
		g.base = DefaultBaseURL
	}
	u, _ := url.Parse(g.base) // checked by checkConfig
	g.key = cfg.APIKey
	if g.key == "" && u.Host == "api.openai.com" {
		g.key = os.Getenv("OPENAI_API_KEY")
	}
	if g.key == "" {
		return nil, &provider.Error{Kind: provider.KindAuth, Provider: g.name, Message: "no API key: set Config.APIKey (or OPENAI_API_KEY for OpenAI itself)"}
	}
	g.secrets = secret.New(g.key)
	bearer, extra := "Bearer "+g.key, cfg.ExtraHeaders.Clone()
	g.http = capture.Client(cfg.HTTPClient, func(r *http.Request) {
		for k, vs := range extra {
			if http.CanonicalHeaderKey(k) == "Authorization" {
				continue
			}
			r.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
		r.Header.Set("Authorization", bearer)
	}, answer.Limits(g.maxResponse))
	g.fetcher = fetch.New(fetch.Policy{AllowHTTP: cfg.Fetch.AllowHTTP, AllowPrivate: cfg.Fetch.AllowPrivate,
		MaxBytes: cfg.Fetch.MaxBytes, Timeout: cfg.Fetch.Timeout})
	oc := openai.DefaultConfig(g.key)
	oc.BaseURL = g.base
	oc.HTTPClient = g.http
	g.oa = openai.NewClientWithConfig(oc)
	g.desc = g.describe()
	return g, nil
}

// checkConfig refuses configuration values that cannot work.
func checkConfig(cfg Config) error {
	switch cfg.Mode {
	case ModeImages, ModeChatImages, ModeChatMarkdown, ModeChatContentArray, ModeOpenRouterImages:
	default:
		return provider.InvalidConfig("openaicompat.Config.Mode", int(cfg.Mode),
			"ModeImages, ModeChatImages, ModeChatMarkdown, ModeChatContentArray or ModeOpenRouterImages (0-4)")
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return provider.InvalidConfig("openaicompat.Config.BaseURL", fmt.Sprintf("%q", secret.URL(cfg.BaseURL)), "an http(s) URL such as https://api.openai.com/v1")
		}
	}
	switch {
	case cfg.MaxConcurrency < 0:
		return provider.InvalidConfig("openaicompat.Config.MaxConcurrency", cfg.MaxConcurrency, "0 (the default, 4) or more")
	case cfg.MaxResponseBytes < 0:
		return provider.InvalidConfig("openaicompat.Config.MaxResponseBytes", cfg.MaxResponseBytes, "0 (the default) or a positive number of bytes")
	case cfg.StreamThreshold < -1:
		return provider.InvalidConfig("openaicompat.Config.StreamThreshold", cfg.StreamThreshold, "-1 (off), 0 (the default) or a positive number of bytes")
	case cfg.Fetch.MaxBytes < 0:
		return provider.InvalidConfig("openaicompat.Config.Fetch.MaxBytes", cfg.Fetch.MaxBytes, "0 (the default, 50 MiB) or a positive number of bytes")
	case cfg.Fetch.Timeout < 0:
		return provider.InvalidConfig("openaicompat.Config.Fetch.Timeout", cfg.Fetch.Timeout, "0 (the default, 30s) or a positive duration")
	}
	return nil
}

// Client returns a go-openai client over the same base URL and transport
// (auth, extra headers), for calls this package does not wrap.
func (g *Generator) Client() *openai.Client { return g.oa }

// Mode returns the wire mode in use.
func (g *Generator) Mode() Mode { return g.cfg.Mode }

// String names the generator, its provider, mode and default model, for logs.
func (g *Generator) String() string {
	if g == nil {
		return "openaicompat.Generator(nil)"
	}
	return fmt.Sprintf("openaicompat.Generator(%s, %s, %s)", g.name, g.model, g.cfg.Mode)
}

// Format prints String under every verb; %#v adds the field names. No
// verb reaches the key through reflection.
func (g *Generator) Format(f fmt.State, verb rune) {
	secret.FormatGenerator(f, verb, g == nil, g.String, func() string {
		return fmt.Sprintf("&openaicompat.Generator{Provider:%q, Model:%q, Mode:%q}", g.name, g.model, g.cfg.Mode)
	})
}

// catalogID strips a vendor prefix ("openai/gpt-image-2" → "gpt-image-2")
// so that aggregator names find their catalog entry.
func catalogID(model string) string {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		return model[i+1:]
	}
	return model
}

// Describe reports the provider name, default model and its capabilities,
// computed once when the generator was built.
func (g *Generator) Describe() provider.Description {
	if g == nil {
		return provider.Description{}
	}
	return g.desc
}

// describe computes what Describe reports.
func (g *Generator) describe() provider.Description {
	c := provider.Capabilities{MaxImages: provider.MaxN, MaxReferences: MaxReferences, Edit: true, EditKnown: true}
	if m, ok := g.catalog.Lookup(catalogID(g.model)); ok {
		c = m.Capabilities()
		if g.cfg.Mode.chat() {
			c.MaxImages = provider.MaxN // N calls
		}
	} else {
		c.Mask = g.cfg.Mode == ModeImages
	}
	switch g.cfg.Mode {
	case ModeImages:
		if c.MaxReferences > MaxReferences || c.MaxReferences == 0 && !c.NoReferences {
			c.MaxReferences = MaxReferences
		}
	case ModeOpenRouterImages:
		c.NoReferences, c.MaxReferences, c.Edit, c.Mask = true, 0, false, false
	default:
		// Chat completions cannot choose the format: PNG and JPEG are
		// converted from what comes back.
		c.Mask = false
		c.OutputFormats = []string{"png", "jpeg"}
	}
	return provider.Description{Provider: g.name, Model: g.model, Capabilities: c}
}

// CheckRequest validates req for the model and mode it would use, without
// calling the network.
func (g *Generator) CheckRequest(req *provider.Request) error {
	_, err := g.prepare(req)
	return err
}

func (g *Generator) modelFor(req *provider.Request) string {
	if g == nil {
		return ""
	}
	if req != nil && req.Model != "" {
		return req.Model
	}
	return g.model
}

func (g *Generator) invalid(model, code, format string, args ...any) error {
	return &provider.Error{Kind: provider.KindInvalidRequest, Provider: g.name, Model: model, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Generate serves req in the configured mode. On the Images API one call
// returns all N images; in the chat modes N images are N calls, at most
// MaxConcurrency at once, and images that succeeded are returned even when
// a sibling call failed (the failures are listed in Warnings).
func (g *Generator) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	p, err := g.prepare(req)
	if err != nil {
		return nil, err
	}
	switch g.cfg.Mode {
	case ModeImages, ModeOpenRouterImages:
		return g.generateImages(ctx, p)
	default:
		return g.generateChat(ctx, p)
	}
}
