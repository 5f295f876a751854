// Package emulatorcmd is `imagegen emulator`: provider/providertest's
// emulator (Gemini, Imagen, OpenAI-style and the task APIs) as a
// standalone server, so that tests in any language (Python, JavaScript,
// ...) can point the official SDKs at it and drive its faults over HTTP
// through the control endpoint (providertest.ControlPrefix).
//
//	imagegen emulator --addr 127.0.0.1:8080 --key test-key --rpm 10 --latency 200ms
//	imagegen emulator --task-duration 30s --kie-hmac-key k --webhook-fault BadSignature
//	imagegen emulator --config emulator.json
//
// The first line it prints is "imagegen emulator listening on URL"; with
// --addr 127.0.0.1:0 the system picks a free port, and a script reads it
// from that line. It serves until its context is cancelled (SIGINT or
// SIGTERM in the command).
//
// # Config file
//
// --config names a JSON file with any of these fields; flags given on the
// command line win over it:
//
//	{
//	  "addr": "127.0.0.1:8080",
//	  "publicURL": "",                 // base of the URLs handed out; "" = the listener's
//	  "apiKey": "test-key",
//	  "requestsPerMinute": 10, "requestsPerDay": 250,
//	  "latency": "200ms", "batchDuration": "1m",
//	  "streamInterval": "300ms",       // pause before each streamed event (previews)
//	  "streamMode": "events",          // events | final-only | ignored | refused
//	  "chatShape": "images",           // images | markdown | content-array | hosted-url
//	  "geminiAuth": "api-key",         // api-key | bearer
//	  "relayImageInText": false,
//	  "seed": 1,
//	  "control": true, "controlToken": "",
//	  "taskDuration": "10s", "taskJitter": 0.25,  // Kie.ai, Replicate, APIMart tasks
//	  "resultTTL": "1h",               // results served this long; "" = each service's own
//	  "kieHMACKey": "", "replicateWebhookSecret": "whsec_…",
//	  "callbackTimeout": "10s",
//	  "kieHTTPStatus": false, "serviceLimits": false,
//	  "webhookFaults": ["BadSignature", "Drop"],
//	  "taskOutcomes": [{"kind": "Fails", "code": "500", "message": "internal error"}, {"kind": "Takes", "after": "30s"}],
//	  "faults": [
//	    {"endpoint": "generateContent", "faults": [{"kind": "Unavailable"}, {"kind": "RateLimited", "retry": "7s"}]},
//	    {"endpoint": "*", "probability": 0.1, "faults": [{"kind": "Reset"}]}
//	  ]
//	}
//
// Fault rules are providertest.FaultRule values: scripted for the next
// calls, or random with a probability, in the JSON form that
// providertest.Fault's UnmarshalJSON documents.
//
// # Task APIs
//
// Kie.ai, Replicate and APIMart are served under /kie, /replicate and
// /apimart (providertest's KieURL, ReplicateURL, APIMartURL), with the
// settings of providertest.TaskOptions: how long a task takes
// (--task-duration, default 10s, spread by --task-jitter), how long its
// results are served (--result-ttl; default a day on Kie.ai and APIMart,
// an hour on Replicate), the keys callbacks are signed with
// (--kie-hmac-key, --replicate-webhook-secret, default
// providertest.DefaultReplicateSecret), how long a callback delivery may
// take (--callback-timeout, default 10s), Kie.ai's refusals with their
// code as the HTTP status (--kie-http-status) and the services' own rate
// limits (--service-limits). A task created with a callback URL (Kie.ai's
// callBackUrl, Replicate's webhook) is delivered to it when it ends;
// --webhook-fault spoils the next deliveries in order (BadSignature,
// Unsigned, Stale, Replay, Tampered, MultiSig, SnakeCase, Drop), and
// --task-outcome scripts how the next tasks end (both are set at start;
// POST /_emulator/reset forgets them):
//
//	{"kind": "Succeeds"} | {"kind": "Fails", "code": "500", "message": "…"} |
//	{"kind": "NeverEnds"} | {"kind": "Takes", "after": "30s"}
//
// # The control endpoint
//
// It is on by default for a loopback address. Bound beyond loopback
// (--addr 0.0.0.0:8080, a LAN address) it is off unless --control-token
// is given, and then every control request must carry
// "Authorization: Bearer <token>"; --control without a token there is a
// configuration error. --control=false turns it off anywhere.
package emulatorcmd

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// DefaultAddr is where the emulator listens without --addr.
const DefaultAddr = "127.0.0.1:8080"

