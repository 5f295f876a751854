package imagen

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/httptransport"
	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/googleauth"
	"github.com/imagegen-go/imagegen/internal/secret"
	"github.com/imagegen-go/imagegen/provider"
)

// DefaultModel is the model used when neither Config.Model nor
// Request.Model names one.
const DefaultModel = "imagen-4.0-generate-001"

// DefaultBaseURL is the Gemini API endpoint used by BackendGeminiAPI when
// Config.BaseURL is empty.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// MaxSampleCount is the most images one :predict call returns
// (parameters.sampleCount 1-4), used for models the catalog does not know.
const MaxSampleCount = 4

// DefaultMaxResponseBytes caps a :predict answer (after decompression)
// when Config.MaxResponseBytes is 0. The largest real answer: four images
// (sampleCount) at 2K, at most 2816x1536 (16:9; 4.3 MP), each at most
// about 13 MB as a PNG of incompressible RGB: 4 x 13 MB x 4/3 for base64
// = 69 MB, plus headroom for relays that answer for other models: 128 MiB.
const DefaultMaxResponseBytes = 128 << 20

// Backend selects how :predict is reached.
type Backend int

const (
	// BackendGeminiAPI posts {BaseURL}/{APIVersion}/models/{model}:predict
	// directly, with the key in x-goog-api-key (or Authorization: Bearer with
	// BearerAuth): the Gemini API's shape, which relays still route. genai
	// no longer sends GenerateImages on this backend, so this package writes
	// the request itself.
	BackendGeminiAPI Backend = iota
	// BackendVertex calls genai's Models.GenerateImages on the Vertex AI /
	// Gemini Enterprise backend: .../publishers/google/models/{model}:predict.
	BackendVertex
)

// Config configures a Generator. The zero value, with an APIKey, posts to
// the Gemini API with DefaultModel.
type Config struct {
	// APIKey authenticates: x-goog-api-key on BackendGeminiAPI (when empty,
	// New reads GEMINI_API_KEY, then GOOGLE_API_KEY); on BackendVertex an
	// express-mode key. With BearerAuth it is sent as
	// "Authorization: Bearer" instead (a relay's key, or an OAuth access
	// token on Vertex).
	APIKey string
	// BearerAuth sends APIKey as "Authorization: Bearer" and no
	// x-goog-api-key.
	BearerAuth bool
	// Model is the default model; Request.Model overrides it.
	Model string
	// BaseURL replaces Google's endpoint (a relay, or providertest).
	BaseURL string
	// APIVersion is the version in every request path; empty means
	// "v1beta" ("v1beta1" on Vertex AI), set explicitly rather than left to
	// genai, whose default moved to "v1" in v1.78.0.
	APIVersion string
	// APIVersionFromEnv lets GOOGLE_GENAI_API_VERSION choose the version
	// when APIVersion is empty, as genai reads it ("beta" is the backend's
	// beta version); unset or empty keeps the default. Without it the
	// variable is ignored.
	APIVersionFromEnv bool
	// HTTPClient carries the calls; its Transport is wrapped, not replaced.
	HTTPClient *http.Client
	// Backend selects the direct Gemini API :predict call (default) or
	// genai's GenerateImages on Vertex AI.
	Backend Backend
	// Project, Location and Credentials configure Vertex AI. Without
	// Credentials or APIKey, Application Default Credentials are looked up
	// on the first call.
	Project, Location string
	Credentials       *auth.Credentials
	// Name is the provider name reported in responses and errors; default
	// "imagen".
	Name string
	// Catalog validates known models and knows their lifecycle; nil means
	// catalog.Default().
	Catalog *catalog.Catalog
	// Clock tells the time for lifecycle checks; nil means
	// provider.SystemClock().
	Clock provider.Clock
	// AllowRetired sends model IDs the catalog says are shut down anyway,
	// with a warning, for relays that still route retired Imagen IDs.
	AllowRetired bool
	// Migrate serves a retired model with the catalog's live replacement
	// through the gemini adapter, with warnings saying so. AllowRetired
	// takes precedence.
	Migrate bool
	// Migrator serves migrated requests (only when Migrate is set): any
	// generator, typically a gemini.Generator or a stack around one; nil
	// means a gemini generator built from APIKey, BearerAuth, BaseURL,
	// APIVersion, APIVersionFromEnv, HTTPClient, Backend, Project,
	// Location, Credentials, Catalog and Now.
	Migrator provider.Generator
	// PersonGeneration is the default parameters.personGeneration:
	// "allow_adult", "dont_allow" or "allow_all". A request's
	// Options.PersonGeneration overrides it.
	PersonGeneration string
	// SafetyLevel is the default parameters.safetySetting:
	// "block_low_and_above", "block_medium_and_above", "block_only_high" or
	// "block_none". A request's Options.SafetySetting overrides it.
	SafetyLevel string
	// MaxResponseBytes caps a successful answer's body, counted after
	// decompression; 0 means DefaultMaxResponseBytes. A larger answer ends
	// the call with provider.ErrUnavailable, Code "RESPONSE_TOO_LARGE",
	// and the connection is closed, not drained. Error answers are read up
	// to 1 MiB whatever this says. The base64 images are decoded as the
	// answer streams in, so an answer costs about its images' size.
	MaxResponseBytes int64
}

