package providertest

import (
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The task APIs: Kie.ai's Market jobs API, Replicate's predictions API and
// APIMart's image tasks API, each under its own path prefix so that their
// paths cannot shadow the others' (APIMart's POST /v1/images/generations
// is OpenAI's path): point an adapter at KieURL, ReplicateURL or
// APIMartURL. A task is created, walks its service's states on the
// server's clock (Options.Tasks.Duration), and ends as ScriptTasks says
// (success by default) or as a content fault injected on its create call
// makes it (SafetyBlock fails it with the service's moderation words,
// NoImage succeeds without results). Results are files the server serves
// until they expire (Options.Tasks.ResultTTL); a task created with a
// callback URL is delivered to it when it ends, signed as the service
// signs (InjectWebhook spoils deliveries on purpose). Refusals come in
// each service's envelope: Kie.ai's as HTTP 200 with the code in the body
// (Options.Tasks.KieHTTPStatus sends the code as the status too).
//
// The wire facts are those of docs.kie.ai, replicate.com/docs and
// docs.apimart.ai as read on 2026-12-04.

// The task API endpoints.
const (
	// EndpointKieCreate is Kie.ai's POST /api/v1/jobs/createTask.
	EndpointKieCreate Endpoint = "kie.createTask"
	// EndpointKieRecord is Kie.ai's GET /api/v1/jobs/recordInfo?taskId=.
	EndpointKieRecord Endpoint = "kie.recordInfo"
	// EndpointKieUpload is Kie.ai's file upload API: POST
	// /api/file-stream-upload (multipart) and /api/file-base64-upload.
	EndpointKieUpload Endpoint = "kie.upload"
	// EndpointKieDownloadURL is Kie.ai's POST /api/v1/common/download-url.
	EndpointKieDownloadURL Endpoint = "kie.downloadUrl"
	// EndpointKieCredit is Kie.ai's GET /api/v1/chat/credit.
	EndpointKieCredit Endpoint = "kie.credit"
	// EndpointReplicateCreate is Replicate's POST
	// /v1/models/{owner}/{name}/predictions and POST /v1/predictions.
	EndpointReplicateCreate Endpoint = "replicate.predictions.create"
	// EndpointReplicateGet is Replicate's GET /v1/predictions/{id}.
	EndpointReplicateGet Endpoint = "replicate.predictions.get"
	// EndpointReplicateList is Replicate's GET /v1/predictions.
	EndpointReplicateList Endpoint = "replicate.predictions.list"
	// EndpointReplicateCancel is Replicate's POST /v1/predictions/{id}/cancel.
	EndpointReplicateCancel Endpoint = "replicate.predictions.cancel"
	// EndpointReplicateFiles is Replicate's POST /v1/files.
	EndpointReplicateFiles Endpoint = "replicate.files.create"
	// EndpointReplicateSecret is Replicate's GET /v1/webhooks/default/secret.
	EndpointReplicateSecret Endpoint = "replicate.webhooks.secret"
	// EndpointAPIMartCreate is APIMart's POST /v1/images/generations.
	EndpointAPIMartCreate Endpoint = "apimart.images.generations"
	// EndpointAPIMartTask is APIMart's GET /v1/tasks/{id}.
	EndpointAPIMartTask Endpoint = "apimart.tasks.get"
	// EndpointAPIMartUpload is APIMart's POST /v1/uploads/images.
	EndpointAPIMartUpload Endpoint = "apimart.uploads.images"
	// EndpointTaskFiles is GET {prefix}/files/{id}.{ext}: the task APIs'
	// result and uploaded files (no key needed, as on the services' file
	// hosts).
	EndpointTaskFiles Endpoint = "tasks.files"

	endpointTaskUnknown Endpoint = "tasks.unknown" // a path under a task prefix that no route serves
)

func taskEndpoint(ep Endpoint) bool {
	switch ep {
	case EndpointKieCreate, EndpointKieRecord, EndpointKieUpload, EndpointKieDownloadURL, EndpointKieCredit,
		EndpointReplicateCreate, EndpointReplicateGet, EndpointReplicateList, EndpointReplicateCancel,
		EndpointReplicateFiles, EndpointReplicateSecret, EndpointAPIMartCreate, EndpointAPIMartTask,
		EndpointAPIMartUpload, EndpointTaskFiles, endpointTaskUnknown:
		return true
	}
	return false
}

// Path prefixes of the task APIs.
const (
	kiePrefix       = "/kie"
	replicatePrefix = "/replicate"
	apimartPrefix   = "/apimart"
)

// KieURL is the base URL of the emulated Kie.ai (its API and its upload
// host): taskapi.Config{BaseURL: srv.KieURL(), UploadURL: srv.KieURL()}.
func (s *Server) KieURL() string { return s.url + kiePrefix }

// ReplicateURL is the base URL of the emulated Replicate.
func (s *Server) ReplicateURL() string { return s.url + replicatePrefix }

// APIMartURL is the base URL of the emulated APIMart.
func (s *Server) APIMartURL() string { return s.url + apimartPrefix }

// TaskOptions configure the task APIs. The zero value is usable.
type TaskOptions struct {
	// Duration is how long a task takes on the server's clock, from its
	// creation to its end; 0 means 10 s. A tenth of it is spent waiting,
	// a fifth queued, the rest generating.
	Duration time.Duration
	// Jitter spreads each task's duration uniformly over
	// Duration×(1±Jitter), drawn from Options.Seed; 0 means none, at most
	// 0.9.
	Jitter float64
	// ResultTTL is how long results are served after a task ends; 0 means
	// each service's own: a day on Kie.ai and APIMart, an hour on
	// Replicate (after which its predictions say data_removed).
	ResultTTL time.Duration
	// KieHMACKey, when set, signs Kie.ai callbacks (X-Webhook-Timestamp,
	// X-Webhook-Signature), as the webhookHmacKey setting does.
	KieHMACKey string
	// ReplicateSecret is Replicate's webhook signing secret ("whsec_" and
	// base64); "" means DefaultReplicateSecret.
	ReplicateSecret string
	// KieHTTPStatus sends Kie.ai refusals with their code as the HTTP
	// status too, as some of its paths and clones do, instead of HTTP 200.
	KieHTTPStatus bool
	// ServiceLimits enforces the services' documented limits: Kie.ai 20
	// new tasks per 10 s and 10 record reads a second, Replicate 600
	// predictions a minute.
	ServiceLimits bool
	// CallbackClient delivers callbacks; nil means a client with a 10 s
	// timeout that follows no redirect (Replicate follows none).
	CallbackClient *http.Client
}

// DefaultReplicateSecret is the webhook signing secret of an emulated
// Replicate whose Options.Tasks.ReplicateSecret is empty.
const DefaultReplicateSecret = "whsec_ZW11bGF0b3Itc2lnbmluZy1zZWNyZXQtMzItYnl0ZXMhIQ=="

// ReplicateWebhookSecret returns the secret the emulated Replicate signs
// webhooks with (also served at GET /v1/webhooks/default/secret).
func (s *Server) ReplicateWebhookSecret() string {
	if s.opts.Tasks.ReplicateSecret != "" {
		return s.opts.Tasks.ReplicateSecret
	}
	return DefaultReplicateSecret
}

// TaskOutcome is how a scripted task ends.
type TaskOutcome struct {
	Name    string
	fail    bool
	never   bool
	code    string
	message string
	after   time.Duration
}

// TaskSucceeds ends the task with its results.
func TaskSucceeds() TaskOutcome { return TaskOutcome{Name: "TaskSucceeds"} }

// TaskFails ends the task failed with the service's failure code and
// message (Kie.ai failCode/failMsg, Replicate's error, APIMart's error).
func TaskFails(code, message string) TaskOutcome {
	return TaskOutcome{Name: "TaskFails(" + code + ")", fail: true, code: code, message: message}
}

// TaskNeverEnds keeps the task running for ever (until cancelled).
func TaskNeverEnds() TaskOutcome { return TaskOutcome{Name: "TaskNeverEnds", never: true} }

// TaskTakes ends the task successfully after d instead of
// Options.Tasks.Duration.
func TaskTakes(d time.Duration) TaskOutcome {
	return TaskOutcome{Name: "TaskTakes(" + d.String() + ")", after: d}
}

// ScriptTasks makes the next tasks created, on any of the services, end
// as the outcomes say, in order.
func (s *Server) ScriptTasks(outcomes ...TaskOutcome) {
	s.tasks.mu.Lock()
	s.tasks.script = append(s.tasks.script, outcomes...)
	s.tasks.mu.Unlock()
}

// WebhookFault spoils a callback delivery on purpose.
type WebhookFault int

// The webhook faults.
const (
	WebhookNormal       WebhookFault = iota // delivered as the service delivers it
	WebhookBadSignature                     // signed with the wrong key
	WebhookUnsigned                         // no signature headers
	WebhookStale                            // a timestamp ten minutes old
	WebhookReplay                           // delivered twice, identically
	WebhookTampered                         // the body changed after signing (Kie's signature does not cover it)
	WebhookMultiSig                         // Replicate: a stale "v1," and a "v1a," entry before the valid one
	WebhookSnakeCase                        // Kie: data.task_id instead of data.taskId
	WebhookDrop                             // never delivered
)

var webhookFaultNames = []string{"Normal", "BadSignature", "Unsigned", "Stale", "Replay", "Tampered", "MultiSig", "SnakeCase", "Drop"}

// String names the fault.
func (f WebhookFault) String() string {
	if f >= 0 && int(f) < len(webhookFaultNames) {
		return webhookFaultNames[f]
	}
	return "WebhookFault(" + strconv.Itoa(int(f)) + ")"
}

// InjectWebhook makes the next callback deliveries, in order, carry the
// faults.
func (s *Server) InjectWebhook(faults ...WebhookFault) {
	s.tasks.mu.Lock()
	s.tasks.hookFaults = append(s.tasks.hookFaults, faults...)
	s.tasks.mu.Unlock()
}

// Delivery is a callback the server sent.
type Delivery struct {
	Service string
	TaskID  string
	URL     string
	Fault   WebhookFault
	Status  int    // the receiver's answer; 0 when it gave none
	Err     string // why the delivery failed, if it did
	Time    time.Time
}

// Deliveries returns the callbacks sent so far, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.tasks.mu.Lock()
	defer s.tasks.mu.Unlock()
	return append([]Delivery(nil), s.tasks.deliveries...)
}

