package providertest

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// AuthMode selects how the Gemini endpoints expect the API key.
type AuthMode int

const (
	// AuthAPIKey expects the key in the x-goog-api-key header, like the
	// real Gemini API. A ?key= query parameter is accepted too (and
	// recorded redacted).
	AuthAPIKey AuthMode = iota
	// AuthBearer emulates a Gemini-native relay: it wants
	// "Authorization: Bearer <key>" and rejects x-goog-api-key alone.
	AuthBearer
)

// ChatShape selects how /v1/chat/completions returns images.
type ChatShape int

const (
	// ChatImages is OpenRouter's shape: choices[0].message.images[].image_url.url
	// holds data: URIs.
	ChatImages ChatShape = iota
	// ChatMarkdown is the new-api / one-api relay shape: message.content is
	// text with markdown images carrying data: URIs (a draft first for
	// Gemini 3 models, the final image last).
	ChatMarkdown
	// ChatContentArray returns message.content as an array of
	// {"type":"text"} and {"type":"image_url"} parts.
	ChatContentArray
	// ChatHostedURL returns markdown with an http URL to an image that the
	// server itself serves at /files/{id}.png.
	ChatHostedURL
)

// chatShapeNames are ChatShape's names, as String and ParseChatShape use them.
func chatShapeNames() []string { return []string{"images", "markdown", "content-array", "hosted-url"} }

// String returns the shape's name: "images", "markdown", "content-array"
// or "hosted-url".
func (c ChatShape) String() string {
	if n := chatShapeNames(); c >= 0 && int(c) < len(n) {
		return n[c]
	}
	return "ChatShape(" + strconv.Itoa(int(c)) + ")"
}

// ParseChatShape reads a shape's name as String writes it (case ignored).
func ParseChatShape(name string) (ChatShape, error) {
	for i, n := range chatShapeNames() {
		if strings.EqualFold(n, strings.TrimSpace(name)) {
			return ChatShape(i), nil
		}
	}
	return 0, fmt.Errorf("providertest: unknown chat shape %q; want one of %s", name, strings.Join(chatShapeNames(), ", "))
}

// Endpoint names an emulated API operation; faults and statistics are
// keyed by it.
type Endpoint string

// The emulated endpoints.
const (
	// EndpointAny, used with Inject or InjectRandom, matches every
	// generation endpoint.
	EndpointAny Endpoint = "*"
	// EndpointGenerateContent is Gemini's models/{model}:generateContent.
	EndpointGenerateContent Endpoint = "generateContent"
	// EndpointStreamGenerateContent is Gemini's
	// models/{model}:streamGenerateContent: SSE chunks with ?alt=sse, a
	// JSON array without (see handleStreamGenerateContent).
	EndpointStreamGenerateContent Endpoint = "streamGenerateContent"
	// EndpointBatchCreate is Gemini's models/{model}:batchGenerateContent.
	EndpointBatchCreate Endpoint = "batchGenerateContent"
	// EndpointBatchGet is GET batches/{id}.
	EndpointBatchGet Endpoint = "batches.get"
	// EndpointBatchList is GET batches.
	EndpointBatchList Endpoint = "batches.list"
	// EndpointBatchCancel is POST batches/{id}:cancel.
	EndpointBatchCancel Endpoint = "batches.cancel"
	// EndpointBatchDelete is DELETE batches/{id}.
	EndpointBatchDelete Endpoint = "batches.delete"
	// EndpointFileUpload is the Files API's resumable upload: POST
	// /upload/v1beta/files to start, then POSTs to the X-Goog-Upload-URL
	// it answers with, one per chunk.
	EndpointFileUpload Endpoint = "files.upload"
	// EndpointFileGet is GET files/{id}, a File's metadata.
	EndpointFileGet Endpoint = "files.get"
	// EndpointFileList is GET files, the project's files, newest first.
	EndpointFileList Endpoint = "files.list"
	// EndpointFileDownload is GET files/{id}:download?alt=media (also under
	// the /download/ prefix), a File's bytes.
	EndpointFileDownload Endpoint = "files.download"
	// EndpointFileDelete is DELETE files/{id}.
	EndpointFileDelete Endpoint = "files.delete"
	// EndpointPredict is Imagen's models/{model}:predict.
	EndpointPredict Endpoint = "predict"
	// EndpointImagesGenerations is OpenAI's POST /v1/images/generations.
	EndpointImagesGenerations Endpoint = "images.generations"
	// EndpointImagesEdits is OpenAI's POST /v1/images/edits.
	EndpointImagesEdits Endpoint = "images.edits"
	// EndpointChatCompletions is POST /v1/chat/completions.
	EndpointChatCompletions Endpoint = "chat.completions"
	// EndpointOpenRouterImages is OpenRouter's POST /api/v1/images.
	EndpointOpenRouterImages Endpoint = "openrouter.images"
	// EndpointFiles is GET /files/{id}.png, images handed out as URLs.
	EndpointFiles Endpoint = "files"
	// EndpointUnknown is any path the emulator does not serve.
	EndpointUnknown Endpoint = "unknown"
)

