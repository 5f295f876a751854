// Command quickstart generates a few images and writes them under ./out,
// through a cache and a cost meter: the last prompt repeats the first, so it
// is served from the cache at no cost. It prints what made each image and a
// cost table by model.
//
// With no provider key in the environment it starts the providertest
// emulator in-process, so it runs offline and costs nothing. With
// GEMINI_API_KEY set it uses Google's Gemini API; with OPENAI_API_KEY set,
// OpenAI's Images API.
//
//	go run ./examples/quickstart [-out dir]
//
// It exits with status 1 when any prompt failed, after saying which, and 2
// on a bad flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
)

func main() {
	out, err := parseFlags(flag.CommandLine, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, out); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// parseFlags returns the output directory.
func parseFlags(fs *flag.FlagSet, args []string) (string, error) {
	out := fs.String("out", "out", "directory for the images")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: quickstart [-out dir]\n\nGenerates a few images through a cache and a cost meter: offline on the emulator,\nor on Gemini / OpenAI when GEMINI_API_KEY / OPENAI_API_KEY is set.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	switch {
	case fs.NArg() > 0:
		return "", fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	case strings.TrimSpace(*out) == "":
		return "", errors.New("-out: want a directory")
	}
	return *out, nil
}

var prompts = []provider.Request{
	{Prompt: "a lighthouse on a cliff at dusk, oil painting", Size: "1K", AspectRatio: "16:9"},
	{Prompt: "a red fox curled up in fresh snow, photograph", Size: "1K", AspectRatio: "1:1"},
	{Prompt: "an isometric pixel-art coffee shop", Size: "1K", AspectRatio: "3:4"},
	{Prompt: "a lighthouse on a cliff at dusk, oil painting", Size: "1K", AspectRatio: "16:9"}, // a repeat: served by the cache
}

func run(ctx context.Context, stdout io.Writer, outDir string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	adapter, where, closeFn, err := pickGenerator(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	return generate(ctx, stdout, outDir, adapter, where)
}

// generate makes the prompts' images with adapter and writes them to
// outDir.
func generate(ctx context.Context, stdout io.Writer, outDir string, adapter provider.Generator, where string) error {
	fmt.Fprintf(stdout, "generating with %s\n\n", where)

	// Outermost first: a cache hit costs nothing and never reaches the meter.
	store, err := cache.NewMemory(64<<20, nil)
	if err != nil {
		return err
	}
	cached, err := cache.New(cache.Config{Store: store})
	if err != nil {
		return err
	}
	meter, err := pricing.NewMeter(pricing.MeterConfig{})
	if err != nil {
		return err
	}
	gen := provider.Chain(adapter, cached, meter.Middleware())

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROMPT\tPROVIDER\tMODEL\tSIZE\tBYTES\tCOST\tFILE")
	var failed []error
	for i, req := range prompts {
		resp, err := gen.Generate(ctx, &req)
		if err != nil {
			failed = append(failed, fmt.Errorf("%q: %w", req.Prompt, err))
			continue
		}
		for j, img := range resp.Images {
			name := filepath.Join(outDir, fmt.Sprintf("%02d-%d-%s%s", i+1, j+1, slug(req.Prompt), img.Extension()))
			if err := os.WriteFile(name, img.Data, 0o644); err != nil {
				return err
			}
			cost := resp.Cost.String()
			if resp.Cached {
				cost = "cached"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", shorten(req.Prompt, 36), resp.Provider, resp.Model, req.Size+" "+req.AspectRatio, len(img.Data), cost, name)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printCosts(stdout, meter.Totals())
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d prompts failed:\n%w", len(failed), len(prompts), errors.Join(failed...))
	}
	return nil
}

// printCosts prints what the meter recorded, by model.
func printCosts(w io.Writer, t pricing.Totals) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tCALLS\tIMAGES\tIMAGE TOKENS\tCOST")
	for _, model := range slices.Sorted(maps.Keys(t.ByModel)) {
		l := t.ByModel[model]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", model, l.Calls, l.Images, l.Usage.OutputImageTokens, l.Cost)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%s\n", t.All.Calls, t.All.Images, t.All.Usage.OutputImageTokens, t.All.Cost)
	_ = tw.Flush()
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// slug makes a short, safe file name part from a prompt.
func slug(s string) string {
	s = strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "-"), "-")
	return shorten(s, 32)
}

// shorten cuts s to at most n characters (runes, never mid-character).
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimRight(string(r[:n]), "-")
}
