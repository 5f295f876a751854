// Command quickstart generates a few images and writes them under ./out.
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
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

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
}

func run(ctx context.Context, stdout io.Writer, outDir string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	gen, where, closeFn, err := pickGenerator(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	fmt.Fprintf(stdout, "generating with %s\n\n", where)

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROMPT\tPROVIDER\tMODEL\tSIZE\tBYTES\tFILE")
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", shorten(req.Prompt, 36), resp.Provider, resp.Model, req.Size+" "+req.AspectRatio, len(img.Data), name)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return errors.Join(failed...)
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