// TaskInfo describes an emulated task.
type TaskInfo struct {
	Service  string
	ID       string
	Model    string
	Prompt   string
	Created  time.Time
	Ends     time.Time // when it ends on the server's clock; zero for one that never does
	State    string    // the service's word for it now
	Polls    int       // reads of its record (recordInfo, GET prediction, GET task)
	Canceled bool
	Images   int
}

// Tasks lists the tasks created so far, oldest first.
func (s *Server) Tasks() []TaskInfo {
	now := s.now()
	s.tasks.mu.Lock()
	defer s.tasks.mu.Unlock()
	out := make([]TaskInfo, 0, len(s.tasks.order))
	for _, id := range s.tasks.order {
		t := s.tasks.tasks[id]
		prompt, _ := t.input["prompt"].(string)
		info := TaskInfo{Service: t.service, ID: t.id, Model: t.model, Prompt: prompt, Created: t.created, Polls: t.polls,
			Canceled: !t.canceled.IsZero(), Images: t.n, State: s.tasks.word(t, now)}
		if !t.outcome.never {
			info.Ends = t.created.Add(t.duration)
		}
		out = append(out, info)
	}
	return out
}

// emuTask is one task of one of the services.
type emuTask struct {
	service   string
	id        string
	model     string
	body      json.RawMessage // the create request, as Kie's param echoes it
	input     map[string]any
	created   time.Time
	duration  time.Duration
	outcome   TaskOutcome
	blocked   string // a content fault: the reason
	noImage   bool
	canceled  time.Time
	deadline  time.Time // Replicate's Cancel-After
	callback  string
	delivered bool
	polls     int
	n         int
	format    string
	ratio     string
	size      string
	files     []string // result file URLs, made when the task ends
	legacy    bool     // APIMart: answer without the response version (string URLs, array submit)
}

