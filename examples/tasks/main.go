// Command tasks generates images through task APIs — Kie.ai, Replicate and
// APIMart — first waiting for each (Generate), then as detached tasks: it
// submits a few, saves their handles to a state file, forgets them as a
// restart would, resumes them from the file and collects the results. It
// writes the images under ./out and prints what each cost.
//
// With no key in the environment it starts the providertest emulator
// in-process, so it runs offline in a few seconds and costs nothing. With
// KIE_API_KEY, REPLICATE_API_TOKEN or APIMART_API_KEY set it uses that
// service (and only the services whose key is set).
//
//	go run ./examples/tasks [-out dir] [-state file] [-service kie|replicate|apimart]
//
// It exits with status 1 when any image failed, after saying which, and 2
// on a bad flag.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
	"github.com/imagegen-go/imagegen/taskapi"
)

type options struct {
	out, state string
	services   []taskapi.Service
	taskTime   time.Duration // how long an offline task takes (the test shortens it)
}

func main() {
	opts, err := parseFlags(flag.CommandLine, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tasks:", err)
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "tasks:", err)
		os.Exit(1)
	}
}

func parseFlags(fs *flag.FlagSet, args []string) (options, error) {
	o := options{taskTime: 1500 * time.Millisecond}
	fs.StringVar(&o.out, "out", "out", "directory for the images")
	fs.StringVar(&o.state, "state", "", "state file of the detached tasks (default: tasks.jsonl in -out)")
	service := fs.String("service", "", "only this service: kie, replicate or apimart (default: all that can run)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tasks [-out dir] [-state file] [-service name]\n\nGenerates images through Kie.ai, Replicate and APIMart: offline on the emulator,\nor on the services whose KIE_API_KEY / REPLICATE_API_TOKEN / APIMART_API_KEY is set.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch s := taskapi.Service(*service); {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	case strings.TrimSpace(o.out) == "":
		return o, errors.New("-out: want a directory")
	case s == "":
		o.services = []taskapi.Service{taskapi.ServiceKie, taskapi.ServiceReplicate, taskapi.ServiceAPIMart}
	case s == taskapi.ServiceKie || s == taskapi.ServiceReplicate || s == taskapi.ServiceAPIMart:
		o.services = []taskapi.Service{s}
	default:
		return o, fmt.Errorf("-service %q: want kie, replicate or apimart", *service)
	}
	if o.state == "" {
		o.state = filepath.Join(o.out, "tasks.jsonl")
	}
	return o, nil
}

// services returns a config per service to run: the real ones whose key
// is set, else all of them on an emulator (started here; close it).
func services(o options) ([]taskapi.Config, string, func(), error) {
	var real []taskapi.Config
	for _, s := range o.services {
		if key := os.Getenv(map[taskapi.Service]string{taskapi.ServiceKie: "KIE_API_KEY",
			taskapi.ServiceReplicate: "REPLICATE_API_TOKEN", taskapi.ServiceAPIMart: "APIMART_API_KEY"}[s]); key != "" {
			real = append(real, preset(s, key))
		}
	}
	if len(real) > 0 {
		return real, "the services whose key is set", func() {}, nil
	}
	// Offline: tasks of about a second and a half, on the real clock.
	const key = "emulator-key"
	srv := providertest.NewServer(providertest.Options{APIKey: key, Seed: 1,
		Tasks: providertest.TaskOptions{Duration: o.taskTime, Jitter: 0.3}})
	var cfgs []taskapi.Config
	for _, s := range o.services {
		cfg := preset(s, key)
		cfg.BaseURL = map[taskapi.Service]string{taskapi.ServiceKie: srv.KieURL(), taskapi.ServiceReplicate: srv.ReplicateURL(),
			taskapi.ServiceAPIMart: srv.APIMartURL()}[s]
		cfg.UploadURL, cfg.HTTPClient = srv.KieURL(), srv.Client()
		cfg.Fetch = taskapi.FetchPolicy{AllowHTTP: true, AllowPrivate: true} // the emulator's files are on loopback
		cfg.Poll.Expected = o.taskTime
		cfgs = append(cfgs, cfg)
	}
	return cfgs, "the emulator (offline; set KIE_API_KEY, REPLICATE_API_TOKEN or APIMART_API_KEY for the real services)", srv.Close, nil
}

func preset(s taskapi.Service, key string) taskapi.Config {
	switch s {
	case taskapi.ServiceKie:
		return taskapi.Kie(key)
	case taskapi.ServiceReplicate:
		return taskapi.Replicate(key)
	}
	return taskapi.APIMart(key)
}

