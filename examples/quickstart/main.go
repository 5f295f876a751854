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
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
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
	if err := run(context.Background(), os.Stdout, "out"); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
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
	return errors.Join(failed...)
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

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimRight(s[:n], "-")
}