// isGeneration reports whether ep is a generation endpoint: those count
// toward rate limits and receive EndpointAny faults.
func isGeneration(ep Endpoint) bool {
	switch ep {
	case EndpointGenerateContent, EndpointStreamGenerateContent, EndpointBatchCreate, EndpointPredict,
		EndpointImagesGenerations, EndpointImagesEdits, EndpointChatCompletions,
		EndpointOpenRouterImages, EndpointKieCreate, EndpointReplicateCreate, EndpointAPIMartCreate:
		return true
	}
	return false
}

// wireFormat is the family of envelopes, headers and authentication an
// endpoint speaks; a new family (a task API, say) adds a value here and
// its cases in checkAuth, applyFault and notFound.
type wireFormat int

const (
	wireOpenAI wireFormat = iota // OpenAI and the relays that copy it
	wireGoogle                   // the Gemini API and Vertex AI
	wireTask                     // the task APIs (Kie.ai, Replicate, APIMart; tasks.go)
)

// wireOf returns the wire format of a known endpoint.
func wireOf(ep Endpoint) wireFormat {
	if taskEndpoint(ep) {
		return wireTask
	}
	switch ep {
	case EndpointGenerateContent, EndpointStreamGenerateContent, EndpointBatchCreate, EndpointBatchGet,
		EndpointBatchList, EndpointBatchCancel, EndpointBatchDelete, EndpointPredict,
		EndpointFileUpload, EndpointFileGet, EndpointFileList, EndpointFileDownload, EndpointFileDelete:
		return wireGoogle
	}
	return wireOpenAI
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// APIKey is the key the server expects; "" means "test-key".
	APIKey string
	// Clock tells the time for rate limits, batch progress and recorded
	// times; nil means provider.SystemClock(). A Clock from NewClock
	// lets a test move the emulator's time by hand.
	Clock provider.Clock
	// Seed seeds InjectRandom's choices, so a run is reproducible.
	Seed int64
	// RequestsPerMinute limits accepted generation requests in any sliding
	// 60-second window of Now (0 = unlimited), across all endpoints.
	RequestsPerMinute int
	// RequestsPerDay limits accepted generation requests per calendar day
	// in DayZone (0 = unlimited).
	RequestsPerDay int
	// DayZone is where the daily counter resets at midnight; nil means
	// America/Los_Angeles (Gemini's reset), or a fixed UTC-8 zone when the
	// time zone database is unavailable.
	DayZone *time.Location
	// GeminiAuth selects how Gemini endpoints authenticate (Vertex-style
	// paths accept both).
	GeminiAuth AuthMode
	// RelayImageInText, with AuthBearer, makes generateContent return the
	// image as a text part holding a markdown data: URI instead of
	// inlineData, as some Gemini-native relays do.
	RelayImageInText bool
	// ChatShape is the initial shape of chat completion image answers.
	ChatShape ChatShape
	// Latency is added (in real time) before every response; it ends early
	// when the client goes away or the server closes.
	Latency time.Duration
	// StreamInterval is the pause (in real time) before each event of a
	// streamed answer, after the headers have been sent, so that a client
	// can measure the time to the first draft against the time to the
	// final image; 0 sends the events back to back. It ends early, like
	// Latency.
	StreamInterval time.Duration
	// StreamMode selects how stream requests are answered: StreamEvents
	// (the zero value) streams, the other modes emulate relays that drop
	// the drafts, ignore the stream request or refuse it.
	StreamMode StreamMode
	// BatchDuration is how long, on Now, a batch job takes from PENDING to
	// SUCCEEDED (RUNNING from half of it); 0 means one minute.
	BatchDuration time.Duration
	// LargeImageBytes, when > 0, makes every generated image a noisy PNG of
	// about this many bytes (built once per server), for benchmarks.
	LargeImageBytes int
	// Listener, when set, is where the server accepts connections instead
	// of a fresh 127.0.0.1 port; Close closes it. The standalone emulator
	// (imagegen emulator) uses it to serve on a chosen address.
	Listener net.Listener
	// PublicURL is the base URL written into the URLs the server hands out
	// (upload sessions, file URIs, hosted images); "" means the listener's
	// address, with an unspecified host (0.0.0.0, ::) read as 127.0.0.1.
	PublicURL string
	// Control enables the HTTP control endpoint under ControlPrefix, with
	// which tests in any language inject faults, read recorded requests
	// and statistics, move the clock and reset the server. See
	// ControlPrefix for the routes.
	Control bool
	// ControlToken, when set, is the bearer token every control request
	// must carry ("Authorization: Bearer <token>"). The standalone
	// emulator requires one for a control endpoint on a non-loopback
	// address.
	ControlToken string
	// Tasks configures the task APIs (Kie.ai, Replicate, APIMart).
	Tasks TaskOptions
}

