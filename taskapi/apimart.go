package taskapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// apimart speaks APIMart's task API (docs.apimart.ai): POST
// /v1/images/generations answers a task ID; GET /v1/tasks/{id} walks
// pending → processing → completed | failed | cancelled and reports the
// task's cost. Submits carry an Idempotency-Key, so a submit whose answer
// was lost is sent again with the same key and cannot start a second task.
type apimart struct{ g *Generator }

// apimartVersion pins the answer shapes (APIMart's
// X-APIMart-Response-Version, as its own skills send it).
const apimartVersion = "2026-07-27"

var apimartID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// apimartTask is a task as GET /v1/tasks/{id} (and the object form of a
// submit) describes it.
type apimartTask struct {
	ID            flexString `json:"id"`
	TaskID        flexString `json:"task_id"`
	Status        flexString `json:"status"`
	Progress      flexFloat  `json:"progress"`
	Created       flexInt    `json:"created"`
	Completed     flexInt    `json:"completed"`
	EstimatedTime flexFloat  `json:"estimated_time"`
	TaskInfo      *struct {
		EstimatedTime flexFloat `json:"estimated_time"`
	} `json:"task_info"` // the submit's object form
	Cost   *flexFloat `json:"cost"`
	Result *struct {
		Images []struct {
			URL       flexURLs `json:"url"`
			ExpiresAt flexInt  `json:"expires_at"`
		} `json:"images"`
	} `json:"result"`
	Error *struct {
		Code    flexString `json:"code"`
		Message flexString `json:"message"`
		Type    flexString `json:"type"`
	} `json:"error"`
}

// refusal builds the error of an APIMart refusal: an OpenAI-style
// {"error": {...}}, {"success": false, "message"} or {"code", "msg"}.
func (a *apimart) refusal(model string, x *exchange) error {
	var env struct {
		Error *struct {
			Message flexString `json:"message"`
			Type    flexString `json:"type"`
			Code    flexString `json:"code"`
		} `json:"error"`
		Message flexString `json:"message"`
		Msg     flexString `json:"msg"`
		Code    flexInt    `json:"code"`
	}
	msg, code := strings.TrimSpace(string(x.body)), ""
	status := x.status
	if json.Unmarshal(x.body, &env) == nil {
		switch {
		case env.Error != nil:
			msg, code = string(env.Error.Message), string(env.Error.Code)
			if code == "" {
				code = string(env.Error.Type)
			}
		case env.Message != "":
			msg = string(env.Message)
		case env.Msg != "":
			msg = string(env.Msg)
		}
		if status >= 200 && status <= 299 && env.Code >= 400 && env.Code <= 599 {
			status = int(env.Code) // an error in a 200 envelope
		}
	}
	return a.g.serviceError(model, status, code, msg, x.header)
}