type taskFile struct {
	data    []byte
	mime    string
	expires time.Time
}

// taskEmulator is the state of the task APIs.
type taskEmulator struct {
	mu         sync.Mutex
	tasks      map[string]*emuTask
	order      []string
	files      map[string]*taskFile
	fileOrder  []string
	idem       map[string]idemEntry // APIMart Idempotency-Key → task
	script     []TaskOutcome
	hookFaults []WebhookFault
	deliveries []Delivery
	creates    []time.Time // for ServiceLimits
	reads      []time.Time
	rng        *rand.Rand
	watching   bool
	lose       map[Endpoint]int // LoseAnswers
}

type idemEntry struct {
	id   string
	hash string
}

func (te *taskEmulator) init(seed int64) {
	if te.tasks == nil {
		te.tasks, te.files, te.idem = map[string]*emuTask{}, map[string]*taskFile{}, map[string]idemEntry{}
		te.rng = rand.New(rand.NewSource(seed))
	}
}

func (te *taskEmulator) reset() {
	te.mu.Lock()
	defer te.mu.Unlock()
	te.tasks, te.order, te.files, te.fileOrder, te.idem = nil, nil, nil, nil, nil
	te.script, te.hookFaults, te.deliveries, te.creates, te.reads = nil, nil, nil, nil, nil
	te.lose = nil
}

// LoseAnswers makes the next n calls to a task API's create endpoint
// (EndpointKieCreate, EndpointReplicateCreate, EndpointAPIMartCreate)
// create their task and then lose the answer: the connection is reset
// instead. A client cannot tell such a call from one that created
// nothing, which is what Idempotency-Keys and lookups are for.
func (s *Server) LoseAnswers(ep Endpoint, n int) {
	s.tasks.mu.Lock()
	defer s.tasks.mu.Unlock()
	if s.tasks.lose == nil {
		s.tasks.lose = map[Endpoint]int{}
	}
	s.tasks.lose[ep] += n
}