// Request is a recorded request, with secrets redacted.
type Request struct {
	Method   string
	Path     string
	RawQuery string // key= values replaced by REDACTED
	// Header holds the request headers; Authorization, X-Goog-Api-Key and
	// Api-Key values are replaced by "REDACTED".
	Header   http.Header
	Body     []byte              // raw body as sent (base64 blobs included)
	JSON     map[string]any      // the decoded body, when it is a JSON object
	Form     map[string][]string // multipart text fields
	Files    map[string][]File   // multipart files by field name
	Endpoint Endpoint
	Model    string // model from the path, body or form ("dall-e-2" when an image request names none)
	Time     time.Time
	// RequestID is the x-request-id the server answered with (OpenAI-style
	// endpoints only, as the real services); "" for Google endpoints.
	RequestID string
}

// File describes an uploaded multipart file.
type File struct {
	FieldName, FileName, ContentType string
	Size                             int
	SHA256                           string // hex
}

// Stats counts what the server did.
type Stats struct {
	Total       int              // all requests
	PerEndpoint map[Endpoint]int // requests per endpoint
	RateLimited int              // 429s given by the emulator's own limiter
	Faulted     int              // requests answered by an injected fault
	Streams     int              // answers sent as a stream (SSE, or Gemini's JSON array)
}

type randomRule struct {
	p      float64
	faults []Fault
}

// Server emulates the image providers' HTTP APIs on loopback. It is safe
// for concurrent use.
type Server struct {
	opts    Options
	key     string
	zone    *time.Location
	batchD  time.Duration
	ts      *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu         sync.Mutex
	chatShape  ChatShape
	requests   []Request
	scripted   map[Endpoint][]Fault
	random     map[Endpoint]randomRule
	rng        *rand.Rand
	stats      Stats
	accepted   []time.Time
	dayKey     string
	dayCount   int
	batches    map[string]*batchJob
	batchIDs   []string
	files      map[string][]byte
	fileIDs    []string
	gfiles     map[string]*gFile   // Files API, by id
	uploads    map[string]*gUpload // resumable uploads in progress, by upload id
	seq        int64
	rpm, rpd   int        // Options.RequestsPerMinute and RequestsPerDay; the control endpoint changes them
	streamMode StreamMode // Options.StreamMode; SetStreamMode changes it

	latency        atomic.Int64 // Options.Latency in ns; the control endpoint changes it
	streamInterval atomic.Int64 // Options.StreamInterval in ns
	clockOffset    atomic.Int64 // ns added to the clock by the control endpoint
	url            string       // PublicURL, or the listener's

	imgs  imageCache
	tasks taskEmulator // the task APIs' state (tasks.go)
}

// NewServer starts a Server on 127.0.0.1. Call Close when done.
func NewServer(opts Options) *Server {
	s := &Server{
		opts:      opts,
		key:       opts.APIKey,
		zone:      opts.DayZone,
		batchD:    opts.BatchDuration,
		closing:   make(chan struct{}),
		chatShape: opts.ChatShape,
		scripted:  map[Endpoint][]Fault{},
		random:    map[Endpoint]randomRule{},
		rng:       rand.New(rand.NewSource(opts.Seed)),
		stats:     Stats{PerEndpoint: map[Endpoint]int{}},
		batches:   map[string]*batchJob{},
		files:     map[string][]byte{},
		gfiles:    map[string]*gFile{},
		uploads:   map[string]*gUpload{},
	}
	if s.key == "" {
		s.key = "test-key"
	}
	if s.zone == nil {
		loc, err := time.LoadLocation("America/Los_Angeles")
		if err != nil {
			loc = time.FixedZone("PST", -8*60*60)
		}
		s.zone = loc
	}
	if s.batchD <= 0 {
		s.batchD = time.Minute
	}
	s.rpm, s.rpd = opts.RequestsPerMinute, opts.RequestsPerDay
	s.latency.Store(int64(opts.Latency))
	s.streamInterval.Store(int64(opts.StreamInterval))
	s.streamMode = opts.StreamMode
	s.imgs.init(opts.Seed)
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if opts.Listener != nil {
		_ = s.ts.Listener.Close()
		s.ts.Listener = opts.Listener
	}
	s.ts.Start()
	s.url = strings.TrimSuffix(opts.PublicURL, "/")
	if s.url == "" {
		s.url = loopbackURL(s.ts.Listener.Addr())
	}
	return s
}

