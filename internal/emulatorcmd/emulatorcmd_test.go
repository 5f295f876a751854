package emulatorcmd_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/internal/emulatorcmd"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/taskapi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs the emulator with args and returns its URL; the test's end
// stops it and checks that Run returned nil.
func start(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- emulatorcmd.Run(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		cancel()
		t.Fatalf("no output: %v", <-done)
	}
	line := sc.Text()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url, ok := strings.CutPrefix(line, "imagegen emulator listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return url
}

func get(t *testing.T, url string, header http.Header) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestServesUntilCancelled(t *testing.T) {
	providertest.ClearEnv(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "emulator.json")
	cfg := `{"apiKey": "file-key", "requestsPerMinute": 5, "latency": 0, "chatShape": "markdown",
		"faults": [{"endpoint": "generateContent", "faults": [{"kind": "Unavailable"}]}]}`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	url := start(t, "--addr", "127.0.0.1:0", "--config", cfgPath, "--rpm", "7",
		"--fault", `{"endpoint":"generateContent","faults":[{"kind":"RateLimited","retry":"3s"}]}`)

	if code, m := get(t, url+"/_emulator/health", nil); code != 200 || m["url"] != url {
		t.Errorf("health: %d %v", code, m)
	}
	if _, m := get(t, url+"/_emulator/settings", nil); m["requestsPerMinute"] != 7.0 || m["chatShape"] != "markdown" {
		t.Errorf("flags over the file: %v", m)
	}
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "file-key", Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: url, APIVersion: "v1beta"}})
	if err != nil {
		t.Fatal(err)
	}
	var ae genai.APIError
	for _, want := range []int{503, 429, 0} {
		_, err := c.Models.GenerateContent(context.Background(), "gemini-3-pro-image", genai.Text("x"), nil)
		switch {
		case want == 0 && err != nil:
			t.Errorf("third call: %v", err)
		case want != 0 && (!errors.As(err, &ae) || ae.Code != want):
			t.Errorf("want %d, got %v", want, err)
		}
	}
}

