// Command failover shows priority failover on the emulator, offline: the
// primary Gemini endpoint answers 503 on every call, so each request is
// served by the secondary. Each route has its own retry and rate limit;
// failover keeps each route's health as a circuit breaker.
//
//	go run ./examples/failover
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/retry"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: failover\n\nShows priority failover offline on two emulators; takes no flags.\nExits with status 1 when a request is not served.\n")
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "failover: unexpected argument %q (see -h)\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// route starts an emulator and returns the stack for it:
// retry → rate limit → Gemini adapter.
func route(ctx context.Context, name string) (*providertest.Server, provider.Generator, error) {
	srv := providertest.NewServer(providertest.Options{APIKey: "demo-key"})
	g, err := gemini.New(ctx, gemini.Config{Name: name, APIKey: "demo-key", BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	retries, err := retry.New(retry.Policy{MaxAttempts: 2, InitialInterval: 10 * time.Millisecond})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	limits, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: 60, Burst: 10})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, provider.Chain(g, retries, limits), nil
}

func run(out io.Writer) error {
	// The emulators must not pick up real credentials or endpoints.
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL"} {
		os.Unsetenv(k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	primarySrv, primary, err := route(ctx, "gemini-primary")
	if err != nil {
		return err
	}
	defer primarySrv.Close()
	primarySrv.InjectRandom(providertest.EndpointGenerateContent, 1, providertest.Unavailable())

	secondarySrv, secondary, err := route(ctx, "gemini-secondary")
	if err != nil {
		return err
	}
	defer secondarySrv.Close()

	f, err := failover.New(failover.Config{
		Routes: []failover.Route{
			{Name: "primary", Generator: primary, Priority: 0},
			{Name: "secondary", Generator: secondary, Priority: 1},
		},
		Breaker: failover.BreakerSettings{ConsecutiveFailures: 2},
	})
	if err != nil {
		return err
	}

	for i := 1; i <= 3; i++ {
		resp, err := f.Generate(ctx, &provider.Request{Prompt: "a lighthouse at dusk", Size: "1K"})
		if err != nil {
			var fe *failover.Error
			if errors.As(err, &fe) {
				for _, r := range fe.Routes {
					fmt.Fprintf(out, "  %s: %v\n", r.Route, r.Err)
				}
			}
			return err
		}
		fmt.Fprintf(out, "request %d: served by %s (%s), %d image(s) of %d bytes, %d upstream calls\n",
			i, resp.Provider, resp.Model, len(resp.Images), len(resp.Images[0].Data), resp.Attempts)
		for _, w := range resp.Warnings {
			fmt.Fprintf(out, "  warning: %s\n", w)
		}
		state, _ := f.RouteState("primary")
		fmt.Fprintf(out, "  primary breaker: %s\n", state)
	}
	fmt.Fprintf(out, "primary emulator saw %d calls, secondary %d\n", primarySrv.Stats().Total, secondarySrv.Stats().Total)
	return nil
}