// loopbackURL is the http URL of addr, with an unspecified host (a server
// bound to every interface) replaced by 127.0.0.1.
func loopbackURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// URL returns the base URL, without a trailing slash: Options.PublicURL
// when set.
func (s *Server) URL() string { return s.url }

// Client returns an HTTP client for the server; its idle connections are
// closed by Close.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close releases hung handlers and shuts the server down.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// SetChatShape changes the chat completion answer shape.
func (s *Server) SetChatShape(c ChatShape) {
	s.mu.Lock()
	s.chatShape = c
	s.mu.Unlock()
}

// Requests returns a copy of the recorded requests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

// Inject scripts faults: the next len(faults) calls to ep get them in
// order. A zero Fault or FaultNone() serves that call normally, so
// Inject(ep, f, f) means "fail twice, then succeed".
func (s *Server) Inject(ep Endpoint, faults ...Fault) {
	s.mu.Lock()
	s.scripted[ep] = append(s.scripted[ep], faults...)
	s.mu.Unlock()
}

// InjectRandom makes each call to ep, with probability p, get one of
// faults chosen uniformly, using a generator seeded with Options.Seed.
// Scripted faults take precedence.
func (s *Server) InjectRandom(ep Endpoint, p float64, faults ...Fault) {
	s.mu.Lock()
	s.random[ep] = randomRule{p: p, faults: append([]Fault(nil), faults...)}
	s.mu.Unlock()
}

// ClearFaults removes every scripted and random fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.scripted = map[Endpoint][]Fault{}
	s.random = map[Endpoint]randomRule{}
	s.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.PerEndpoint = make(map[Endpoint]int, len(s.stats.PerEndpoint))
	for k, v := range s.stats.PerEndpoint {
		st.PerEndpoint[k] = v
	}
	return st
}

func (s *Server) now() time.Time {
	t := time.Now()
	if s.opts.Clock != nil {
		t = s.opts.Clock.Now()
	}
	return t.Add(time.Duration(s.clockOffset.Load()))
}

// AdvanceClock moves the server's clock (Options.Clock, or the real clock)
// forward by d, for rate-limit windows and batch progress; a negative d
// moves it back. It returns the new time.
func (s *Server) AdvanceClock(d time.Duration) time.Time {
	s.clockOffset.Add(int64(d))
	return s.now()
}

// SetLatency changes Options.Latency for the requests that follow.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// SetLimits changes Options.RequestsPerMinute and RequestsPerDay for the
// requests that follow (0 = unlimited), keeping the counts so far.
func (s *Server) SetLimits(perMinute, perDay int) {
	s.mu.Lock()
	s.rpm, s.rpd = perMinute, perDay
	s.mu.Unlock()
}

// Reset returns the server to its state when new: no recorded requests,
// statistics, faults, batch jobs, files, uploads or rate-limit counts; the
// clock, latency, stream interval and mode, limits and chat shape as
// Options set them.
func (s *Server) Reset() {
	s.mu.Lock()
	s.requests = nil
	s.stats = Stats{PerEndpoint: map[Endpoint]int{}}
	s.scripted = map[Endpoint][]Fault{}
	s.random = map[Endpoint]randomRule{}
	s.rng = rand.New(rand.NewSource(s.opts.Seed))
	s.accepted, s.dayKey, s.dayCount = nil, "", 0
	s.batches, s.batchIDs = map[string]*batchJob{}, nil
	s.files, s.fileIDs = map[string][]byte{}, nil
	s.gfiles, s.uploads = map[string]*gFile{}, map[string]*gUpload{}
	s.chatShape = s.opts.ChatShape
	s.rpm, s.rpd = s.opts.RequestsPerMinute, s.opts.RequestsPerDay
	s.streamMode = s.opts.StreamMode
	s.mu.Unlock()
	s.tasks.reset()
	s.clockOffset.Store(0)
	s.latency.Store(int64(s.opts.Latency))
	s.streamInterval.Store(int64(s.opts.StreamInterval))
}

func (s *Server) nextSeq() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

// route is what the router learned from a request's method and path.
type route struct {
	ep       Endpoint
	wire     wireFormat
	version  string // API version from the path ("v1beta", "v1", "v1beta1"), "" when none
	method   string // Google RPC method ("generateContent", "predict", ...)
	model    string
	vertex   bool
	project  string // Vertex path's projects/{p}/locations/{l}, for messages
	batchID  string
	fileID   string // hosted image id, or Files API id
	uploadID string // resumable upload session
	stream   bool   // the caller asked for a streamed answer
	task     string // a task API's task, prediction or file id (tasks.go)
}