// String describes the configuration without its key.
func (c Config) String() string { return fmt.Sprintf("%v", c) }

// Format prints the configuration with APIKey redacted, under every verb
// (%v, %+v, %#v, %s, ...).
func (c Config) Format(f fmt.State, verb rune) {
	type config Config // without methods
	r := config(c)
	if r.APIKey != "" {
		r.APIKey = secret.Mask
	}
	r.BaseURL = secret.URL(r.BaseURL)
	secret.Format(f, verb, r, "imagen.config", "imagen.Config")
}

// Generator generates images with Imagen's :predict. It is safe for
// concurrent use.
type Generator struct {
	desc     provider.Description // what Describe reports, computed once
	cfg      Config
	catalog  *catalog.Catalog
	name     string
	model    string
	clock    provider.Clock
	now      func() time.Time
	secrets  *secret.Redactor
	key      string
	maxResp  int64
	http     *http.Client // wrapped in capture.Transport
	predict  string       // "{base}/{version}/models/" for BackendGeminiAPI
	migrator provider.Generator

	// vertex is the genai client, built by New or, when Application Default
	// Credentials are needed, on the first call.
	vertex func() (*genai.Client, error)
}

// New returns a Generator for cfg. It makes no network call.
func New(ctx context.Context, cfg Config) (*Generator, error) {
	g := &Generator{cfg: cfg, catalog: cfg.Catalog, name: cfg.Name, model: cfg.Model, clock: provider.ClockOr(cfg.Clock), migrator: cfg.Migrator, maxResp: cfg.MaxResponseBytes}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	if g.maxResp == 0 {
		g.maxResp = DefaultMaxResponseBytes
	}
	if g.catalog == nil {
		g.catalog = catalog.Default()
	}
	if g.name == "" {
		g.name = "imagen"
	}
	if g.model == "" {
		g.model = DefaultModel
	}
	g.model = strings.TrimPrefix(g.model, "models/")
	g.now = g.clock.Now
	fail := func(kind provider.Kind, format string, args ...any) (*Generator, error) {
		return nil, &provider.Error{Kind: kind, Provider: g.name, Message: g.secrets.Redact(fmt.Sprintf(format, args...))}
	}
	g.key = googleauth.Key(cfg.APIKey, cfg.Backend == BackendGeminiAPI)
	g.secrets = secret.New(g.key)
	var err error
	if g.http, err = googleauth.Client(cfg.HTTPClient, g.key, cfg.BearerAuth, cfg.Credentials, answer.Limits(g.maxResp)); err != nil {
		return nil, &provider.ConfigError{Field: "imagen.Config.Credentials", Err: g.secrets.Wrap(err)}
	}

	switch cfg.Backend {
	case BackendGeminiAPI:
		if g.key == "" {
			return fail(provider.KindAuth, "no API key: set Config.APIKey or GEMINI_API_KEY")
		}
		base := cfg.BaseURL
		if base == "" {
			base = os.Getenv("GOOGLE_GEMINI_BASE_URL")
		}
		if base == "" {
			base = DefaultBaseURL
		}
		version := googleauth.APIVersion(cfg.APIVersion, cfg.APIVersionFromEnv, false)
		g.predict = strings.TrimRight(base, "/") + "/" + strings.Trim(version, "/") + "/models/"
	case BackendVertex:
		cc := &genai.ClientConfig{
			Backend:     genai.BackendVertexAI,
			Project:     cfg.Project,
			Location:    cfg.Location,
			HTTPClient:  g.http,
			HTTPOptions: genai.HTTPOptions{BaseURL: cfg.BaseURL, APIVersion: googleauth.APIVersion(cfg.APIVersion, cfg.APIVersionFromEnv, true)},
		}
		switch {
		case cfg.Credentials != nil:
			// The transport authorises every request.
		case g.key != "" && !cfg.BearerAuth:
			cc.APIKey = g.key // express mode: genai sends x-goog-api-key
		case g.key != "":
			// The rewrite adds the bearer token.
		default:
			// genai skips Application Default Credentials when given an
			// HTTPClient, so look them up ourselves, on the first call:
			// detecting them may probe the metadata server.
			g.vertex = onceOK(func() (*genai.Client, error) {
				creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}})
				if err == nil {
					err = httptransport.AddAuthorizationMiddleware(g.http, creds)
				}
				if err != nil {
					return nil, &provider.Error{Kind: provider.KindAuth, Provider: g.name,
						Message: "no credentials for Vertex AI: set Config.Credentials, Config.APIKey or Application Default Credentials", Err: err}
				}
				return g.newVertexClient(context.Background(), cc)
			})
		}
		if g.vertex == nil {
			client, err := g.newVertexClient(ctx, cc)
			if err != nil {
				return nil, err
			}
			g.vertex = func() (*genai.Client, error) { return client, nil }
		}
	}

	if cfg.Migrate && g.migrator == nil {
		gb := gemini.BackendGeminiAPI
		if cfg.Backend == BackendVertex {
			gb = gemini.BackendVertex
		}
		m, err := gemini.New(ctx, gemini.Config{
			APIKey: g.key, BearerAuth: cfg.BearerAuth, BaseURL: cfg.BaseURL, APIVersion: cfg.APIVersion, APIVersionFromEnv: cfg.APIVersionFromEnv,
			HTTPClient: cfg.HTTPClient, Backend: gb, Project: cfg.Project, Location: cfg.Location,
			Credentials: cfg.Credentials, Catalog: g.catalog, Clock: g.clock,
		})
		if err != nil {
			return nil, fmt.Errorf("imagen: building the gemini generator for migration: %w", g.secrets.Wrap(err))
		}
		g.migrator = m
	}
	g.desc = g.describe()
	return g, nil
}

