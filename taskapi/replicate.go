package taskapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// replicate speaks Replicate's predictions API (replicate.com/docs, HTTP
// API reference): POST /v1/models/{owner}/{name}/predictions for official
// models, POST /v1/predictions with a version otherwise; GET and cancel
// /v1/predictions/{id}. Refusals are HTTP errors with a problem body
// {title, detail, status}, 429s with retry_after.
type replicate struct{ g *Generator }

// replicateResultLife: "output files are automatically deleted after an
// hour" for predictions made through the API.
const replicateResultLife = time.Hour

// replicateID is a prediction ID (lowercase base32 in practice).
var replicateID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// prediction is Replicate's prediction object.
type prediction struct {
	ID          flexString      `json:"id"`
	Model       flexString      `json:"model"`
	Version     flexString      `json:"version"`
	Status      flexString      `json:"status"`
	Input       json.RawMessage `json:"input"`
	Output      flexURLs        `json:"output"`
	Error       flexString      `json:"error"`
	Metrics     replicateMetric `json:"metrics"`
	CreatedAt   flexString      `json:"created_at"`
	CompletedAt flexString      `json:"completed_at"`
	Deadline    flexString      `json:"deadline"`
	DataRemoved bool            `json:"data_removed"`
}

type replicateMetric struct {
	PredictTime      *flexFloat `json:"predict_time"`
	ImageOutputCount *flexInt   `json:"image_output_count"`
	ImageCount       *flexInt   `json:"image_count"`
}

// problem is Replicate's error body.
type problem struct {
	Title      flexString `json:"title"`
	Detail     flexString `json:"detail"`
	Status     flexInt    `json:"status"`
	RetryAfter flexFloat  `json:"retry_after"`
}

// replicateState maps a prediction's status.
func replicateState(status string) State {
	switch status {
	case "starting":
		return StatePending
	case "succeeded":
		return StateSucceeded
	case "failed":
		return StateFailed
	case "canceled", "aborted":
		return StateCanceled
	}
	return StateRunning
}

// refusal builds the error of a non-2xx answer.
func (r *replicate) refusal(model string, x *exchange) error {
	var p problem
	msg := strings.TrimSpace(string(x.body))
	code := ""
	if json.Unmarshal(x.body, &p) == nil && (p.Detail != "" || p.Title != "") {
		msg = string(p.Detail)
		if msg == "" {
			msg = string(p.Title)
		}
		code = string(p.Title)
	}
	e := r.g.serviceError(model, x.status, code, msg, x.header)
	if p.RetryAfter > 0 && e.Kind == provider.KindRateLimited {
		e.RetryAfter = clampHint(time.Duration(float64(p.RetryAfter) * float64(time.Second)))
	}
	if x.status == http.StatusNotFound && e.Kind == provider.KindInvalidRequest {
		e.Kind = provider.KindModelNotFound // the model path, for the create call
	}
	return e
}

func (r *replicate) submit(ctx context.Context, s *submission) (*record, error) {
	g := r.g
	body := map[string]any{"input": s.input}
	if s.webhook != "" {
		body["webhook"] = s.webhook
		body["webhook_events_filter"] = []string{"completed"}
	}
	path := "/v1/models/" + s.remote + "/predictions"
	if m := replicateVersion.FindStringSubmatch(s.remote); m != nil {
		path, body["version"] = "/v1/predictions", m[2]
	}
	rd, h, err := jsonBody(body)
	if err != nil {
		return nil, g.malformed(s.plan.id, 0, "encoding the request: %v", err)
	}
	if s.sync > 0 {
		h.Set("Prefer", "wait="+strconv.Itoa(int(min(max(s.sync/time.Second, 1), 60))))
	}
	if s.cancel > 0 {
		h.Set("Cancel-After", strconv.Itoa(int(s.cancel/time.Second))+"s")
	}
	x, err := g.do(ctx, s.plan.id, http.MethodPost, g.base+path, rd, h)
	if err != nil {
		return nil, err
	}
	if x.status < 200 || x.status > 299 {
		return nil, r.refusal(s.plan.id, x)
	}
	rec, err := r.parse(s.plan.id, x.status, x.body)
	if err != nil {
		return nil, err
	}
	if s.sync > 0 && rec.state == StateRunning && len(rec.urls) > 0 {
		// "File-producing models may answer as soon as all files exist,
		// with output filled while status is still processing."
		rec.state = StateSucceeded
		rec.images = len(rec.urls)
	}
	return rec, nil
}