var (
	googleModelRE = regexp.MustCompile(`^/(.*/)?models/([^/:]+):([A-Za-z]+)$`)
	googleBatchRE = regexp.MustCompile(`^/(.*/)?batches(?:/([^/:]+)(:cancel)?)?$`)
	fileRE        = regexp.MustCompile(`^/files/([A-Za-z0-9_-]+)\.png$`)
	gUploadRE     = regexp.MustCompile(`^/upload/v1[a-z0-9]*/files$`)
	gFileRE       = regexp.MustCompile(`^/(download/)?v1[a-z0-9]*/files(?:/([^/:]+)(:download)?)?$`)
	versionRE     = regexp.MustCompile(`^/(?:upload/|download/)?(v\d[a-z0-9]*)(?:/|$)`)
	vertexRE      = regexp.MustCompile(`projects/[^/]+/locations/[^/]+`)
)

// routers recognise the emulated endpoints, each family in turn; a new
// family (issue 15's task APIs, say) adds a function here, its Endpoint
// constants and its handlers in dispatch.
func routers() []func(*http.Request) (route, bool) {
	return []func(*http.Request) (route, bool){
		routeGoogleModel, routeGoogleBatch, routeGoogleFiles, routeHostedFile, routeTask, routeOpenAI,
	}
}

func routeOf(r *http.Request) route {
	rt := route{ep: EndpointUnknown}
	for _, try := range routers() {
		if got, ok := try(r); ok {
			rt = got
			break
		}
	}
	if rt.ep == EndpointUnknown {
		rt.wire = wireOpenAI
		if looksGoogle(r) {
			rt.wire = wireGoogle
		}
	} else {
		rt.wire = wireOf(rt.ep)
	}
	if m := versionRE.FindStringSubmatch(r.URL.Path); m != nil {
		rt.version = m[1]
	}
	return rt
}

func routeGoogleModel(r *http.Request) (route, bool) {
	m := googleModelRE.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost {
		return route{}, false
	}
	rt := route{ep: EndpointUnknown, model: m[2], method: m[3],
		vertex:  strings.Contains(m[1], "publishers/") || strings.Contains(m[1], "projects/"),
		project: vertexRE.FindString(m[1])}
	switch m[3] {
	case "generateContent":
		rt.ep = EndpointGenerateContent
	case "streamGenerateContent":
		rt.ep, rt.stream = EndpointStreamGenerateContent, true
	case "batchGenerateContent":
		rt.ep = EndpointBatchCreate
	case "predict":
		rt.ep = EndpointPredict
	}
	return rt, true
}

func routeGoogleBatch(r *http.Request) (route, bool) {
	m := googleBatchRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return route{}, false
	}
	rt := route{batchID: m[2], ep: EndpointUnknown}
	switch {
	case m[2] == "" && r.Method == http.MethodGet:
		rt.ep = EndpointBatchList
	case m[2] != "" && m[3] != "" && r.Method == http.MethodPost:
		rt.ep = EndpointBatchCancel
	case m[2] != "" && m[3] == "" && r.Method == http.MethodGet:
		rt.ep = EndpointBatchGet
	case m[2] != "" && m[3] == "" && r.Method == http.MethodDelete:
		rt.ep = EndpointBatchDelete
	}
	return rt, true
}

func routeGoogleFiles(r *http.Request) (route, bool) {
	p := r.URL.Path
	if gUploadRE.MatchString(p) && r.Method == http.MethodPost {
		return route{ep: EndpointFileUpload, uploadID: r.URL.Query().Get("upload_id")}, true
	}
	m := gFileRE.FindStringSubmatch(p)
	if m == nil {
		return route{}, false
	}
	if strings.HasPrefix(p, "/v1/") && !googleHeaders(r) {
		// OpenAI's Files API lives at /v1/files too.
		return route{}, false
	}
	rt := route{ep: EndpointUnknown, fileID: m[2]}
	download, colon := m[1] != "", m[3] != ""
	switch {
	case m[2] == "":
		if r.Method == http.MethodGet && !download {
			rt.ep = EndpointFileList
		}
	case r.Method == http.MethodGet && colon:
		rt.ep = EndpointFileDownload
	case r.Method == http.MethodGet && !download:
		rt.ep = EndpointFileGet
	case r.Method == http.MethodDelete && !download && !colon:
		rt.ep = EndpointFileDelete
	}
	return rt, true
}

func routeHostedFile(r *http.Request) (route, bool) {
	m := fileRE.FindStringSubmatch(r.URL.Path)
	if m == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return route{}, false
	}
	return route{ep: EndpointFiles, fileID: m[1]}, true
}

