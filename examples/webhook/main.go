// Command webhook shows task APIs calling back instead of being polled:
// one taskapi.Webhooks handler receives Kie.ai's callbacks and
// Replicate's webhooks, verifies their signatures, and ends the waiting
// Generate calls. It then spoils a delivery on purpose (a bad signature:
// refused, and the wait falls back to a poll) and forges a Kie callback
// with a valid signature but a lying body (accepted, but Kie is asked
// again, so the lie is never believed).
//
// Offline (the default), the providertest emulator plays both services and
// calls the handler on loopback. With KIE_API_KEY or REPLICATE_API_TOKEN
// set and -public-url naming where the services can reach -listen (a
// tunnel to this machine), it uses the real services; give Replicate's
// signing secret (GET /v1/webhooks/default/secret) in
// REPLICATE_WEBHOOK_SECRET and Kie's webhookHmacKey, if enabled, in
// KIE_WEBHOOK_KEY.
//
//	go run ./examples/webhook [-listen 127.0.0.1:0] [-public-url https://…/hooks]
//
// It exits with status 1 when anything failed, and 2 on a bad flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/taskapi"
)

type options struct {
	listen, publicURL string
	taskTime          time.Duration // how long an offline task takes (the test shortens it)
	fallback          time.Duration // the poll that covers a lost callback, offline
}

