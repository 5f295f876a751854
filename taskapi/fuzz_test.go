package taskapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/taskapi"
)

// Seeds: answers as the services send them (see the research notes and
// the emulator), and broken ones.
var answerSeeds = []string{
	`{"code":200,"msg":"success","data":{"taskId":"task_1"}}`,
	`{"code":200,"msg":"success","data":{"taskId":"task_1","model":"nano-banana-pro","state":"success","param":"{}","resultJson":"{\"resultUrls\":[\"https://tempfile.aiquickdraw.com/a.png\"]}","failCode":"","failMsg":"","costTime":15000,"completeTime":1698765432000,"createTime":1698765400000,"creditsConsumed":18}}`,
	`{"code":200,"msg":"success","data":{"taskId":"task_1","state":"fail","failCode":500,"failMsg":"Internal server error","resultJson":null}}`,
	`{"code":422,"msg":"recordInfo is null","data":null}`,
	`{"code":"429","message":"Rate limited"}`,
	`{"id":"abc","status":"succeeded","output":["https://replicate.delivery/a.png",null,7],"metrics":{"predict_time":"3.4","image_output_count":1e30},"created_at":"2026-12-04T12:00:00.123456Z"}`,
	`{"id":"abc","status":"failed","error":"The input or output was flagged as sensitive. (E005)"}`,
	`{"detail":"Request was throttled. Your rate limit resets in ~5s.","status":429,"retry_after":5}`,
	`{"code":200,"data":[{"status":"submitted","task_id":"task_01"}]}`,
	`{"code":200,"data":{"id":"task_01","status":"completed","result":{"images":[{"url":["https://upload.apimart.ai/f/a.png"],"expires_at":1763174708}]},"cost":-1,"credits_cost":"NaN"}}`,
	`{"error":{"message":"Invalid API key test-key-taskapi-0123456789","type":"authentication_error"}}`,
	`null`, `[]`, `{`, ``, `{"code":200,"data":{"taskId":{}}}`, `<html>502</html>`,
}

// FuzzAnswers sends whatever a service might answer, to a create and to a
// read through the real client on loopback: no answer may panic, every
// failure is a *provider.Error, and the key never shows.
func FuzzAnswers(f *testing.F) {
	for _, s := range answerSeeds {
		for svc := range uint8(3) {
			f.Add(svc, uint16(200), []byte(s))
		}
	}
	f.Add(uint8(0), uint16(500), []byte(`{"code":500,"msg":"Server Error"}`))
	f.Add(uint8(1), uint16(404), []byte(`{"title":"Not found","status":404}`))
	f.Fuzz(func(t *testing.T, svc uint8, status uint16, body []byte) {
		code := int(status%500) + 100
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		cfg := []taskapi.Config{taskapi.Kie(""), taskapi.Replicate(""), taskapi.APIMart("")}[svc%3]
		cfg.APIKey, cfg.BaseURL, cfg.UploadURL, cfg.HTTPClient = testKey, srv.URL, srv.URL, srv.Client()
		cfg.Fetch = taskapi.FetchPolicy{AllowHTTP: true, AllowPrivate: true, Timeout: time.Second}
		cfg.Poll = taskapi.PollPolicy{MaxWait: time.Nanosecond}
		cfg.SyncWait = -1
		cfg.Clock = providertest.NewClock(start()) // waits between resends end at once
		g, err := taskapi.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("%s: untyped error %T %v", what, err, err)
			}
			if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), testKey[:12]) {
				t.Fatalf("%s: the key in %q", what, err)
			}
		}
		_, err = g.Submit(ctx, &provider.Request{Prompt: "p"})
		check("submit", err)
		task, err := g.Resume(taskapi.Handle{Service: cfg.Service, Model: cfg.Model, IDs: []string{"task_01"}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := task.Status(ctx)
		check("status", err)
		for _, ts := range st.Tasks {
			check("task", ts.Err)
		}
		_, err = task.Result(ctx)
		check("result", err)
	})
}

// FuzzWebhook: no delivery may panic the handler.
func FuzzWebhook(f *testing.F) {
	f.Add([]byte(`{"code":200,"data":{"taskId":"task_1"}}`), "msg_1", "1764849600", "v1,AAAA")
	f.Add([]byte(`{"id":"a","status":"succeeded"}`), "", "", "")
	f.Add([]byte(`{"code":200,"data":{"task_id":"../../x"}}`), "", "abc", "v1a,,, v1,")
	f.Fuzz(func(t *testing.T, body []byte, id, ts, sig string) {
		h, err := taskapi.NewWebhooks(taskapi.WebhookConfig{URL: "https://example.com/h", KieKey: kieKey,
			ReplicateSecret: "whsec_MDEyMzQ1Njc4OWFiY2RlZg==", MaxBodyBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/h", strings.NewReader(string(body)))
		if id != "" {
			req.Header.Set("Webhook-Id", id)
		}
		req.Header.Set("Webhook-Timestamp", ts)
		req.Header.Set("X-Webhook-Timestamp", ts)
		req.Header.Set("Webhook-Signature", sig)
		req.Header.Set("X-Webhook-Signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 200 {
			t.Fatalf("accepted an unsigned or badly signed delivery: %s", body)
		}
	})
}
