// Command batch generates an image for every prompt in a file, either live
// (many requests at once through provider/fanout) or as one Gemini Batch
// Mode job at half the price, shows progress, writes the images and prints
// a cost summary.
//
//	go run ./examples/batch                                   # live, on the emulator
//	go run ./examples/batch -mode batch                       # a Batch Mode job, on the emulator
//	GEMINI_API_KEY=... go run ./examples/batch -file prompts.txt -mode batch
//
// The file holds one prompt per line, or a JSON object per line with
// per-prompt options: {"key", "prompt", "model", "size", "aspect_ratio"}.
// Blank lines and lines starting with # are skipped; without -file the
// built-in prompts (prompts.txt, embedded) are used, wherever it runs from.
// Without GEMINI_API_KEY it runs on the providertest emulator.
//
// It exits with status 1 when any prompt failed, after listing what failed,
// and 2 on a bad flag. Progress redraws in place on a terminal and is
// written as plain lines elsewhere.
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/progress"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/fanout"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

//go:embed prompts.txt
var defaultPrompts []byte

func main() {
	cfg, err := parseFlags(flag.CommandLine, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "batch:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "batch:", err)
		os.Exit(1)
	}
}

// parseFlags reads and checks the command line before anything runs.
func parseFlags(fs *flag.FlagSet, args []string) (config, error) {
	var cfg config
	fs.StringVar(&cfg.file, "file", "", "prompts file: one per line, or JSON lines (default: the built-in prompts)")
	fs.StringVar(&cfg.mode, "mode", "live", "live (concurrent requests) or batch (one Batch Mode job, half price)")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "requests in flight at once in live mode (1-64)")
	fs.StringVar(&cfg.out, "out", "out/batch", "directory for the images")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: batch [flags]\n\nGenerates an image per prompt, live or as a Gemini Batch Mode job; offline on the emulator unless GEMINI_API_KEY is set.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	case cfg.mode != "live" && cfg.mode != "batch":
		return cfg, fmt.Errorf("-mode %q: want live or batch", cfg.mode)
	case cfg.concurrency < 1 || cfg.concurrency > 64:
		return cfg, fmt.Errorf("-concurrency %d: want 1 to 64", cfg.concurrency)
	case strings.TrimSpace(cfg.out) == "":
		return cfg, errors.New("-out: want a directory")
	}
	return cfg, nil
}

type config struct {
	file, mode, out string
	concurrency     int
	// batchPoll is the first wait between polls of a Batch Mode job.
	batchPoll time.Duration
	// emulatorBatch is how long the emulator's batch jobs take; 0 means
	// two seconds, long enough to watch the progress.
	emulatorBatch time.Duration
}

// item is one line of the prompts file.
type item struct {
	Key         string `json:"key"`
	Prompt      string `json:"prompt"`
	Model       string `json:"model"`
	Size        string `json:"size"`
	AspectRatio string `json:"aspect_ratio"`
}

func readItems(r io.Reader) ([]item, error) {
	var items []item
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		it := item{Prompt: line}
		if strings.HasPrefix(line, "{") {
			it = item{}
			if err := json.Unmarshal([]byte(line), &it); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
		}
		if it.Key == "" {
			it.Key = "line" + strconv.Itoa(n)
		}
		items = append(items, it)
	}
	return items, sc.Err()
}

// loadItems reads cfg.file, or the built-in prompts when it is empty.
func loadItems(file string) ([]item, error) {
	name, data := "built-in prompts", defaultPrompts
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		name, data = file, b
	}
	items, err := readItems(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no prompts", name)
	}
	return items, nil
}

func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	items, err := loadItems(cfg.file)
	if err != nil {
		return err
	}
	g, where, closeFn, err := newGenerator(ctx, cfg.emulatorBatch)
	if err != nil {
		return err
	}
	defer closeFn()
	fmt.Fprintf(stdout, "%d prompts, %s mode, on %s\n", len(items), cfg.mode, where)
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	meter, err := pricing.NewMeter(pricing.MeterConfig{})
	if err != nil {
		return err
	}
	var results []fanout.Result
	prog := progress.New(stderr)
	switch cfg.mode {
	case "live":
		results = runLive(ctx, g, meter, items, cfg.concurrency, prog)
	case "batch":
		results, err = runBatch(ctx, g, meter, items, cfg.batchPoll, stderr, prog)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("-mode %q: want live or batch", cfg.mode)
	}
	return report(stdout, cfg.out, items, results, meter.Totals())
}

