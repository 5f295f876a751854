package taskapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/imagegen-go/imagegen/internal/fetch"
	"github.com/imagegen-go/imagegen/provider"
)

// kie speaks Kie.ai's Market jobs API (docs.kie.ai, Market › Common):
// POST /api/v1/jobs/createTask, GET /api/v1/jobs/recordInfo?taskId=.
// Every answer is an envelope {code, msg, data}; refusals usually come as
// HTTP 200 with the error in code (401, 402, 422, 429, 455, 5xx), so both
// the status and the code are read.
type kie struct{ g *Generator }

// kieResultLife is how long Kie keeps result links: "typically expire
// after 24 hours" (recordInfo's page; the home page says 14 days for the
// files). The shorter holds.
const kieResultLife = 24 * time.Hour

// kieWindow is the window of Kie's limit on new tasks (20 per 10 s).
const kieWindow = 10 * time.Second

// kieEnvelope is every Kie answer.
type kieEnvelope struct {
	Code    *flexInt        `json:"code"`
	Msg     flexString      `json:"msg"`
	Message flexString      `json:"message"` // some pages write message
	Success *bool           `json:"success"`
	Data    json.RawMessage `json:"data"`
}

func (e *kieEnvelope) text() string {
	if e.Msg != "" {
		return string(e.Msg)
	}
	return string(e.Message)
}

// kieRecord is recordInfo's data, and a callback's.
type kieRecord struct {
	TaskID          flexString `json:"taskId"`
	TaskIDSnake     flexString `json:"task_id"`
	Model           flexString `json:"model"`
	State           flexString `json:"state"`
	ResultJSON      flexString `json:"resultJson"`
	Response        *kieResult `json:"response"`
	FailCode        flexString `json:"failCode"`
	FailMsg         flexString `json:"failMsg"`
	CreateTime      flexInt    `json:"createTime"`
	CompleteTime    flexInt    `json:"completeTime"`
	CreditsConsumed *flexFloat `json:"creditsConsumed"`
	ConsumeCredits  *flexFloat `json:"consumeCredits"`
}

type kieResult struct {
	ResultURLs flexURLs `json:"resultUrls"`
}

// envelope reads a Kie answer: the envelope of a 2xx answer whose code is
// 200, or the *provider.Error of any refusal.
func (k *kie) envelope(model string, x *exchange) (*kieEnvelope, error) {
	g := k.g
	var env kieEnvelope
	err := decodeObject(x.body, &env)
	ok := x.status >= 200 && x.status <= 299
	switch {
	case !ok && err == nil && env.Code != nil:
		return nil, g.serviceError(model, x.status, strconv.FormatInt(int64(*env.Code), 10), env.text(), x.header)
	case !ok:
		return nil, g.serviceError(model, x.status, "", strings.TrimSpace(string(x.body)), x.header)
	case err != nil:
		return nil, g.malformed(model, x.status, "%v", err)
	case env.Code == nil:
		return nil, g.malformed(model, x.status, "no code in Kie's envelope")
	case *env.Code != 200:
		code := int(*env.Code)
		return nil, g.serviceError(model, code, strconv.Itoa(code), env.text(), x.header)
	}
	return &env, nil
}

func (k *kie) submit(ctx context.Context, s *submission) (*record, error) {
	body := map[string]any{"model": s.remote, "input": s.input}
	if s.webhook != "" {
		body["callBackUrl"] = s.webhook
	}
	r, h, err := jsonBody(body)
	if err != nil {
		return nil, k.g.malformed(s.plan.id, 0, "encoding the request: %v", err)
	}
	x, err := k.g.do(ctx, s.plan.id, http.MethodPost, k.g.base+"/api/v1/jobs/createTask", r, h)
	if err != nil {
		return nil, err
	}
	env, err := k.envelope(s.plan.id, x)
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Kind == provider.KindRateLimited && pe.RetryAfter == 0 {
			pe.RetryAfter = kieWindow // Kie counts new tasks over 10 seconds
		}
		return nil, err
	}
	var data struct {
		TaskID flexString `json:"taskId"`
	}
	if json.Unmarshal(env.Data, &data) != nil || data.TaskID == "" {
		return nil, k.g.malformed(s.plan.id, x.status, "createTask answered without a taskId")
	}
	return &record{id: string(data.TaskID), state: StatePending, status: "waiting"}, nil
}

func (k *kie) get(ctx context.Context, model, id string) (*record, error) {
	x, err := k.g.do(ctx, model, http.MethodGet, k.g.base+"/api/v1/jobs/recordInfo?taskId="+url.QueryEscape(id), nil, nil)
	if err != nil {
		return nil, err
	}
	env, err := k.envelope(model, x)
	if err != nil {
		var pe *provider.Error
		// An unknown ID is a 200 with code 422 "recordInfo is null" (the
		// docs list 404 "Task not found").
		if errors.As(err, &pe) && (pe.StatusCode == http.StatusNotFound ||
			pe.StatusCode == http.StatusUnprocessableEntity && strings.Contains(strings.ToLower(pe.Message), "null")) {
			nf := withCause(pe, ErrTaskNotFound)
			nf.Kind, nf.Code = provider.KindInvalidRequest, CodeTaskNotFound
			return nil, nf
		}
		return nil, err
	}
	var kr kieRecord
	if err := decodeObject(env.Data, &kr); err != nil {
		return nil, k.g.malformed(model, x.status, "recordInfo data: %v", err)
	}
	rec := k.record(model, &kr)
	if rec.id == "" {
		rec.id = id
	}
	rec.raw = env.Data
	return rec, nil
}

