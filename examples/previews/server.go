package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/imagegen-go/imagegen/provider"
)

//go:embed static
var static embed.FS

// config tunes the server; its zero value serves with the defaults below.
type config struct {
	// MaxPromptRunes caps a prompt's length (default 2000 characters).
	MaxPromptRunes int
	// CallTimeout bounds one generation, previews included (default 3 minutes).
	CallTimeout time.Duration
	// WriteTimeout bounds the write of one event to the browser (default
	// 30 s): a client that stops reading ends its call.
	WriteTimeout time.Duration
	// Heartbeat is how often an SSE comment keeps an idle stream open
	// through proxies while the provider works (default 15 s).
	Heartbeat time.Duration
	// MaxConcurrent caps the generations in flight (default 4); a request
	// beyond it is answered 503 at once, at no cost.
	MaxConcurrent int
	// Previews is how many partial images to ask for (0 means
	// provider.DefaultPreviews).
	Previews int
	// Size and AspectRatio are passed to every request ("1K", "1:1" by default).
	Size, AspectRatio string
	// Logger receives one line per generation; nil discards them.
	Logger *slog.Logger
}

func (c config) withDefaults() config {
	if c.MaxPromptRunes <= 0 {
		c.MaxPromptRunes = 2000
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 3 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 4
	}
	if c.Size == "" {
		c.Size = "1K"
	}
	if c.AspectRatio == "" {
		c.AspectRatio = "1:1"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// server serves the page and streams generations to it.
type server struct {
	gen   provider.Generator
	cfg   config
	slots chan struct{} // one token per generation in flight
}

func newServer(gen provider.Generator, cfg config) *server {
	cfg = cfg.withDefaults()
	return &server{gen: gen, cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}
}

// pageCSP lets the page run only its own script and show only data: images
// it received from its own origin.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// handler returns the routes: the page and its assets, /generate (the SSE
// stream) and /healthz.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	asset := func(name, mime string) http.HandlerFunc {
		body, err := static.ReadFile("static/" + name)
		if err != nil {
			panic(err) // embedded at build time: cannot happen
		}
		return func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", mime)
			h.Set("Cache-Control", "no-cache")
			if mime == "text/html; charset=utf-8" {
				h.Set("Content-Security-Policy", pageCSP)
			}
			_, _ = w.Write(body)
		}
	}
	mux.HandleFunc("GET /{$}", asset("index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /app.js", asset("app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /style.css", asset("style.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /generate", s.generate)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// Events sent on /generate: each event's data is one line of JSON, the
// fields below plus, on previews and the final event, "images": a list of
// {"mime", "bytes", "dataURL"}. Images travel inline as data: URLs,
// base64-encoded straight into the response (see sseWriter.event), so the
// server keeps nothing once a stream ends and copies no image whole.
type (
	previewEvent struct {
		Index     int   `json:"index"`
		ElapsedMS int64 `json:"elapsedMs"` // since the request reached the server
	}
	finalEvent struct {
		Provider  string `json:"provider"`
		Model     string `json:"model"`
		Cost      string `json:"cost"`
		Cached    bool   `json:"cached"`
		Previews  int    `json:"previews"` // previews sent before this event
		ElapsedMS int64  `json:"elapsedMs"`
	}
	errorEvent struct {
		Kind      string `json:"kind"`
		Message   string `json:"message"`
		RequestID string `json:"requestId"` // the id in the server's log line
	}
)

// generate streams one generation as server-sent events: "preview" for
// each draft, then "final", or "error". The call runs on the request's
// context, so a browser that goes away cancels it.
func (s *server) generate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodGet { // the GET pattern also matches HEAD, which must not start a billed call
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Another site's page could make a visitor's browser start (and this
	// server pay for) generations with an <img> or EventSource; browsers
	// say where a request comes from. Clients that are not browsers send
	// no Sec-Fetch-Site and are let through.
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		http.Error(w, "cross-site requests are refused", http.StatusForbidden)
		return
	}
	prompt, err := s.prompt(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "busy: too many generations in flight, try again shortly", http.StatusServiceUnavailable)
		return
	}

	id := requestID()
	log := s.cfg.Logger.With("request", id, "prompt_chars", utf8.RuneCountInString(prompt))
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CallTimeout)
	defer cancel()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}
	// "retry" tells a browser to wait a minute before reconnecting on its
	// own; the page closes its EventSource on any error, so a dropped
	// stream is never silently generated (and billed) again.
	if err := out.raw("retry: 60000\n: generating\n\n"); err != nil {
		log.Info("client gone before the call")
		return
	}

	req := &provider.Request{
		Prompt: prompt, Size: s.cfg.Size, AspectRatio: s.cfg.AspectRatio,
		Options: provider.Options{provider.Previews{Count: s.cfg.Previews}},
		Labels:  map[string]string{"app": "previews"},
	}
	type item struct {
		ev  provider.StreamEvent
		err error
	}
	items := make(chan item)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(items)
		for ev, err := range provider.Stream(ctx, s.gen, req) {
			select {
			case items <- item{ev, err}:
			case <-stop: // the handler is gone: leaving the loop cancels the call
				return
			}
		}
	}()
	// Whatever ends the handler ends the call, and waits for it, so no
	// goroutine outlives the request.
	defer func() {
		cancel()
		close(stop)
		<-done
	}()

	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	previews := 0
	for {
		var it item
		var ok bool
		select {
		case it, ok = <-items:
		case <-heartbeat.C:
			if err := out.raw(": still working\n\n"); err != nil {
				log.Info("client gone", "previews", previews, "err", err)
				return
			}
			continue
		}
		var werr error
		switch {
		case !ok:
			_ = out.event("error", errorEvent{Kind: provider.KindUnknown.String(), Message: "the stream ended without a result", RequestID: id})
			log.Error("stream ended without a result")
			return
		case it.err != nil:
			if r.Context().Err() != nil {
				log.Info("client gone", "previews", previews)
				return
			}
			log.Warn("generation failed", "previews", previews, "kind", provider.KindOf(it.err).String(), "err", it.err,
				"elapsed", time.Since(start))
			_ = out.event("error", publicError(it.err, id))
			return
		case it.ev.Preview != nil:
			pv := it.ev.Preview
			img, ok := displayable(pv.Image)
			if !ok {
				log.Warn("preview skipped: not a raster image", "index", pv.Index)
				continue
			}
			werr = out.event("preview", previewEvent{Index: pv.Index, ElapsedMS: time.Since(start).Milliseconds()}, img)
			previews++
		default:
			resp := it.ev.Response
			fin := finalEvent{Provider: resp.Provider, Model: resp.Model, Cost: resp.Cost.String(), Cached: resp.Cached,
				Previews: previews, ElapsedMS: time.Since(start).Milliseconds()}
			var images []shownImage
			for _, im := range resp.Images {
				if img, ok := displayable(im); ok {
					images = append(images, img)
				}
			}
			if len(images) == 0 {
				log.Warn("no displayable image", "provider", resp.Provider, "model", resp.Model)
				_ = out.event("error", errorEvent{Kind: provider.KindNoImage.String(), Message: "the provider returned no image this page can show", RequestID: id})
				return
			}
			werr = out.event("final", fin, images...)
			log.Info("generated", "provider", resp.Provider, "model", resp.Model, "previews", previews,
				"cached", resp.Cached, "cost", resp.Cost.String(), "elapsed", time.Since(start), "delivered", werr == nil)
			return
		}
		if werr != nil {
			log.Info("client gone", "previews", previews, "err", werr)
			return
		}
	}
}