func routeOpenAI(r *http.Request) (route, bool) {
	if r.Method != http.MethodPost {
		return route{}, false
	}
	p := r.URL.Path
	switch {
	case p == "/api/v1/images":
		return route{ep: EndpointOpenRouterImages}, true
	case strings.HasSuffix(p, "/images/generations"):
		return route{ep: EndpointImagesGenerations}, true
	case strings.HasSuffix(p, "/images/edits"):
		return route{ep: EndpointImagesEdits}, true
	case strings.HasSuffix(p, "/chat/completions"):
		return route{ep: EndpointChatCompletions}, true
	}
	return route{}, false
}

// googleHeaders reports whether a request carries what only Google's
// clients send: an API key header or query parameter, or genai's
// x-goog-api-client.
func googleHeaders(r *http.Request) bool {
	return r.Header.Get("X-Goog-Api-Key") != "" || r.Header.Get("X-Goog-Api-Client") != "" ||
		r.URL.Query().Has("key")
}

// looksGoogle guesses the envelope for an unknown path. Google's paths
// under /v1beta, /v1alpha, /upload/ and /download/ and its ":method"
// suffixes are unmistakable; under /v1/, which OpenAI shares (GET
// /v1/models, /v1/files), the client's headers decide.
func looksGoogle(r *http.Request) bool {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1beta"), strings.HasPrefix(p, "/v1alpha"),
		strings.HasPrefix(p, "/upload/"), strings.HasPrefix(p, "/download/"),
		strings.Contains(p, ":"), strings.Contains(p, "publishers/"):
		return true
	}
	return googleHeaders(r)
}

// wantsStream reports whether an OpenAI-style request asked for a stream:
// "stream": true in JSON, stream=true in a multipart form. openai-node
// sends Accept: application/json for streams too, so the body decides.
func wantsStream(rec Request) bool {
	if v, ok := rec.JSON["stream"].(bool); ok {
		return v
	}
	if v := rec.Form["stream"]; len(v) > 0 {
		return strings.EqualFold(strings.TrimSpace(v[0]), "true")
	}
	return false
}

// call is one provider request being served.
type call struct {
	r    *http.Request
	rt   route
	body []byte
	rec  Request
	f    Fault
}

const maxBody = 256 << 20

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Control && strings.HasPrefix(r.URL.Path, ControlPrefix) {
		s.serveControl(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	rt := routeOf(r)
	reqID := ""
	if rt.wire == wireOpenAI && rt.ep != EndpointFiles {
		// openai-node reads it into request_id and APIError.requestID.
		reqID = newRequestID()
		w.Header().Set("X-Request-Id", reqID)
	}
	rec := s.record(r, body, rt, reqID)
	if rt.wire == wireOpenAI && wantsStream(rec) {
		rt.stream = true
	}

	if rt.ep == EndpointFiles {
		s.serveFile(w, rt.fileID)
		return
	}
	if d := time.Duration(s.latency.Load()); d > 0 && !s.wait(r.Context(), d) {
		return
	}
	if rt.ep == EndpointUnknown {
		s.notFound(w, r, rt)
		return
	}
	if rt.ep == EndpointFileUpload && rt.uploadID != "" {
		// genai retries, with real sleeps, an upload answer without a
		// status; whatever goes wrong from here ends the session.
		w.Header().Set("X-Goog-Upload-Status", "final")
	}
	if !s.checkAuth(w, r, rt) {
		return
	}
	c := &call{r: r, rt: rt, body: body, rec: rec, f: s.nextFault(rt.ep)}
	if c.f.Kind != KindNone && s.applyFault(w, r, c.f, rt, rec) {
		return
	}
	if isGeneration(rt.ep) && !s.admit(w, rt, rec) {
		return
	}
	if rt.stream {
		s.serveStream(w, c)
		return
	}
	s.dispatch(w, c)
}

// dispatch serves a request that passed authentication, faults and limits.
func (s *Server) dispatch(w http.ResponseWriter, c *call) {
	r, rt, body, rec, f := c.r, c.rt, c.body, c.rec, c.f
	switch rt.ep {
	case EndpointGenerateContent:
		s.handleGenerateContent(w, r, rt, body, f)
	case EndpointBatchCreate:
		s.handleBatchCreate(w, rt, body)
	case EndpointBatchGet:
		s.handleBatchGet(w, rt)
	case EndpointBatchList:
		s.handleBatchList(w, r)
	case EndpointBatchCancel:
		s.handleBatchCancel(w, rt)
	case EndpointBatchDelete:
		s.handleBatchDelete(w, rt)
	case EndpointFileUpload:
		s.handleFileUpload(w, r, rt, body)
	case EndpointFileGet:
		s.handleFileGet(w, rt)
	case EndpointFileList:
		s.handleFileList(w, r)
	case EndpointFileDownload:
		s.handleFileDownload(w, r, rt)
	case EndpointFileDelete:
		s.handleFileDelete(w, rt)
	case EndpointPredict:
		s.handlePredict(w, rt, body, f)
	case EndpointImagesGenerations, EndpointOpenRouterImages:
		s.handleImagesGenerations(w, rt, rec, f, nil)
	case EndpointImagesEdits:
		s.handleImagesEdits(w, rec, f, nil)
	case EndpointChatCompletions:
		s.handleChat(w, rec, f, nil)
	default:
		if !s.dispatchTask(w, c) {
			s.notFound(w, r, rt)
		}
	}
}

// notFound answers a path or method the emulator does not serve, in the
// envelope of the family the request looks like.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, rt route) {
	if rt.wire == wireTask {
		s.taskNotFound(w, r, rt)
		return
	}
	if rt.wire == wireGoogle {
		writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.", nil)
		return
	}
	writeOpenAIError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", "", "", nil)
}