func (g *Generator) newVertexClient(ctx context.Context, cc *genai.ClientConfig) (*genai.Client, error) {
	c := *cc
	client, err := genai.NewClient(ctx, &c)
	if err != nil {
		// genai's message can print the whole config, key included.
		return nil, &provider.ConfigError{Field: "imagen.Config", Want: "a configuration genai accepts", Err: g.secrets.Wrap(err)}
	}
	return client, nil
}

// checkConfig refuses configuration values that cannot work.
func checkConfig(cfg Config) error {
	switch {
	case cfg.Backend != BackendGeminiAPI && cfg.Backend != BackendVertex:
		return provider.InvalidConfig("imagen.Config.Backend", int(cfg.Backend), "BackendGeminiAPI (0) or BackendVertex (1)")
	case cfg.PersonGeneration != "" && normalize(cfg.PersonGeneration, personGenerations) == "":
		return provider.InvalidConfig("imagen.Config.PersonGeneration", fmt.Sprintf("%q", cfg.PersonGeneration), strings.Join(personGenerations, ", "))
	case cfg.SafetyLevel != "" && normalize(cfg.SafetyLevel, safetySettings) == "":
		return provider.InvalidConfig("imagen.Config.SafetyLevel", fmt.Sprintf("%q", cfg.SafetyLevel), strings.Join(safetySettings, ", "))
	case cfg.MaxResponseBytes < 0:
		return provider.InvalidConfig("imagen.Config.MaxResponseBytes", cfg.MaxResponseBytes, "0 (the default) or a positive number of bytes")
	}
	if cfg.BaseURL != "" {
		if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return provider.InvalidConfig("imagen.Config.BaseURL", fmt.Sprintf("%q", secret.URL(cfg.BaseURL)), "an http(s) URL")
		}
	}
	return nil
}