func main() {
	o, err := parseFlags(flag.CommandLine, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}

func parseFlags(fs *flag.FlagSet, args []string) (options, error) {
	o := options{taskTime: time.Second, fallback: 3 * time.Second}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address the webhook handler listens on")
	fs.StringVar(&o.publicURL, "public-url", "", "URL the real services reach the handler at (needed with real keys)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: webhook [-listen addr] [-public-url url]\n\nReceives Kie.ai and Replicate callbacks: offline on the emulator, or on the real\nservices with KIE_API_KEY / REPLICATE_API_TOKEN and -public-url.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return o, fmt.Errorf("-listen %q: want host:port", o.listen)
	}
	return o, nil
}

// events prints and counts what the handler accepted.
type events struct {
	mu  sync.Mutex
	out io.Writer
	n   int
}

func (e *events) on(ev taskapi.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	signed := "unsigned"
	if ev.Signed {
		signed = "signed"
	}
	state := string(ev.State)
	if state == "" {
		state = "(body not believed: the task is read back)"
	}
	fmt.Fprintf(e.out, "  callback from %s for %s, %s, %s\n", ev.Service, ev.TaskID, signed, state)
}

// lockedWriter lets the handler's goroutines and run print to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func run(ctx context.Context, w io.Writer, o options) error {
	stdout := &lockedWriter{w: w}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	kieKey, repKey := os.Getenv("KIE_API_KEY"), os.Getenv("REPLICATE_API_TOKEN")
	real := (kieKey != "" || repKey != "") && o.publicURL != ""

	var emu *providertest.Server
	kieHMAC, repSecret := os.Getenv("KIE_WEBHOOK_KEY"), os.Getenv("REPLICATE_WEBHOOK_SECRET")
	if !real {
		kieHMAC = "example-kie-hmac-key"
		emu = providertest.NewServer(providertest.Options{APIKey: "emulator-key",
			Tasks: providertest.TaskOptions{Duration: o.taskTime, KieHMACKey: kieHMAC}})
		defer emu.Close()
		repSecret, kieKey, repKey = emu.ReplicateWebhookSecret(), "emulator-key", "emulator-key"
	}

	// The handler, on its own server. Its URL must be known before the
	// handler is built (the services are given it), so the listener comes
	// first.
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	url := o.publicURL
	if url == "" {
		url = "http://" + ln.Addr().String() + "/hooks"
	}
	ev := &events{out: stdout}
	hooks, err := taskapi.NewWebhooks(taskapi.WebhookConfig{URL: url, ReplicateSecret: repSecret, KieKey: kieHMAC, OnEvent: ev.on})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks", hooks)
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	hs.Start()
	defer hs.Close()
	fmt.Fprintf(stdout, "webhook handler at %s\n", url)

	gens := map[taskapi.Service]*taskapi.Generator{}
	for _, cfg := range []taskapi.Config{taskapi.Kie(kieKey), taskapi.Replicate(repKey)} {
		if cfg.APIKey == "" {
			continue
		}
		cfg.Webhooks = hooks
		if emu != nil {
			cfg.BaseURL = map[taskapi.Service]string{taskapi.ServiceKie: emu.KieURL(), taskapi.ServiceReplicate: emu.ReplicateURL()}[cfg.Service]
			cfg.UploadURL, cfg.HTTPClient = emu.KieURL(), emu.Client()
			cfg.Fetch = taskapi.FetchPolicy{AllowHTTP: true, AllowPrivate: true}
			cfg.Poll.WebhookFallback = o.fallback // a lost callback costs at most this
		}
		g, err := taskapi.New(cfg)
		if err != nil {
			return err
		}
		gens[cfg.Service] = g
	}
	reads := func() int {
		if emu == nil {
			return -1
		}
		n := 0
		for _, t := range emu.Tasks() {
			n += t.Polls
		}
		return n
	}

	var failed []error
	generate := func(s taskapi.Service, what string) {
		g := gens[s]
		if g == nil {
			return
		}
		fmt.Fprintf(stdout, "\n%s: %s\n", s, what)
		before, start := reads(), time.Now()
		resp, err := g.Generate(ctx, &provider.Request{Prompt: "a lighthouse at dusk", Size: "1K"})
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", s, err))
			fmt.Fprintf(stdout, "  failed: %v\n", err)
			return
		}
		fmt.Fprintf(stdout, "  %d image(s) of %d bytes in %v", len(resp.Images), len(resp.Images[0].Data), time.Since(start).Round(10*time.Millisecond))
		if before >= 0 {
			fmt.Fprintf(stdout, ", %d read(s) of the task", reads()-before)
		}
		fmt.Fprintln(stdout)
	}

	generate(taskapi.ServiceKie, "the callback ends the wait; Kie's body is read back once")
	generate(taskapi.ServiceReplicate, "the signed webhook ends the wait; its body is believed, nothing is read")
	if emu == nil {
		return summary(stdout, ev, failed)
	}
	emu.InjectWebhook(providertest.WebhookBadSignature)
	generate(taskapi.ServiceReplicate, "a delivery with a bad signature is refused (401); the wait falls back to a poll")

	// A forged Kie callback: its signature is valid (Kie signs only the
	// task ID and the time), its body lies.
	fmt.Fprintln(stdout, "\nkie: a forged callback with a valid signature says the task succeeded with another image")
	task, err := gens[taskapi.ServiceKie].Submit(ctx, &provider.Request{Prompt: "a red fox in the snow"})
	if err != nil {
		return err
	}
	id := task.Handle().IDs[0]
	ts := time.Now().Unix()
	body := `{"code":200,"msg":"Playground task completed successfully.","data":{"taskId":"` + id +
		`","state":"success","resultJson":"{\"resultUrls\":[\"https://attacker.example/forged.png\"]}"}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Webhook-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Webhook-Signature", taskapi.SignKie([]byte(kieHMAC), id, ts))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		fmt.Fprintf(stdout, "  handler answered %d\n", resp.StatusCode)
		_ = resp.Body.Close()
	}
	resp, err := task.Result(ctx)
	switch {
	case err != nil:
		failed = append(failed, fmt.Errorf("forged callback: %w", err))
	case len(resp.Images) == 1:
		fmt.Fprintf(stdout, "  the task was read back from Kie: the real image (%d bytes), not the forged link\n", len(resp.Images[0].Data))
	}
	return summary(stdout, ev, failed)
}

func summary(stdout io.Writer, ev *events, failed []error) error {
	ev.mu.Lock()
	n := ev.n
	ev.mu.Unlock()
	fmt.Fprintf(stdout, "\n%d callbacks accepted\n", n)
	if len(failed) > 0 {
		return fmt.Errorf("%d failed", len(failed))
	}
	return nil
}
