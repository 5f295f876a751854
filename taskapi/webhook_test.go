package taskapi_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/taskapi"
)

// manualClock moves only when the test says: its waits end when Advance
// passes them, so a test decides whether a callback or a poll comes first.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWait
	afters  int // After calls so far
}

type manualWait struct {
	at time.Time
	ch chan time.Time
}

func newManualClock() *manualClock { return &manualClock{now: start()} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.afters++
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, manualWait{at: c.now.Add(d), ch: ch})
	return ch
}

// Afters returns how many waits have begun.
func (c *manualClock) Afters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.afters
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// eventually waits, in real time, for a condition another goroutine makes
// true (the emulator's deliveries run on their own goroutine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

const kieKey = "kie-hmac-key-for-tests"

// hooked starts the emulator, a Webhooks handler on its own server and a
// generator that uses it, all on one manual clock.
func hooked(t *testing.T, cfg taskapi.Config, tasks providertest.TaskOptions, events *[]taskapi.Event) (*providertest.Server, *taskapi.Generator, *manualClock, *taskapi.Webhooks) {
	t.Helper()
	clk := newManualClock()
	tasks.KieHMACKey = kieKey
	srv := providertest.NewServer(providertest.Options{APIKey: testKey, Clock: clk, Tasks: tasks})
	t.Cleanup(srv.Close)
	var handler http.Handler = http.NotFoundHandler()
	var mu sync.Mutex
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	hooks, err := taskapi.NewWebhooks(taskapi.WebhookConfig{URL: hs.URL + "/hooks", ReplicateSecret: srv.ReplicateWebhookSecret(),
		KieKey: kieKey, Clock: clk, OnEvent: func(e taskapi.Event) {
			mu.Lock()
			defer mu.Unlock()
			if events != nil {
				*events = append(*events, e)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	handler = hooks
	mu.Unlock()
	c := config(srv, cfg, nil)
	c.Clock, c.Webhooks = clk, hooks
	g, err := taskapi.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return srv, g, clk, hooks
}

type result struct {
	resp *provider.Response
	err  error
}

func generateAsync(g *taskapi.Generator, req *provider.Request) <-chan result {
	out := make(chan result, 1)
	go func() {
		resp, err := g.Generate(context.Background(), req)
		out <- result{resp, err}
	}()
	return out
}

// TestWebhooksEndToEnd: the emulator calls back when a task ends, the
// handler verifies the delivery, and the waiting Generate returns without
// polling (Kie's callback is read back once; Replicate's signed body is
// believed). A delivery the handler refuses leaves the wait to its
// fallback poll.
func TestWebhooksEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      taskapi.Config
		fault    providertest.WebhookFault
		status   []int // the handler's answers
		fallback bool  // the wait ends with a fallback poll
		reads    int   // reads of the task after the create
	}{
		{"kie", taskapi.Kie(""), providertest.WebhookNormal, []int{200}, false, 1},
		{"kie task_id", taskapi.Kie(""), providertest.WebhookSnakeCase, []int{200}, false, 1},
		{"kie tampered body", taskapi.Kie(""), providertest.WebhookTampered, []int{200}, false, 1},
		{"kie bad signature", taskapi.Kie(""), providertest.WebhookBadSignature, []int{401}, true, 1},
		{"kie unsigned", taskapi.Kie(""), providertest.WebhookUnsigned, []int{401}, true, 1},
		{"kie stale", taskapi.Kie(""), providertest.WebhookStale, []int{401}, true, 1},
		{"kie replayed", taskapi.Kie(""), providertest.WebhookReplay, []int{200, 409}, false, 1},
		{"kie dropped", taskapi.Kie(""), providertest.WebhookDrop, nil, true, 1},
		{"replicate", taskapi.Replicate(""), providertest.WebhookNormal, []int{200}, false, 0},
		{"replicate rotated secrets", taskapi.Replicate(""), providertest.WebhookMultiSig, []int{200}, false, 0},
		{"replicate bad signature", taskapi.Replicate(""), providertest.WebhookBadSignature, []int{401}, true, 1},
		{"replicate tampered body", taskapi.Replicate(""), providertest.WebhookTampered, []int{401}, true, 1},
		{"replicate unsigned", taskapi.Replicate(""), providertest.WebhookUnsigned, []int{401}, true, 1},
		{"replicate stale", taskapi.Replicate(""), providertest.WebhookStale, []int{401}, true, 1},
		{"replicate replayed", taskapi.Replicate(""), providertest.WebhookReplay, []int{200, 409}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var events []taskapi.Event
			srv, g, clk, _ := hooked(t, tc.cfg, providertest.TaskOptions{}, &events)
			srv.InjectWebhook(tc.fault)
			done := generateAsync(g, &provider.Request{Prompt: "p"})
			// Once Generate waits, its create call has been answered: the
			// task ends after that (a clock moved earlier could end it
			// within the create's own answer).
			eventually(t, "the wait", func() bool { return clk.Afters() > 0 })
			clk.Advance(10 * time.Second) // the task ends; the emulator calls back
			want := len(tc.status)
			if tc.fault == providertest.WebhookDrop {
				want = 1
			}
			eventually(t, "the deliveries", func() bool { return len(srv.Deliveries()) == want })
			var got []int
			for _, d := range srv.Deliveries() {
				if d.Status != 0 {
					got = append(got, d.Status)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.status) {
				t.Errorf("handler answered %v, want %v", got, tc.status)
			}
			if tc.fallback {
				eventually(t, "the wait", func() bool { return clk.Afters() > 0 })
				select {
				case r := <-done:
					t.Fatalf("ended without the fallback poll: %v", r.err)
				case <-time.After(20 * time.Millisecond):
				}
				clk.Advance(30 * time.Second) // Poll.WebhookFallback
			}
			r := <-done
			if r.err != nil || len(r.resp.Images) != 1 {
				t.Fatalf("%v %v", r.resp, r.err)
			}
			reads := srv.Tasks()[0].Polls
			if reads != tc.reads {
				t.Errorf("%d reads of the task, want %d", reads, tc.reads)
			}
			create := requestsTo(srv, providertest.EndpointKieCreate)
			if len(create) == 0 {
				create = requestsTo(srv, providertest.EndpointReplicateCreate)
			}
			body := string(create[0].Body)
			if !strings.Contains(body, "/hooks") || strings.Contains(create[0].Header.Get("Prefer"), "wait") {
				t.Errorf("create %s (Prefer %q)", body, create[0].Header.Get("Prefer"))
			}
			if accepted := tc.status != nil && tc.status[0] == 200; accepted != (len(events) > 0) {
				t.Errorf("events %+v", events)
			}
		})
	}
}

// TestKieForgedCallback: a Kie callback with a valid signature (it covers
// only the task ID and the time) and a forged body saying "success" is
// read back from Kie, which says the task is still running.
func TestKieForgedCallback(t *testing.T) {
	t.Parallel()
	srv, g, clk, hooks := hooked(t, taskapi.Kie(""), providertest.TaskOptions{}, nil)
	done := generateAsync(g, &provider.Request{Prompt: "p"})
	eventually(t, "the wait", func() bool { return clk.Afters() > 0 })
	id := srv.Tasks()[0].ID
	ts := clk.Now().Unix()
	body := `{"code":200,"msg":"Playground task completed successfully.","data":{"taskId":"` + id +
		`","state":"success","resultJson":"{\"resultUrls\":[\"https://attacker.example/x.png\"]}"}}`
	req := httptest.NewRequest(http.MethodPost, hooks.URL(), strings.NewReader(body))
	req.Header.Set("X-Webhook-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Webhook-Signature", taskapi.SignKie([]byte(kieKey), id, ts))
	rec := httptest.NewRecorder()
	clk.Advance(time.Second) // past the read floor
	hooks.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("forged callback: %d %s", rec.Code, rec.Body)
	}
	eventually(t, "the read back", func() bool { return srv.Tasks()[0].Polls == 1 })
	select {
	case r := <-done:
		t.Fatalf("believed the forged body: %v %v", r.resp, r.err)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(10 * time.Second)
	r := <-done
	if r.err != nil || len(r.resp.Images) != 1 || srv.Tasks()[0].Polls != 2 {
		t.Fatalf("%v %v, %d reads", r.resp, r.err, srv.Tasks()[0].Polls)
	}
}

// TestCallbackWithinReadFloor: a callback that arrives sooner than
// Poll.MinInterval after the task's last read is not dropped: the task is
// read once the floor allows, not at the fallback poll 30 s later.
func TestCallbackWithinReadFloor(t *testing.T) {
	t.Parallel()
	srv, g, clk, hooks := hooked(t, taskapi.Kie(""), providertest.TaskOptions{}, nil)
	done := generateAsync(g, &provider.Request{Prompt: "p"})
	eventually(t, "the wait", func() bool { return clk.Afters() > 0 })
	id := srv.Tasks()[0].ID
	// A (forged) callback 9.8 s in makes the generator read the task,
	// which is still running; it ends at 10 s and Kie calls back at once,
	// within the 500 ms floor of that read.
	clk.Advance(9800 * time.Millisecond)
	ts := clk.Now().Unix()
	req := httptest.NewRequest(http.MethodPost, hooks.URL(), strings.NewReader(`{"code":200,"data":{"taskId":"`+id+`","state":"success"}}`))
	req.Header.Set("X-Webhook-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Webhook-Signature", taskapi.SignKie([]byte(kieKey), id, ts))
	hooks.ServeHTTP(httptest.NewRecorder(), req)
	eventually(t, "the read back", func() bool { return srv.Tasks()[0].Polls == 1 })
	clk.Advance(300 * time.Millisecond)
	eventually(t, "the real callback", func() bool { return len(srv.Deliveries()) == 1 })
	// Move the clock on in small steps (the generator's timer may be set
	// after any one of them) for at most 5 s: far short of the 30 s
	// fallback poll that a dropped callback would wait for.
	for step := 0; ; step++ {
		select {
		case r := <-done:
			if r.err != nil || len(r.resp.Images) != 1 || srv.Tasks()[0].Polls != 2 {
				t.Fatalf("%v %v, %d reads", r.resp, r.err, srv.Tasks()[0].Polls)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if step == 50 {
			t.Fatal("the callback within the read floor was dropped: the wait went on to the fallback poll")
		}
		clk.Advance(100 * time.Millisecond)
	}
}

// TestWebhookEarlyArrival: a callback that arrives before anyone waits
// for its task is kept and ends the wait of a Task resumed later.
func TestWebhookEarlyArrival(t *testing.T) {
	t.Parallel()
	srv, g, clk, _ := hooked(t, taskapi.Replicate(""), providertest.TaskOptions{}, nil)
	task, err := g.Submit(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	eventually(t, "the delivery", func() bool { return len(srv.Deliveries()) == 1 })
	st, err := task.Wait(context.Background())
	if err != nil || st.State != taskapi.StateSucceeded || srv.Tasks()[0].Polls != 0 {
		t.Fatalf("%+v %v, %d reads", st, err, srv.Tasks()[0].Polls)
	}
}

// TestWebhookHandler checks the handler's verdicts on hand-made
// deliveries.
func TestWebhookHandler(t *testing.T) {
	t.Parallel()
	clk := newManualClock()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	key, err := taskapi.SigningKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now().Unix()
	pred := []byte(`{"id":"abc123","status":"succeeded","output":"https://replicate.delivery/x.png"}`)
	good := taskapi.SignReplicate(key, "msg_1", now, pred)
	kieBody := `{"code":200,"msg":"ok","data":{"taskId":"task_1","state":"success"}}`
	kieSig := taskapi.SignKie([]byte(kieKey), "task_1", now)
	type delivery struct {
		method string
		header map[string]string
		body   string
	}
	rep := func(id string, ts int64, sig string, body []byte) delivery {
		return delivery{http.MethodPost, map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts, 10), "webhook-signature": sig}, string(body)}
	}
	kie := func(ts int64, sig, body string) delivery {
		h := map[string]string{}
		if ts != 0 {
			h["X-Webhook-Timestamp"] = strconv.FormatInt(ts, 10)
		}
		if sig != "" {
			h["X-Webhook-Signature"] = sig
		}
		return delivery{http.MethodPost, h, body}
	}
	for _, tc := range []struct {
		name string
		cfg  taskapi.WebhookConfig
		d    delivery
		want int
	}{
		{"replicate valid", taskapi.WebhookConfig{}, rep("msg_1", now, good, pred), 200},
		{"replicate several signatures", taskapi.WebhookConfig{}, rep("msg_2", now, "v1,AAAA v1a,Zm9v "+taskapi.SignReplicate(key, "msg_2", now, pred), pred), 200},
		{"replicate v1a only", taskapi.WebhookConfig{}, rep("msg_3", now, "v1a,"+strings.TrimPrefix(taskapi.SignReplicate(key, "msg_3", now, pred), "v1,"), pred), 401},
		{"replicate wrong id", taskapi.WebhookConfig{}, rep("msg_4", now, good, pred), 401},
		{"replicate body changed", taskapi.WebhookConfig{}, rep("msg_1", now, good, append([]byte(" "), pred...)), 401},
		{"replicate stale", taskapi.WebhookConfig{}, rep("msg_5", now-301, taskapi.SignReplicate(key, "msg_5", now-301, pred), pred), 401},
		{"replicate future", taskapi.WebhookConfig{}, rep("msg_6", now+301, taskapi.SignReplicate(key, "msg_6", now+301, pred), pred), 401},
		{"replicate within tolerance", taskapi.WebhookConfig{}, rep("msg_7", now-299, taskapi.SignReplicate(key, "msg_7", now-299, pred), pred), 200},
		{"replicate missing timestamp", taskapi.WebhookConfig{}, delivery{http.MethodPost, map[string]string{"webhook-id": "m", "webhook-signature": good}, string(pred)}, 400},
		{"replicate not a prediction", taskapi.WebhookConfig{}, rep("msg_8", now, taskapi.SignReplicate(key, "msg_8", now, []byte(`{}`)), []byte(`{}`)), 400},
		{"replicate without a secret", taskapi.WebhookConfig{ReplicateSecret: "-"}, rep("msg_9", now, taskapi.SignReplicate(key, "msg_9", now, pred), pred), 401},
		{"kie signed", taskapi.WebhookConfig{KieKey: kieKey}, kie(now, kieSig, kieBody), 200},
		{"kie bad signature", taskapi.WebhookConfig{KieKey: kieKey}, kie(now, taskapi.SignKie([]byte("other"), "task_1", now), kieBody), 401},
		{"kie signature of another task", taskapi.WebhookConfig{KieKey: kieKey}, kie(now, taskapi.SignKie([]byte(kieKey), "task_2", now), kieBody), 401},
		{"kie unsigned with a key", taskapi.WebhookConfig{KieKey: kieKey}, kie(0, "", kieBody), 401},
		{"kie stale", taskapi.WebhookConfig{KieKey: kieKey}, kie(now-400, taskapi.SignKie([]byte(kieKey), "task_1", now-400), kieBody), 401},
		{"kie unsigned without a key", taskapi.WebhookConfig{}, kie(0, "", kieBody), 200},
		{"kie no task", taskapi.WebhookConfig{}, kie(0, "", `{"code":200,"data":{}}`), 400},
		{"neither", taskapi.WebhookConfig{}, kie(0, "", `hello`), 400},
		{"GET", taskapi.WebhookConfig{}, delivery{http.MethodGet, nil, ""}, 405},
		{"too large", taskapi.WebhookConfig{MaxBodyBytes: 10}, kie(0, "", kieBody), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.URL, cfg.Clock = "https://example.com/hooks", clk
			switch cfg.ReplicateSecret {
			case "":
				cfg.ReplicateSecret = secret
			case "-":
				cfg.ReplicateSecret = ""
			}
			h, err := taskapi.NewWebhooks(cfg)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(tc.d.method, "/hooks", strings.NewReader(tc.d.body))
			for k, v := range tc.d.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("%d %s; want %d", rec.Code, rec.Body, tc.want)
			}
			if rec.Code == 200 {
				// The same delivery again is a replay.
				req2 := httptest.NewRequest(tc.d.method, "/hooks", strings.NewReader(tc.d.body))
				req2.Header = req.Header.Clone()
				rec2 := httptest.NewRecorder()
				h.ServeHTTP(rec2, req2)
				if rec2.Code != http.StatusConflict {
					t.Errorf("replay: %d, want 409", rec2.Code)
				}
			}
		})
	}
}

func TestWebhookConfigErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []taskapi.WebhookConfig{
		{},
		{URL: "ftp://x"},
		{URL: "https://x", ReplicateSecret: "whsec_!!!"},
		{URL: "https://x", Tolerance: -time.Second},
		{URL: "https://x", MaxBodyBytes: -1},
	} {
		if _, err := taskapi.NewWebhooks(cfg); !errors.Is(err, provider.ErrInvalidConfig) {
			t.Errorf("%v: %v", cfg, err)
		}
	}
	if _, err := taskapi.New(taskapi.Config{Service: taskapi.ServiceKie, APIKey: "k", Webhooks: &taskapi.Webhooks{}}); !errors.Is(err, provider.ErrInvalidConfig) {
		t.Errorf("a zero Webhooks: %v", err)
	}
}