func request(it item) *provider.Request {
	return &provider.Request{Prompt: it.Prompt, Model: it.Model, Size: it.Size, AspectRatio: it.AspectRatio,
		Labels: map[string]string{"key": it.Key}}
}

func runLive(ctx context.Context, g *gemini.Generator, meter *pricing.Meter, items []item, concurrency int, prog *progress.Reporter) []fanout.Result {
	reqs := make([]*provider.Request, len(items))
	for i, it := range items {
		reqs[i] = request(it)
	}
	gen := provider.Chain(g, meter.Middleware())
	return fanout.Run(ctx, gen, reqs, fanout.Options{Concurrency: concurrency, OnProgress: func(p fanout.Progress) {
		prog.Update(progress.State{Done: p.Done, Total: p.Total, Failed: p.Failed, Cost: p.Cost.String()})
	}})
}

func runBatch(ctx context.Context, g *gemini.Generator, meter *pricing.Meter, items []item, poll time.Duration, stderr io.Writer, prog *progress.Reporter) ([]fanout.Result, error) {
	bitems := make([]gemini.BatchItem, len(items))
	for i, it := range items {
		bitems[i] = gemini.BatchItem{Key: it.Key, Request: request(it)}
		bitems[i].Request.Model = "" // a job has one model: the generator's
	}
	job, err := g.SubmitBatch(ctx, bitems, gemini.BatchOptions{DisplayName: "examples/batch"})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "submitted %s; keep its name to resume after a restart\n", job.Name)
	job, err = g.WaitBatch(ctx, job.Name, gemini.WaitOptions{MinInterval: poll, OnPoll: func(j *gemini.BatchJob) {
		prog.Update(progress.State{Done: 0, Total: len(items), Note: fmt.Sprintf("job %s", j.State)})
	}})
	if err != nil {
		return nil, err
	}
	batch, err := g.BatchResults(job)
	if err != nil {
		return nil, err
	}
	results := make([]fanout.Result, len(batch))
	for i, r := range batch {
		req := bitems[i].Request
		resp, err := meter.Observe(g.Describe().Provider, job.Model, catalog.TierBatch, req, r.Response, r.Err)
		results[i] = fanout.Result{Index: i, Response: resp, Err: err}
	}
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
	}
	prog.Update(progress.State{Done: len(results), Total: len(items), Failed: failed, Note: "job " + string(job.State)})
	return results, nil
}

func report(stdout io.Writer, dir string, items []item, results []fanout.Result, totals pricing.Totals) error {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tMODEL\tCOST\tFILE / ERROR")
	var failed []error
	for i, r := range results {
		key := items[i].Key
		if r.Err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", key, r.Err))
			fmt.Fprintf(tw, "%s\t\t\t%v\n", key, r.Err)
			continue
		}
		for j, img := range r.Response.Images {
			name := filepath.Join(dir, fmt.Sprintf("%s-%d%s", safe(key), j+1, img.Extension()))
			if err := os.WriteFile(name, img.Data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", key, r.Response.Model, r.Response.Cost, name)
		}
	}
	fmt.Fprintf(tw, "\ntotal\t%d calls, %d images\t%s\t%d failed\n", totals.All.Calls, totals.All.Images, totals.All.Cost, len(failed))
	for tier, l := range totals.ByTier {
		fmt.Fprintf(tw, "  %s tier\t%d calls\t%s\t\n", tier, l.Calls, l.Cost)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d prompts failed:\n%w", len(failed), len(results), errors.Join(failed...))
	}
	return nil
}

// safe keeps a key usable as a file name.
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}

// newGenerator returns the Gemini API when GEMINI_API_KEY is set, else the
// emulator, whose batch jobs finish in batchDuration (0: two seconds).
func newGenerator(ctx context.Context, batchDuration time.Duration) (*gemini.Generator, string, func(), error) {
	if key := os.Getenv("GEMINI_API_KEY"); key != "" {
		g, err := gemini.New(ctx, gemini.Config{APIKey: key})
		return g, "the Gemini API", func() {}, err
	}
	if batchDuration <= 0 {
		batchDuration = 2 * time.Second
	}
	const key = "emulator-key"
	srv := providertest.NewServer(providertest.Options{APIKey: key, BatchDuration: batchDuration})
	g, err := gemini.New(ctx, gemini.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		srv.Close()
		return nil, "", nil, err
	}
	return g, "the providertest emulator", srv.Close, nil
}
