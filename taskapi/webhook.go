package taskapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/internal/secret"
	"github.com/imagegen-go/imagegen/provider"
)

// DefaultWebhookTolerance is how far a delivery's timestamp may be from
// the receiver's clock, either way: five minutes, as the Standard Webhooks
// libraries use (Replicate signs with Standard Webhooks but names no
// window; Kie.ai names none either).
const DefaultWebhookTolerance = 5 * time.Minute

// DefaultWebhookBodyBytes caps a delivery's body: a prediction or a task
// record is a few KiB.
const DefaultWebhookBodyBytes = 1 << 20

// WebhookConfig configures NewWebhooks.
type WebhookConfig struct {
	// URL is where the services reach the handler (https, public); it is
	// sent as Kie.ai's callBackUrl and Replicate's webhook. Required.
	URL string
	// ReplicateSecret is the signing secret ("whsec_…", from Replicate's
	// GET /v1/webhooks/default/secret). Replicate deliveries are refused
	// without it: their signature is what makes them believable.
	ReplicateSecret string
	// KieKey is Kie.ai's webhookHmacKey (kie.ai/settings). When set, Kie
	// callbacks must carry a valid X-Webhook-Signature; when empty they
	// are taken unsigned. Either way a Kie callback only says "read this
	// task again": its signature covers the task ID and the time, not the
	// body, so the record is always read back from Kie.
	KieKey string
	// Tolerance is how far a signed delivery's timestamp may be from now;
	// 0 means DefaultWebhookTolerance.
	Tolerance time.Duration
	// Clock tells the time for timestamps; nil means
	// provider.SystemClock().
	Clock provider.Clock
	// MaxBodyBytes caps a delivery; 0 means DefaultWebhookBodyBytes.
	MaxBodyBytes int64
	// OnEvent, when set, is called for every accepted delivery, whether
	// or not a Generate call or a Task waits for it (a batch tool resumes
	// its saved tasks from here). It must not block for long.
	OnEvent func(Event)
}

// String describes the configuration without its secrets.
func (c WebhookConfig) String() string { return fmt.Sprintf("%v", c) }

// Format prints the configuration with its secrets redacted, under every
// verb.
func (c WebhookConfig) Format(f fmt.State, verb rune) {
	type config WebhookConfig
	r := config(c)
	if r.ReplicateSecret != "" {
		r.ReplicateSecret = secret.Mask
	}
	if r.KieKey != "" {
		r.KieKey = secret.Mask
	}
	r.URL = secret.URL(r.URL)
	secret.Format(f, verb, r, "taskapi.config", "taskapi.WebhookConfig")
}

// Event is an accepted delivery.
type Event struct {
	Service Service
	TaskID  string
	// State is the task's state as a signed Replicate delivery says; ""
	// for Kie.ai, whose callback body is not believed (read the task).
	State  State
	Signed bool // the delivery's signature was verified
	Time   time.Time
}

// Webhooks is the http.Handler that receives Kie.ai callbacks and
// Replicate webhooks and ends the waits of Generate calls and Tasks of
// every generator whose Config.Webhooks it is. It checks what each
// service lets it check and refuses the rest:
//
//   - Replicate (Standard Webhooks): webhook-id, webhook-timestamp and
//     webhook-signature are required; the signature is HMAC-SHA256 of
//     "id.timestamp.body" with the secret's key, compared in constant
//     time with every "v1," entry of the header (several are sent while a
//     secret rotates); a timestamp more than Tolerance away, or an ID
//     already accepted, is refused. A verified body is believed.
//   - Kie.ai: X-Webhook-Timestamp and X-Webhook-Signature (base64 of
//     HMAC-SHA256 of "taskId.timestamp" with KieKey) are required when
//     KieKey is set, with the same window and replay check. The body is
//     never believed: the task is read again from Kie.
//
// Answers: 200 accepted, 400 malformed, 401 unsigned, badly signed or
// stale, 405 not a POST, 409 replayed, 413 too large.
type Webhooks struct {
	url       string
	cfg       WebhookConfig
	replicate []byte // the signing key, decoded
	kie       []byte
	clock     provider.Clock
	tolerance time.Duration
	maxBody   int64

	mu      sync.Mutex
	waiters map[string]map[chan notice]struct{}
	early   map[string]earlyNotice
	order   []string // early keys, oldest first
	seen    map[string]time.Time
}