// newRequestID makes an id shaped like OpenAI's: "req_" and 32 hex digits.
func newRequestID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// wait sleeps for d in real time; false when the client left or the
// server closed first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// secretHeader reports whether a header may carry a credential: the
// providers' own (Authorization, X-Goog-Api-Key) and whatever a relay asks
// for (X-Api-Key, X-Auth-Token, Cookie, ...).
func secretHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"authorization", "key", "token", "secret", "cookie", "password"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func (s *Server) record(r *http.Request, body []byte, rt route, reqID string) Request {
	h := r.Header.Clone()
	for k := range h {
		if secretHeader(k) {
			h[k] = []string{"REDACTED"}
		}
	}
	q := r.URL.Query()
	rawQuery := r.URL.RawQuery
	if q.Has("key") {
		q.Set("key", "REDACTED")
		rawQuery = q.Encode()
	}
	rec := Request{
		Method:    r.Method,
		Path:      r.URL.Path,
		RawQuery:  rawQuery,
		Header:    h,
		Body:      body,
		Endpoint:  rt.ep,
		Model:     rt.model,
		Time:      s.now(),
		RequestID: reqID,
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "multipart/form-data":
		rec.Form, rec.Files = parseMultipart(body, params["boundary"])
		if m := rec.Form["model"]; len(m) > 0 {
			rec.Model = m[0]
		}
	case len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] == '{':
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			rec.JSON = m
			if rec.Model == "" {
				if mv, ok := m["model"].(string); ok {
					rec.Model = mv
				}
			}
		}
	}
	if rec.Model == "" && (rt.ep == EndpointImagesGenerations || rt.ep == EndpointImagesEdits) {
		rec.Model = "dall-e-2"
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.stats.Total++
	s.stats.PerEndpoint[rt.ep]++
	s.mu.Unlock()
	return rec
}

func parseMultipart(body []byte, boundary string) (map[string][]string, map[string][]File) {
	form := map[string][]string{}
	files := map[string][]File{}
	if boundary == "" {
		return form, files
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		data, _ := io.ReadAll(p)
		if p.FileName() != "" {
			files[p.FormName()] = append(files[p.FormName()], File{
				FieldName:   p.FormName(),
				FileName:    p.FileName(),
				ContentType: p.Header.Get("Content-Type"),
				Size:        len(data),
				SHA256:      sha256Hex(data),
			})
		} else {
			form[p.FormName()] = append(form[p.FormName()], string(data))
		}
	}
	return form, files
}

// checkAuth answers with the provider's auth error and returns false when
// the request is not authorised.
func (s *Server) checkAuth(w http.ResponseWriter, r *http.Request, rt route) bool {
	if rt.wire == wireTask {
		return s.taskAuth(w, r, rt)
	}
	bearer, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if rt.wire == wireGoogle {
		gkey := r.Header.Get("X-Goog-Api-Key")
		qkey := r.URL.Query().Get("key")
		switch {
		case rt.vertex:
			if (hasBearer && bearer == s.key) || gkey == s.key {
				return true
			}
		case s.opts.GeminiAuth == AuthBearer:
			if hasBearer && bearer == s.key {
				return true
			}
			writeGoogleError(w, http.StatusUnauthorized, "UNAUTHENTICATED",
				"Invalid token: the relay expects Authorization: Bearer <key>.", nil)
			return false
		default:
			if gkey == s.key || (gkey == "" && qkey == s.key) {
				return true
			}
			if gkey == "" && qkey == "" {
				writeGoogleError(w, http.StatusForbidden, "PERMISSION_DENIED",
					"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", nil)
				return false
			}
		}
		msg := "API key not valid. Please pass a valid API key."
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg, []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
				"domain": "googleapis.com", "metadata": map[string]any{"service": "generativelanguage.googleapis.com"}},
			map[string]any{"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": msg},
		})
		return false
	}
	if hasBearer && bearer == s.key {
		return true
	}
	if !hasBearer || bearer == "" {
		writeOpenAIError(w, http.StatusUnauthorized,
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
			"invalid_request_error", "", "", nil)
		return false
	}
	writeOpenAIError(w, http.StatusUnauthorized,
		"Incorrect API key provided: "+maskKey(bearer)+". You can find your API key at https://platform.openai.com/account/api-keys.",
		"invalid_request_error", "", "invalid_api_key", nil)
	return false
}

