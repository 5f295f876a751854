package main

// End-to-end tests: the built binary, run as a user runs it, against the
// emulator (in-process with --emulator, or a separate `imagegen emulator`
// process with --emulator=URL where the test must see the requests made).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/cli/ledger"
	"github.com/imagegen-go/imagegen/provider"
)

// bin is the imagegen binary TestMain builds.
var bin string

type result struct {
	code           int
	stdout, stderr string
}

// newHome returns a directory to run in and an environment holding no
// provider key, whose state and config directories are inside it.
func newHome(t *testing.T) (string, []string) {
	t.Helper()
	home := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + os.TempDir(),
		"XDG_STATE_HOME=" + filepath.Join(home, "state"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config")}
	return home, env
}

func binCommand(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	return cmd
}

// run runs the binary to its end, within two minutes.
func runBin(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := binCommand(ctx, dir, env, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return result{code, out.String(), errOut.String()}
}

func mustRun(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	r := runBin(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("imagegen %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func readLedger(t *testing.T, path string) []ledgerRecord {
	t.Helper()
	recs, warnings, err := ledger.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("ledger warnings: %v", warnings)
	}
	out := make([]ledgerRecord, len(recs))
	for i, r := range recs {
		out[i] = ledgerRecord{Provider: r.Provider, Model: r.Model, Tier: string(r.Tier), Cost: r.Cost, Labels: r.Labels, Images: r.Images}
	}
	return out
}

type ledgerRecord struct {
	Provider, Model, Tier string
	Cost                  provider.USD
	Labels                map[string]string
	Images                int
}

func isImage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if provider.SniffMIME(b) == "" {
		t.Errorf("%s is not an image (%d bytes)", path, len(b))
	}
}

func TestGenerateAndEdit(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	led := filepath.Join(home, "spend.jsonl")
	r := mustRun(t, home, env, "generate", "--emulator", "--ledger", led, "--out", "out", "--label", "team=web", "a lighthouse at dusk")
	files := strings.Fields(r.stdout)
	if len(files) != 1 || !strings.Contains(r.stderr, "gemini gemini-nano-banana-2.1") {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	isImage(t, filepath.Join(home, files[0]))

	r = mustRun(t, home, env, "generate", "--emulator", "--ledger", led, "--out", "out", "--model", "gpt-image-2",
		"--size", "1024x1024", "--quality", "low", "-n", "2", "--json", "--prompt", "a kite")
	var sum struct {
		Files    []string
		Provider string
		Model    string
		Cost     provider.USD
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || len(sum.Files) != 2 || sum.Provider != "openai" || sum.Cost <= 0 {
		t.Fatalf("%v: %s", err, r.stdout)
	}

	r = mustRun(t, home, env, "edit", "--emulator", "--ledger", led, "--out", "edits", "--image", files[0], "make it night")
	edited := strings.Fields(r.stdout)
	if len(edited) != 1 || !strings.HasPrefix(edited[0], "edits/make-it-night-") {
		t.Fatalf("edit: %q", r.stdout)
	}
	isImage(t, filepath.Join(home, edited[0]))

	recs := readLedger(t, led)
	if len(recs) != 3 || recs[0].Labels["team"] != "web" || recs[0].Labels["cmd"] != "generate" || recs[2].Labels["cmd"] != "edit" ||
		recs[1].Images != 2 || recs[1].Model != "gpt-image-2" {
		t.Errorf("ledger: %+v", recs)
	}

	// cost reads what they spent, by provider, model and label.
	r = mustRun(t, home, env, "cost", "--ledger", led, "--format", "json")
	var rep struct {
		Total struct {
			Calls  int
			Images int
			Cost   provider.USD
		}
		Rows []struct {
			Dimension, Key string
			Calls          int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var want provider.USD
	for _, rec := range recs {
		want += rec.Cost
	}
	rows := map[string]int{}
	for _, row := range rep.Rows {
		rows[row.Dimension+":"+row.Key] = row.Calls
	}
	if rep.Total.Calls != 3 || rep.Total.Images != 4 || rep.Total.Cost != want || rows["provider:gemini"] != 2 ||
		rows["model:gpt-image-2"] != 1 || rows["label:cmd=edit"] != 1 || rows["label:team=web"] != 1 {
		t.Errorf("cost report: %+v", rep)
	}
	r = mustRun(t, home, env, "cost", "--ledger", led, "--label", "cmd=generate")
	if !strings.Contains(r.stdout, "total") || !strings.Contains(r.stdout, "gpt-image-2") || strings.Contains(r.stdout, "cmd=edit") {
		t.Errorf("cost table:\n%s", r.stdout)
	}
	r = mustRun(t, home, env, "cost", "--ledger", led, "--since", "2099-01-01")
	if !strings.Contains(r.stdout, "no spend recorded") {
		t.Errorf("future: %s", r.stdout)
	}
}

// TestDefaultLedger: without --ledger, --emulator runs go to their own
// ledger under XDG_STATE_HOME, which cost --emulator reads.
func TestDefaultLedger(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	mustRun(t, home, env, "generate", "--emulator", "--out", "out", "a cat")
	if _, err := os.Stat(filepath.Join(home, "state", "imagegen", "ledger-emulator.jsonl")); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, home, env, "cost", "--emulator", "--format", "csv")
	if !strings.Contains(r.stdout, "provider,gemini,1,") {
		t.Errorf("%s", r.stdout)
	}
	if r := runBin(t, home, env, "cost"); r.code != 1 || !strings.Contains(r.stderr, "ledger.jsonl") {
		t.Errorf("real ledger should not exist yet: %+v", r)
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	r := mustRun(t, home, env, "models", "--at", "2026-11-21")
	for _, w := range []string{"gemini-nano-banana-2.1", "gpt-image-2", "PER IMAGE", "deprecated", "kie/nano-banana-pro", "replicate/google/nano-banana-pro", "apimart/gemini-3-pro-image-preview"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("models lacks %q:\n%s", w, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "imagen-3.0-generate-002") {
		t.Error("retired models listed without --all")
	}
	r = mustRun(t, home, env, "models", "--json", "--all", "--at", "2026-11-21")
	var out struct {
		Models []struct {
			ID         string `json:"id"`
			Status     string `json:"status"`
			UseInstead string `json:"use_instead"`
			PerImage   map[string]struct {
				Min, Max provider.USD
			} `json:"per_image_price"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, m := range out.Models {
		switch m.ID {
		case "imagen-3.0-generate-002":
			found++
			if m.Status != "retired" || m.UseInstead != "gemini-nano-banana-2.1" {
				t.Errorf("%+v", m)
			}
		case "gemini-3-pro-image":
			found++
			if m.Status != "active" || m.PerImage["standard"].Min <= 0 || m.PerImage["batch"].Min != m.PerImage["standard"].Min/2 {
				t.Errorf("%+v", m)
			}
		}
	}
	if found != 2 {
		t.Errorf("models --json: %d of 2 found", found)
	}
}

// TestTaskProviders: the task APIs are providers like the others: their
// models route to them, --provider names them, a config declares them,
// and a task batch runs offline.
func TestTaskProviders(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	led := filepath.Join(home, "l.jsonl")
	for _, tc := range []struct{ args, want []string }{
		{[]string{"--model", "kie/nano-banana-pro", "-n", "2"}, []string{"kie kie/nano-banana-pro: 2 image(s), $0.1800"}},
		{[]string{"--model", "replicate/google/nano-banana-pro"}, []string{"replicate replicate/google/nano-banana-pro: 1 image(s)"}},
		{[]string{"--provider", "apimart"}, []string{"apimart apimart/gemini-3-pro-image-preview: 1 image(s)"}},
	} {
		args := append([]string{"generate", "--emulator", "--ledger", led, "--out", "o"}, tc.args...)
		r := mustRun(t, home, env, append(args, "a kite")...)
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, r.stderr, w)
			}
		}
	}
	// A config's provider of a task type, with its own name and limits.
	dir := filepath.Join(home, "cfg")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "imagegen.toml"), []byte(`[providers.fast-kie]
type = "kie"
model = "kie/gpt-image-2"
limits = { requests_per_minute = 600, burst = 10 }
`), 0o644)
	r := mustRun(t, dir, env, "generate", "--emulator", "--ledger", "off", "--provider", "fast-kie", "--json", "a kite")
	if !strings.Contains(r.stdout, `"provider": "fast-kie"`) || !strings.Contains(r.stdout, `"model": "kie/gpt-image-2"`) {
		t.Errorf("config provider: %s", r.stdout)
	}
	// A task batch, offline.
	writeTaskItems(t, filepath.Join(home, "items.jsonl"), 3)
	r = mustRun(t, home, env, "batch", "--emulator", "--mode", "tasks", "--in", "items.jsonl", "--out", "tb", "--ledger", led)
	if !strings.Contains(r.stdout, "3 items: 3 done, 0 failed") || countEvents(filepath.Join(home, "tb", "batch-state.jsonl"), "task") != 3 {
		t.Errorf("%s\n%s", r.stdout, r.stderr)
	}
	providers := map[string]int{}
	for _, rec := range readLedger(t, led) {
		providers[rec.Provider]++
	}
	if providers["kie"] != 2 || providers["replicate"] != 2 || providers["apimart"] != 2 {
		t.Errorf("ledger by provider: %v", providers)
	}
	// Without a key: a usage mistake naming the variables.
	if r := runBin(t, home, env, "generate", "--model", "kie/nano-banana-pro", "a cat"); r.code != 2 || !strings.Contains(r.stderr, "KIE_API_KEY") {
		t.Errorf("no key: exit %d, %s", r.code, r.stderr)
	}
	if r := runBin(t, home, env, "batch", "--emulator", "--mode", "tasks", "--in", "items.jsonl", "--model", "gpt-image-2"); r.code != 2 ||
		!strings.Contains(r.stderr, "a task API provider") {
		t.Errorf("tasks mode on openai: exit %d, %s", r.code, r.stderr)
	}
}

// startEmulator starts `imagegen emulator` on a free port and returns its
// URL; it is stopped when the test ends.
func startEmulator(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := binCommand(context.Background(), t.TempDir(), env, append([]string{"emulator", "--addr", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Wait()
		t.Fatalf("imagegen emulator: %v (%v)\n%s", err, cmd.ProcessState, errOut.String())
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "imagegen emulator listening on "))
	go io.Copy(io.Discard, out)
	return url
}

func control(t *testing.T, method, url string, body, into any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	// No kept-alive connections: an emulator of an earlier test may have
	// held the same port, and a pooled connection to it is dead.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatal(err)
		}
	}
}

// sentPrompts returns how often each item marker ("item-07") appears in
// the requests the emulator received at endpoint.
func sentPrompts(t *testing.T, emu, endpoint string) map[string]int {
	t.Helper()
	var got struct {
		Requests []struct {
			JSON map[string]any `json:"json"`
		} `json:"requests"`
	}
	control(t, "GET", emu+"/_emulator/requests?endpoint="+endpoint, nil, &got)
	counts := map[string]int{}
	marker := regexp.MustCompile(`item-\d\d`)
	for _, r := range got.Requests {
		b, _ := json.Marshal(r.JSON)
		for _, m := range marker.FindAllString(string(b), -1) {
			counts[m]++
		}
	}
	return counts
}

func countEvents(path, event string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), `"event":"`+event+`"`)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeItems(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"key\": \"k%02d\", \"prompt\": \"a kite, item-%02d\"}\n", i, i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBatchResumeAfterKill kills a live batch with SIGKILL mid-run, reruns
// it, and checks against the emulator's own record and the ledger that no
// item was paid for twice.
func TestBatchResumeAfterKill(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	emu := startEmulator(t, env, "--latency", "150ms")
	const n = 24
	writeItems(t, filepath.Join(home, "items.jsonl"), n)
	led := filepath.Join(home, "ledger.jsonl")
	state := filepath.Join(home, "out", "batch-state.jsonl")
	args := []string{"batch", "--emulator=" + emu, "--in", "items.jsonl", "--out", "out", "--concurrency", "3", "--ledger", led}

	cmd := binCommand(context.Background(), home, env, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "4 items done", func() bool { return countEvents(state, "done") >= 4 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	doneAtKill := countEvents(state, "done")
	if doneAtKill >= n {
		t.Fatalf("the batch finished before the kill (%d done)", doneAtKill)
	}

	r := runBin(t, home, env, args...)
	second := sentPrompts(t, emu, "generateContent")
	interrupted := interruptedKeys(r.stdout)
	for item, c := range second {
		if c != 1 {
			t.Errorf("%s sent %d times", item, c)
		}
	}
	// Every item is done, or was in flight at the kill: journaled as
	// started, so perhaps sent (and billed) by the first run, and not sent
	// by the rerun (which would have made it done).
	if len(second) < n-len(interrupted) || len(second) > n {
		t.Errorf("%d items sent in all, want %d less some of the interrupted %v", len(second), n, interrupted)
	}
	recs := readLedger(t, led)
	if len(recs) > len(second) || len(recs) < n-len(interrupted) {
		t.Errorf("ledger holds %d records for %d requests and %d items done", len(recs), len(second), n-len(interrupted))
	}
	wantCode := 0
	if len(interrupted) > 0 {
		wantCode = 1
	}
	if r.code != wantCode || !strings.Contains(r.stdout, fmt.Sprintf("%d items:", n)) {
		t.Errorf("rerun: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(home, "out", "k*-1.*"))
	// Done items have their images; an interrupted one may too (written
	// just before the kill, its end not yet journaled).
	if len(files) < n-len(interrupted) || len(files) > n {
		t.Errorf("%d image files for %d items done", len(files), n-len(interrupted))
	}

	// A third run sends nothing at all.
	before := len(readLedger(t, led))
	runBin(t, home, env, args...)
	third := sentPrompts(t, emu, "generateContent")
	if fmt.Sprint(third) != fmt.Sprint(second) || len(readLedger(t, led)) != before {
		t.Errorf("third run sent requests: %v → %v", second, third)
	}
	// --retry-interrupted sends exactly the interrupted items, once.
	if keys := interrupted; len(keys) > 0 {
		rr := mustRun(t, home, env, append(args, "--retry-interrupted")...)
		after := sentPrompts(t, emu, "generateContent")
		for _, k := range keys {
			item := "item-" + strings.TrimPrefix(k, "k")
			if after[item] != second[item]+1 {
				t.Errorf("%s: %d sends after --retry-interrupted, %d before", k, after[item], second[item])
			}
		}
		if !strings.Contains(rr.stdout, fmt.Sprintf("%d done, 0 failed", n)) {
			t.Errorf("%s", rr.stdout)
		}
	}
}

// writeTaskItems writes n items whose models cycle over the three task
// APIs: Kie.ai, Replicate, APIMart.
func writeTaskItems(t *testing.T, path string, n int) {
	t.Helper()
	models := []string{"kie/nano-banana-pro", "replicate/google/nano-banana-pro", "apimart/gemini-3-pro-image-preview"}
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"key\": \"k%02d\", \"prompt\": \"a kite, item-%02d\", \"model\": %q}\n", i, i, models[i%len(models)])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// taskSubmits returns how often each item marker appears in the task
// creations the emulator received, over the three services.
func taskSubmits(t *testing.T, emu string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, ep := range []string{"kie.createTask", "replicate.predictions.create", "apimart.images.generations"} {
		for item, c := range sentPrompts(t, emu, ep) {
			counts[item] += c
		}
	}
	return counts
}

// TestTaskBatchResumeAfterKill kills a --mode tasks batch with SIGKILL
// after some tasks were submitted, reruns it against the same `imagegen
// emulator`, and checks from the emulator's record that no item was
// submitted twice and that every item finished: the rerun resumes the
// saved handles instead of submitting again.
func TestTaskBatchResumeAfterKill(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	emu := startEmulator(t, env, "--task-duration", "2s")
	const n = 12
	writeTaskItems(t, filepath.Join(home, "items.jsonl"), n)
	led := filepath.Join(home, "ledger.jsonl")
	state := filepath.Join(home, "out", "batch-state.jsonl")
	args := []string{"batch", "--emulator=" + emu, "--mode", "tasks", "--in", "items.jsonl", "--out", "out", "--concurrency", "4", "--ledger", led}

	cmd := binCommand(context.Background(), home, env, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "4 task handles saved", func() bool { return countEvents(state, "task") >= 4 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	savedAtKill, doneAtKill := countEvents(state, "task"), countEvents(state, "done")
	if doneAtKill >= n {
		t.Fatalf("the batch finished before the kill (%d done)", doneAtKill)
	}
	before := taskSubmits(t, emu)

	r := runBin(t, home, env, args...)
	submits := taskSubmits(t, emu)
	interrupted := interruptedKeys(r.stdout)
	t.Logf("at the kill: %d submitted, %d handles saved, %d done; the rerun: %d interrupted", len(before), savedAtKill, doneAtKill, len(interrupted))
	for item, c := range submits {
		if c != 1 {
			t.Errorf("%s submitted %d times", item, c)
		}
	}
	// An item whose submit was under way at the kill is journaled as
	// started without a handle: it may have been billed, so the rerun
	// does not send it (it is reported interrupted). Every other item is
	// done.
	if len(submits) < n-len(interrupted) || len(submits) > n {
		t.Errorf("%d items submitted in all, want %d less some of the interrupted %v", len(submits), n, interrupted)
	}
	wantCode := 0
	if len(interrupted) > 0 {
		wantCode = 1
	}
	if r.code != wantCode || !strings.Contains(r.stdout, fmt.Sprintf("%d items: %d done, 0 failed", n, n-len(interrupted))) {
		t.Errorf("rerun: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if resumed := savedAtKill - doneAtKill; resumed > 0 && !strings.Contains(r.stderr, "resuming") {
		t.Errorf("%d saved tasks not resumed:\n%s", resumed, r.stderr)
	}
	for item := range before {
		if submits[item] != before[item] {
			t.Errorf("%s: submitted again by the rerun", item)
		}
	}
	files, _ := filepath.Glob(filepath.Join(home, "out", "k*-1.*"))
	if len(files) < n-len(interrupted) || len(files) > n {
		t.Errorf("%d image files for %d items done", len(files), n-len(interrupted))
	}
	// The ledger never records a task twice; the kill may cut the record
	// of an item it caught between its state and its ledger line.
	recs := readLedger(t, led)
	if len(recs) > len(submits) || len(recs) < n-len(interrupted)-4 {
		t.Errorf("ledger holds %d records for %d tasks submitted", len(recs), len(submits))
	}
	for _, rec := range recs {
		if rec.Cost <= 0 || rec.Labels["batch"] != "items" || !strings.HasPrefix(rec.Model, rec.Provider+"/") {
			t.Errorf("ledger record %+v", rec)
		}
	}

	// A third run submits nothing.
	third := runBin(t, home, env, args...)
	if after := taskSubmits(t, emu); fmt.Sprint(after) != fmt.Sprint(submits) || third.code != wantCode {
		t.Errorf("third run: exit %d, submits %v → %v", third.code, submits, after)
	}
}

func interruptedKeys(summary string) []string {
	var keys []string
	for _, m := range regexp.MustCompile(`(?m)^  interrupted (\S+):`).FindAllStringSubmatch(summary, -1) {
		keys = append(keys, m[1])
	}
	return keys
}

// TestBatchModeResumeAfterKill kills a Gemini Batch Mode run while it waits
// for its job; the rerun resumes the saved job instead of creating another.
func TestBatchModeResumeAfterKill(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	emu := startEmulator(t, env, "--batch-duration", "1h")
	const n = 5
	writeItems(t, filepath.Join(home, "items.jsonl"), n)
	led := filepath.Join(home, "ledger.jsonl")
	state := filepath.Join(home, "out", "batch-state.jsonl")
	args := []string{"batch", "--emulator=" + emu, "--mode", "gemini-batch", "--poll", "50ms", "--in", "items.jsonl", "--out", "out", "--ledger", led}
	cmd := binCommand(context.Background(), home, env, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job saved", func() bool { return countEvents(state, "job") == 1 })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	control(t, "POST", emu+"/_emulator/clock", map[string]string{"advance": "2h"}, nil)

	r := mustRun(t, home, env, args...)
	var stats struct {
		PerEndpoint map[string]int `json:"perEndpoint"`
	}
	control(t, "GET", emu+"/_emulator/stats", nil, &stats)
	if stats.PerEndpoint["batchGenerateContent"] != 1 || !strings.Contains(r.stderr, "resuming batches/") ||
		!strings.Contains(r.stdout, fmt.Sprintf("%d done, 0 failed", n)) {
		t.Errorf("stats %v\nstdout %s\nstderr %s", stats.PerEndpoint, r.stdout, r.stderr)
	}
	recs := readLedger(t, led)
	if len(recs) != n {
		t.Fatalf("%d ledger records", len(recs))
	}
	for _, rec := range recs {
		if rec.Tier != "batch" || rec.Labels["batch"] != "items" || rec.Cost <= 0 {
			t.Errorf("%+v", rec)
		}
	}
}

func TestBatchCSVAndFailures(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	csv := "key,prompt,model,size,labels\na,a red kite,,1K,team=x\nb,a blue kite,gpt-image-2,1024x1024,\nc,a cat,,7K,\n"
	if err := os.WriteFile(filepath.Join(home, "in.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	led := filepath.Join(home, "l.jsonl")
	r := runBin(t, home, env, "batch", "--emulator", "--in", "in.csv", "--out", "o", "--ledger", led)
	if r.code != 1 || !strings.Contains(r.stdout, "3 items: 2 done, 1 failed") ||
		!strings.Contains(r.stdout, "failed c:") || !strings.Contains(r.stdout, "not retried without --retry-failed") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	recs := readLedger(t, led)
	if len(recs) != 2 || recs[0].Labels["batch"] != "in" {
		t.Errorf("%+v", recs)
	}
	providers := map[string]bool{}
	for _, rec := range recs {
		providers[rec.Provider] = true
	}
	if !providers["gemini"] || !providers["openai"] {
		t.Errorf("each item goes to its model's provider: %v", providers)
	}
	// A changed item under a key that is done is refused.
	os.WriteFile(filepath.Join(home, "in.csv"), []byte(strings.Replace(csv, "a red kite", "a green kite", 1)), 0o644)
	r = runBin(t, home, env, "batch", "--emulator", "--in", "in.csv", "--out", "o", "--ledger", led)
	if r.code != 2 || !strings.Contains(r.stderr, `in.csv:2: item "a" = changed`) {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

// probeHTML is what the test reads back from report.html.
type probeHTML struct {
	rates map[string][3]float64 // provider → rate, ok, requests
	bins  map[string][2]int     // provider → ok, failed summed over bins
}

var (
	rateRE = regexp.MustCompile(`<rect class="rate" data-provider="([^"]+)" data-rate="([0-9.]+)" data-ok="(\d+)" data-requests="(\d+)"`)
	histRE = regexp.MustCompile(`(?s)<svg class="latency-histogram" data-provider="([^"]+)".*?</svg>`)
	binRE  = regexp.MustCompile(`<g class="bin" data-lo-ms="(\d+)" data-hi-ms="(\d+)" data-ok="(\d+)" data-failed="(\d+)"`)
	svgRE  = regexp.MustCompile(`(?s)<svg.*?</svg>`)
)

// parseProbeHTML checks that every chart is well-formed SVG and returns the
// data the charts draw.
func parseProbeHTML(t *testing.T, doc string) probeHTML {
	t.Helper()
	for _, svg := range svgRE.FindAllString(doc, -1) {
		dec := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("chart is not well-formed SVG: %v", err)
			}
		}
	}
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(doc, bad) {
			t.Errorf("report.html is not self-contained: it has %q", bad)
		}
	}
	// An error message may quote a URL as text; no attribute may name one
	// but the SVG namespace.
	if n := strings.Count(doc, `="http`); n != strings.Count(doc, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("report.html has URL attributes beyond the SVG namespace")
	}
	p := probeHTML{rates: map[string][3]float64{}, bins: map[string][2]int{}}
	for _, m := range rateRE.FindAllStringSubmatch(doc, -1) {
		rate, _ := strconv.ParseFloat(m[2], 64)
		ok, _ := strconv.Atoi(m[3])
		n, _ := strconv.Atoi(m[4])
		p.rates[m[1]] = [3]float64{rate, float64(ok), float64(n)}
	}
	for _, h := range histRE.FindAllStringSubmatch(doc, -1) {
		var ok, failed, last int
		for _, b := range binRE.FindAllStringSubmatch(h[0], -1) {
			lo, _ := strconv.Atoi(b[1])
			hi, _ := strconv.Atoi(b[2])
			if lo != last || hi <= lo {
				t.Errorf("%s: bins not contiguous at %d–%d", h[1], lo, hi)
			}
			last = hi
			o, _ := strconv.Atoi(b[3])
			f, _ := strconv.Atoi(b[4])
			ok, failed = ok+o, failed+f
		}
		p.bins[h[1]] = [2]int{ok, failed}
	}
	return p
}

func TestProbe(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	const n = 30
	led := filepath.Join(home, "l.jsonl")
	r := mustRun(t, home, env, "probe", "--emulator", "--emulator-faults", "0.3", "-n", strconv.Itoa(n), "--concurrency", "4",
		"--out", "rep", "--ledger", led)
	md, err := os.ReadFile(filepath.Join(home, "rep", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(home, "rep", "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	p := parseProbeHTML(t, string(html))
	if len(p.rates) != 3 || len(p.bins) != 3 {
		t.Fatalf("charts: %+v", p)
	}
	failures := 0
	for _, name := range []string{"gemini", "openai", "openrouter"} {
		rate, bins := p.rates[name], p.bins[name]
		if rate[2] != n || bins[0]+bins[1] != n || float64(bins[0]) != rate[1] {
			t.Errorf("%s: rate %v, bins %v", name, rate, bins)
		}
		if want := rate[1] / n; rate[0] < want-0.0001 || rate[0] > want+0.0001 {
			t.Errorf("%s: rate %v of %v/%d", name, rate[0], rate[1], n)
		}
		failures += bins[1]
		// The Markdown table says the same.
		row := regexp.MustCompile(`\| ` + name + ` \| [^|]+ \| (\d+) \| ([0-9.]+)% \((\d+)\) \|`).FindStringSubmatch(string(md))
		if row == nil || row[1] != strconv.Itoa(n) || row[3] != strconv.Itoa(int(rate[1])) {
			t.Errorf("%s: report.md row %v", name, row)
		}
	}
	// 90 requests, each failing with odds 0.15 (half the faults are only
	// slow): no failure at all has odds of 4e-7.
	if failures == 0 || !strings.Contains(string(md), "| provider unavailable |") && !strings.Contains(string(md), "| rate limited |") {
		t.Errorf("no errors by kind:\n%s", md)
	}
	if !strings.Contains(r.stdout, "report: rep/report.md, rep/report.html") {
		t.Errorf("%s", r.stdout)
	}
	recs := readLedger(t, led)
	if len(recs) == 0 || recs[0].Labels["cmd"] != "probe" {
		t.Errorf("ledger: %d records", len(recs))
	}
	if r := runBin(t, home, env, "probe", "--emulator", "-n", "3", "--min-success", "1.01"); r.code != 2 {
		t.Errorf("--min-success 1.01: exit %d", r.code)
	}
}

// TestProbeReportInChromium renders report.html in headless Chromium, when
// it is installed (apt-get install chromium), and checks the rendered DOM
// holds the charts and that a screenshot can be taken.
func TestProbeReportInChromium(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium)")
	}
	home, env := newHome(t)
	mustRun(t, home, env, "probe", "--emulator", "--emulator-faults", "0.3", "-n", "12", "--out", "rep", "--ledger", "off")
	page := "file://" + filepath.Join(home, "rep", "report.html")
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, chromium, append(flags, "--dump-dom", page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	p := parseProbeHTML(t, string(dom))
	if len(p.rates) != 3 || len(p.bins) != 3 || strings.Count(string(dom), `class="latency-histogram"`) != 3 {
		t.Errorf("rendered DOM lacks the charts: %+v", p)
	}
	shot := filepath.Join(home, "shot.png")
	if out, err := exec.CommandContext(ctx, chromium, append(flags, "--window-size=950,1300", "--screenshot="+shot, page)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	b, err := os.ReadFile(shot)
	if err != nil || provider.SniffMIME(b) != "image/png" || len(b) < 10_000 {
		t.Errorf("screenshot: %v, %d bytes", err, len(b))
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"generate", "--emulator", "--bogus", "x"}, "flag provided but not defined: -bogus"},
		{[]string{"generate", "--emulator", "-n", "0", "x"}, "--n = 0: want 1 to 10"},
		{[]string{"generate", "--emulator"}, "--prompt"},
		{[]string{"generate", "--emulator", "--size", "7K", "x"}, `Size: "7K"`},
		{[]string{"generate", "--emulator", "--model", "no-such-model", "x"}, "--model = no-such-model"},
		{[]string{"generate", "--emulator=ftp://x", "x"}, "--emulator"},
		{[]string{"generate", "--emulator-faults", "0.5", "x"}, "--emulator-faults"},
		{[]string{"edit", "--emulator", "make it night"}, "--image"},
		{[]string{"batch", "--emulator"}, "--in"},
		{[]string{"batch", "--emulator", "--in", "x.jsonl", "--mode", "turbo"}, "--mode = turbo"},
		{[]string{"batch", "--emulator", "--in", "missing.jsonl"}, "missing.jsonl"},
		{[]string{"models", "--at", "someday"}, "--at"},
		{[]string{"cost", "--format", "xml"}, "--format = xml"},
		{[]string{"cost", "--since", "last week"}, "--since"},
		{[]string{"probe", "--emulator", "-n", "0"}, "-n = 0"},
		{[]string{"probe", "--emulator", "--providers", "nobody"}, "--provider = nobody"},
	} {
		r := runBin(t, home, env, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// No key and no emulator: a usage mistake that says what to set.
	r := runBin(t, home, env, "generate", "a cat")
	if r.code != 2 || !strings.Contains(r.stderr, "GEMINI_API_KEY") || !strings.Contains(r.stderr, "--emulator") {
		t.Errorf("no key: exit %d, %s", r.code, r.stderr)
	}
}

func TestBadConfig(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	for _, tc := range []struct {
		name, doc string
		args      []string
		want      []string
	}{
		{"unknown key", "[providers.gemini]\nmodel = \"gemini-3-pro-image\"\ntimout = \"3s\"\n", nil,
			[]string{"imagegen.toml:3:1: providers.gemini.timout: unknown key"}},
		{"wrong type", "[providers.gemini.limits]\nrequests_per_minute = \"fast\"\n", nil,
			[]string{"imagegen.toml:2:23: providers.gemini.limits.requests_per_minute: cannot decode TOML string into int"}},
		{"burst above the limit (ratelimit.New)", "[providers.gemini.limits]\nrequests_per_minute = 10\nburst = 100\n", nil,
			[]string{"imagegen.toml:3:1: providers.gemini.limits.burst = 100: want"}},
		{"retry policy (retry.New)", "[providers.gemini]\nretry = { multiplier = 0.5 }\n", nil,
			[]string{"imagegen.toml:2:", "providers.gemini.retry.multiplier = 0.5"}},
		{"negative route weight (failover.New)", "[[routes]]\nprovider = \"gemini\"\n[[routes]]\nprovider = \"openai\"\nweight = -2\n", nil,
			[]string{"imagegen.toml:5:1: routes[1].weight = -2"}},
		{"breaker (failover.New)", "[[routes]]\nprovider = \"gemini\"\n[failover]\nfailure_rate = 1.5\n", nil,
			[]string{"imagegen.toml:4:1: failover.failure_rate = 1.5"}},
		{"route to nowhere", "[[routes]]\nprovider = \"gemini\"\n[[routes]]\nprovider = \"nope\"\n", nil,
			[]string{"imagegen.toml:4:1: routes[1].provider = nope"}},
		{"budget label (pricing.NewBudget)", "[budget]\ndaily = \"1\"\n[budget.per_label.team]\ndaily = \"-1\"\n", nil,
			[]string{"imagegen.toml:3:", "budget.per_label.team"}},
		{"budget threshold (pricing.NewBudget)", "[budget]\ndaily = \"1\"\nthresholds = [0.5, 2]\n", nil,
			[]string{"imagegen.toml:3:1: budget.thresholds = 2"}},
		{"duration as a number", "[cache]\nstore = \"memory\"\nttl = 3600\n", nil,
			[]string{"imagegen.toml:3:1: cache.ttl = a number: want a duration as a string"}},
		{"cache size (cache.NewMemory)", "[cache]\nstore = \"memory\"\nmax_bytes = -1\n", nil,
			[]string{"imagegen.toml:3:1: cache.max_bytes = -1"}},
		{"batch too", "[providers.gemini.limits]\nmax_concurrent = -1\n", []string{"batch", "--emulator", "--in", "items.jsonl"},
			[]string{"imagegen.toml:2:1: providers.gemini.limits.max_concurrent = -1"}},
		{"probe too", "[providers.openai]\nlimits = { requests_per_day = -1 }\n", []string{"probe", "--emulator", "--providers", "openai"},
			[]string{"imagegen.toml:2:", "providers.openai.limits.requests_per_day = -1"}},
	} {
		dir := filepath.Join(home, strings.ReplaceAll(tc.name, " ", "-"))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "imagegen.toml"), []byte(tc.doc), 0o644)
		writeItems(t, filepath.Join(dir, "items.jsonl"), 1)
		args := tc.args
		if args == nil {
			args = []string{"generate", "--emulator", "--ledger", "off", "a cat"}
		}
		r := runBin(t, dir, env, args...) // ./imagegen.toml is read without --config
		if r.code != 2 {
			t.Errorf("%s: exit %d, want 2; stderr %s", tc.name, r.code, r.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr %q\nlacks %q", tc.name, r.stderr, w)
			}
		}
	}
	// --config names a file anywhere; a missing one is an error too.
	if r := runBin(t, home, env, "generate", "--emulator", "--config", "nope.toml", "x"); r.code != 2 || !strings.Contains(r.stderr, "nope.toml") {
		t.Errorf("missing --config: %d %s", r.code, r.stderr)
	}
}

// TestConfigRoutesFailover runs generate through the config's routes: the
// first route's provider fails every call on the emulator, and failover
// serves the request from the second.
func TestConfigRoutesFailover(t *testing.T) {
	t.Parallel()
	home, env := newHome(t)
	emu := startEmulator(t, env)
	control(t, "POST", emu+"/_emulator/faults", map[string]any{"endpoint": "generateContent", "probability": 1,
		"faults": []map[string]string{{"kind": "Unavailable"}}}, nil)
	doc := `ledger = "spend.jsonl"
[providers.gemini]
retry = { max_attempts = 1 }
[providers.openai]
model = "gpt-image-2"
[[routes]]
provider = "gemini"
[[routes]]
provider = "openai"
priority = 1
[budget]
daily = "5.00"
store = "budget.json"
[cache]
store = "disk"
dir = "cache"
`
	os.WriteFile(filepath.Join(home, "imagegen.toml"), []byte(doc), 0o644)
	r := mustRun(t, home, env, "generate", "--emulator="+emu, "--json", "--out", "o", "a lighthouse")
	var sum struct{ Provider string }
	json.Unmarshal([]byte(r.stdout), &sum)
	if sum.Provider != "openai" || !strings.Contains(r.stderr, "failover: gemini, openai") {
		t.Errorf("%s\n%s", r.stdout, r.stderr)
	}
	// The same request again is a cache hit: no call, no spend.
	r = mustRun(t, home, env, "generate", "--emulator="+emu, "--json", "--out", "o", "a lighthouse")
	if !strings.Contains(r.stdout, `"cached": true`) {
		t.Errorf("not cached: %s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(home, "budget.json")); err != nil {
		t.Errorf("budget store: %v", err)
	}
}