// notice tells a waiter its task has news: a signed body, or nothing (read
// the task again).
type notice struct {
	id   string
	body []byte
}

type earlyNotice struct {
	n  notice
	at time.Time
}

// Bounds on what the handler remembers.
const (
	earlyMax  = 1024             // deliveries for tasks nobody waits for yet
	earlyLife = 10 * time.Minute // how long such a delivery is kept
	seenMax   = 1 << 16          // accepted delivery IDs kept against replays
)

// NewWebhooks returns the handler for cfg. A configuration mistake is a
// *provider.ConfigError.
func NewWebhooks(cfg WebhookConfig) (*Webhooks, error) {
	var e cfgcheck.Errors
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		e.Add("taskapi.WebhookConfig.URL", fmt.Sprintf("%q", secret.URL(cfg.URL)), "the handler's public http(s) URL")
	}
	w := &Webhooks{url: cfg.URL, cfg: cfg, clock: provider.ClockOr(cfg.Clock), tolerance: cfg.Tolerance, maxBody: cfg.MaxBodyBytes,
		waiters: map[string]map[chan notice]struct{}{}, early: map[string]earlyNotice{}, seen: map[string]time.Time{}}
	if cfg.ReplicateSecret != "" {
		key, err := SigningKey(cfg.ReplicateSecret)
		if err != nil {
			e.Add("taskapi.WebhookConfig.ReplicateSecret", "", "whsec_ followed by base64, as Replicate's GET /v1/webhooks/default/secret gives it")
		}
		w.replicate = key
	}
	if cfg.KieKey != "" {
		w.kie = []byte(cfg.KieKey)
	}
	cfgcheck.NonNegative(&e, "taskapi.WebhookConfig.Tolerance", cfg.Tolerance, "0 (the default, 5m) or a positive duration")
	cfgcheck.NonNegative(&e, "taskapi.WebhookConfig.MaxBodyBytes", cfg.MaxBodyBytes, "0 (the default, 1 MiB) or a positive number of bytes")
	if err := e.Err(); err != nil {
		return nil, err
	}
	if w.tolerance == 0 {
		w.tolerance = DefaultWebhookTolerance
	}
	if w.maxBody == 0 {
		w.maxBody = DefaultWebhookBodyBytes
	}
	return w, nil
}

// SigningKey decodes a Standard Webhooks secret ("whsec_" and base64)
// into its HMAC key.
func SigningKey(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), "whsec_")
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) == 0 {
		return nil, errors.New("taskapi: the signing secret is not whsec_ followed by base64")
	}
	return key, nil
}

// SignReplicate returns the webhook-signature value ("v1,<base64>") of a
// delivery, as Replicate computes it: for tests and emulators.
func SignReplicate(key []byte, id string, timestamp int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id+"."+strconv.FormatInt(timestamp, 10)+"."+string(body)))
}

// SignKie returns the X-Webhook-Signature of a Kie.ai callback: base64 of
// HMAC-SHA256 of "taskId.timestamp" with the webhookHmacKey.
func SignKie(key []byte, taskID string, timestamp int64) string {
	return base64.StdEncoding.EncodeToString(mac(key, taskID+"."+strconv.FormatInt(timestamp, 10)))
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// URL returns the URL the services are given.
func (w *Webhooks) URL() string {
	if w == nil {
		return ""
	}
	return w.url
}

// String names the handler without its secrets.
func (w *Webhooks) String() string {
	if w == nil {
		return "taskapi.Webhooks(nil)"
	}
	return "taskapi.Webhooks(" + secret.URL(w.url) + ")"
}

// Format prints String under every verb, so that no verb reaches the
// secrets through reflection.
func (w *Webhooks) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, w.String()) }

