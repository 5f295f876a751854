package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imagegen-go/imagegen/internal/atomicfile"
	"github.com/imagegen-go/imagegen/internal/cli/probereport"
	"github.com/imagegen-go/imagegen/internal/progress"
	"github.com/imagegen-go/imagegen/provider"
)

const probeUsage = `Usage: imagegen probe [flags]

Test providers' stability before you write code: send -n requests to each
provider, --concurrency at once per provider, and report the success rate,
errors by kind, p50/p95/p99 latency (of successes) and cost per image, in
OUT/report.md and OUT/report.html (one self-contained page with a latency
histogram and a success-rate chart). Every call is metered into the ledger;
a configured budget caps the probe too. Retries are off unless --retry, so
that every failure counts.

  imagegen probe --emulator --emulator-faults 0.2 -n 40
  imagegen probe --providers gemini,openai -n 20 --concurrency 2 --size 1K
`

// modelsFlag collects repeated --model PROVIDER=MODEL (or MODEL for
// every provider).
type modelsFlag map[string]string

func (m modelsFlag) String() string { return fmt.Sprint(map[string]string(m)) }

func (m modelsFlag) Set(v string) error {
	p, model, ok := strings.Cut(v, "=")
	if !ok {
		p, model = "", v
	}
	if model == "" {
		return fmt.Errorf("want PROVIDER=MODEL or MODEL, not %q", v)
	}
	m[p] = model
	return nil
}

