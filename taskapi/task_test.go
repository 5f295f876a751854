package taskapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/taskapi"
)

// TestDetachedTasks submits, saves the handle as JSON, and resumes it in a
// new generator (as after a restart).
func TestDetachedTasks(t *testing.T) {
	t.Parallel()
	for name, cfg := range presets() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, providertest.Options{Tasks: providertest.TaskOptions{Duration: 30 * time.Second}})
			g := generator(t, srv, cfg, clk)
			req := &provider.Request{Prompt: "p", N: 2, Size: "2K", Labels: map[string]string{"job": "7"}}
			task, err := g.Submit(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if c := requestsTo(srv, providertest.EndpointReplicateCreate); len(c) > 0 && c[0].Header.Get("Prefer") != "" {
				t.Error("Submit used sync mode")
			}
			saved, err := json.Marshal(task)
			if err != nil {
				t.Fatal(err)
			}
			var h taskapi.Handle
			if err := json.Unmarshal(saved, &h); err != nil {
				t.Fatal(err)
			}
			if h.Service != cfg.Service || h.Model != cfg.Model || len(h.IDs) == 0 || h.Images != 2 || h.Labels["job"] != "7" || h.Size != "2K" {
				t.Fatalf("handle %s", saved)
			}
			restarted := generator(t, srv, cfg, clk)
			resumed, err := restarted.Resume(h)
			if err != nil {
				t.Fatal(err)
			}
			st, err := resumed.Status(context.Background())
			if err != nil || st.State.Done() || len(st.Tasks) != len(h.IDs) {
				t.Fatalf("status %+v %v", st, err)
			}
			st, err = resumed.Wait(context.Background())
			if err != nil || st.State != taskapi.StateSucceeded {
				t.Fatalf("wait %+v %v", st, err)
			}
			for _, ts := range st.Tasks {
				if ts.Expires.IsZero() || ts.Status == "" {
					t.Errorf("task status %+v", ts)
				}
			}
			resp, err := resumed.Result(context.Background())
			if err != nil || len(resp.Images) != 2 {
				t.Fatalf("result %v %v", resp, err)
			}
			again, err := resumed.Result(context.Background())
			if err != nil || again != resp {
				t.Errorf("a second Result downloaded again")
			}
			// The handle prices the result.
			meter, err := pricing.NewMeter(pricing.MeterConfig{})
			if err != nil {
				t.Fatal(err)
			}
			priced, _ := meter.Observe(h.Provider, h.Model, catalog.TierStandard, h.Request(), resp, nil)
			if priced.Cost <= 0 || meter.Totals().ByLabel["job=7"].Images != 2 {
				t.Errorf("priced %v, totals %+v", priced.Cost, meter.Totals().ByLabel)
			}
		})
	}
}

func TestResumeRefuses(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{})
	g := generator(t, srv, taskapi.Kie(""), clk)
	for _, h := range []taskapi.Handle{
		{Service: taskapi.ServiceReplicate, Model: "replicate/google/nano-banana-pro", IDs: []string{"abc"}},
		{Service: taskapi.ServiceKie, Model: "kie/nano-banana-pro"},
		{Service: taskapi.ServiceKie, Model: "kie/nano-banana-pro", IDs: []string{"a b"}},
		{Service: taskapi.ServiceKie, Model: "replicate/x/y", IDs: []string{"abc"}},
	} {
		if _, err := g.Resume(h); !errors.Is(err, provider.ErrInvalidRequest) {
			t.Errorf("%+v: %v", h, err)
		}
	}
	var nilGen *taskapi.Generator
	if _, err := nilGen.Resume(taskapi.Handle{}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("nil generator: %v", err)
	}
}

func TestTaskNotFound(t *testing.T) {
	t.Parallel()
	for name, cfg := range presets() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, providertest.Options{})
			g := generator(t, srv, cfg, clk)
			task, err := g.Resume(taskapi.Handle{Service: cfg.Service, Model: cfg.Model, IDs: []string{"nosuchtask"}})
			if err != nil {
				t.Fatal(err)
			}
			st, err := task.Wait(context.Background())
			if err != nil || st.State != taskapi.StateFailed || !errors.Is(st.Tasks[0].Err, taskapi.ErrTaskNotFound) {
				t.Fatalf("%+v %v", st, err)
			}
			if _, err := task.Result(context.Background()); !errors.Is(err, taskapi.ErrTaskNotFound) {
				t.Errorf("result: %v", err)
			}
		})
	}
}

// TestResultExpired: results fetched after the service deleted them are
// ErrResultExpired, still billed.
func TestResultExpired(t *testing.T) {
	t.Parallel()
	for name, cfg := range presets() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, clk := emulator(t, providertest.Options{})
			g := generator(t, srv, cfg, clk)
			task, err := g.Submit(context.Background(), &provider.Request{Prompt: "p"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := task.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			clk.Advance(25 * time.Hour)
			_, err = task.Result(context.Background())
			var pe *provider.Error
			if !errors.Is(err, taskapi.ErrResultExpired) || !errors.As(err, &pe) || pe.Code != taskapi.CodeResultExpired ||
				pe.Usage == nil || pe.Usage.Images != 1 || !errors.Is(err, provider.ErrNoImage) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestCancelDetached(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{Tasks: providertest.TaskOptions{Duration: time.Hour}})
	g := generator(t, srv, taskapi.Replicate(""), clk)
	task, err := g.Submit(context.Background(), &provider.Request{Prompt: "p", N: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Cancel(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := task.Wait(context.Background())
	if err != nil || st.State != taskapi.StateCanceled {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := task.Result(context.Background()); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("result of a cancelled task: %v", err)
	}

	kie := generator(t, srv, taskapi.Kie(""), clk)
	kt, err := kie.Submit(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	var pe *provider.Error
	if err := kt.Cancel(context.Background()); !errors.As(err, &pe) || pe.Code != "CANCEL_UNSUPPORTED" {
		t.Errorf("kie cancel: %v", err)
	}
}

// TestReplicateDeadline: Cancel-After stops a prediction; the error says
// it reached its deadline.
func TestReplicateDeadline(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{Tasks: providertest.TaskOptions{Duration: time.Minute}})
	cfg := taskapi.Replicate("")
	cfg.CancelAfter = 10 * time.Second
	g := generator(t, srv, cfg, clk)
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"})
	if !errors.Is(err, provider.ErrTimeout) || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err %v", err)
	}
}

func TestWaitMaxWait(t *testing.T) {
	t.Parallel()
	srv, clk := emulator(t, providertest.Options{})
	srv.ScriptTasks(providertest.TaskNeverEnds())
	cfg := taskapi.APIMart("")
	cfg.Poll.MaxWait = time.Minute
	g := generator(t, srv, cfg, clk)
	task, err := g.Submit(context.Background(), &provider.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := task.Wait(context.Background())
	if !errors.Is(err, taskapi.ErrStillRunning) || !errors.Is(err, provider.ErrTimeout) || st.State != taskapi.StateRunning {
		t.Fatalf("%+v %v", st, err)
	}
}