// ServeHTTP receives one delivery.
func (w *Webhooks) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		refuse(rw, http.StatusMethodNotAllowed, "POST only")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.maxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			refuse(rw, http.StatusRequestEntityTooLarge, "the delivery is larger than "+strconv.FormatInt(w.maxBody, 10)+" bytes")
			return
		}
		refuse(rw, http.StatusBadRequest, "unreadable body")
		return
	}
	if r.Header.Get("Webhook-Id") != "" || r.Header.Get("Webhook-Signature") != "" {
		w.serveReplicate(rw, r, body)
		return
	}
	w.serveKie(rw, r, body)
}

func refuse(rw http.ResponseWriter, code int, msg string) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	b, _ := json.Marshal(map[string]any{"code": code, "msg": msg})
	_, _ = rw.Write(b)
}

func accept(rw http.ResponseWriter) {
	rw.Header().Set("Content-Type", "application/json")
	_, _ = rw.Write([]byte(`{"code":200,"msg":"success"}`))
}

// timely parses a Unix-seconds timestamp and checks it is within the
// tolerance of now.
func (w *Webhooks) timely(v string) (int64, string) {
	ts, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, "the timestamp is not Unix seconds"
	}
	now := w.clock.Now().Unix()
	tol := int64(w.tolerance / time.Second)
	switch {
	case ts < now-tol:
		return 0, "the timestamp is too old"
	case ts > now+tol:
		return 0, "the timestamp is in the future"
	}
	return ts, ""
}