// loseAnswer resets the connection instead of answering, when
// LoseAnswers asked for it; it reports whether it did.
func (s *Server) loseAnswer(w http.ResponseWriter, ep Endpoint) bool {
	s.tasks.mu.Lock()
	lose := s.tasks.lose[ep] > 0
	if lose {
		s.tasks.lose[ep]--
	}
	s.tasks.mu.Unlock()
	if !lose {
		return false
	}
	s.applyFault(w, nil, Reset(), route{}, Request{})
	return true
}

var (
	replicatePredictionRE = regexp.MustCompile(`^/v1/predictions/([A-Za-z0-9_-]+)(/cancel)?$`)
	replicateModelRE      = regexp.MustCompile(`^/v1/models/([^/]+/[^/]+)/predictions$`)
	apimartTaskRE         = regexp.MustCompile(`^/v1/tasks/([A-Za-z0-9_-]+)$`)
	taskFileRE            = regexp.MustCompile(`^/files/([A-Za-z0-9_-]+)\.[a-z]+$`)
)

// routeTask recognises the task APIs' paths under their prefixes.
func routeTask(r *http.Request) (route, bool) {
	p := r.URL.Path
	var svc, rest string
	for _, pre := range []string{kiePrefix, replicatePrefix, apimartPrefix} {
		if strings.HasPrefix(p, pre+"/") {
			svc, rest = pre[1:], strings.TrimPrefix(p, pre)
		}
	}
	if svc == "" {
		return route{}, false
	}
	rt := route{ep: endpointTaskUnknown, method: svc}
	get, post := r.Method == http.MethodGet || r.Method == http.MethodHead, r.Method == http.MethodPost
	if m := taskFileRE.FindStringSubmatch(rest); m != nil && get {
		rt.ep, rt.task = EndpointTaskFiles, m[1]
		return rt, true
	}
	switch svc {
	case "kie":
		switch {
		case rest == "/api/v1/jobs/createTask" && post:
			rt.ep = EndpointKieCreate
		case rest == "/api/v1/jobs/recordInfo" && get:
			rt.ep, rt.task = EndpointKieRecord, r.URL.Query().Get("taskId")
		case (rest == "/api/file-stream-upload" || rest == "/api/file-base64-upload") && post:
			rt.ep = EndpointKieUpload
		case rest == "/api/v1/common/download-url" && post:
			rt.ep = EndpointKieDownloadURL
		case rest == "/api/v1/chat/credit" && get:
			rt.ep = EndpointKieCredit
		}
	case "replicate":
		if m := replicateModelRE.FindStringSubmatch(rest); m != nil && post {
			rt.ep, rt.model = EndpointReplicateCreate, m[1]
		} else if m := replicatePredictionRE.FindStringSubmatch(rest); m != nil {
			switch {
			case m[2] != "" && post:
				rt.ep, rt.task = EndpointReplicateCancel, m[1]
			case m[2] == "" && get:
				rt.ep, rt.task = EndpointReplicateGet, m[1]
			}
		} else {
			switch {
			case rest == "/v1/predictions" && post:
				rt.ep = EndpointReplicateCreate
			case rest == "/v1/predictions" && get:
				rt.ep = EndpointReplicateList
			case rest == "/v1/files" && post:
				rt.ep = EndpointReplicateFiles
			case rest == "/v1/webhooks/default/secret" && get:
				rt.ep = EndpointReplicateSecret
			}
		}
	case "apimart":
		if m := apimartTaskRE.FindStringSubmatch(rest); m != nil && get {
			rt.ep, rt.task = EndpointAPIMartTask, m[1]
		}
		switch {
		case rest == "/v1/images/generations" && post:
			rt.ep = EndpointAPIMartCreate
		case rest == "/v1/uploads/images" && post:
			rt.ep = EndpointAPIMartUpload
		}
	}
	return rt, true
}

// serviceOf names the service of a task route ("kie", "replicate", "apimart").
func serviceOf(rt route) string { return rt.method }

// taskAuth checks the Bearer key, answering each service's refusal.
func (s *Server) taskAuth(w http.ResponseWriter, r *http.Request, rt route) bool {
	if rt.ep == EndpointTaskFiles {
		return true // file hosts take no key
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && bearer == s.key {
		return true
	}
	switch serviceOf(rt) {
	case "kie":
		s.kieError(w, 401, "You do not have access permissions")
	case "replicate":
		writeJSON(w, http.StatusUnauthorized, map[string]any{"title": "Unauthenticated",
			"detail": "You did not pass a valid authentication token", "status": 401})
	default:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"message": "Invalid API key", "type": "authentication_error", "code": "invalid_api_key"}})
	}
	return false
}