// Config is the emulator's configuration, as the --config file holds it.
// The zero value serves on DefaultAddr with the key "test-key".
type Config struct {
	Addr              string                   `json:"addr,omitempty"`
	PublicURL         string                   `json:"publicURL,omitempty"`
	APIKey            string                   `json:"apiKey,omitempty"`
	RequestsPerMinute int                      `json:"requestsPerMinute,omitempty"`
	RequestsPerDay    int                      `json:"requestsPerDay,omitempty"`
	Latency           Duration                 `json:"latency,omitempty"`
	BatchDuration     Duration                 `json:"batchDuration,omitempty"`
	StreamInterval    Duration                 `json:"streamInterval,omitempty"`
	StreamMode        string                   `json:"streamMode,omitempty"` // providertest.StreamMode names
	ChatShape         string                   `json:"chatShape,omitempty"`
	GeminiAuth        string                   `json:"geminiAuth,omitempty"`
	RelayImageInText  bool                     `json:"relayImageInText,omitempty"`
	Seed              int64                    `json:"seed,omitempty"`
	Control           *bool                    `json:"control,omitempty"` // nil: on for loopback only
	ControlToken      string                   `json:"controlToken,omitempty"`
	Faults            []providertest.FaultRule `json:"faults,omitempty"`

	// The task APIs (providertest.TaskOptions).
	TaskDuration    Duration      `json:"taskDuration,omitempty"`
	TaskJitter      float64       `json:"taskJitter,omitempty"`
	ResultTTL       Duration      `json:"resultTTL,omitempty"`
	KieHMACKey      string        `json:"kieHMACKey,omitempty"`
	ReplicateSecret string        `json:"replicateWebhookSecret,omitempty"`
	CallbackTimeout Duration      `json:"callbackTimeout,omitempty"`
	KieHTTPStatus   bool          `json:"kieHTTPStatus,omitempty"`
	ServiceLimits   bool          `json:"serviceLimits,omitempty"`
	WebhookFaults   []string      `json:"webhookFaults,omitempty"` // providertest.WebhookFault names
	TaskOutcomes    []TaskOutcome `json:"taskOutcomes,omitempty"`  // how the next tasks end
}

// TaskOutcome is a providertest.TaskOutcome in JSON: Kind is Succeeds,
// Fails (with the service's Code and Message), NeverEnds or Takes (After).
type TaskOutcome struct {
	Kind    string   `json:"kind"`
	Code    string   `json:"code,omitempty"`
	Message string   `json:"message,omitempty"`
	After   Duration `json:"after,omitempty"`
}

// outcome returns the providertest.TaskOutcome o stands for.
func (o TaskOutcome) outcome() (providertest.TaskOutcome, error) {
	switch strings.ToLower(o.Kind) {
	case "succeeds":
		return providertest.TaskSucceeds(), nil
	case "fails":
		return providertest.TaskFails(o.Code, o.Message), nil
	case "neverends":
		return providertest.TaskNeverEnds(), nil
	case "takes":
		if o.After <= 0 {
			return providertest.TaskOutcome{}, errors.New(`"Takes" needs a positive "after"`)
		}
		return providertest.TaskTakes(time.Duration(o.After)), nil
	}
	return providertest.TaskOutcome{}, fmt.Errorf("kind %q: want Succeeds, Fails, NeverEnds or Takes", o.Kind)
}

// webhookFault parses a providertest.WebhookFault name.
func webhookFault(name string) (providertest.WebhookFault, bool) {
	for f := providertest.WebhookNormal; f <= providertest.WebhookDrop; f++ {
		if strings.EqualFold(f.String(), name) {
			return f, true
		}
	}
	return 0, false
}