// envelope reads {code, data} of a successful answer.
func (a *apimart) envelope(model string, x *exchange) (json.RawMessage, error) {
	if x.status < 200 || x.status > 299 {
		return nil, a.refusal(model, x)
	}
	var env struct {
		Code    *flexInt        `json:"code"`
		Success *bool           `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if err := decodeObject(x.body, &env); err != nil {
		return nil, a.g.malformed(model, x.status, "%v", err)
	}
	if (env.Code != nil && *env.Code != 200 && *env.Code != 0) || (env.Success != nil && !*env.Success) {
		return nil, a.refusal(model, x)
	}
	return env.Data, nil
}

func (a *apimart) submit(ctx context.Context, s *submission) (*record, error) {
	g := a.g
	body := make(map[string]any, len(s.input)+1)
	for k, v := range s.input {
		body[k] = v
	}
	body["model"] = s.remote
	rd, h, err := jsonBody(body)
	if err != nil {
		return nil, g.malformed(s.plan.id, 0, "encoding the request: %v", err)
	}
	h.Set("Idempotency-Key", s.idemKey)
	h.Set("X-Apimart-Response-Version", apimartVersion)
	x, err := g.do(ctx, s.plan.id, http.MethodPost, g.base+"/v1/images/generations", rd, h)
	if err != nil {
		return nil, err
	}
	data, err := a.envelope(s.plan.id, x)
	if err != nil {
		return nil, err
	}
	// Two shapes: [{"status": "submitted", "task_id": ...}] and the task
	// object {"id": ..., "status": "pending", ...}.
	var list []apimartTask
	var one apimartTask
	switch {
	case json.Unmarshal(data, &list) == nil && len(list) > 0:
		one = list[0]
	case json.Unmarshal(data, &one) == nil:
	default:
		return nil, g.malformed(s.plan.id, x.status, "the submit answered no task")
	}
	id := string(one.ID)
	if id == "" {
		id = string(one.TaskID)
	}
	if id == "" {
		return nil, g.malformed(s.plan.id, x.status, "the submit answered no task ID")
	}
	rec := a.record(s.plan.id, &one)
	rec.id = id
	if rec.state.Done() && rec.state != StateSucceeded {
		return rec, nil
	}
	if rec.state == StateSucceeded && len(rec.urls) == 0 {
		rec.state, rec.status = StatePending, "submitted" // a sync answer without results is not one
	}
	return rec, nil
}

func (a *apimart) get(ctx context.Context, model, id string) (*record, error) {
	g := a.g
	if !apimartID.MatchString(id) {
		return nil, &provider.Error{Kind: provider.KindInvalidRequest, Provider: g.name, Model: model, Code: CodeTaskNotFound,
			Message: strconv.Quote(id) + " is not a task ID", Err: ErrTaskNotFound}
	}
	x, err := g.do(ctx, model, http.MethodGet, g.base+"/v1/tasks/"+url.PathEscape(id)+"?language=en", nil, nil)
	if err != nil {
		return nil, err
	}
	data, err := a.envelope(model, x)
	if err != nil {
		if pe, ok := err.(*provider.Error); ok && pe.StatusCode == http.StatusNotFound {
			nf := withCause(pe, ErrTaskNotFound)
			nf.Kind, nf.Code = provider.KindInvalidRequest, CodeTaskNotFound
			return nil, nf
		}
		return nil, err
	}
	var t apimartTask
	if err := decodeObject(data, &t); err != nil {
		return nil, g.malformed(model, x.status, "task: %v", err)
	}
	rec := a.record(model, &t)
	if rec.id == "" {
		rec.id = id
	}
	rec.raw = data
	return rec, nil
}

func (a *apimart) record(model string, t *apimartTask) *record {
	g := a.g
	rec := &record{id: string(t.ID), status: string(t.Status), created: unixSeconds(int64(t.Created)),
		done: unixSeconds(int64(t.Completed)), coarse: true}
	if rec.id == "" {
		rec.id = string(t.TaskID)
	}
	e := float64(t.EstimatedTime)
	if e == 0 && t.TaskInfo != nil {
		e = float64(t.TaskInfo.EstimatedTime)
	}
	if e > 0 && e < 86400 {
		rec.estimate = time.Duration(e * float64(time.Second))
	}
	if t.Cost != nil {
		if v, ok := usd(float64(*t.Cost)); ok {
			rec.cost, rec.hasCost = provider.USD(v), true
		}
	}
	switch strings.ToLower(string(t.Status)) {
	case "pending", "submitted", "queued", "":
		rec.state = StatePending
	case "processing", "running", "in_progress":
		rec.state = StateRunning
	case "completed", "succeeded", "success":
		rec.state = StateSucceeded
		if t.Result != nil {
			for _, img := range t.Result.Images {
				rec.urls = append(rec.urls, img.URL...)
				if exp := unixSeconds(int64(img.ExpiresAt)); !exp.IsZero() && (rec.expires.IsZero() || exp.Before(rec.expires)) {
					rec.expires = exp
				}
			}
		}
		rec.images = len(rec.urls)
	case "failed", "error":
		rec.state = StateFailed
		code, msg := "failed", "the task failed without a message"
		if t.Error != nil {
			if t.Error.Code != "" {
				code = string(t.Error.Code)
			}
			if t.Error.Message != "" {
				msg = string(t.Error.Message)
			}
		}
		e := g.serviceError(model, 0, code, msg, nil)
		e.Kind = kindForStatus(500, msg)
		rec.err = e
	case "cancelled", "canceled":
		rec.state = StateCanceled
		e := g.serviceError(model, 0, string(t.Status), "the task was cancelled", nil)
		e.Kind = provider.KindUnknown
		rec.err = e
	default:
		rec.state = StateRunning
	}
	return rec
}

// cancel: APIMart describes a cancelled status (and task_info.can_cancel)
// but documents no way to ask for it.
func (a *apimart) cancel(context.Context, string, string) error { return errCancelUnsupported }

// find is not needed: a lost submit is sent again with its
// Idempotency-Key (start does it), which answers the same task.
func (a *apimart) find(context.Context, *submission, time.Time) (*record, error) {
	return nil, errNoLookup
}

func (a *apimart) parseCallback(string, []byte) *record { return nil }

// upload sends a reference to APIMart's upload API (multipart file),
// whose links last 72 hours.
func (a *apimart) upload(ctx context.Context, model string, r ref, i int) (string, error) {
	g := a.g
	body, h := multipartBody("file", "reference-"+strconv.Itoa(i)+extension(r.mimeType), r.mimeType, r.data, nil)
	x, err := g.do(ctx, model, http.MethodPost, g.base+"/v1/uploads/images", body, h)
	if err != nil {
		return "", err
	}
	if x.status < 200 || x.status > 299 {
		return "", a.refusal(model, x)
	}
	var f struct {
		URL  flexString `json:"url"`
		Data *struct {
			URL flexString `json:"url"`
		} `json:"data"`
	}
	if err := decodeObject(x.body, &f); err != nil {
		return "", g.malformed(model, x.status, "%v", err)
	}
	u := string(f.URL)
	if u == "" && f.Data != nil {
		u = string(f.Data.URL)
	}
	if !strings.HasPrefix(u, "http") {
		return "", g.malformed(model, x.status, "the upload answered without a url")
	}
	return u, nil
}

func (a *apimart) download(ctx context.Context, model, link string) ([]byte, string, error) {
	return a.g.fetch(ctx, model, link)
}
