// Command imagegen is imagegen's command-line tool:
//
//	imagegen generate [flags] PROMPT    generate images
//	imagegen edit --image F [flags] P   edit an image
//	imagegen batch --in FILE [flags]    many prompts: live, a Gemini Batch Mode job or task API tasks; resumable
//	imagegen models [--json]            the model catalog: lifecycle, prices, replacements
//	imagegen cost [flags]               a spend report from the ledger
//	imagegen probe [flags]              a stability test of providers, with report.md and report.html
//	imagegen emulator [flags]           serve the provider emulator for tests in any language
//
// Every command that calls providers takes --emulator to run offline, and
// --config for a TOML file of providers, routes, limits, budgets and the
// cache (see package internal/cli/config). Install it with
//
//	go install github.com/imagegen-go/imagegen/cmd/imagegen@latest
//
// Run "imagegen help" for the list and "imagegen SUBCOMMAND -h" for a
// subcommand's flags. Exit status: 0 on success, 1 when the work failed,
// 2 on a usage or configuration mistake (a bad flag, a config file error
// naming its line and key, a request refused before any call).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/imagegen-go/imagegen/internal/cli"
	"github.com/imagegen-go/imagegen/internal/emulatorcmd"
)

// command is one subcommand: a one-line summary and the function that
// runs it. A subcommand parses its own flags from args and returns a
// *provider.ConfigError for a usage mistake, flag.ErrHelp after -h.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands by name; a new one is a line here.
func commands() map[string]command {
	return map[string]command{
		"emulator": {"serve the Gemini, Imagen, OpenAI-style and task API emulator (providertest) for tests in any language", emulatorcmd.Run},
		"generate": {"generate images from a prompt", cli.Generate},
		"edit":     {"edit an existing image with a prompt", cli.Edit},
		"batch":    {"generate many images from JSONL or CSV: live, as a Gemini Batch Mode job or as task API tasks; resumable", cli.Batch},
		"models":   {"list the model catalog: lifecycle, prices, replacements", cli.Models},
		"cost":     {"report spend from the ledger by provider, model and label", cli.Cost},
		"probe":    {"test providers' stability: success rate, errors, latency, cost; report.md and report.html", cli.Probe},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(stdout, cmds)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "imagegen: unknown subcommand %q\n\n", name)
		usage(stderr, cmds)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case cli.IsUsageError(err):
		fmt.Fprintf(stderr, "imagegen %s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "imagegen %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "Usage: imagegen SUBCOMMAND [flags]\n\nSubcommands:\n")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "\nRun \"imagegen SUBCOMMAND -h\" for its flags.\n")
}
