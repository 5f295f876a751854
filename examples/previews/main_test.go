package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestMain(m *testing.M) {
	// No test may see a real key: the examples pick a real provider when
	// one is set.
	for _, v := range providertest.EnvVars() {
		os.Unsetenv(v)
	}
	goleak.VerifyTestMain(m)
}

// drafter is a streaming provider.Generator for tests: it sends drafts
// through the request's Previews, then the final image.
type drafter struct {
	drafts int           // drafts to send (at most what the request asks for)
	every  time.Duration // real-time pause before each event (0: none)
	// gate, when set, is waited on after the first draft: the test closes
	// it once it has seen that draft, which proves drafts reach the
	// browser before the final image exists.
	gate chan struct{}
	// fail, when set, is returned after failAfter drafts instead of the
	// final image.
	fail      error
	failAfter int
	// hang makes the call wait for its context after the drafts.
	hang bool
	// ended receives the context's error when a call ends (buffered).
	ended chan error
}

func (d *drafter) Generate(ctx context.Context, req *provider.Request) (resp *provider.Response, err error) {
	if d.ended != nil {
		defer func() { d.ended <- ctx.Err() }()
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	p, ok := provider.PreviewsOf(req)
	n := 0
	if ok {
		n = min(d.drafts, p.Want())
	}
	for i := range n {
		if d.fail != nil && i == d.failAfter {
			return nil, d.fail
		}
		if err := pause(ctx, d.every); err != nil {
			return nil, err
		}
		p.On(provider.Preview{Index: i, Image: provider.Image{Data: testPNG(16, uint8(40*i)), MIMEType: "image/png"}, Provider: "fake"})
		if i == 0 && d.gate != nil {
			select {
			case <-d.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	if d.fail != nil {
		return nil, d.fail
	}
	if d.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err := pause(ctx, d.every); err != nil {
		return nil, err
	}
	return &provider.Response{Provider: "fake", Model: "fake-image-1", Attempts: 1,
		Images: []provider.Image{{Data: testPNG(64, 200), MIMEType: "image/png"}},
		Usage:  provider.Usage{Images: 1, Previews: n}}, nil
}

func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func testPNG(side int, shade uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			img.Set(x, y, color.RGBA{shade, uint8(x * 4), uint8(y * 4), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// sseEvent is one server-sent event as a browser's EventSource sees it.
type sseEvent struct {
	name string
	data string
	at   time.Duration // since the request was sent
}

// readSSE parses a text/event-stream as EventSource does (event, data,
// comments, blank-line dispatch) and sends each event on the returned
// channel, which is closed at the end of the body.
func readSSE(body io.Reader, start time.Time) <-chan sseEvent {
	out := make(chan sseEvent)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != nil {
					ev.data = strings.Join(data, "\n")
					if ev.name == "" {
						ev.name = "message"
					}
					ev.at = time.Since(start)
					out <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, ":"):
			default:
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch field {
				case "event":
					ev.name = value
				case "data":
					data = append(data, value)
				}
			}
		}
	}()
	return out
}

// open starts GET /generate?prompt=p on srv and returns its events.
func open(t testing.TB, ctx context.Context, srv *httptest.Server, prompt string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/generate?prompt="+url.QueryEscape(prompt), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET /generate: %s %q: %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	events := readSSE(resp.Body, start)
	t.Cleanup(func() {
		resp.Body.Close()
		for range events { // ends the reader, whatever the test left unread
		}
	})
	return resp, events
}

// decodeDataURL returns the image a data: URL holds, checking it decodes.
func decodeDataURL(t testing.TB, u string) (image.Config, string) {
	t.Helper()
	mime, b64, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ";base64,")
	if !ok || !strings.HasPrefix(u, "data:image/") {
		t.Fatalf("not an image data URL: %.60q", u)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("data URL: %v", err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil || "image/"+format != mime {
		t.Fatalf("data URL image: %v (format %q, declared %q)", err, format, mime)
	}
	return cfg, mime
}

// newTestServer serves g through the example's stack; wrap, when given,
// wraps the handler.
func newTestServer(t testing.TB, g provider.Generator, cfg config, wrap ...func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	gen, err := buildStack(g, 5*provider.Dollar)
	if err != nil {
		t.Fatal(err)
	}
	h := newServer(gen, cfg).handler()
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// What the browser reads: the events' fields and their images.
type (
	imageJSON struct {
		MIME    string `json:"mime"`
		Bytes   int    `json:"bytes"`
		DataURL string `json:"dataURL"`
	}
	gotPreview struct {
		previewEvent
		Images []imageJSON `json:"images"`
	}
	gotFinal struct {
		finalEvent
		Images []imageJSON `json:"images"`
	}
)

func unmarshal[T any](t testing.TB, ev sseEvent) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
		t.Fatalf("%s event: %v: %.200s", ev.name, err, ev.data)
	}
	return v
}

// TestPreviewsBeforeFinal reads the stream as a browser does: the first
// draft arrives while the generator is still held (the final image does
// not exist yet), the final image follows, and a repeat of the prompt is
// replayed by the cache as the final image alone.
func TestPreviewsBeforeFinal(t *testing.T) {
	gate := make(chan struct{})
	g := &drafter{drafts: 3, gate: gate}
	srv := newTestServer(t, g, config{Previews: 3})

	_, events := open(t, t.Context(), srv, "a lighthouse at dusk")
	var got []string
	for ev := range events {
		got = append(got, ev.name)
		switch ev.name {
		case "preview":
			p := unmarshal[gotPreview](t, ev)
			if p.Index != len(got)-1 {
				t.Errorf("preview %d has index %d", len(got)-1, p.Index)
			}
			if c, _ := decodeDataURL(t, p.Images[0].DataURL); c.Width != 16 {
				t.Errorf("preview is %dpx wide", c.Width)
			}
			if p.Index == 0 {
				close(gate)
			}
		case "final":
			f := unmarshal[gotFinal](t, ev)
			if len(f.Images) != 1 || f.Previews != 3 || f.Cached || f.Provider != "fake" {
				t.Errorf("final: %d images, %d previews, cached %v, provider %q", len(f.Images), f.Previews, f.Cached, f.Provider)
			}
			if c, mime := decodeDataURL(t, f.Images[0].DataURL); c.Width != 64 || mime != "image/png" {
				t.Errorf("final image: %dpx %s", c.Width, mime)
			}
		default:
			t.Errorf("unexpected event %s: %.200s", ev.name, ev.data)
		}
	}
	if want := "preview preview preview final"; strings.Join(got, " ") != want {
		t.Fatalf("events %q, want %q", strings.Join(got, " "), want)
	}

	_, events = open(t, t.Context(), srv, "a lighthouse at dusk")
	got = got[:0]
	for ev := range events {
		got = append(got, ev.name)
		if ev.name == "final" && !unmarshal[gotFinal](t, ev).Cached {
			t.Error("repeat not served by the cache")
		}
	}
	if strings.Join(got, " ") != "final" {
		t.Errorf("cache hit events %q, want the final alone", got)
	}
}

// TestDisconnectCancelsCall: a browser that goes away mid-stream ends the
// upstream call (and goleak finds nothing left running).
func TestDisconnectCancelsCall(t *testing.T) {
	g := &drafter{drafts: 2, gate: make(chan struct{}), ended: make(chan error, 1)}
	srv := newTestServer(t, g, config{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp, events := open(t, ctx, srv, "a red fox in snow")
	if ev := <-events; ev.name != "preview" {
		t.Fatalf("first event %q, want preview", ev.name)
	}
	cancel() // the tab closes
	select {
	case err := <-g.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("upstream call ended with ctx error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second): // generous: the call ends within milliseconds
		t.Fatal("upstream call still running 10 s after the client went away")
	}
	resp.Body.Close()
	for range events { // the reader ends with the body
	}
}

// TestErrorEvents: a failure reaches the browser as an "error" event with
// the kind and a fixed sentence, never the provider's message; a failure
// after a draft says the stream broke.
func TestErrorEvents(t *testing.T) {
	const secret = "sk-live-SECRET provider detail"
	for _, tc := range []struct {
		name      string
		fail      error
		failAfter int
		events    string
		kind      string
		broke     bool
	}{
		{"blocked", &provider.Error{Kind: provider.KindContentBlocked, Provider: "fake", Message: secret}, 0, "error", "content blocked", false},
		{"quota", &provider.Error{Kind: provider.KindQuotaExhausted, Provider: "fake", Message: secret}, 0, "error", "quota exhausted", false},
		// retry and failover mark a failure after a draft (provider.Track);
		// the bare drafter does it itself here.
		{"after a draft", provider.Interrupted(&provider.Error{Kind: provider.KindUnavailable, Provider: "fake", Message: secret}, 1), 1, "preview error", "provider unavailable", true},
		{"unknown", errors.New(secret), 0, "error", "unknown error", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The bare generator: what the server makes of each error, without
			// retries in between.
			srv := httptest.NewServer(newServer(&drafter{drafts: 2, fail: tc.fail, failAfter: tc.failAfter}, config{}).handler())
			defer srv.Close()
			_, events := open(t, t.Context(), srv, "a lighthouse "+tc.name)
			var got []string
			for ev := range events {
				got = append(got, ev.name)
				if strings.Contains(ev.data, "SECRET") {
					t.Errorf("%s event leaks the provider message: %s", ev.name, ev.data)
				}
				if ev.name != "error" {
					continue
				}
				e := unmarshal[errorEvent](t, ev)
				if e.Kind != tc.kind || e.RequestID == "" || strings.Contains(e.Message, "broke") != tc.broke {
					t.Errorf("error event %+v, want kind %q (broke %v)", e, tc.kind, tc.broke)
				}
			}
			if strings.Join(got, " ") != tc.events {
				t.Errorf("events %q, want %q", got, tc.events)
			}
		})
	}
}

// TestTimeout: a call longer than CallTimeout ends with a timeout event.
func TestTimeout(t *testing.T) {
	srv := newTestServer(t, &drafter{hang: true}, config{CallTimeout: 50 * time.Millisecond})
	_, events := open(t, t.Context(), srv, "a slow one")
	var got []string
	for ev := range events {
		got = append(got, ev.name)
		if ev.name == "error" {
			if e := unmarshal[errorEvent](t, ev); e.Kind != "timeout" {
				t.Errorf("error %+v, want a timeout", e)
			}
		}
	}
	if strings.Join(got, " ") != "error" {
		t.Errorf("events %q", got)
	}
}

// TestRefusals: bad input and overload are refused before any call.
func TestRefusals(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	g := &drafter{drafts: 1, gate: hold}
	srv := newTestServer(t, g, config{MaxConcurrent: 1, MaxPromptRunes: 20})

	// One call in flight fills the only slot.
	_, events := open(t, t.Context(), srv, "holding")
	if ev := <-events; ev.name != "preview" {
		t.Fatalf("first event %q", ev.name)
	}
	for _, tc := range []struct {
		method, query string
		code          int
		site          string // Sec-Fetch-Site
	}{
		{"HEAD", "prompt=fine", http.StatusMethodNotAllowed, ""},
		{"GET", "prompt=fine", http.StatusForbidden, "cross-site"},
		{"GET", "prompt=fine", http.StatusForbidden, "same-site"},
		{"GET", "", http.StatusBadRequest, ""},
		{"GET", "prompt=++", http.StatusBadRequest, ""},
		{"GET", "prompt=" + strings.Repeat("é", 21), http.StatusBadRequest, ""},
		{"GET", "prompt=a%00b", http.StatusBadRequest, ""},
		{"GET", "prompt=%ff%fe", http.StatusBadRequest, ""},
		{"POST", "prompt=fine", http.StatusMethodNotAllowed, ""},
		// Allowed, but the only slot is taken.
		{"GET", "prompt=" + strings.Repeat("é", 20), http.StatusServiceUnavailable, ""},
		{"GET", "prompt=fine", http.StatusServiceUnavailable, "same-origin"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+"/generate?"+tc.query, nil)
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s ?%s (Sec-Fetch-Site %q): %s, want %d", tc.method, tc.query, tc.site, resp.Status, tc.code)
		}
	}
}

// TestPage: the page, its script and style are served with a strict CSP.
func TestPage(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, &drafter{}, config{})
	for path, want := range map[string]string{"/": `<form id="form">`, "/app.js": "EventSource", "/style.css": "#drafts", "/healthz": "ok"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %s, %d bytes, lacks %q or nosniff", path, resp.Status, len(b), want)
		}
		if path == "/" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("page CSP %q", resp.Header.Get("Content-Security-Policy"))
		}
	}
	resp, err := srv.Client().Get(srv.URL + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %s", resp.Status)
	}
}

// TestRunOffline starts the command as `go run` does without keys (on the
// emulator, on a free port), asks for an image, and shuts it down.
func TestRunOffline(t *testing.T) {
	providertest.ClearEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, pw, discardLogger(), options{addr: "127.0.0.1:0", budget: provider.Dollar})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var base string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "open "); ok {
			base = u
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if base == "" {
		cancel()
		t.Fatalf("no address printed: %v", <-errc)
	}
	resp, err := http.Get(base + "/generate?prompt=" + url.QueryEscape("a red fox"))
	if err != nil {
		t.Fatal(err)
	}
	var last sseEvent
	var names []string
	for ev := range readSSE(resp.Body, time.Now()) {
		last = ev
		names = append(names, ev.name)
	}
	resp.Body.Close()
	// Offline, Gemini's adapter streams the emulator's two drafts.
	if got := strings.Join(names, " "); got != "preview preview final" {
		t.Errorf("events %q, want two previews and the final image", got)
	}
	if last.name != "final" {
		t.Errorf("last event %s: %.200s", last.name, last.data)
	} else {
		f := unmarshal[gotFinal](t, last)
		decodeDataURL(t, f.Images[0].DataURL)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("run: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		env     string
		addr    string
		wantErr bool
	}{
		{nil, "", "127.0.0.1:8080", false},
		{nil, ":9000", ":9000", false},
		{[]string{"-addr", "0.0.0.0:80"}, ":9000", "0.0.0.0:80", false},
		{[]string{"-addr", "nowhere"}, "", "", true},
		{[]string{"-budget", "0"}, "", "", true},
		{[]string{"extra"}, "", "", true},
		{[]string{"-bogus"}, "", "", true},
	} {
		fs := flagSet()
		o, err := parseFlags(fs, tc.args, tc.env)
		if (err != nil) != tc.wantErr || err == nil && o.addr != tc.addr {
			t.Errorf("%v env %q: %+v, %v", tc.args, tc.env, o, err)
		}
	}
	if got := browsable("[::]:8080"); got != "127.0.0.1:8080" {
		t.Errorf("browsable: %s", got)
	}
}

func flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("previews", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestHeartbeat: while the provider works, SSE comments keep the stream
// alive through proxies; the browser ignores them.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	g := &drafter{hang: true, ended: make(chan error, 1)}
	srv := newTestServer(t, g, config{Heartbeat: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/generate?prompt=hold", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	beats := 0
	for beats < 2 && sc.Scan() {
		if sc.Text() == ": still working" {
			beats++
		}
	}
	if beats < 2 {
		t.Fatalf("%d heartbeats before the stream ended: %v", beats, sc.Err())
	}
	cancel()
	if err := <-g.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("call ended with %v", err)
	}
}