// taskNotFound answers a path no route serves, in the service's envelope.
func (s *Server) taskNotFound(w http.ResponseWriter, r *http.Request, rt route) {
	switch serviceOf(rt) {
	case "kie":
		s.kieError(w, 404, "Not Found - "+r.Method+" "+r.URL.Path+" does not exist")
	case "replicate":
		writeJSON(w, http.StatusNotFound, map[string]any{"title": "Not found", "detail": "The requested resource could not be found.", "status": 404})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
			"message": "Invalid URL (" + r.Method + " " + r.URL.Path + ")", "type": "invalid_request_error", "code": "not_found"}})
	}
}

// kieError writes Kie's envelope for a refusal: HTTP 200 with the code in
// the body, or the code as the status with KieHTTPStatus.
func (s *Server) kieError(w http.ResponseWriter, code int, msg string) {
	status := http.StatusOK
	if s.opts.Tasks.KieHTTPStatus && code >= 400 && code <= 599 {
		status = code
	}
	writeJSON(w, status, map[string]any{"code": code, "msg": msg, "data": nil})
}

func replicateProblem(w http.ResponseWriter, status int, title, detail string, extra map[string]any) {
	body := map[string]any{"title": title, "detail": detail, "status": status}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}

func apimartError(w http.ResponseWriter, status int, msg, typ, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

// writeTaskFault answers an injected fault in the service's envelope.
func (s *Server) writeTaskFault(w http.ResponseWriter, f Fault, rt route) {
	retry := f.Retry
	if f.Kind == KindRateLimitedUntil {
		retry = max(f.Until.Sub(s.now()), 0)
	}
	secs := int(math.Ceil(retry.Seconds()))
	switch serviceOf(rt) {
	case "kie":
		switch f.Kind {
		case KindRateLimited, KindRateLimitedUntil:
			s.kieError(w, 429, "Rate Limited - the request limit has been exceeded, please try again later")
		case KindDailyQuotaExhausted, KindQuotaZero:
			s.kieError(w, 433, "Request Limit - Sub-key usage exceeds limit")
		case KindPaymentRequired:
			s.kieError(w, 402, "Insufficient Credits")
		case KindModelRetired:
			s.kieError(w, 404, "Not Found - model not found")
		case KindUnavailable:
			s.kieError(w, 455, "Service Unavailable - System is currently undergoing maintenance")
		default:
			s.kieError(w, 500, "Server Error")
		}
	case "replicate":
		switch f.Kind {
		case KindRateLimited, KindRateLimitedUntil:
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			replicateProblem(w, 429, "Request was throttled", fmt.Sprintf("Request was throttled. Your rate limit resets in ~%ds.", secs),
				map[string]any{"retry_after": secs})
		case KindDailyQuotaExhausted, KindQuotaZero:
			replicateProblem(w, 429, "Request was throttled", "Request was throttled. Your rate limit for creating predictions is reduced to 6 requests per minute with a burst of 1 requests while you have less than $5.0 in credit. Your rate limit resets in ~10s.",
				map[string]any{"retry_after": 10})
		case KindPaymentRequired:
			replicateProblem(w, 402, "Insufficient credit", "You have insufficient credit to run this model. Go to https://replicate.com/account/billing#billing to purchase credit. Once you purchase credit, please wait a few minutes before trying again.", nil)
		case KindModelRetired:
			replicateProblem(w, 404, "Not found", "The requested resource could not be found.", nil)
		case KindUnavailable:
			replicateProblem(w, 503, "Service Unavailable", "The service is temporarily unavailable. Please try again later.", nil)
		default:
			replicateProblem(w, 500, "Internal Server Error", "", nil)
		}
	default:
		switch f.Kind {
		case KindRateLimited, KindRateLimitedUntil:
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			apimartError(w, 429, "Too many requests, please slow down", "rate_limit_error", "rate_limit_exceeded")
		case KindDailyQuotaExhausted, KindQuotaZero, KindPaymentRequired:
			apimartError(w, 402, "Insufficient balance, please recharge", "insufficient_quota", "insufficient_balance")
		case KindModelRetired:
			apimartError(w, 404, "The model does not exist", "invalid_request_error", "model_not_found")
		case KindUnavailable:
			apimartError(w, 503, "Service temporarily unavailable", "server_error", "service_unavailable")
		default:
			apimartError(w, 500, "Internal server error", "server_error", "internal_error")
		}
	}
}

// writeTaskRateLimit answers Options.RequestsPerMinute's refusal.
func (s *Server) writeTaskRateLimit(w http.ResponseWriter, rt route, retry time.Duration) {
	s.writeTaskFault(w, RateLimited(retry), rt)
}

// dispatchTask serves a task API endpoint; false for any other endpoint.
func (s *Server) dispatchTask(w http.ResponseWriter, c *call) bool {
	if !taskEndpoint(c.rt.ep) {
		return false
	}
	s.tasks.mu.Lock()
	s.tasks.init(s.opts.Seed)
	s.tasks.mu.Unlock()
	switch c.rt.ep {
	case EndpointKieCreate:
		s.kieCreate(w, c)
	case EndpointKieRecord:
		s.kieRecord(w, c)
	case EndpointKieUpload:
		s.kieUpload(w, c)
	case EndpointKieDownloadURL:
		s.kieDownloadURL(w, c)
	case EndpointKieCredit:
		writeJSON(w, http.StatusOK, map[string]any{"code": 200, "msg": "success", "data": 1000})
	case EndpointReplicateCreate:
		s.replicateCreate(w, c)
	case EndpointReplicateGet:
		s.replicateGet(w, c)
	case EndpointReplicateList:
		s.replicateList(w, c)
	case EndpointReplicateCancel:
		s.replicateCancel(w, c)
	case EndpointReplicateFiles:
		s.replicateFile(w, c)
	case EndpointReplicateSecret:
		writeJSON(w, http.StatusOK, map[string]any{"key": s.ReplicateWebhookSecret()})
	case EndpointAPIMartCreate:
		s.apimartCreate(w, c)
	case EndpointAPIMartTask:
		s.apimartTask(w, c)
	case EndpointAPIMartUpload:
		s.apimartUpload(w, c)
	case EndpointTaskFiles:
		s.serveTaskFile(w, c.r, c.rt)
	default:
		s.taskNotFound(w, c.r, c.rt)
	}
	return true
}

// newTask registers a task created now; the fault of its create call may
// decide how it ends.
func (s *Server) newTask(service, prefix, model string, body []byte, input map[string]any, n int, f Fault) *emuTask {
	now := s.now()
	te := &s.tasks
	te.mu.Lock()
	defer te.mu.Unlock()
	te.init(s.opts.Seed)
	d := s.opts.Tasks.Duration
	if d <= 0 {
		d = 10 * time.Second
	}
	if j := min(s.opts.Tasks.Jitter, 0.9); j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*te.rng.Float64()-1)))
	}
	t := &emuTask{service: service, model: model, body: body, input: input, created: now, duration: d, n: max(n, 1),
		outcome: TaskSucceeds()}
	if len(te.script) > 0 {
		t.outcome, te.script = te.script[0], te.script[1:]
		if t.outcome.after > 0 {
			t.duration = t.outcome.after
		}
	}
	switch f.Kind {
	case KindSafetyBlock:
		t.blocked = f.Reason
		if t.blocked == "" {
			t.blocked = "policy"
		}
	case KindNoImage:
		t.noImage = true
	}
	var b [10]byte
	_, _ = crand.Read(b[:])
	t.id = prefix + strings.ToLower(base32NoPad(b[:]))
	te.tasks[t.id] = t
	te.order = append(te.order, t.id)
	for len(te.order) > 4096 {
		delete(te.tasks, te.order[0])
		te.order = te.order[1:]
	}
	return t
}