// TestStreamSettings: the stream flags reach the server, and the config
// file's stream mode gives way to the flag.
func TestStreamSettings(t *testing.T) {
	providertest.ClearEnv(t)
	cfgPath := filepath.Join(t.TempDir(), "emulator.json")
	if err := os.WriteFile(cfgPath, []byte(`{"streamMode": "ignored", "streamInterval": "5ms"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	url := start(t, "--addr", "127.0.0.1:0", "--config", cfgPath, "--stream-mode", "final-only")
	if _, m := get(t, url+"/_emulator/settings", nil); m["streamMode"] != "final-only" || m["streamInterval"] != "5ms" {
		t.Errorf("stream settings: %v", m)
	}
}

// TestTaskSettings drives the task APIs' settings through the flags: a
// scripted outcome, callbacks signed with the Kie.ai key (the first one
// spoiled on purpose), Replicate's webhook secret, and results that
// expire.
func TestTaskSettings(t *testing.T) {
	providertest.ClearEnv(t)
	const kieKey = "kie-hmac-key-for-the-test"
	repSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-replicate-signing-secret-32-by"))
	var (
		mu       sync.Mutex
		statuses []int
		hooks    *taskapi.Webhooks
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		hooks.ServeHTTP(rec, r)
		mu.Lock()
		statuses = append(statuses, rec.Code)
		mu.Unlock()
		w.WriteHeader(rec.Code)
	}))
	defer recv.Close()
	var err error
	if hooks, err = taskapi.NewWebhooks(taskapi.WebhookConfig{URL: recv.URL, KieKey: kieKey}); err != nil {
		t.Fatal(err)
	}
	url := start(t, "--addr", "127.0.0.1:0", "--task-duration", "200ms", "--result-ttl", "1h",
		"--kie-hmac-key", kieKey, "--replicate-webhook-secret", repSecret, "--webhook-fault", "BadSignature",
		"--task-outcome", `{"kind":"Fails","code":"500","message":"the scripted failure"}`)
	cfg := taskapi.Kie("test-key")
	cfg.BaseURL, cfg.UploadURL, cfg.Webhooks = url+"/kie", url+"/kie", hooks
	cfg.Fetch = taskapi.FetchPolicy{AllowHTTP: true, AllowPrivate: true}
	cfg.Poll = taskapi.PollPolicy{MinInterval: 50 * time.Millisecond, Expected: 200 * time.Millisecond, WebhookFallback: 300 * time.Millisecond}
	kie, err := taskapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := kie.Generate(ctx, &provider.Request{Prompt: "a kite"}); err == nil || !strings.Contains(err.Error(), "the scripted failure") {
		t.Errorf("scripted outcome: %v", err)
	}
	if _, err := kie.Generate(ctx, &provider.Request{Prompt: "a kite"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := fmt.Sprint(statuses)
		mu.Unlock()
		if got == "[401 200]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback answers %s, want [401 200] (the first badly signed on purpose)", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, m := get(t, url+"/replicate/v1/webhooks/default/secret", http.Header{"Authorization": {"Bearer test-key"}}); code != 200 || m["key"] != repSecret {
		t.Errorf("replicate secret: %d %v", code, m)
	}

	// Results are served for --result-ttl after the task ends.
	rc := taskapi.Replicate("test-key")
	rc.BaseURL, rc.Fetch, rc.SyncWait = url+"/replicate", cfg.Fetch, -1
	rc.Poll = taskapi.PollPolicy{MinInterval: 50 * time.Millisecond, Expected: 200 * time.Millisecond}
	rep, err := taskapi.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	task, err := rep.Submit(ctx, &provider.Request{Prompt: "a kite"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/_emulator/clock", strings.NewReader(`{"advance": "2h"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("clock: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if _, err := task.Result(ctx); !errors.Is(err, taskapi.ErrResultExpired) {
		t.Errorf("after the TTL: %v", err)
	}
}

func TestControlBeyondLoopback(t *testing.T) {
	// Refused before listening: no socket beyond loopback is opened.
	err := emulatorcmd.Run(context.Background(), []string{"--addr", "0.0.0.0:0", "--control"}, io.Discard, io.Discard)
	if !errors.Is(err, provider.ErrInvalidConfig) || !strings.Contains(err.Error(), "control-token") {
		t.Errorf("control beyond loopback without a token: %v", err)
	}
	// With a token, on loopback, the token is required.
	url := start(t, "--addr", "127.0.0.1:0", "--control-token", "tok-123")
	if code, _ := get(t, url+"/_emulator/health", nil); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := get(t, url+"/_emulator/health", http.Header{"Authorization": {"Bearer tok-123"}}); code != 200 {
		t.Errorf("token: %d", code)
	}
	// Off: the path is just an unknown one.
	off := start(t, "--addr", "127.0.0.1:0", "--control=false")
	if code, m := get(t, off+"/_emulator/health", nil); code != 404 || m["error"] == nil {
		t.Errorf("off: %d %v", code, m)
	}
}

func TestMistakes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"apiKey": "k", "colour": "blue"}`), 0o600)
	badFault := filepath.Join(dir, "fault.json")
	_ = os.WriteFile(badFault, []byte(`{"faults": [{"endpoint": "nowhere", "faults": [{"kind": "Hang"}]}]}`), 0o600)
	for _, args := range [][]string{
		{"--rpm", "-1"}, {"--chat-shape", "sideways"}, {"--gemini-auth", "cookie"}, {"--latency", "-1s"},
		{"--stream-interval", "-1s"}, {"--stream-mode", "sideways"},
		{"--config", filepath.Join(dir, "missing.json")}, {"--config", bad}, {"--nope"}, {"extra"},
		{"--fault", "{"}, {"--addr", "127.0.0.1:0", "--config", badFault},
		{"--task-duration", "-1s"}, {"--task-jitter", "2"}, {"--webhook-fault", "Sideways"},
		{"--task-outcome", `{"kind":"Explodes"}`}, {"--task-outcome", `{"kind":"Takes"}`}, {"--replicate-webhook-secret", "hunter2"},
	} {
		err := emulatorcmd.Run(context.Background(), args, io.Discard, io.Discard)
		if !errors.Is(err, provider.ErrInvalidConfig) {
			t.Errorf("%q: %v, want a ConfigError", args, err)
		}
	}
	if err := emulatorcmd.Run(context.Background(), []string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	// The key never shows in a printed config.
	c := emulatorcmd.Config{APIKey: "s3cret-key", ControlToken: "s3cret-token", KieHMACKey: "s3cret-hmac", ReplicateSecret: "whsec_s3cret"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, c); strings.Contains(s, "s3cret") {
			t.Errorf("%s: %s", verb, s)
		}
	}
}

func ExampleRun() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- emulatorcmd.Run(ctx, []string{"--addr", "127.0.0.1:0"}, pw, io.Discard); pw.Close() }()

	line, _ := bufio.NewReader(pr).ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url := strings.TrimSpace(strings.TrimPrefix(line, "imagegen emulator listening on "))

	// Script a fault through the control endpoint, as a test in any
	// language would.
	resp, err := http.Post(url+"/_emulator/faults", "application/json",
		strings.NewReader(`{"endpoint":"images.generations","faults":[{"kind":"Unavailable"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/images/generations", strings.NewReader(`{"model":"gpt-image-2","prompt":"a kite"}`))
	req.Header.Set("Authorization", "Bearer test-key")
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.HasPrefix(resp.Header.Get("X-Request-Id"), "req_"))

	cancel()
	fmt.Println(<-done)
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// 503 true
	// <nil>
}