// Describe reports the provider name, default model and its capabilities,
// computed once when the generator was built.
func (g *Generator) Describe() provider.Description {
	if g == nil {
		return provider.Description{}
	}
	return g.desc
}

// String names the generator, its provider and default model, for logs.
func (g *Generator) String() string {
	if g == nil {
		return "imagen.Generator(nil)"
	}
	return fmt.Sprintf("imagen.Generator(%s, %s)", g.name, g.model)
}

// Format prints String under every verb; %#v adds the field names. No
// verb reaches the key through reflection.
func (g *Generator) Format(f fmt.State, verb rune) {
	secret.FormatGenerator(f, verb, g == nil, g.String, func() string {
		return fmt.Sprintf("&imagen.Generator{Provider:%q, Model:%q}", g.name, g.model)
	})
}

// describe computes what Describe reports.
func (g *Generator) describe() provider.Description {
	d := provider.Description{Provider: g.name, Model: g.model, Capabilities: provider.Capabilities{
		MaxImages: MaxSampleCount, NoReferences: true, EditKnown: true}}
	if m, ok := g.catalog.Lookup(g.model); ok {
		d.Capabilities = m.Capabilities()
		// This adapter only generates.
		d.Capabilities.NoReferences, d.Capabilities.MaxReferences = true, 0
		d.Capabilities.EditKnown, d.Capabilities.Edit, d.Capabilities.Mask = true, false, false
	}
	return d
}

// CheckRequest validates req for the model it would use, without calling
// the network. For a retired model served by migration, the gemini
// generator checks the migrated request.
func (g *Generator) CheckRequest(req *provider.Request) error {
	p, err := g.prepare(req)
	if err != nil {
		return err
	}
	if p.migrate != nil {
		return provider.CheckRequest(g.migrator, p.migrate)
	}
	return nil
}

func (g *Generator) modelFor(req *provider.Request) string {
	m := ""
	if req != nil {
		m = req.Model
	}
	if m == "" {
		m = g.model
	}
	return strings.TrimPrefix(m, "models/")
}

func (g *Generator) invalid(model, format string, args ...any) error {
	return &provider.Error{Kind: provider.KindInvalidRequest, Provider: g.name, Model: model, Message: fmt.Sprintf(format, args...)}
}

// Generate makes one :predict call for up to four images (sampleCount),
// or, for a retired model with Config.Migrate, has the gemini generator
// serve the request with the live replacement.
func (g *Generator) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	p, err := g.prepare(req)
	if err != nil {
		return nil, err
	}
	if p.migrate != nil {
		return g.generateMigrated(ctx, p)
	}
	if g.cfg.Backend == BackendVertex {
		return g.generateVertex(ctx, p)
	}
	return g.generateDirect(ctx, p)
}

// onceOK returns a func that calls build until it succeeds and then keeps
// its result: unlike sync.OnceValues, a transient failure (a metadata
// server that did not answer) is not remembered for the generator's life.
func onceOK[T any](build func() (T, error)) func() (T, error) {
	var (
		mu   sync.Mutex
		done bool
		val  T
	)
	return func() (T, error) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return val, nil
		}
		v, err := build()
		if err != nil {
			return v, err
		}
		done, val = true, v
		return val, nil
	}
}