// Probe is `imagegen probe`.
func Probe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", probeUsage, stderr)
	var (
		c       common
		provs   = fs.String("providers", "", "comma-separated provider `names` (default: every provider with a key; on --emulator gemini, openai, openrouter)")
		models  = modelsFlag{}
		n       = fs.Int("n", 10, "requests per provider (1-10000)")
		conc    = fs.Int("concurrency", 2, "requests at once per provider (1-64)")
		prompt  = fs.String("prompt", "a lighthouse on a cliff at dusk, oil painting", "the prompt of every request")
		size    = fs.String("size", "", "size of every request (default: each model's)")
		out     = fs.String("out", "probe-report", "`directory` for report.md and report.html")
		retries = fs.Bool("retry", false, "use the providers' retry policies (default: none, so every failure counts)")
		timeout = fs.Duration("timeout", 2*time.Minute, "the longest one request may take")
		minOK   = fs.Float64("min-success", 0, "exit 1 when a provider's success rate is below this `fraction`")
	)
	c.register(fs)
	fs.Var(models, "model", "`PROVIDER=MODEL` to probe (or MODEL for every provider; repeatable; default each provider's)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return provider.InvalidConfig("arguments", strings.Join(fs.Args(), " "), "flags only")
	case *n < 1 || *n > 10000:
		return provider.InvalidConfig("-n", *n, "1 to 10000")
	case *conc < 1 || *conc > 64:
		return provider.InvalidConfig("--concurrency", *conc, "1 to 64")
	case *timeout <= 0:
		return provider.InvalidConfig("--timeout", *timeout, "more than 0")
	case *minOK < 0 || *minOK > 1:
		return provider.InvalidConfig("--min-success", *minOK, "a fraction from 0 to 1")
	}
	s, err := c.open(ctx, "probe", stderr, sessionOptions{noRetry: !*retries})
	if err != nil {
		return err
	}
	defer s.Close()

	// What to probe: each provider with its model, built before anything
	// is sent so that a mistake costs nothing.
	var names []string
	switch {
	case *provs != "":
		for _, p := range strings.Split(*provs, ",") {
			if p = strings.TrimSpace(p); p != "" {
				names = append(names, p)
			}
		}
	case s.emuURL != "":
		names = []string{"gemini", "openai", "openrouter"}
	default:
		for _, name := range s.providerNames() {
			p, _ := s.providerConfig(name)
			if _, err := s.key(name, p); err == nil && p.TypeFor(name) != "imagen" {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return &provider.ConfigError{Field: "probe", Value: "no provider",
				Want: "a key in the environment ($GEMINI_API_KEY, $OPENAI_API_KEY, ...), --providers, or --emulator"}
		}
	}
	type target struct {
		name, model string
		gen         provider.Generator
	}
	var targets []target
	for _, name := range names {
		model := models[name]
		if model == "" {
			model = models[""]
		}
		if model == "" && name == "openrouter" {
			model = "google/gemini-3.1-flash-image"
		}
		g, err := s.stack(ctx, name, model)
		if err != nil {
			return err
		}
		if model == "" {
			model = provider.Describe(g).Model
		}
		// No cache: a probe measures the provider.
		targets = append(targets, target{name: name, model: model, gen: provider.Chain(g, s.meter.Middleware())})
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(stderr, "probe: %d requests to each of %s, %d at once, on %s\n", *n, strings.Join(names, ", "), *conc, s.where())

	prog := progress.New(stderr)
	var (
		mu      sync.Mutex
		samples []probereport.Sample
		done    atomic.Int64
		failed  atomic.Int64
		total   = *n * len(targets)
	)
	started := time.Now()
	var wg sync.WaitGroup
	for _, t := range targets {
		work := make(chan int)
		for range *conc {
			wg.Go(func() {
				for range work {
					req := &provider.Request{Prompt: *prompt, Model: t.model, Size: *size, Labels: s.requestLabels(nil)}
					callCtx, cancel := context.WithTimeout(ctx, *timeout)
					t0 := time.Now()
					resp, err := t.gen.Generate(callCtx, req)
					lat := time.Since(t0)
					cancel()
					smp := probereport.Sample{Provider: t.name, Model: t.model, Latency: lat}
					if err != nil {
						if ctx.Err() != nil {
							continue // interrupted: not a provider's failure
						}
						smp.Err, smp.Kind = err.Error(), provider.KindOf(err).String()
						if errors.Is(err, context.DeadlineExceeded) {
							smp.Kind = provider.KindTimeout.String()
						}
						failed.Add(1)
					} else {
						smp.Images = len(resp.Images)
					}
					mu.Lock()
					samples = append(samples, smp)
					mu.Unlock()
					done.Add(1)
					prog.Update(progress.State{Done: int(done.Load()), Total: total, Failed: int(failed.Load()),
						Cost: s.meter.Totals().All.Cost.String()})
				}
			})
		}
		wg.Go(func() {
			defer close(work)
			for i := range *n {
				select {
				case work <- i:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	costs := map[string]provider.USD{}
	for name, l := range s.meter.Totals().ByProvider {
		costs[name] = l.Cost
	}
	rep := probereport.Build(probereport.Meta{Started: started, Elapsed: time.Since(started).Round(time.Millisecond), N: *n,
		Concurrency: *conc, Prompt: *prompt, Size: *size, Where: s.where(), Retries: *retries}, samples, costs)
	if err := writeReport(filepath.Join(*out, "report.md"), rep.WriteMarkdown); err != nil {
		return err
	}
	if err := writeReport(filepath.Join(*out, "report.html"), rep.WriteHTML); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	var low []string
	for _, p := range rep.Providers {
		fmt.Fprintf(stdout, "%-12s %-30s %5.1f%% of %d  p50 %-8s p95 %-8s p99 %-8s %s per image\n", p.Name, p.Model, p.Rate*100, p.Requests,
			msText(p.P50), msText(p.P95), msText(p.P99), p.CostPerImage)
		for _, e := range p.Errors {
			fmt.Fprintf(stdout, "             %d × %s\n", e.Count, e.Kind)
		}
		if p.Rate < *minOK {
			low = append(low, fmt.Sprintf("%s %.1f%%", p.Name, p.Rate*100))
		}
	}
	fmt.Fprintf(stdout, "report: %s, %s\n", filepath.Join(*out, "report.md"), filepath.Join(*out, "report.html"))
	if ctx.Err() != nil {
		return fmt.Errorf("probe interrupted: the report holds the %d requests that finished", len(samples))
	}
	if len(low) > 0 {
		return fmt.Errorf("success below --min-success %.2f: %s", *minOK, strings.Join(low, ", "))
	}
	return nil
}

func msText(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

func writeReport(path string, write func(io.Writer) error) error {
	var b strings.Builder
	if err := write(&b); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(b.String()), 0o644)
}