// String describes the configuration without the key or the token.
func (c Config) String() string {
	return fmt.Sprintf("emulator on %s (rpm %d, rpd %d, latency %s, %d fault rules)",
		c.Addr, c.RequestsPerMinute, c.RequestsPerDay, time.Duration(c.Latency), len(c.Faults))
}

// GoString is String, so that %#v cannot print the key or the token.
func (c Config) GoString() string { return c.String() }

// Duration is a time.Duration written in JSON as a Go duration ("1.5s")
// or a number of seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s" or 1.5.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("want a duration such as \"1.5s\" or a number of seconds, not %s", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// autoBool is a boolean flag that knows whether it was given.
type autoBool struct{ set, on bool }

func (b *autoBool) String() string {
	if b == nil || !b.set {
		return "auto"
	}
	return fmt.Sprint(b.on)
}

func (b *autoBool) Set(v string) error {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	b.set, b.on = true, on
	return nil
}

// IsBoolFlag lets --control stand alone.
func (b *autoBool) IsBoolFlag() bool { return true }

// faultFlag collects repeated --fault values.
type faultFlag []providertest.FaultRule

func (f *faultFlag) String() string { return fmt.Sprint(len(*f), " rules") }

func (f *faultFlag) Set(v string) error {
	var r providertest.FaultRule
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return err
	}
	*f = append(*f, r)
	return nil
}

