package redistest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// AccelClock is a clock shared by several processes that runs K times
// faster than real time from Epoch: Now = Epoch + (real now − Epoch)×K.
// After(d) waits d/K of real time.
type AccelClock struct {
	Epoch time.Time
	K     float64
}

// Now returns the simulated time.
func (c AccelClock) Now() time.Time {
	return c.Epoch.Add(time.Duration(float64(time.Since(c.Epoch)) * c.K))
}

// After waits d of simulated time.
func (c AccelClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	time.AfterFunc(time.Duration(float64(d)/c.K), func() { ch <- c.Now() })
	return ch
}

// Real returns the real time at which simulated time t arrives.
func (c AccelClock) Real(t time.Time) time.Time {
	return c.Epoch.Add(time.Duration(float64(t.Sub(c.Epoch)) / c.K))
}

// Env returns the variables that pass c to a child process.
func (c AccelClock) Env() []string {
	return []string{"IMAGEGEN_EPOCH=" + strconv.FormatInt(c.Epoch.UnixNano(), 10),
		"IMAGEGEN_K=" + strconv.FormatFloat(c.K, 'f', -1, 64)}
}

// ClockFromEnv returns the clock a parent passed with Env.
func ClockFromEnv() (AccelClock, error) {
	return ClockFrom(os.Getenv("IMAGEGEN_EPOCH"))
}

// ClockFrom returns the clock starting at epoch (Unix nanoseconds), with
// the speed-up a parent passed with Env.
func ClockFrom(epoch string) (AccelClock, error) {
	ns, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return AccelClock{}, fmt.Errorf("IMAGEGEN_EPOCH: %w", err)
	}
	k, err := strconv.ParseFloat(os.Getenv("IMAGEGEN_K"), 64)
	if err != nil {
		return AccelClock{}, fmt.Errorf("IMAGEGEN_K: %w", err)
	}
	return AccelClock{Epoch: time.Unix(0, ns), K: k}, nil
}

// HelperEnv names the variable that tells a re-executed test binary which
// helper to run.
const HelperEnv = "IMAGEGEN_HELPER"

// resultPrefix starts the line a child reports its result on.
const resultPrefix = "IMAGEGEN-RESULT "

// Report prints v as the child's result, for RunChildren.
func Report(v any) {
	b, _ := json.Marshal(v)
	fmt.Printf("%s%s\n", resultPrefix, b)
}

// RunChildren re-executes the test binary n times at once, running test
// (a TestHelperProcess-style test that checks HelperEnv) with helper in
// HelperEnv, CHILD=<i> and env, and decodes each child's Report into
// out(i). A child that fails or reports nothing fails t. Children are
// killed when ctx ends.
func RunChildren(ctx context.Context, t testing.TB, n int, test, helper string, env []string, out func(i int) any) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), append([]string{HelperEnv + "=" + helper, "CHILD=" + strconv.Itoa(i)}, env...)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			found := false
			sc := bufio.NewScanner(&stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if line, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
					found = true
					if jerr := json.Unmarshal([]byte(line), out(i)); jerr != nil && err == nil {
						err = jerr
					}
				}
			}
			if err == nil && !found {
				err = fmt.Errorf("no result")
			}
			if err != nil {
				errs[i] = fmt.Errorf("child %d: %v\nstdout:\n%s\nstderr:\n%s", i, err, stdout.String(), stderr.String())
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// IsChild reports whether this process is a child running helper.
func IsChild(helper string) bool { return os.Getenv(HelperEnv) == helper }

// barrierEnv names the directory children meet in.
const barrierEnv = "IMAGEGEN_BARRIER"

// RunChildrenTogether is RunChildren for children that must start at the
// same moment however long each takes to launch: each child calls
// WaitBarrier, which returns once every child is waiting; start is then
// called (to fix an epoch, say) and its bytes are what WaitBarrier returns
// in every child.
func RunChildrenTogether(ctx context.Context, t testing.TB, n int, test, helper string, env []string, out func(i int) any, start func() []byte) {
	t.Helper()
	RunChildrenInPhases(ctx, t, n, test, helper, env, out, 1, func(int) []byte { return start() })
}

// RunChildrenInPhases is RunChildren for children that move through
// phases in step: in phase p (from 0) every child calls WaitPhase(p),
// which returns once every child has called it; start(p) runs in the
// parent at that moment (to move a shared clock on, say) and its bytes are
// what WaitPhase returns. No child starts phase p+1 before every child has
// finished phase p.
func RunChildrenInPhases(ctx context.Context, t testing.TB, n int, test, helper string, env []string, out func(i int) any, phases int, start func(phase int) []byte) {
	t.Helper()
	dir := t.TempDir()
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunChildren(ctx, t, n, test, helper, append(env, barrierEnv+"="+dir), out)
	}()
	for p := range phases {
		for {
			ready, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("ready-%d-*", p)))
			if len(ready) == n {
				break
			}
			select {
			case <-done:
				t.Errorf("children ended before meeting at the barrier of phase %d", p)
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
		payload := start(p)
		tmp := filepath.Join(dir, fmt.Sprintf("go-%d.tmp", p))
		if err := os.WriteFile(tmp, payload, 0o600); err != nil {
			t.Error(err)
		} else if err := os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("go-%d", p))); err != nil {
			t.Error(err)
		}
	}
	<-done
}

// WaitBarrier is called by a child of RunChildrenTogether: it returns the
// parent's start payload once every child has called it.
func WaitBarrier() ([]byte, error) { return WaitPhase(0) }

// WaitPhase is called by a child of RunChildrenInPhases at the start of
// phase p: it returns the parent's payload for p once every child has
// called it.
func WaitPhase(p int) ([]byte, error) {
	dir := os.Getenv(barrierEnv)
	if dir == "" {
		return nil, fmt.Errorf("redistest: %s not set", barrierEnv)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("ready-%d-%s", p, os.Getenv("CHILD"))), nil, 0o600); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("go-%d", p)))
		if err == nil {
			return b, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("redistest: no start of phase %d from the parent", p)
		}
		time.Sleep(time.Millisecond)
	}
}