// prompt returns the request's prompt, trimmed, or why it is refused.
func (s *server) prompt(r *http.Request) (string, error) {
	p := strings.TrimSpace(r.URL.Query().Get("prompt"))
	switch n := utf8.RuneCountInString(p); {
	case p == "":
		return "", errors.New("prompt: empty")
	case !utf8.ValidString(p):
		return "", errors.New("prompt: not valid UTF-8")
	case n > s.cfg.MaxPromptRunes:
		return "", fmt.Errorf("prompt: %d characters, at most %d", n, s.cfg.MaxPromptRunes)
	case strings.ContainsFunc(p, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
		return "", errors.New("prompt: control characters")
	}
	return p, nil
}

// publicError is what the browser may see of err: its kind and a fixed
// sentence. The full error stays in the server's log (the library keeps
// keys out of errors, but provider messages are not for end users).
func publicError(err error, id string) errorEvent {
	kind := provider.KindOf(err)
	msg := map[provider.Kind]string{
		provider.KindInvalidRequest: "the provider refused this request",
		provider.KindContentBlocked: "the provider's safety system refused this prompt or its image",
		provider.KindRateLimited:    "too many requests right now; try again in a minute",
		provider.KindQuotaExhausted: "the provider quota is used up",
		provider.KindBudgetExceeded: "this server's spending budget is used up",
		provider.KindTimeout:        "the image took too long",
		provider.KindUnavailable:    "the provider is unavailable; try again shortly",
		provider.KindNoImage:        "the provider returned no image",
	}[kind]
	if msg == "" {
		msg = "the image could not be generated"
	}
	if errors.Is(err, provider.ErrStreamInterrupted) {
		msg += " (the stream broke after a preview)"
	}
	return errorEvent{Kind: kind.String(), Message: msg, RequestID: id}
}

// shownImage is an image the page can show, with its sniffed MIME type.
type shownImage struct {
	mime string
	data []byte
}

// displayable returns img when its bytes are a raster format a browser
// shows. The MIME type is sniffed, not trusted.
func displayable(img provider.Image) (shownImage, bool) {
	mime := provider.SniffMIME(img.Data)
	switch mime {
	case "image/png", "image/jpeg", "image/webp", "image/gif":
		return shownImage{mime: mime, data: img.Data}, true
	}
	return shownImage{}, false
}

func requestID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sseWriter writes server-sent events, each under its own write deadline,
// and flushes it at once.
type sseWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
	bw      *bufio.Writer // over w; created on first use
}