// Run is `imagegen emulator`: it parses args, starts the emulator, prints
// its URL on stdout and serves until ctx is cancelled. A bad flag or
// configuration is a *provider.ConfigError; -h is flag.ErrHelp.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	opts, control, err := options(cfg)
	if err != nil {
		return err
	}
	tasks, err := taskScript(cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	opts.Listener = l
	srv := providertest.NewServer(opts)
	defer srv.Close()
	for _, rule := range cfg.Faults {
		if err := rule.Apply(srv); err != nil {
			return &provider.ConfigError{Field: "emulator faults", Err: err}
		}
	}
	srv.InjectWebhook(tasks.hookFaults...)
	srv.ScriptTasks(tasks.outcomes...)
	w := bufio.NewWriter(stdout)
	fmt.Fprintf(w, "imagegen emulator listening on %s\n", srv.URL())
	switch {
	case control && opts.ControlToken != "":
		fmt.Fprintf(w, "control endpoint: %s%s (Authorization: Bearer <control token>)\n", srv.URL(), providertest.ControlPrefix)
	case control:
		fmt.Fprintf(w, "control endpoint: %s%s\n", srv.URL(), providertest.ControlPrefix)
	default:
		fmt.Fprintf(w, "control endpoint: off\n")
	}
	fmt.Fprintf(w, "API key: %s; Gemini: baseUrl %s; OpenAI: baseURL %s/v1\n", keyHint(opts.APIKey), srv.URL(), srv.URL())
	fmt.Fprintf(w, "task APIs: Kie.ai %s, Replicate %s, APIMart %s (tasks take %s)\n", srv.KieURL(), srv.ReplicateURL(), srv.APIMartURL(),
		cmpOr(time.Duration(cfg.TaskDuration), 10*time.Second))
	if err := w.Flush(); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	<-ctx.Done()
	return nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// scripted is what the config scripts for the task APIs at start.
type scripted struct {
	hookFaults []providertest.WebhookFault
	outcomes   []providertest.TaskOutcome
}

// taskScript parses the webhook faults and task outcomes of cfg.
func taskScript(cfg Config) (scripted, error) {
	var sc scripted
	for _, name := range cfg.WebhookFaults {
		f, ok := webhookFault(name)
		if !ok {
			return sc, provider.InvalidConfig("emulator --webhook-fault", name,
				"Normal, BadSignature, Unsigned, Stale, Replay, Tampered, MultiSig, SnakeCase or Drop")
		}
		sc.hookFaults = append(sc.hookFaults, f)
	}
	for _, o := range cfg.TaskOutcomes {
		out, err := o.outcome()
		if err != nil {
			return sc, &provider.ConfigError{Field: "emulator --task-outcome", Err: err}
		}
		sc.outcomes = append(sc.outcomes, out)
	}
	return sc, nil
}

// keyHint names the key only when it is the well-known test key.
func keyHint(key string) string {
	if key == "" || key == "test-key" {
		return `"test-key"`
	}
	return "as configured"
}

func parse(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("imagegen emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath = fs.String("config", "", "JSON config `file` (see the package doc); flags win over it")
		addr       = fs.String("addr", DefaultAddr, "listen `address`; port 0 picks a free one")
		publicURL  = fs.String("public-url", "", "base `URL` in the URLs the emulator hands out (default: the listener's)")
		key        = fs.String("key", "test-key", "the API `key` clients must send")
		rpm        = fs.Int("rpm", 0, "generation requests allowed per sliding minute (0 = unlimited)")
		rpd        = fs.Int("rpd", 0, "generation requests allowed per day, Pacific time (0 = unlimited)")
		latency    = fs.Duration("latency", 0, "delay added before every answer")
		batch      = fs.Duration("batch-duration", time.Minute, "time a batch job takes to succeed, on the emulator's clock")
		streamIvl  = fs.Duration("stream-interval", 0, "real-time pause before each event of a streamed answer (previews)")
		streamMode = fs.String("stream-mode", "events", "how stream requests are answered: events, final-only (a relay that drops drafts), ignored (plain JSON), refused")
		chat       = fs.String("chat-shape", "images", "chat completion image shape: images, markdown, content-array, hosted-url")
		gauth      = fs.String("gemini-auth", "api-key", "how Gemini endpoints take the key: api-key (x-goog-api-key) or bearer (a relay)")
		inText     = fs.Bool("relay-image-in-text", false, "with --gemini-auth bearer, return Gemini images as markdown data: URIs in text parts")
		seed       = fs.Int64("seed", 0, "seed of random faults")
		control    autoBool
		token      = fs.String("control-token", "", "bearer `token` the control endpoint requires (needed beyond loopback)")
		faults     faultFlag

		taskDur    = fs.Duration("task-duration", 0, "task APIs: how long a task takes, on the emulator's clock (0 = 10s)")
		taskJitter = fs.Float64("task-jitter", 0, "task APIs: spread each task's duration over duration×(1±`fraction`), at most 0.9")
		resultTTL  = fs.Duration("result-ttl", 0, "task APIs: how long results are served after a task ends (0 = a day on Kie.ai and APIMart, an hour on Replicate)")
		kieHMAC    = fs.String("kie-hmac-key", "", "task APIs: the `key` Kie.ai callbacks are signed with (X-Webhook-Signature); empty: unsigned")
		repSecret  = fs.String("replicate-webhook-secret", "", "task APIs: the whsec_ `secret` Replicate webhooks are signed with (default providertest.DefaultReplicateSecret)")
		cbTimeout  = fs.Duration("callback-timeout", 0, "task APIs: the longest one callback delivery may take (0 = 10s)")
		kieStatus  = fs.Bool("kie-http-status", false, "task APIs: send Kie.ai refusals with their code as the HTTP status, not HTTP 200")
		svcLimits  = fs.Bool("service-limits", false, "task APIs: enforce the services' limits (Kie.ai 20 tasks per 10s and 10 reads a second, Replicate 600 a minute)")
		hookFaults stringsFlag
		outcomes   outcomeFlag
	)
	fs.Var(&hookFaults, "webhook-fault", "task APIs: spoil the next callback: BadSignature, Unsigned, Stale, Replay, Tampered, MultiSig, SnakeCase or Drop (repeatable, in order)")
	fs.Var(&outcomes, "task-outcome", "task APIs: how the next task ends, in JSON, e.g. '{\"kind\":\"Fails\",\"code\":\"500\",\"message\":\"internal error\"}' (repeatable, in order)")
	fs.Var(&control, "control", "serve the control endpoint under "+providertest.ControlPrefix+"; without the flag: on for a loopback address, else only with --control-token")
	fs.Var(&faults, "fault", "a fault rule in JSON, e.g. '{\"endpoint\":\"*\",\"probability\":0.1,\"faults\":[{\"kind\":\"Unavailable\"}]}' (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: imagegen emulator [flags]\n\nServe the Gemini, Imagen, OpenAI-style and task API (Kie.ai, Replicate, APIMart) emulator for tests in any language.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, &provider.ConfigError{Field: "imagegen emulator flags", Err: err}
	}
	if fs.NArg() > 0 {
		return Config{}, &provider.ConfigError{Field: "imagegen emulator arguments", Value: strings.Join(fs.Args(), " "), Want: "flags only"}
	}
	var cfg Config
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			return Config{}, &provider.ConfigError{Field: "emulator --config", Value: *configPath, Err: err}
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return Config{}, &provider.ConfigError{Field: "emulator --config", Value: *configPath, Err: err}
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	pick := func(name string, inFile bool) bool { return set[name] || !inFile }
	if pick("addr", cfg.Addr != "") {
		cfg.Addr = *addr
	}
	if pick("public-url", cfg.PublicURL != "") {
		cfg.PublicURL = *publicURL
	}
	if pick("key", cfg.APIKey != "") {
		cfg.APIKey = *key
	}
	if set["rpm"] {
		cfg.RequestsPerMinute = *rpm
	}
	if set["rpd"] {
		cfg.RequestsPerDay = *rpd
	}
	if set["latency"] {
		cfg.Latency = Duration(*latency)
	}
	if set["stream-interval"] {
		cfg.StreamInterval = Duration(*streamIvl)
	}
	if pick("stream-mode", cfg.StreamMode != "") {
		cfg.StreamMode = *streamMode
	}
	if pick("batch-duration", cfg.BatchDuration != 0) {
		cfg.BatchDuration = Duration(*batch)
	}
	if pick("chat-shape", cfg.ChatShape != "") {
		cfg.ChatShape = *chat
	}
	if pick("gemini-auth", cfg.GeminiAuth != "") {
		cfg.GeminiAuth = *gauth
	}
	if set["relay-image-in-text"] {
		cfg.RelayImageInText = *inText
	}
	if set["seed"] {
		cfg.Seed = *seed
	}
	if control.set {
		v := control.on
		cfg.Control = &v
	}
	if set["control-token"] {
		cfg.ControlToken = *token
	}
	cfg.Faults = append(cfg.Faults, faults...)
	if set["task-duration"] {
		cfg.TaskDuration = Duration(*taskDur)
	}
	if set["task-jitter"] {
		cfg.TaskJitter = *taskJitter
	}
	if set["result-ttl"] {
		cfg.ResultTTL = Duration(*resultTTL)
	}
	if set["kie-hmac-key"] {
		cfg.KieHMACKey = *kieHMAC
	}
	if set["replicate-webhook-secret"] {
		cfg.ReplicateSecret = *repSecret
	}
	if set["callback-timeout"] {
		cfg.CallbackTimeout = Duration(*cbTimeout)
	}
	if set["kie-http-status"] {
		cfg.KieHTTPStatus = *kieStatus
	}
	if set["service-limits"] {
		cfg.ServiceLimits = *svcLimits
	}
	cfg.WebhookFaults = append(cfg.WebhookFaults, hookFaults...)
	cfg.TaskOutcomes = append(cfg.TaskOutcomes, outcomes...)
	return cfg, nil
}

// stringsFlag collects a repeated flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// outcomeFlag collects repeated --task-outcome values.
type outcomeFlag []TaskOutcome

func (o *outcomeFlag) String() string { return fmt.Sprint(len(*o), " outcomes") }

func (o *outcomeFlag) Set(v string) error {
	var out TaskOutcome
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return err
	}
	if _, err := out.outcome(); err != nil {
		return err
	}
	*o = append(*o, out)
	return nil
}