func (w *Webhooks) serveReplicate(rw http.ResponseWriter, r *http.Request, body []byte) {
	if w.replicate == nil {
		refuse(rw, http.StatusUnauthorized, "no Replicate signing secret is configured (WebhookConfig.ReplicateSecret)")
		return
	}
	id, tsv, sigs := r.Header.Get("Webhook-Id"), r.Header.Get("Webhook-Timestamp"), r.Header.Get("Webhook-Signature")
	if id == "" || tsv == "" || sigs == "" {
		refuse(rw, http.StatusBadRequest, "webhook-id, webhook-timestamp and webhook-signature are required")
		return
	}
	ts, why := w.timely(tsv)
	if why != "" {
		refuse(rw, http.StatusUnauthorized, why)
		return
	}
	want := mac(w.replicate, id+"."+strconv.FormatInt(ts, 10)+"."+string(body))
	ok := false
	for _, entry := range strings.Fields(sigs) {
		version, value, found := strings.Cut(entry, ",")
		if !found || version != "v1" { // v1a (asymmetric) and unknown versions are skipped
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		refuse(rw, http.StatusUnauthorized, "no valid signature")
		return
	}
	var p struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if json.Unmarshal(body, &p) != nil || p.ID == "" {
		refuse(rw, http.StatusBadRequest, "the body is not a prediction")
		return
	}
	if !w.first("replicate:" + id) {
		refuse(rw, http.StatusConflict, "this delivery was already accepted (webhook-id "+strconv.Quote(id)+")")
		return
	}
	state := replicateState(p.Status)
	w.deliver(ServiceReplicate, p.ID, bytes.Clone(body), Event{Service: ServiceReplicate, TaskID: p.ID, State: state, Signed: true})
	accept(rw)
}

func (w *Webhooks) serveKie(rw http.ResponseWriter, r *http.Request, body []byte) {
	var cb struct {
		Code flexInt `json:"code"`
		Data *struct {
			TaskID      flexString `json:"taskId"`
			TaskIDSnake flexString `json:"task_id"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &cb) != nil || cb.Data == nil {
		var p struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if json.Unmarshal(body, &p) == nil && p.ID != "" && p.Status != "" {
			refuse(rw, http.StatusUnauthorized, "a Replicate webhook without webhook-id, webhook-timestamp and webhook-signature")
			return
		}
		refuse(rw, http.StatusBadRequest, "the body is neither a Kie.ai callback nor a Replicate webhook")
		return
	}
	taskID := string(cb.Data.TaskID)
	if taskID == "" {
		taskID = string(cb.Data.TaskIDSnake) // Kie's own verification sample reads task_id
	}
	if taskID == "" || !taskIDPattern.MatchString(taskID) {
		refuse(rw, http.StatusBadRequest, "the callback names no task")
		return
	}
	signed := false
	replayKey := ""
	if w.kie != nil {
		tsv, sig := r.Header.Get("X-Webhook-Timestamp"), r.Header.Get("X-Webhook-Signature")
		if tsv == "" || sig == "" {
			refuse(rw, http.StatusUnauthorized, "X-Webhook-Timestamp and X-Webhook-Signature are required (WebhookConfig.KieKey is set)")
			return
		}
		ts, why := w.timely(tsv)
		if why != "" {
			refuse(rw, http.StatusUnauthorized, why)
			return
		}
		got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
		if err != nil || !hmac.Equal(got, mac(w.kie, taskID+"."+strconv.FormatInt(ts, 10))) {
			refuse(rw, http.StatusUnauthorized, "invalid signature")
			return
		}
		signed, replayKey = true, "kie:"+taskID+":"+strconv.FormatInt(ts, 10)
	} else {
		sum := sha256.Sum256(body)
		replayKey = "kie-body:" + hex.EncodeToString(sum[:])
	}
	if !w.first(replayKey) {
		refuse(rw, http.StatusConflict, "this callback was already accepted")
		return
	}
	w.deliver(ServiceKie, taskID, nil, Event{Service: ServiceKie, TaskID: taskID, Signed: signed})
	accept(rw)
}

// first records an accepted delivery and reports whether it is new.
func (w *Webhooks) first(key string) bool {
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if at, ok := w.seen[key]; ok && now.Sub(at) <= 2*w.tolerance {
		return false
	}
	if len(w.seen) >= seenMax/2 {
		evict(w.seen, seenMax, func(at time.Time) bool { return now.Sub(at) > 2*w.tolerance })
	}
	w.seen[key] = now
	return true
}

func waitKey(s Service, id string) string { return string(s) + "\x00" + id }

// deliver hands a notice to the waiters of the task, or keeps it for one
// that subscribes soon (a callback can beat the submit's own answer).
func (w *Webhooks) deliver(s Service, id string, body []byte, ev Event) {
	n := notice{id: id, body: body}
	k := waitKey(s, id)
	now := w.clock.Now()
	ev.Time = now
	w.mu.Lock()
	if chans := w.waiters[k]; len(chans) > 0 {
		for ch := range chans {
			select {
			case ch <- n:
			default: // a waiter that is behind reads the task anyway
			}
		}
	} else {
		if _, ok := w.early[k]; !ok {
			w.order = append(w.order, k)
		}
		w.early[k] = earlyNotice{n: n, at: now}
		for len(w.order) > earlyMax {
			delete(w.early, w.order[0])
			w.order = w.order[1:]
		}
	}
	w.mu.Unlock()
	if w.cfg.OnEvent != nil {
		w.cfg.OnEvent(ev)
	}
}

// subscribe returns a channel of notices for the tasks, and the function
// that ends the subscription.
func (w *Webhooks) subscribe(s Service, ids []string) (<-chan notice, func()) {
	ch := make(chan notice, 2*len(ids)+2)
	now := w.clock.Now()
	w.mu.Lock()
	for _, id := range ids {
		k := waitKey(s, id)
		if w.waiters[k] == nil {
			w.waiters[k] = map[chan notice]struct{}{}
		}
		w.waiters[k][ch] = struct{}{}
		if e, ok := w.early[k]; ok {
			delete(w.early, k)
			if now.Sub(e.at) <= earlyLife {
				ch <- e.n
			}
		}
	}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, id := range ids {
			k := waitKey(s, id)
			delete(w.waiters[k], ch)
			if len(w.waiters[k]) == 0 {
				delete(w.waiters, k)
			}
		}
	}
}
