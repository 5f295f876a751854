package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/cli/batchstate"
	"github.com/imagegen-go/imagegen/internal/cli/config"
	"github.com/imagegen-go/imagegen/internal/cli/ledger"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/taskapi"
)

var taskModels = []string{"kie/nano-banana-pro", "replicate/google/nano-banana-pro", "apimart/gemini-3-pro-image-preview"}

// writeTaskItems writes n items cycling over the three services' models.
func writeTaskItems(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"key\":\"k%02d\",\"prompt\":\"a kite, item-%02d\",\"model\":%q}\n", i, i, taskModels[i%len(taskModels)])
	}
	p := filepath.Join(dir, "items.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// creates counts the tasks the emulator was asked to create, per service.
func creates(srv *providertest.Server) map[string]int {
	out := map[string]int{}
	for _, ti := range srv.Tasks() {
		out[ti.Service]++
	}
	return out
}

func runBatch(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := Batch(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestBatchTasksResume: a run whose waits end before the tasks do leaves
// their handles saved; the next run resumes them, creating no task, and
// a third run sends nothing.
func TestBatchTasksResume(t *testing.T) {
	providertest.ClearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: EmulatorKey, Tasks: providertest.TaskOptions{Duration: 600 * time.Millisecond}})
	defer srv.Close()
	dir := t.TempDir()
	const n = 6
	in := writeTaskItems(t, dir, n)
	led := filepath.Join(dir, "ledger.jsonl")
	args := []string{"--emulator=" + srv.URL(), "--mode", "tasks", "--in", in, "--out", filepath.Join(dir, "out"), "--ledger", led, "--poll", "50ms"}

	out, errOut, err := runBatch(append(args, "--item-timeout", "1ms")...)
	if err == nil || strings.Count(out, "its task is saved (a rerun resumes it)") != n {
		t.Fatalf("first run: %v\n%s\n%s", err, out, errOut)
	}
	j, err := batchstate.Open(filepath.Join(dir, "out", "batch-state.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if saved := j.Tasks(); len(saved) != n {
		t.Errorf("%d saved tasks", len(saved))
	}
	j.Close()
	if got := creates(srv); got["kie"] != 2 || got["replicate"] != 2 || got["apimart"] != 2 {
		t.Fatalf("creates %v", got)
	}

	out, errOut, err = runBatch(args...)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d done, 0 failed", n)) || !strings.Contains(errOut, fmt.Sprintf("resuming %d saved task(s)", n)) {
		t.Fatalf("second run: %v\n%s\n%s", err, out, errOut)
	}
	if got := len(srv.Tasks()); got != n {
		t.Errorf("the rerun created tasks: %d in all", got)
	}
	recs, _, err := ledger.Read(led)
	if err != nil || len(recs) != n {
		t.Fatalf("ledger: %v, %d records", err, len(recs))
	}
	for _, r := range recs {
		if r.Cost <= 0 || r.Labels["batch"] != "items" || r.Provider != strings.Split(r.Model, "/")[0] {
			t.Errorf("%+v", r)
		}
	}
	for i := range n {
		if _, err := os.Stat(filepath.Join(dir, "out", fmt.Sprintf("k%02d-1.png", i))); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := runBatch(args...); err != nil || len(srv.Tasks()) != n {
		t.Errorf("third run: %v, %d tasks", err, len(srv.Tasks()))
	}
}

// TestBatchTasksBudget: the budget reserves before each submit; an item it
// refuses is never started.
func TestBatchTasksBudget(t *testing.T) {
	providertest.ClearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: EmulatorKey, Tasks: providertest.TaskOptions{Duration: 100 * time.Millisecond}})
	defer srv.Close()
	dir := t.TempDir()
	var b strings.Builder
	for i := range 4 {
		fmt.Fprintf(&b, "{\"key\":\"k%d\",\"prompt\":\"p%d\"}\n", i, i)
	}
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte(b.String()), 0o644)
	cfg := filepath.Join(dir, "imagegen.toml")
	os.WriteFile(cfg, []byte("[budget]\ndaily = \"0.10\"\n"), 0o644) // one Kie Nano Banana Pro image: $0.09
	state := filepath.Join(dir, "state.jsonl")
	out, errOut, err := runBatch("--emulator="+srv.URL(), "--config", cfg, "--mode", "tasks", "--model", "kie/nano-banana-pro",
		"--concurrency", "1", "--in", in, "--out", dir, "--state", state, "--ledger", "off")
	if err == nil || !strings.Contains(out, "4 items: 1 done, 3 failed") || strings.Count(out, "budget") < 3 {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	if len(srv.Tasks()) != 1 {
		t.Errorf("%d tasks created", len(srv.Tasks()))
	}
	data, _ := os.ReadFile(state)
	if strings.Count(string(data), `"event":"start"`) != 1 {
		t.Errorf("refused items were started:\n%s", data)
	}
}

// TestBatchTasksSubmitOutcomeUnknown: a Kie.ai submit whose answer is lost
// may have created a task: the item is left in flight, not failed, and a
// rerun does not submit it again.
func TestBatchTasksSubmitOutcomeUnknown(t *testing.T) {
	providertest.ClearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: EmulatorKey, Tasks: providertest.TaskOptions{Duration: 100 * time.Millisecond}})
	defer srv.Close()
	srv.LoseAnswers(providertest.EndpointKieCreate, 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte("{\"key\":\"a\",\"prompt\":\"p\"}\n"), 0o644)
	args := []string{"--emulator=" + srv.URL(), "--mode", "tasks", "--model", "kie/nano-banana-pro", "--in", in, "--out", dir, "--ledger", "off"}
	out, errOut, err := runBatch(args...)
	if err == nil || !strings.Contains(out, "interrupted a:") || !strings.Contains(errOut, "may have created a task") {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	out, _, _ = runBatch(args...)
	if len(srv.Tasks()) != 1 || !strings.Contains(out, "interrupted a:") {
		t.Errorf("rerun: %d tasks\n%s", len(srv.Tasks()), out)
	}
}

