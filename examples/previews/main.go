// Command previews serves a web page that shows an image's drafts while it
// is generated, then the final image: time to first preview, not time to
// the final image, is what the user waits for.
//
//	go run ./examples/previews [-addr 127.0.0.1:8080]
//
// then open http://127.0.0.1:8080. With no provider key in the environment
// it runs offline: Gemini's adapter on the providertest emulator, which
// streams a thought, two draft images, the answer's text and the final
// image, half a second apart. With GEMINI_API_KEY set it uses Google's
// Gemini API (thought images as drafts, on Gemini 3 image models), with
// OPENAI_API_KEY set OpenAI's Images API (partial images, each billed).
// A provider or model that does not stream sends the final image alone.
//
// The page opens an EventSource on GET /generate?prompt=...; the server
// runs provider.Stream through cache → meter/budget → retry → adapter and
// forwards each draft as a "preview" server-sent event, then a "final"
// event, or an "error" event (kind and a fixed sentence; details stay in
// the server log). Images travel inline as data: URLs. A browser that
// closes the page cancels the provider call.
//
// Guards: prompts of at most 2000 characters, at most 4 generations in
// flight (503 beyond), 3 minutes per generation, 30 s per event write, a
// daily budget (-budget), header and idle timeouts, GET only (not HEAD),
// cross-site requests refused (Sec-Fetch-Site), a strict
// Content-Security-Policy, and no key or provider message in what the
// browser receives.
//
// The address comes from -addr, else $PREVIEWS_ADDR, else 127.0.0.1:8080.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

func main() {
	opts, err := parseFlags(flag.CommandLine, os.Args[1:], os.Getenv("PREVIEWS_ADDR"))
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "previews:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Stdout, logger, opts); err != nil {
		fmt.Fprintln(os.Stderr, "previews:", err)
		os.Exit(1)
	}
}

type options struct {
	addr   string
	budget provider.USD // daily
}

// parseFlags reads the flags; envAddr is $PREVIEWS_ADDR.
func parseFlags(fs *flag.FlagSet, args []string, envAddr string) (options, error) {
	if envAddr == "" {
		envAddr = "127.0.0.1:8080"
	}
	addr := fs.String("addr", envAddr, "address to listen on (default from $PREVIEWS_ADDR)")
	budget := fs.Float64("budget", 2, "daily spending cap in US dollars")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: previews [-addr host:port] [-budget dollars]\n\nServes a page that shows an image's drafts as they arrive, then the final image:\noffline on the emulator, or on Gemini / OpenAI when GEMINI_API_KEY / OPENAI_API_KEY is set.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	switch {
	case fs.NArg() > 0:
		return options{}, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	case *budget <= 0:
		return options{}, fmt.Errorf("-budget %v: want more than 0", *budget)
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return options{}, fmt.Errorf("-addr %q: %w", *addr, err)
	}
	return options{addr: *addr, budget: provider.USD(*budget * float64(provider.Dollar))}, nil
}

// run serves until ctx ends, then shuts down, cancelling the generations in
// flight.
func run(ctx context.Context, stdout io.Writer, logger *slog.Logger, opts options) error {
	adapter, where, closeFn, err := pickGenerator(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	gen, err := buildStack(adapter, opts.budget)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return err
	}
	// Generations run on contexts derived from base, so shutting down
	// ends the streams instead of waiting minutes for them.
	base, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	srv := &http.Server{
		Handler:           newServer(gen, config{Logger: logger}).handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// No WriteTimeout: a stream lasts as long as a generation; each
		// event has its own write deadline instead.
		IdleTimeout:    time.Minute,
		MaxHeaderBytes: 32 << 10,
		BaseContext:    func(net.Listener) context.Context { return base },
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "generating with %s\nopen http://%s\n", where, browsable(ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancelAll()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// browsable turns a listen address into one a browser can open.
func browsable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + port
}