// record reads a Kie task record.
func (k *kie) record(model string, kr *kieRecord) *record {
	g := k.g
	rec := &record{id: string(kr.TaskID), status: string(kr.State),
		created: unixMillis(int64(kr.CreateTime)), done: unixMillis(int64(kr.CompleteTime))}
	if rec.id == "" {
		rec.id = string(kr.TaskIDSnake)
	}
	switch strings.ToLower(string(kr.State)) {
	case "waiting", "queuing", "":
		rec.state = StatePending
	case "generating":
		rec.state = StateRunning
	case "success":
		rec.state = StateSucceeded
		var res kieResult
		if s := strings.TrimSpace(string(kr.ResultJSON)); s != "" && s != "null" {
			_ = json.Unmarshal([]byte(s), &res) // a JSON string holding {"resultUrls": [...]}
		}
		if len(res.ResultURLs) == 0 && kr.Response != nil {
			res = *kr.Response
		}
		rec.urls = res.ResultURLs
		rec.images = len(rec.urls)
		if !rec.done.IsZero() {
			rec.expires = rec.done.Add(kieResultLife)
		}
		credits := kr.CreditsConsumed
		if credits == nil {
			credits = kr.ConsumeCredits
		}
		if credits != nil {
			price := g.cfg.CreditUSD
			if price == 0 {
				price = DefaultKieCreditUSD
			}
			if v, ok := usd(float64(*credits) * float64(price) / 1e6); ok {
				rec.cost, rec.hasCost = provider.USD(v), true
			}
		}
	case "fail":
		rec.state = StateFailed
		code := strings.TrimSpace(string(kr.FailCode))
		msg := strings.TrimSpace(string(kr.FailMsg))
		if msg == "" {
			msg = "the task failed without a message"
		}
		status, _ := strconv.Atoi(code)
		e := g.serviceError(model, 0, code, msg, nil)
		e.Kind = kindForStatus(status, msg)
		if status < 400 || status == http.StatusTooManyRequests || status == 501 {
			e.Kind = kindForStatus(500, msg) // a generation failure, unless its words say blocked
		}
		rec.err = e
	default:
		rec.state = StateRunning // a state this package does not know yet: keep watching
	}
	return rec
}

func (k *kie) cancel(context.Context, string, string) error { return errCancelUnsupported }

func (k *kie) find(context.Context, *submission, time.Time) (*record, error) { return nil, errNoLookup }

// parseCallback: a Kie callback is never trusted on its own. Its
// signature, when Kie signs at all, covers the task ID and the time, not
// the body, so the record is read again from recordInfo.
func (k *kie) parseCallback(string, []byte) *record { return nil }

// upload sends a reference to Kie's file upload API (multipart stream
// upload, which takes any size) and returns its downloadUrl. Uploaded
// files are deleted after a day (some pages say three), so they are sent
// right before the task.
func (k *kie) upload(ctx context.Context, model string, r ref, i int) (string, error) {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	name := "ref-" + hex.EncodeToString(nonce[:]) + "-" + strconv.Itoa(i) + extension(r.mimeType)
	body, h := multipartBody("file", name, r.mimeType, r.data, map[string]string{"uploadPath": "imagegen", "fileName": name})
	x, err := k.g.do(ctx, model, http.MethodPost, k.g.upload+"/api/file-stream-upload", body, h)
	if err != nil {
		return "", err
	}
	env, err := k.envelope(model, x)
	if err != nil {
		return "", err
	}
	if env.Success != nil && !*env.Success {
		return "", k.g.serviceError(model, x.status, "", env.text(), x.header)
	}
	var data struct {
		DownloadURL flexString `json:"downloadUrl"`
		FileURL     flexString `json:"fileUrl"`
		URL         flexString `json:"url"`
	}
	_ = json.Unmarshal(env.Data, &data)
	for _, u := range []flexString{data.DownloadURL, data.FileURL, data.URL} {
		if strings.HasPrefix(string(u), "http") {
			return string(u), nil
		}
	}
	return "", k.g.malformed(model, x.status, "the upload answered without a downloadUrl")
}

// download fetches a result link. Some clients find Kie's links refuse
// direct downloads; then Kie's download-url endpoint gives a link that
// works for 20 minutes.
func (k *kie) download(ctx context.Context, model, link string) ([]byte, string, error) {
	data, mt, err := k.g.fetch(ctx, model, link)
	var fe *fetch.Error
	if err == nil || !errors.As(err, &fe) || fe.Reason != fetch.ReasonStatus ||
		(fe.StatusCode != http.StatusUnauthorized && fe.StatusCode != http.StatusForbidden) {
		return data, mt, err
	}
	r, h, _ := jsonBody(map[string]string{"url": link})
	x, xerr := k.g.do(ctx, model, http.MethodPost, k.g.base+"/api/v1/common/download-url", r, h)
	if xerr != nil {
		return nil, "", err
	}
	env, xerr := k.envelope(model, x)
	if xerr != nil {
		return nil, "", err
	}
	var direct flexString
	if json.Unmarshal(env.Data, &direct) != nil || !strings.HasPrefix(string(direct), "http") {
		return nil, "", err
	}
	return k.g.fetch(ctx, model, string(direct))
}