func base32NoPad(b []byte) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var out strings.Builder
	var acc, bits uint
	for _, c := range b {
		acc = acc<<8 | uint(c)
		bits += 8
		for bits >= 5 {
			out.WriteByte(alphabet[(acc>>(bits-5))&31])
			bits -= 5
		}
	}
	if bits > 0 {
		out.WriteByte(alphabet[(acc<<(5-bits))&31])
	}
	return out.String()
}

// phase is where a task stands at now: 0 waiting, 1 queued, 2 generating,
// 3 ended, 4 cancelled (5 aborted: its deadline passed before it started).
func (t *emuTask) phase(now time.Time) int {
	end := t.created.Add(t.duration)
	start := t.created.Add(t.duration * 3 / 10)
	if !t.deadline.IsZero() && now.After(t.deadline) && (t.outcome.never || t.deadline.Before(end)) {
		if t.deadline.Before(start) {
			return 5
		}
		return 4
	}
	if !t.canceled.IsZero() && !now.Before(t.canceled) && (t.outcome.never || t.canceled.Before(end)) {
		return 4
	}
	e := now.Sub(t.created)
	switch {
	case t.outcome.never:
		if e < t.duration/10 {
			return 0
		}
		return 2
	case e < t.duration/10:
		return 0
	case e < t.duration*3/10:
		return 1
	case e < t.duration:
		return 2
	}
	return 3
}

// failed reports whether an ended task failed, with the service's code and
// message.
func (t *emuTask) failed() (bool, string, string) {
	switch {
	case t.blocked != "":
		switch t.service {
		case "replicate":
			return true, "E005", "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
		case "apimart":
			return true, "content_policy_violation", "Your request was rejected as a result of our safety system (" + t.blocked + ")"
		}
		return true, "400", "Your prompt was flagged by the content policy (" + t.blocked + ")"
	case t.outcome.fail:
		return true, t.outcome.code, t.outcome.message
	}
	return false, "", ""
}