// maskKey shows at most a 4-character tail, and only of long keys.
func maskKey(k string) string {
	if len(k) < 12 {
		return "****"
	}
	return "sk-****" + k[len(k)-4:]
}

// nextFault picks the fault for this call: scripted (endpoint, then
// EndpointAny), then random (endpoint, then EndpointAny).
func (s *Server) nextFault(ep Endpoint) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	eps := []Endpoint{ep}
	if isGeneration(ep) {
		eps = append(eps, EndpointAny)
	}
	for _, e := range eps {
		if q := s.scripted[e]; len(q) > 0 {
			f := q[0]
			s.scripted[e] = q[1:]
			if f.Kind != KindNone {
				s.stats.Faulted++
			}
			return f
		}
	}
	for _, e := range eps {
		rule, ok := s.random[e]
		if !ok || len(rule.faults) == 0 {
			continue
		}
		if s.rng.Float64() < rule.p {
			f := rule.faults[s.rng.Intn(len(rule.faults))]
			if f.Kind != KindNone {
				s.stats.Faulted++
			}
			return f
		}
	}
	return Fault{}
}

// admit applies Options.RequestsPerMinute and RequestsPerDay; it answers
// 429 and returns false when over a limit. The minute is a sliding window,
// as providers count: a request is refused when RequestsPerMinute were
// accepted in (now−60s, now], with a hint of when the oldest leaves.
func (s *Server) admit(w http.ResponseWriter, rt route, rec Request) bool {
	s.mu.Lock()
	rpm, rpd := s.rpm, s.rpd
	if rpm <= 0 && rpd <= 0 {
		s.mu.Unlock()
		return true
	}
	// Read the clock under the lock, so that accepted stays in time order
	// however requests interleave: the window is exact.
	now := s.now()
	var retry time.Duration
	daily := false
	if rpd > 0 {
		key := now.In(s.zone).Format("2006-01-02")
		if key != s.dayKey {
			s.dayKey, s.dayCount = key, 0
		}
		if s.dayCount >= rpd {
			l := now.In(s.zone)
			midnight := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, s.zone)
			retry, daily = midnight.Sub(now), true
		}
	}
	if !daily && rpm > 0 {
		cut := now.Add(-time.Minute)
		i := 0
		for i < len(s.accepted) && !s.accepted[i].After(cut) {
			i++
		}
		s.accepted = s.accepted[i:]
		if len(s.accepted) >= rpm {
			retry = s.accepted[0].Add(time.Minute).Sub(now)
		}
	}
	if retry > 0 || daily {
		s.stats.RateLimited++
		s.mu.Unlock()
		model := rt.model
		if model == "" {
			model = rec.Model
		}
		switch {
		case rt.wire == wireTask:
			s.writeTaskRateLimit(w, rt, retry)
		case rt.wire == wireGoogle && rt.vertex:
			writeVertexQuota(w, rt, model)
		case rt.wire == wireGoogle && daily:
			writeGoogleQuota(w, http.StatusTooManyRequests, model, perDay, rpd, retry, "")
		case rt.wire == wireGoogle:
			writeGoogleQuota(w, http.StatusTooManyRequests, model, perMinute, rpm, retry, "")
		default:
			limit, per := rpm, "min (RPM)"
			if daily {
				limit, per = rpd, "day (RPD)"
			}
			writeOpenAIRateLimit(w, model, limit, per, retry, "")
		}
		return false
	}
	if rpm > 0 {
		s.accepted = append(s.accepted, now)
	}
	if rpd > 0 {
		s.dayCount++
	}
	s.mu.Unlock()
	return true
}

func (s *Server) storeFile(b []byte) string {
	id := "img-" + shortHash(b, s.nextSeq())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[id] = b
	s.fileIDs = append(s.fileIDs, id)
	for len(s.fileIDs) > 256 {
		delete(s.files, s.fileIDs[0])
		s.fileIDs = s.fileIDs[1:]
	}
	return s.url + "/files/" + id + ".png"
}

func (s *Server) serveFile(w http.ResponseWriter, id string) {
	s.mu.Lock()
	b, ok := s.files[id]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, nil)
		return
	}
	ct := http.DetectContentType(b)
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":{"code":500,"message":"emulator: cannot encode response","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