func (r *replicate) get(ctx context.Context, model, id string) (*record, error) {
	if !replicateID.MatchString(id) {
		return nil, &provider.Error{Kind: provider.KindInvalidRequest, Provider: r.g.name, Model: model, Code: CodeTaskNotFound,
			Message: fmt.Sprintf("%q is not a prediction ID", id), Err: ErrTaskNotFound}
	}
	x, err := r.g.do(ctx, model, http.MethodGet, r.g.base+"/v1/predictions/"+id, nil, nil)
	if err != nil {
		return nil, err
	}
	if x.status < 200 || x.status > 299 {
		e := r.refusal(model, x)
		var pe *provider.Error
		if x.status == http.StatusNotFound && errors.As(e, &pe) {
			nf := withCause(pe, ErrTaskNotFound)
			nf.Kind, nf.Code = provider.KindInvalidRequest, CodeTaskNotFound
			return nil, nf
		}
		return nil, e
	}
	return r.parse(model, x.status, x.body)
}

// parse reads a prediction.
func (r *replicate) parse(model string, status int, body []byte) (*record, error) {
	var p prediction
	if err := decodeObject(body, &p); err != nil {
		return nil, r.g.malformed(model, status, "%v", err)
	}
	if p.ID == "" {
		return nil, r.g.malformed(model, status, "a prediction without an id")
	}
	return r.record(model, &p, body), nil
}

func (r *replicate) record(model string, p *prediction, raw []byte) *record {
	g := r.g
	rec := &record{id: string(p.ID), status: string(p.Status), removed: p.DataRemoved}
	rec.created, _ = time.Parse(time.RFC3339Nano, string(p.CreatedAt))
	rec.done, _ = time.Parse(time.RFC3339Nano, string(p.CompletedAt))
	if !rec.created.IsZero() {
		rec.expires = rec.created.Add(replicateResultLife)
	}
	rec.urls = p.Output
	msg := strings.TrimSpace(string(p.Error))
	switch string(p.Status) {
	case "starting":
		rec.state = StatePending
	case "processing":
		rec.state = StateRunning
	case "succeeded":
		rec.state = StateSucceeded
		rec.images = len(rec.urls)
		if c := p.Metrics.ImageOutputCount; c != nil && *c >= 0 && *c <= provider.MaxN*10 {
			rec.images = int(*c)
		}
		if g.cfg.PerSecond > 0 && p.Metrics.PredictTime != nil {
			if v, ok := usd(float64(*p.Metrics.PredictTime) * float64(g.cfg.PerSecond) / 1e6); ok {
				rec.cost, rec.hasCost = provider.USD(v), true
			}
		}
	case "failed":
		rec.state = StateFailed
		if msg == "" {
			msg = "the prediction failed without a message"
		}
		e := g.serviceError(model, 0, "failed", msg, nil)
		e.Kind = kindForStatus(500, msg) // a model failure, unless its words say blocked
		rec.err = e
	case "canceled", "aborted":
		rec.state = StateCanceled
		e := g.serviceError(model, 0, string(p.Status), "", nil)
		e.Kind = provider.KindUnknown
		e.Message = "the prediction was canceled"
		if p.Deadline != "" || p.Status == "aborted" {
			// Cancel-After's deadline passed: aborted before it started
			// (not charged on public models), canceled while running.
			e.Kind = provider.KindTimeout
			e.Message = "the prediction reached its deadline (Cancel-After) and was " + string(p.Status)
		}
		if msg != "" {
			e.Message += ": " + g.secrets.Clean(msg, 300)
		}
		rec.err = e
	default:
		rec.state = StateRunning
	}
	if len(raw) <= 64<<10 {
		rec.raw = raw
	}
	return rec
}