// word is the service's status word for the task at now.
func (te *taskEmulator) word(t *emuTask, now time.Time) string {
	ph := t.phase(now)
	failed, _, _ := t.failed()
	switch t.service {
	case "kie":
		return [...]string{"waiting", "queuing", "generating", map[bool]string{false: "success", true: "fail"}[failed], "fail", "fail"}[ph]
	case "replicate":
		return [...]string{"starting", "starting", "processing", map[bool]string{false: "succeeded", true: "failed"}[failed], "canceled", "aborted"}[ph]
	}
	return [...]string{"pending", "pending", "processing", map[bool]string{false: "completed", true: "failed"}[failed], "cancelled", "cancelled"}[ph]
}

// results makes an ended task's files, once, and returns their URLs.
func (s *Server) results(t *emuTask) []string {
	te := &s.tasks
	te.mu.Lock()
	if t.files != nil || t.noImage {
		urls := t.files
		te.mu.Unlock()
		return urls
	}
	n, format, ratio, service := t.n, t.format, t.ratio, t.service
	te.mu.Unlock()
	ttl := s.opts.Tasks.ResultTTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
		if service == "replicate" {
			ttl = time.Hour
		}
	}
	end := t.created.Add(t.duration)
	w, h, ok := ratioSize(64, ratio)
	if !ok {
		w, h = 64, 64
	}
	var urls []string
	for i := range n {
		data, mt := s.makeImage(format, w, h, t.id+strconv.Itoa(i))
		urls = append(urls, s.storeTaskFile(service, data, mt, end.Add(ttl)))
	}
	te.mu.Lock()
	defer te.mu.Unlock()
	if t.files == nil {
		t.files = urls
	}
	return t.files
}

// storeTaskFile keeps a file the server serves until expires and returns
// its URL.
func (s *Server) storeTaskFile(service string, data []byte, mimeType string, expires time.Time) string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ext := ".png"
	switch mimeType {
	case "image/jpeg":
		ext = ".jpg"
	case "image/webp":
		ext = ".webp"
	case "image/gif":
		ext = ".gif"
	}
	te := &s.tasks
	te.mu.Lock()
	defer te.mu.Unlock()
	te.init(s.opts.Seed)
	te.files[id] = &taskFile{data: data, mime: mimeType, expires: expires}
	te.fileOrder = append(te.fileOrder, id)
	for len(te.fileOrder) > 1024 {
		delete(te.files, te.fileOrder[0])
		te.fileOrder = te.fileOrder[1:]
	}
	return s.url + "/" + service + "/files/" + id + ext
}

// serveTaskFile serves a result or uploaded file until it expires, with
// its length, as the services' file hosts do.
func (s *Server) serveTaskFile(w http.ResponseWriter, r *http.Request, rt route) {
	now := s.now()
	s.tasks.mu.Lock()
	f := s.tasks.files[rt.task]
	s.tasks.mu.Unlock()
	if f == nil || now.After(f.expires) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.mime)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.data)
}

// sleepClock waits d on the server's clock (a fake clock moves at once);
// false when the client left or the server closed first.
func (s *Server) sleepClock(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	var ch <-chan time.Time
	if s.opts.Clock != nil {
		ch = s.opts.Clock.After(d)
	} else {
		t := time.NewTimer(d)
		defer t.Stop()
		ch = t.C
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// limitTasks applies ServiceLimits: at most n events in any window per
// (the events of one kind are in times). It returns how long until one
// more fits, 0 when it does now (and records it).
func limitTasks(times *[]time.Time, now time.Time, n int, per time.Duration) time.Duration {
	cut := now.Add(-per)
	i := 0
	for i < len(*times) && !(*times)[i].After(cut) {
		i++
	}
	*times = (*times)[i:]
	if len(*times) >= n {
		return (*times)[0].Add(per).Sub(now)
	}
	*times = append(*times, now)
	return 0
}

// watchCallbacks starts, once, the goroutine that delivers the callbacks
// of tasks that have ended. It looks every 10 ms (real time), so a fake
// clock moved by a test is noticed at once; it stops when the server
// closes.
func (s *Server) watchCallbacks() {
	te := &s.tasks
	te.mu.Lock()
	if te.watching {
		te.mu.Unlock()
		return
	}
	te.watching = true
	te.mu.Unlock()
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.closing:
				return
			case <-tick.C:
			}
			now := s.now()
			var due []*emuTask
			te.mu.Lock()
			for _, id := range te.order {
				t := te.tasks[id]
				if t.callback != "" && !t.delivered && t.phase(now) >= 3 {
					t.delivered = true
					due = append(due, t)
				}
			}
			te.mu.Unlock()
			for _, t := range due {
				s.deliver(t)
			}
		}
	}()
}