func (s *sseWriter) deadline() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// raw writes text as it is: comments, the retry field.
func (s *sseWriter) raw(text string) error {
	if err := s.deadline(); err != nil {
		return err
	}
	if _, err := io.WriteString(s.w, text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// event writes one event whose data is meta's JSON object, with images,
// when given, added as "images": [{"mime", "bytes", "dataURL"}]. The JSON
// is one line (encoding/json writes no raw newline, base64 has none), so
// it fits one data: field. The base64 goes straight to the connection:
// a 16 MiB image costs no 21 MiB string, let alone several.
func (s *sseWriter) event(name string, meta any, images ...shownImage) error {
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if len(b) < 2 || b[0] != '{' {
		return fmt.Errorf("event %s: data is not a JSON object", name)
	}
	if err := s.deadline(); err != nil {
		return err
	}
	if s.bw == nil {
		s.bw = bufio.NewWriterSize(s.w, 32<<10)
	}
	bw := s.bw
	bw.WriteString("event: " + name + "\ndata: ")
	if len(images) == 0 {
		bw.Write(b)
	} else {
		bw.Write(b[:len(b)-1]) // the object, still open
		if len(b) > 2 {
			bw.WriteByte(',')
		}
		bw.WriteString(`"images":[`)
		for i, img := range images {
			if i > 0 {
				bw.WriteByte(',')
			}
			// img.mime is one of displayable's constants: nothing to escape.
			fmt.Fprintf(bw, `{"mime":"%s","bytes":%d,"dataURL":"data:%s;base64,`, img.mime, len(img.data), img.mime)
			enc := base64.NewEncoder(base64.StdEncoding, bw)
			enc.Write(img.data)
			enc.Close()
			bw.WriteString(`"}`)
		}
		bw.WriteString("]}")
	}
	bw.WriteString("\n\n")
	if err := bw.Flush(); err != nil { // bufio keeps the first write error
		return err
	}
	return s.rc.Flush()
}
