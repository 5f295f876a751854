// Command relay generates images through OpenAI-compatible aggregators:
// OpenRouter's chat completions (images in message.images), OpenRouter's
// images endpoint (with the cost it billed) and a new-api style relay
// (laozhang.ai: images as markdown in message.content).
//
// With no keys set it runs against the in-process emulator
// (provider/providertest), so it works offline:
//
//	go run ./examples/relay
//
// Set OPENROUTER_API_KEY and/or LAOZHANG_API_KEY to call the real relays
// (each call is billed). Images are written to the working directory only
// with -save. It exits with status 1 when any route failed, after listing
// which, and 2 on a bad flag.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

type route struct {
	label string
	cfg   openaicompat.Config
	req   provider.Request
}

func main() {
	save := flag.Bool("save", false, "write the images to ./relay-*.png")
	prompt := flag.String("prompt", "a lighthouse on a cliff at dusk, watercolour", "what to draw")
	flag.Parse()
	log.SetFlags(0)
	if flag.NArg() > 0 || strings.TrimSpace(*prompt) == "" {
		fmt.Fprintln(os.Stderr, "relay: want a non-empty -prompt and no arguments (see -h)")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, options{save: *save, prompt: *prompt}); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

type options struct {
	save   bool
	prompt string
	// emulators, when set, is called with the two emulators before any
	// request (tests inject faults here).
	emulators func(openrouter, laozhang *providertest.Server)
}

func run(ctx context.Context, out io.Writer, opt options) error {
	orKey, lzKey := os.Getenv("OPENROUTER_API_KEY"), os.Getenv("LAOZHANG_API_KEY")
	openrouter := openaicompat.OpenRouter(orKey)
	openrouter.ExtraHeaders = map[string][]string{"X-Title": {"imagegen relay example"}}
	orImages := openrouter
	orImages.Mode = openaicompat.ModeOpenRouterImages
	laozhang := openaicompat.LaoZhang(lzKey)

	source := "live"
	if orKey == "" || lzKey == "" {
		// One emulator per answer shape: OpenRouter's message.images and
		// new-api's markdown.
		orSrv := providertest.NewServer(providertest.Options{APIKey: "emulator-key", ChatShape: providertest.ChatImages})
		defer orSrv.Close()
		lzSrv := providertest.NewServer(providertest.Options{APIKey: "emulator-key", ChatShape: providertest.ChatMarkdown})
		defer lzSrv.Close()
		if opt.emulators != nil {
			opt.emulators(orSrv, lzSrv)
		}
		if orKey == "" {
			for _, c := range []*openaicompat.Config{&openrouter, &orImages} {
				c.APIKey, c.BaseURL, c.HTTPClient = "emulator-key", orSrv.URL()+"/api/v1", orSrv.Client()
			}
		}
		if lzKey == "" {
			laozhang.APIKey, laozhang.BaseURL, laozhang.HTTPClient = "emulator-key", lzSrv.URL()+"/v1", lzSrv.Client()
		}
		source = "emulator"
		if orKey != "" || lzKey != "" {
			source = "mixed"
		}
	}

	routes := []route{
		{"openrouter chat", openrouter, provider.Request{Prompt: opt.prompt, Size: "1K", AspectRatio: "16:9"}},
		{"openrouter images", orImages, provider.Request{Prompt: opt.prompt, N: 2, AspectRatio: "1:1"}},
		{"laozhang markdown", laozhang, provider.Request{Prompt: opt.prompt}},
	}

	fmt.Fprintf(out, "relays (%s)\n\n", source)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tMODE\tMODEL\tIMAGES\tSIZE\tOUT TOKENS\tBILLED\tNOTE")
	var failed []string
	for i, r := range routes {
		g, err := openaicompat.New(r.cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", r.label, err)
		}
		resp, err := g.Generate(ctx, &r.req)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r.label, err))
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t%s: %v\n", r.label, g.Mode(), r.cfg.Model, provider.KindOf(err), err)
			continue
		}
		billed := "-"
		if resp.Cost > 0 {
			billed = resp.Cost.String()
		}
		note := strings.Join(resp.Warnings, "; ")
		if utf8.RuneCountInString(note) > 70 {
			note = string([]rune(note)[:70]) + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", r.label, g.Mode(), resp.Model, len(resp.Images),
			dims(resp.Images[0].Data), resp.Usage.OutputTokens, billed, note)
		if opt.save {
			for j, img := range resp.Images {
				name := fmt.Sprintf("relay-%d-%d%s", i, j, img.Extension())
				if err := os.WriteFile(name, img.Data, 0o644); err != nil {
					return err
				}
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d routes failed:\n  %s", len(failed), len(routes), strings.Join(failed, "\n  "))
	}
	return nil
}