// deliver sends one task's callback, as its service would.
func (s *Server) deliver(t *emuTask) {
	te := &s.tasks
	te.mu.Lock()
	fault := WebhookNormal
	if len(te.hookFaults) > 0 {
		fault, te.hookFaults = te.hookFaults[0], te.hookFaults[1:]
	}
	te.mu.Unlock()
	d := Delivery{Service: t.service, TaskID: t.id, URL: t.callback, Fault: fault, Time: s.now()}
	if fault == WebhookDrop {
		s.recordDelivery(d)
		return
	}
	now := s.now()
	ts := now.Unix()
	if fault == WebhookStale {
		ts -= 600
	}
	header := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"imagegen-emulator-webhooks/1"}}
	var body []byte
	switch t.service {
	case "kie":
		data := s.kieData(t, now)
		ok := data["state"] == "success"
		if fault == WebhookSnakeCase {
			data["task_id"] = data["taskId"]
			delete(data, "taskId")
		}
		code, msg := 200, "Playground task completed successfully."
		if !ok {
			code, msg = 501, "Playground task failed."
		}
		body, _ = json.Marshal(map[string]any{"code": code, "msg": msg, "data": data})
		if key := s.opts.Tasks.KieHMACKey; key != "" && fault != WebhookUnsigned {
			if fault == WebhookBadSignature {
				key += "-wrong"
			}
			header.Set("X-Webhook-Timestamp", strconv.FormatInt(ts, 10))
			header.Set("X-Webhook-Signature", base64.StdEncoding.EncodeToString(hmacSHA256([]byte(key), t.id+"."+strconv.FormatInt(ts, 10))))
		}
		if fault == WebhookTampered {
			// The signature covers taskId.timestamp, not this.
			body, _ = json.Marshal(map[string]any{"code": 200, "msg": "Playground task completed successfully.",
				"data": map[string]any{"taskId": t.id, "state": "success", "resultJson": `{"resultUrls":["https://attacker.example/forged.png"]}`}})
		}
	case "replicate":
		body, _ = json.Marshal(s.prediction(t, now))
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.ReplicateWebhookSecret(), "whsec_"))
		if fault == WebhookBadSignature {
			key = append(key, 'x')
		}
		var nb [12]byte
		_, _ = crand.Read(nb[:])
		id := "msg_" + hex.EncodeToString(nb[:])
		sig := "v1," + base64.StdEncoding.EncodeToString(hmacSHA256(key, id+"."+strconv.FormatInt(ts, 10)+"."+string(body)))
		if fault == WebhookMultiSig {
			sig = "v1,c3RhbGUtc2lnbmF0dXJlLW9mLWFuLW9sZC1zZWNyZXQ= v1a,YXN5bW1ldHJpYw== " + sig
		}
		if fault != WebhookUnsigned {
			header.Set("Webhook-Id", id)
			header.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
			header.Set("Webhook-Signature", sig)
		}
		if fault == WebhookTampered {
			body = []byte(strings.Replace(string(body), `"status":"`, `"status":"x`, 1))
		}
	}
	times := 1
	if fault == WebhookReplay {
		times = 2
	}
	client := s.opts.Tasks.CallbackClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	for range times {
		d.Status, d.Err = 0, ""
		req, err := http.NewRequest(http.MethodPost, t.callback, strings.NewReader(string(body)))
		if err == nil {
			req.Header = header.Clone()
			var resp *http.Response
			resp, err = client.Do(req)
			if err == nil {
				d.Status = resp.StatusCode
				_ = resp.Body.Close()
			}
		}
		if err != nil {
			d.Err = err.Error()
		}
		s.recordDelivery(d)
	}
}

func (s *Server) recordDelivery(d Delivery) {
	s.tasks.mu.Lock()
	s.tasks.deliveries = append(s.tasks.deliveries, d)
	if n := len(s.tasks.deliveries); n > 4096 {
		s.tasks.deliveries = s.tasks.deliveries[n-4096:]
	}
	s.tasks.mu.Unlock()
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// taskByID returns a task of the service and counts a read of it.
func (s *Server) taskByID(service, id string, poll bool) *emuTask {
	te := &s.tasks
	te.mu.Lock()
	defer te.mu.Unlock()
	te.init(s.opts.Seed)
	t := te.tasks[id]
	if t == nil || t.service != service {
		return nil
	}
	if poll {
		t.polls++
	}
	return t
}

// sortedTasks returns the service's tasks created after since, newest
// first.
func (s *Server) sortedTasks(service string, since time.Time) []*emuTask {
	te := &s.tasks
	te.mu.Lock()
	defer te.mu.Unlock()
	var out []*emuTask
	for _, id := range te.order {
		if t := te.tasks[id]; t.service == service && !t.created.Before(since) {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].created.After(out[j].created) })
	return out
}
