package main

import (
	"context"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// TestPageInChromium loads the page in headless Chromium, when it is
// installed (.ci/run installs it), submits a prompt and reads the DOM once
// the stream has ended: the page must have shown at least one draft before
// the final image.
func TestPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium)")
	}
	// The test page is the real page plus a script that submits a prompt
	// on load; the production page never starts a (billed) call by itself.
	page, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	autorun := strings.Replace(string(page), "</head>", `<script src="/autorun.js" defer></script></head>`, 1)
	withAutorun := func(h http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.HandleFunc("GET /autorun", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", pageCSP)
			_, _ = w.Write([]byte(autorun))
		})
		mux.HandleFunc("GET /autorun.js", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = w.Write([]byte(`document.getElementById("prompt").value = "a lighthouse, in the browser";
document.getElementById("form").requestSubmit();`))
		})
		return mux
	}
	// What `go run` serves offline, at 300 ms per stream event: Gemini's
	// adapter on the emulator (a thought, two drafts, the final image).
	g, _, closeEmu, err := emulated(t.Context(), providertest.Options{StreamInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeEmu)
	srv := newTestServer(t, g, config{}, withAutorun)

	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-proxy-server",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir(),
		// Virtual time waits for the open EventSource, then runs this
		// long past it, so the dump follows the stream's end.
		"--virtual-time-budget=30000", "--dump-dom", srv.URL + "/autorun"}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, chromium, flags...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	body := regexp.MustCompile(`<body[^>]*>`).FindString(string(dom))
	state := regexp.MustCompile(`data-state="([^"]*)"`).FindStringSubmatch(body)
	order := regexp.MustCompile(`data-order="([^"]*)"`).FindStringSubmatch(body)
	if state == nil || state[1] != "done" || order == nil {
		t.Fatalf("page did not finish: %s\n%s", body, logOf(string(dom)))
	}
	kinds := strings.Fields(order[1])
	first, final := slicesIndex(kinds, "preview"), slicesIndex(kinds, "final")
	if first < 0 || final < 0 || first > final {
		t.Fatalf("page showed %q: want a preview before the final image\n%s", order[1], logOf(string(dom)))
	}
	if !regexp.MustCompile(`<img id="current"[^>]* src="data:image/[a-z]+;base64,[^"]+"[^>]*data-final="true"|<img id="current"[^>]*data-final="true"[^>]* src="data:image/`).MatchString(string(dom)) {
		t.Errorf("the final image is not shown:\n%s", logOf(string(dom)))
	}
	if n := strings.Count(string(dom), `class="draft"`); n != 2 {
		t.Errorf("%d drafts shown, want the emulator's 2", n)
	}
	// When the server sent each event the page showed (under
	// --virtual-time-budget the browser's own clock stands still while
	// the stream is open, so its data-ms says nothing).
	var firstMS, finalMS = -1, -1
	for _, m := range regexp.MustCompile(`<li [^>]*data-kind="(preview|final)"[^>]*>`).FindAllStringSubmatch(string(dom), -1) {
		sm := regexp.MustCompile(`data-server-ms="(\d+)"`).FindStringSubmatch(m[0])
		if sm == nil {
			continue
		}
		v, _ := strconv.Atoi(sm[1])
		if m[1] == "preview" && firstMS < 0 {
			firstMS = v
		}
		if m[1] == "final" {
			finalMS = v
		}
	}
	t.Logf("page showed %s; sent at: first preview %d ms, final image %d ms", order[1], firstMS, finalMS)
	if firstMS < 0 || finalMS < 0 || firstMS > finalMS {
		t.Errorf("timeline: first preview %d ms, final %d ms\n%s", firstMS, finalMS, logOf(string(dom)))
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// logOf returns the page's #log list, for failure messages.
func logOf(dom string) string {
	if m := regexp.MustCompile(`(?s)<ol id="log">.*?</ol>`).FindString(dom); m != "" {
		return m
	}
	return "(no #log)"
}