// TestBatchTasksFailures: a task that fails for good is final; one the
// service no longer knows (the in-process emulator of an earlier run) is
// retried by a rerun.
func TestBatchTasksFailures(t *testing.T) {
	providertest.ClearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: EmulatorKey, Tasks: providertest.TaskOptions{Duration: 100 * time.Millisecond}})
	defer srv.Close()
	srv.ScriptTasks(providertest.TaskFails("E005", "the prompt was flagged as sensitive"))
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte("{\"key\":\"a\",\"prompt\":\"p\"}\n"), 0o644)
	args := []string{"--mode", "tasks", "--model", "apimart/gemini-3-pro-image-preview", "--in", in, "--out", dir, "--ledger", "off"}
	out, errOut, err := runBatch(append(args, "--emulator="+srv.URL())...)
	if err == nil || !strings.Contains(out, "not retried without --retry-failed") || !strings.Contains(out, "flagged") {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}

	// A handle saved against another emulator: unknown to this one.
	dir2 := t.TempDir()
	in2 := filepath.Join(dir2, "in.jsonl")
	os.WriteFile(in2, []byte("{\"key\":\"b\",\"prompt\":\"p\"}\n"), 0o644)
	args2 := []string{"--mode", "tasks", "--model", "replicate/google/nano-banana-pro", "--in", in2, "--out", dir2, "--ledger", "off"}
	if out, errOut, err := runBatch(append(args2, "--emulator="+srv.URL(), "--item-timeout", "1ms")...); err == nil || !strings.Contains(out, "waiting b") {
		t.Fatalf("%v\n%s\n%s", err, out, errOut)
	}
	out, errOut, err = runBatch(append(args2, "--emulator")...)
	if err == nil || !strings.Contains(out, "failed b:") || !strings.Contains(out, "retried by a rerun") {
		t.Fatalf("unknown task: %v\n%s\n%s", err, out, errOut)
	}
	if out, errOut, err := runBatch(append(args2, "--emulator")...); err != nil || !strings.Contains(out, "1 done") {
		t.Errorf("rerun: %v\n%s\n%s", err, out, errOut)
	}
}

func TestBatchTasksMistakes(t *testing.T) {
	providertest.ClearEnv(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte("{\"key\":\"a\",\"prompt\":\"p\"}\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--emulator", "--model", "gpt-image-2"}, "a task API provider"},
		{[]string{"--emulator", "--provider", "gemini"}, "a task API provider"},
		{[]string{}, "KIE_API_KEY"},
		{[]string{"--model", "kie/nano-banana-pro"}, "KIE_API_KEY"},
		{[]string{"--emulator", "--model", "kie/nano-banana-pro", "--concurrency", "65"}, "--concurrency"},
	} {
		args := append([]string{"--mode", "tasks", "--in", in, "--out", dir, "--ledger", "off"}, tc.args...)
		_, _, err := runBatch(args...)
		if !IsUsageError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
}

func TestSubmitMayHaveCreated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&provider.Error{Kind: provider.KindUnknown, Code: taskapi.CodeOutcomeUnknown, Err: taskapi.ErrOutcomeUnknown}, true},
		{&provider.Error{Kind: provider.KindUnavailable}, true},
		{&provider.Error{Kind: provider.KindUnavailable, StatusCode: 502}, true},
		{&provider.Error{Kind: provider.KindTimeout}, true},
		{errors.New("reset"), true},
		{&provider.Error{Kind: provider.KindUnavailable, StatusCode: 200, Code: "MALFORMED"}, true},
		{&provider.Error{Kind: provider.KindRateLimited, StatusCode: 429}, false},
		{&provider.Error{Kind: provider.KindRateLimited, Code: provider.CodeLocalLimit}, false},
		{&provider.Error{Kind: provider.KindUnavailable, StatusCode: 455}, false}, // Kie maintenance: refused
		{&provider.Error{Kind: provider.KindQuotaExhausted, StatusCode: 402}, false},
		{&provider.Error{Kind: provider.KindBudgetExceeded}, false},
		{&provider.Error{Kind: provider.KindInvalidRequest}, false},
	} {
		if got := submitMayHaveCreated(tc.err); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestTaskLimits: a task API's limits default to the service's preset,
// field by field under what the config sets.
func TestTaskLimits(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("imagegen.toml", []byte(`
[providers.kie]
limits = { max_concurrent = 3 }
[providers.replicate]
limits = { requests_per_minute = 6, burst = 1 }
[providers.fast]
type = "apimart"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := &session{cfg: cfg, limitStores: map[string]ratelimit.Store{}}
	for name, want := range map[string][4]int{ // rpm, burst, images/min, concurrent
		"kie":       {120, 1, 120, 3},
		"replicate": {6, 1, 600, 0},
		"fast":      {0, 0, 0, 0}, // APIMart documents none
		"gemini":    {0, 0, 0, 0},
	} {
		rc, err := s.limitsConfig(name)
		if got := [4]int{rc.RequestsPerMinute, rc.Burst, rc.ImagesPerMinute, rc.MaxConcurrent}; err != nil || got != want || rc.Key != name {
			t.Errorf("%s: %v %+v, want %v", name, err, rc, want)
		}
	}
	if _, err := config.Parse("x.toml", []byte("[providers.k]\ntype = \"kei\"\n")); err == nil || !strings.Contains(err.Error(), "kie, replicate, apimart") {
		t.Errorf("unknown type: %v", err)
	}
}