// options turns cfg into the server's options and says whether the
// control endpoint is on.
func options(cfg Config) (providertest.Options, bool, error) {
	opts := providertest.Options{
		APIKey: cfg.APIKey, PublicURL: cfg.PublicURL,
		RequestsPerMinute: cfg.RequestsPerMinute, RequestsPerDay: cfg.RequestsPerDay,
		Latency: time.Duration(cfg.Latency), BatchDuration: time.Duration(cfg.BatchDuration),
		RelayImageInText: cfg.RelayImageInText, Seed: cfg.Seed, ControlToken: cfg.ControlToken,
	}
	if cfg.RequestsPerMinute < 0 {
		return opts, false, provider.InvalidConfig("emulator --rpm", cfg.RequestsPerMinute, "0 (unlimited) or more")
	}
	if cfg.RequestsPerDay < 0 {
		return opts, false, provider.InvalidConfig("emulator --rpd", cfg.RequestsPerDay, "0 (unlimited) or more")
	}
	if cfg.Latency < 0 || cfg.BatchDuration < 0 || cfg.StreamInterval < 0 {
		return opts, false, provider.InvalidConfig("emulator --latency / --batch-duration / --stream-interval", "a negative duration", "0 or more")
	}
	opts.StreamInterval = time.Duration(cfg.StreamInterval)
	if cfg.StreamMode != "" {
		mode, err := providertest.ParseStreamMode(cfg.StreamMode)
		if err != nil {
			return opts, false, provider.InvalidConfig("emulator --stream-mode", cfg.StreamMode, "events, final-only, ignored or refused")
		}
		opts.StreamMode = mode
	}
	if cfg.TaskDuration < 0 || cfg.ResultTTL < 0 || cfg.CallbackTimeout < 0 {
		return opts, false, provider.InvalidConfig("emulator --task-duration / --result-ttl / --callback-timeout", "a negative duration", "0 (the default) or more")
	}
	if cfg.TaskJitter < 0 || cfg.TaskJitter > 0.9 {
		return opts, false, provider.InvalidConfig("emulator --task-jitter", cfg.TaskJitter, "a fraction from 0 to 0.9")
	}
	if sec := cfg.ReplicateSecret; sec != "" {
		raw, ok := strings.CutPrefix(sec, "whsec_")
		if b, err := base64.StdEncoding.DecodeString(raw); !ok || err != nil || len(b) == 0 {
			return opts, false, provider.InvalidConfig("emulator --replicate-webhook-secret", "not whsec_…", "whsec_ followed by base64, as Replicate's secrets are")
		}
	}
	opts.Tasks = providertest.TaskOptions{Duration: time.Duration(cfg.TaskDuration), Jitter: cfg.TaskJitter,
		ResultTTL: time.Duration(cfg.ResultTTL), KieHMACKey: cfg.KieHMACKey, ReplicateSecret: cfg.ReplicateSecret,
		KieHTTPStatus: cfg.KieHTTPStatus, ServiceLimits: cfg.ServiceLimits}
	if cfg.CallbackTimeout > 0 {
		opts.Tasks.CallbackClient = &http.Client{Timeout: time.Duration(cfg.CallbackTimeout),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }} // Replicate follows none
	}
	if cfg.ChatShape != "" {
		shape, err := providertest.ParseChatShape(cfg.ChatShape)
		if err != nil {
			return opts, false, provider.InvalidConfig("emulator --chat-shape", cfg.ChatShape, "images, markdown, content-array or hosted-url")
		}
		opts.ChatShape = shape
	}
	switch strings.ToLower(cfg.GeminiAuth) {
	case "", "api-key", "apikey":
		opts.GeminiAuth = providertest.AuthAPIKey
	case "bearer":
		opts.GeminiAuth = providertest.AuthBearer
	default:
		return opts, false, provider.InvalidConfig("emulator --gemini-auth", cfg.GeminiAuth, "api-key or bearer")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	loopback := isLoopback(cfg.Addr)
	switch {
	case cfg.Control == nil:
		opts.Control = loopback || cfg.ControlToken != ""
	case *cfg.Control && !loopback && cfg.ControlToken == "":
		return opts, false, provider.InvalidConfig("emulator --control", cfg.Addr,
			"a --control-token for a control endpoint beyond loopback (anyone who reaches it can script the server)")
	default:
		opts.Control = *cfg.Control
	}
	return opts, opts.Control, nil
}

// isLoopback reports whether addr ("host:port") listens on loopback only:
// localhost or a loopback IP. An empty host listens everywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