func (r *replicate) cancel(ctx context.Context, model, id string) error {
	if !replicateID.MatchString(id) {
		return nil
	}
	x, err := r.g.do(ctx, model, http.MethodPost, r.g.base+"/v1/predictions/"+id+"/cancel", nil, nil)
	if err != nil {
		return err
	}
	if x.status < 200 || x.status > 299 {
		return r.refusal(model, x)
	}
	return nil
}

// find looks for the prediction a lost create answer may have made:
// Replicate has no idempotency key, but lists predictions by creation
// time. A prediction of the same model with the same input, created since
// the submit began and not already known, is taken to be it.
func (r *replicate) find(ctx context.Context, s *submission, since time.Time) (*record, error) {
	g := r.g
	want, _ := json.Marshal(s.input)
	next := g.base + "/v1/predictions?created_after=" + url.QueryEscape(since.Add(-5*time.Second).UTC().Format(time.RFC3339))
	for page := 0; page < 3 && next != ""; page++ {
		if !strings.HasPrefix(next, g.base+"/") {
			break // never send the key to another host
		}
		x, err := g.do(ctx, s.plan.id, http.MethodGet, next, nil, nil)
		if err != nil {
			return nil, err
		}
		if x.status < 200 || x.status > 299 {
			return nil, r.refusal(s.plan.id, x)
		}
		var list struct {
			Next    *string           `json:"next"`
			Results []json.RawMessage `json:"results"`
		}
		if err := decodeObject(x.body, &list); err != nil {
			return nil, g.malformed(s.plan.id, x.status, "%v", err)
		}
		for _, raw := range list.Results {
			var p prediction
			if json.Unmarshal(raw, &p) != nil || p.ID == "" {
				continue
			}
			model := string(p.Model)
			if !strings.HasPrefix(s.remote, model) && !strings.HasSuffix(s.remote, string(p.Version)) {
				continue
			}
			if sameJSON(p.Input, want) && !s.claimed(string(p.ID)) {
				return r.record(s.plan.id, &p, raw), nil
			}
		}
		next = ""
		if list.Next != nil {
			next = *list.Next
		}
	}
	return nil, nil
}

// sameJSON compares two JSON values by meaning.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// parseCallback reads a webhook delivery whose signature was verified: it
// covers the body, so the prediction in it can be believed.
func (r *replicate) parseCallback(model string, body []byte) *record {
	rec, err := r.parse(model, http.StatusOK, body)
	if err != nil {
		return nil
	}
	return rec
}

// upload makes a reference reachable by a prediction: inline as a data:
// URI when small (Config.DataURIBytes), else through the files API.
func (r *replicate) upload(ctx context.Context, model string, ref ref, i int) (string, error) {
	g := r.g
	limit := g.cfg.DataURIBytes
	if limit == 0 {
		limit = DefaultDataURIBytes
	}
	if int64(len(ref.data)) <= limit {
		return "data:" + ref.mimeType + ";base64," + base64.StdEncoding.EncodeToString(ref.data), nil
	}
	name := "reference-" + strconv.Itoa(i) + extension(ref.mimeType)
	body, h := multipartBody("content", name, ref.mimeType, ref.data, nil)
	x, err := g.do(ctx, model, http.MethodPost, g.base+"/v1/files", body, h)
	if err != nil {
		return "", err
	}
	if x.status < 200 || x.status > 299 {
		return "", r.refusal(model, x)
	}
	var f struct {
		URLs struct {
			Get flexString `json:"get"`
		} `json:"urls"`
	}
	if err := decodeObject(x.body, &f); err != nil || !strings.HasPrefix(string(f.URLs.Get), "http") {
		return "", g.malformed(model, x.status, "the files API answered without urls.get")
	}
	return string(f.URLs.Get), nil
}

func (r *replicate) download(ctx context.Context, model, link string) ([]byte, string, error) {
	return r.g.fetch(ctx, model, link)
}