func run(ctx context.Context, stdout io.Writer, o options) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cfgs, where, closeFn, err := services(o)
	if err != nil {
		return err
	}
	defer closeFn()
	fmt.Fprintf(stdout, "task APIs on %s\n\n", where)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	meter, err := pricing.NewMeter(pricing.MeterConfig{})
	if err != nil {
		return err
	}
	var failed []error

	// 1. Generate: submit and wait, through the stack every adapter gets.
	fmt.Fprintln(stdout, "== Generate (submit and wait)")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tMODEL\tIMAGES\tCOST\tFILE")
	gens := map[taskapi.Service]*taskapi.Generator{}
	for _, cfg := range cfgs {
		g, err := taskapi.New(cfg)
		if err != nil {
			return err
		}
		gens[cfg.Service] = g
		retries, err := retry.New(retry.Policy{})
		if err != nil {
			return err
		}
		limits, err := ratelimit.New(taskapi.RateLimit(cfg.Service)) // the service's documented limits
		if err != nil {
			return err
		}
		gen := provider.Chain(g, meter.Middleware(), retries, limits)
		resp, err := gen.Generate(ctx, &provider.Request{Prompt: "a lighthouse on a cliff at dusk, oil painting", Size: "1K", AspectRatio: "16:9"})
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", cfg.Service, err))
			continue
		}
		file, err := save(o.out, string(cfg.Service)+"-generate", resp.Images[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s\n", cfg.Service, resp.Model, len(resp.Images), resp.Cost, file)
	}
	_ = tw.Flush()

	// 2. Detached tasks: submit, save the handles, forget them.
	fmt.Fprintf(stdout, "\n== Submit, save the handles to %s, resume them\n", o.state)
	state, err := os.Create(o.state)
	if err != nil {
		return err
	}
	prompts := []string{"a red fox in fresh snow, photograph", "an isometric pixel-art coffee shop"}
	for _, cfg := range cfgs {
		for _, p := range prompts {
			task, err := gens[cfg.Service].Submit(ctx, &provider.Request{Prompt: p, Size: "1K", Labels: map[string]string{"batch": "demo"}})
			if err != nil {
				failed = append(failed, fmt.Errorf("%s %q: %w", cfg.Service, p, err))
				continue
			}
			line, _ := json.Marshal(task.Handle())
			fmt.Fprintf(state, "%s\n", line)
		}
	}
	if err := state.Close(); err != nil {
		return err
	}

	// 3. As after a restart: new generators, the handles read back.
	restarted := map[taskapi.Service]*taskapi.Generator{}
	for _, cfg := range cfgs {
		g, err := taskapi.New(cfg)
		if err != nil {
			return err
		}
		restarted[cfg.Service] = g
	}
	f, err := os.Open(o.state)
	if err != nil {
		return err
	}
	defer f.Close()
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tTASKS\tSTATE\tIMAGES\tCOST\tFILE")
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan(); n++ {
		var h taskapi.Handle
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			return fmt.Errorf("%s line %d: %w", o.state, n+1, err)
		}
		task, err := restarted[h.Service].Resume(h)
		if err != nil {
			return err
		}
		resp, err := task.Result(ctx)
		// Price what came back, with what the handle remembers.
		resp, err = meter.Observe(h.Provider, h.Model, catalog.TierStandard, h.Request(), resp, err)
		st, _ := task.Status(ctx)
		if err != nil {
			failed = append(failed, fmt.Errorf("%s %s: %w", h.Service, strings.Join(h.IDs, ","), err))
			continue
		}
		file, err := save(o.out, fmt.Sprintf("%s-task-%d", h.Service, n), resp.Images[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%s\n", h.Service, strings.Join(h.IDs, ","), st.State, len(resp.Images), resp.Cost, file)
	}
	_ = tw.Flush()
	if err := sc.Err(); err != nil {
		return err
	}

	tot := meter.Totals()
	fmt.Fprintf(stdout, "\ntotal: %d calls, %d images, %v (%d priced by the service's own figure)\n", tot.All.Calls, tot.All.Images, tot.All.Cost, tot.All.Reported)
	if len(failed) > 0 {
		for _, e := range failed {
			fmt.Fprintln(stdout, "failed:", e)
		}
		return fmt.Errorf("%d of the images failed", len(failed))
	}
	return nil
}

func save(dir, name string, img provider.Image) (string, error) {
	path := filepath.Join(dir, name+img.Extension())
	return path, os.WriteFile(path, img.Data, 0o644)
}
