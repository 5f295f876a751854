package emulatorcmd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/internal/emulatorcmd"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
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
		{"--config", filepath.Join(dir, "missing.json")}, {"--config", bad}, {"--nope"}, {"extra"},
		{"--fault", "{"}, {"--addr", "127.0.0.1:0", "--config", badFault},
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
	c := emulatorcmd.Config{APIKey: "s3cret-key", ControlToken: "s3cret-token"}
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
