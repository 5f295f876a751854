package catalog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/provider"
)

func day(s string) time.Time {
	d, err := catalog.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d.Time()
}

var asOf = day("2026-11-21")

// allIDs are the models the embedded catalog lists.
var allIDs = []string{
	"gemini-nano-banana-2.1", "gemini-3-pro-image", "gemini-3.1-flash-lite-image",
	"gemini-3.1-flash-image", "gemini-2.5-flash-image",
	"imagen-4.0-generate-001", "imagen-4.0-fast-generate-001", "imagen-4.0-ultra-generate-001",
	"imagen-3.0-generate-002", "imagen-3.0-generate-001", "imagen-3.0-fast-generate-001",
	"imagen-3.0-capability-001", "imagen-3.0-capability-002",
	"gpt-image-2.6-flare", "gpt-image-2.6-sunburst", "gpt-image-2.5-flare", "gpt-image-2.5-sunburst",
	"gpt-image-2", "gpt-image-1.5", "gpt-image-1-mini", "chatgpt-image-latest", "gpt-image-1",
	"dall-e-2", "dall-e-3",
	"kie/nano-banana-pro", "kie/nano-banana-2", "kie/gpt-image-2", "kie/flux-2-pro",
	"replicate/google/nano-banana-pro", "replicate/bytedance/seedream-4", "apimart/gemini-3-pro-image-preview",
}

func TestDefaultLoads(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	if c.AsOf != "2026-12-04" || c.Version == "" {
		t.Fatalf("AsOf %q Version %q", c.AsOf, c.Version)
	}
	for _, id := range allIDs {
		m, ok := c.Lookup(id)
		if !ok {
			t.Errorf("%s missing", id)
			continue
		}
		want := "openai"
		if strings.HasPrefix(id, "gemini") || strings.HasPrefix(id, "imagen") {
			want = "google"
		}
		if service, _, ok := strings.Cut(id, "/"); ok {
			want = service // a task API's IDs start with the service
		}
		if m.Provider != want {
			t.Errorf("%s: provider %q, want %q", id, m.Provider, want)
		}
	}
	ms := c.Models()
	if len(ms) != len(allIDs) {
		t.Errorf("%d models, want %d", len(ms), len(allIDs))
	}
	for i := 1; i < len(ms); i++ {
		if ms[i-1].ID >= ms[i].ID {
			t.Errorf("Models not sorted: %s before %s", ms[i-1].ID, ms[i].ID)
		}
	}
}

func TestEveryFactSourced(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, m := range c.Models() {
		for _, g := range m.FactGroups() {
			s, ok := m.Sources[g]
			if !ok || s.URL == "" || s.Checked.IsZero() {
				t.Errorf("%s: fact group %q has no source", m.ID, g)
			}
		}
		required := []string{"lifecycle", "sizes", "images_per_call", "prices.standard"}
		if retiredStub(c, m) {
			required = required[:1]
		}
		for _, g := range required {
			if _, ok := m.Sources[g]; !ok {
				t.Errorf("%s: no %s source", m.ID, g)
			}
		}
	}
}

// retiredStub reports whether m is listed only to retire its ID: shut
// down by the catalog's date, with nothing known but its lifecycle.
func retiredStub(c *catalog.Catalog, m *catalog.Model) bool {
	return slices.Equal(m.FactGroups(), []string{"lifecycle"}) && m.Status(day(c.AsOf)) == catalog.StatusRetired
}

// TestSourcesArePublic holds the embedded catalog to its rule: every
// source is a public http(s) page with a check date, never a file of
// this project (a relative path, a local or private address, a
// "PROVIDERS.md" note), and no note leans on one either.
func TestSourcesArePublic(t *testing.T) {
	c := catalog.Default()
	asOf := day(c.AsOf)
	for _, m := range c.Models() {
		texts := []string{m.Notes, m.Lifecycle.Note}
		for _, l := range m.AliasLifecycle {
			texts = append(texts, l.Note)
		}
		for g, s := range m.Sources {
			if err := checkSourceURL(s.URL); err != nil {
				t.Errorf("%s %s: %v", m.ID, g, err)
			}
			switch {
			case s.Checked.IsZero():
				t.Errorf("%s %s: no checked date", m.ID, g)
			case s.Checked.Time().After(asOf):
				t.Errorf("%s %s: checked %s, after the catalog's as_of %s", m.ID, g, s.Checked, c.AsOf)
			}
			texts = append(texts, s.Note)
		}
		for _, txt := range texts {
			if strings.Contains(strings.ToLower(txt), "providers.md") {
				t.Errorf("%s: a note cites the project's PROVIDERS.md: %q", m.ID, txt)
			}
		}
	}
}

func TestCheckSourceURLRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://ai.google.dev/gemini-api/docs/pricing", true},
		{"http://example.com/page", true},
		{"https://github.com/googleapis/go-genai/blob/v1.79.1/types.go", true},
		{"imagegen shared/PROVIDERS.md (2026-11)", false},
		{"https://github.com/imagegen-go/imagegen/blob/main/shared/PROVIDERS.md", false},
		{"shared/PROVIDERS.md", false},
		{"/work/shared/PROVIDERS.md", false},
		{"file:///work/shared/DESIGN.md", false},
		{"ftp://example.com/x", false},
		{"https://", false},
		{"https://localhost/x", false},
		{"http://127.0.0.1:8080/x", false},
		{"http://10.0.0.7/x", false},
		{"https://intranet/x", false},
		{"https://docs.internal/x", false},
		{"https://example.com/a page", false},
		{"", false},
	} {
		err := checkSourceURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("checkSourceURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestDefaultIsImmutable(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	c.AsOf = "1999-01-01"
	m, _ := c.Lookup("gemini-nano-banana-2.1")
	m.Sizes[0] = "512"
	m.Prices[catalog.TierStandard].PerImage["1K"] = 1
	m.Sources["sizes"] = catalog.Source{}
	d := catalog.Default()
	m2, _ := d.Lookup("gemini-nano-banana-2.1")
	if d.AsOf != "2026-12-04" || m2.Sizes[0] != "1K" || m2.Prices[catalog.TierStandard].PerImage["1K"] != 33600 || m2.Sources["sizes"].URL == "" {
		t.Fatal("a caller changed the shared catalog")
	}
}

func TestLookupAliases(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, tc := range []struct{ id, want string }{
		{"gemini-3-pro-image-preview", "gemini-3-pro-image"},
		{"gemini-3.1-flash-image-preview", "gemini-3.1-flash-image"},
		{"models/gemini-3.1-flash-image-preview", "gemini-3.1-flash-image"},
		{"models/gemini-nano-banana-2.1", "gemini-nano-banana-2.1"},
		{"gpt-image-1.5-2025-12-16", "gpt-image-1.5"},
		{"dall-e-3", "dall-e-3"},
	} {
		m, ok := c.Lookup(tc.id)
		if !ok || m.ID != tc.want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", tc.id, m, ok, tc.want)
		}
	}
	for _, id := range []string{"GEMINI-3-PRO-IMAGE", "gpt-image-9", "", "models/"} {
		if _, ok := c.Lookup(id); ok {
			t.Errorf("Lookup(%q) found a model", id)
		}
	}
}

func TestStatusAroundBoundaries(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	sec := time.Second
	for _, tc := range []struct {
		id   string
		at   time.Time
		want catalog.Status
	}{
		{"gemini-3.1-flash-image", day("2026-10-06").Add(-sec), catalog.StatusActive},
		{"gemini-3.1-flash-image", day("2026-10-06"), catalog.StatusDeprecated},
		{"gemini-3.1-flash-image", asOf, catalog.StatusDeprecated},
		{"gemini-3.1-flash-image-preview", day("2026-06-25").Add(-sec), catalog.StatusDeprecated}, // shutdown announced
		{"gemini-3.1-flash-image-preview", day("2026-06-25"), catalog.StatusRetired},
		{"gemini-3-pro-image-preview", day("2026-06-25"), catalog.StatusRetired},
		{"gemini-3-pro-image", day("2026-06-25"), catalog.StatusActive},
		{"imagen-4.0-generate-001", day("2026-06-15").Add(-sec), catalog.StatusActive},
		{"imagen-4.0-generate-001", day("2026-06-15"), catalog.StatusDeprecated},
		{"imagen-4.0-generate-001", day("2026-08-17").Add(-sec), catalog.StatusDeprecated},
		{"imagen-4.0-ultra-generate-001", day("2026-08-17"), catalog.StatusRetired},
		{"gpt-image-1", day("2026-10-23").Add(-sec), catalog.StatusDeprecated},
		{"gpt-image-1", day("2026-10-23"), catalog.StatusRetired},
		{"gpt-image-1.5", day("2026-06-02").Add(-sec), catalog.StatusActive},
		{"gpt-image-1.5", asOf, catalog.StatusDeprecated},
		{"gpt-image-1.5-2025-12-16", day("2026-12-01"), catalog.StatusRetired},
		{"gpt-image-1-mini", day("2026-12-01").Add(-sec), catalog.StatusDeprecated},
		{"chatgpt-image-latest", day("2026-12-01"), catalog.StatusRetired},
		{"dall-e-3", day("2026-05-12").Add(-sec), catalog.StatusDeprecated},
		{"dall-e-2", day("2026-05-12"), catalog.StatusRetired},
		{"gemini-2.5-flash-image", day("2026-10-02"), catalog.StatusDeprecated},
		{"gemini-nano-banana-2.1", asOf, catalog.StatusActive},
		{"gpt-image-2.6-flare", asOf, catalog.StatusActive},
	} {
		got, ok := c.StatusOf(tc.id, tc.at)
		if !ok || got != tc.want {
			t.Errorf("StatusOf(%s, %s) = %v, want %v", tc.id, tc.at.Format(time.RFC3339), got, tc.want)
		}
		if m, _ := c.Lookup(tc.id); m.ID == tc.id && m.Status(tc.at) != tc.want {
			t.Errorf("%s.Status(%s) = %v, want %v", tc.id, tc.at.Format(time.RFC3339), m.Status(tc.at), tc.want)
		}
	}
	// A date takes effect at 00:00 UTC, whatever the location of at.
	la := time.FixedZone("PST", -8*3600)
	if got, _ := c.StatusOf("gpt-image-1", time.Date(2026, 10, 22, 16, 0, 0, 0, la)); got != catalog.StatusRetired {
		t.Errorf("16:00 PST on 10-22 is 00:00 UTC on 10-23: got %v", got)
	}
}

func TestResolveChain(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, tc := range []struct {
		id    string
		at    time.Time
		live  string
		chain string
	}{
		{"imagen-4.0-fast-generate-001", asOf, "gemini-nano-banana-2.1", "imagen-4.0-fast-generate-001 gemini-3.1-flash-image gemini-nano-banana-2.1"},
		{"imagen-4.0-generate-001", asOf, "gemini-nano-banana-2.1", "imagen-4.0-generate-001 gemini-3.1-flash-image gemini-nano-banana-2.1"},
		{"imagen-4.0-ultra-generate-001", asOf, "gemini-3-pro-image", "imagen-4.0-ultra-generate-001 gemini-3-pro-image"},
		// Before 2.1 shipped, 3.1 Flash was the live target.
		{"imagen-4.0-fast-generate-001", day("2026-09-01"), "gemini-3.1-flash-image", "imagen-4.0-fast-generate-001 gemini-3.1-flash-image"},
		{"gemini-3.1-flash-image-preview", asOf, "gemini-nano-banana-2.1", "gemini-3.1-flash-image-preview gemini-3.1-flash-image gemini-nano-banana-2.1"},
		{"models/gemini-3-pro-image-preview", asOf, "gemini-3-pro-image", "gemini-3-pro-image-preview gemini-3-pro-image"},
		{"gpt-image-1", asOf, "gpt-image-2.5-sunburst", "gpt-image-1 gpt-image-2.5-sunburst"},
		{"dall-e-3", asOf, "gpt-image-2.5-sunburst", "dall-e-3 gpt-image-2.5-sunburst"},
		{"gpt-image-1.5", asOf, "gpt-image-2.6-sunburst", "gpt-image-1.5 gpt-image-2.6-sunburst"},
		{"gemini-2.5-flash-image", asOf, "gemini-nano-banana-2.1", "gemini-2.5-flash-image gemini-3.1-flash-image gemini-nano-banana-2.1"},
		{"gemini-nano-banana-2.1", asOf, "gemini-nano-banana-2.1", "gemini-nano-banana-2.1"},
	} {
		live, chain, err := c.Resolve(tc.id, tc.at)
		if err != nil {
			t.Errorf("Resolve(%s): %v", tc.id, err)
			continue
		}
		if live.ID != tc.live || strings.Join(chain, " ") != tc.chain {
			t.Errorf("Resolve(%s) = %s via %v; want %s via %s", tc.id, live.ID, chain, tc.live, tc.chain)
		}
	}
	_, _, err := c.Resolve("no-such-model", asOf)
	if !errors.Is(err, provider.ErrModelNotFound) {
		t.Errorf("unknown model: %v", err)
	}
}

func TestCheckLive(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, tc := range []struct {
		id   string
		at   time.Time
		want string // "" means nil
	}{
		{"imagen-4.0-generate-001", asOf, "imagen-4.0-generate-001 was shut down on 2026-08-17; use gemini-nano-banana-2.1"},
		{"imagen-4.0-fast-generate-001", asOf, "imagen-4.0-fast-generate-001 was shut down on 2026-08-17; use gemini-nano-banana-2.1"},
		{"imagen-4.0-ultra-generate-001", asOf, "imagen-4.0-ultra-generate-001 was shut down on 2026-08-17; use gemini-3-pro-image"},
		{"gpt-image-1", asOf, "gpt-image-1 was shut down on 2026-10-23; use gpt-image-2.5-sunburst"},
		{"dall-e-3", asOf, "dall-e-3 was shut down on 2026-05-12; use gpt-image-2.5-sunburst"},
		{"dall-e-2", asOf, "dall-e-2 was shut down on 2026-05-12; use gpt-image-2.5-sunburst"},
		{"gemini-3-pro-image-preview", day("2026-06-25"), "gemini-3-pro-image-preview was shut down on 2026-06-25; use gemini-3-pro-image"},
		{"gemini-3.1-flash-image-preview", day("2026-06-26"), "gemini-3.1-flash-image-preview was shut down on 2026-06-25; use gemini-3.1-flash-image"},
		{"models/gemini-3.1-flash-image-preview", asOf, "gemini-3.1-flash-image-preview was shut down on 2026-06-25; use gemini-nano-banana-2.1"},
		{"gpt-image-1.5-2025-12-16", day("2026-12-02"), "gpt-image-1.5-2025-12-16 was shut down on 2026-12-01; use gpt-image-2.6-sunburst"},
		{"gemini-3-pro-image-preview", day("2026-06-24"), ""},
		{"gemini-3.1-flash-image", asOf, ""},
		{"gpt-image-1.5", asOf, ""},
		{"gemini-nano-banana-2.1", asOf, ""},
		{"brand-new-model", asOf, ""},
	} {
		err := c.CheckLive(tc.id, tc.at)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckLive(%s) = %v, want nil", tc.id, err)
			}
			continue
		}
		var pe *provider.Error
		if !errors.As(err, &pe) || !errors.Is(err, provider.ErrModelRetired) {
			t.Errorf("CheckLive(%s) = %v, want a retired *provider.Error", tc.id, err)
			continue
		}
		if pe.Message != tc.want || pe.Model != strings.TrimPrefix(tc.id, "models/") {
			t.Errorf("CheckLive(%s): model %q message %q; want %q", tc.id, pe.Model, pe.Message, tc.want)
		}
	}
}

// TestImagen3Retired: every documented Imagen 3 ID is known and retired,
// so it fails fast naming a live model instead of passing as unknown.
// Vertex's replacement, gemini-2.5-flash-image, is itself deprecated, and
// the chain goes on to the live model of the day.
func TestImagen3Retired(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, id := range []string{
		"imagen-3.0-generate-002", "imagen-3.0-generate-001", "imagen-3.0-fast-generate-001",
		"imagen-3.0-capability-001", "imagen-3.0-capability-002",
	} {
		m, ok := c.Lookup(id)
		if !ok {
			t.Errorf("%s: not in the catalog", id)
			continue
		}
		if m.Protocol != catalog.ProtocolImagen || m.Provider != "google" || m.Lifecycle.Replacement != "gemini-2.5-flash-image" {
			t.Errorf("%s: protocol %q provider %q replacement %q", id, m.Protocol, m.Provider, m.Lifecycle.Replacement)
		}
		if src := m.Sources["lifecycle"]; !strings.Contains(src.URL, "cloud.google.com") || !strings.Contains(src.Note, "firebase.google.com") {
			t.Errorf("%s: lifecycle source %+v should cite Vertex and Firebase", id, src)
		}
		if st, _ := c.StatusOf(id, asOf); st != catalog.StatusRetired {
			t.Errorf("%s: %v at %s, want retired", id, st, asOf.Format(time.DateOnly))
		}
		live, chain, err := c.Resolve(id, asOf)
		if err != nil || live.ID != "gemini-nano-banana-2.1" {
			t.Errorf("Resolve(%s) = %v, %v", id, live, err)
		} else if want := id + " gemini-2.5-flash-image gemini-3.1-flash-image gemini-nano-banana-2.1"; strings.Join(chain, " ") != want {
			t.Errorf("Resolve(%s) chain %v, want %s", id, chain, want)
		}
		err = c.CheckLive("models/"+id, asOf)
		var pe *provider.Error
		if !errors.As(err, &pe) || !errors.Is(err, provider.ErrModelRetired) {
			t.Fatalf("CheckLive(%s) = %v, want ErrModelRetired", id, err)
		}
		if want := id + " was shut down on 2026-06-30; use gemini-nano-banana-2.1"; pe.Message != want || pe.Model != id {
			t.Errorf("CheckLive(%s): model %q message %q, want %q", id, pe.Model, pe.Message, want)
		}
		if kind, use := c.ExplainMissing(id, asOf); kind != provider.KindModelRetired || use != "gemini-nano-banana-2.1" {
			t.Errorf("ExplainMissing(%s) = %v %q", id, kind, use)
		}
		// The day before Vertex's shutdown the ID still passes (deprecated);
		// right after it, the replacement was gemini-2.5-flash-image itself.
		if err := c.CheckLive(id, day("2026-06-29")); err != nil {
			t.Errorf("CheckLive(%s) on 2026-06-29: %v", id, err)
		}
		if live, _, err := c.Resolve(id, day("2026-07-01")); err != nil || live.ID != "gemini-2.5-flash-image" {
			t.Errorf("Resolve(%s) on 2026-07-01 = %v, %v; want gemini-2.5-flash-image", id, live, err)
		}
	}
}

// TestGeminiImagesPerCall: Google's pages contradict "one image per call"
// (2.5 Flash Image returns up to 10 per prompt; the 3.x models are bounded
// by output tokens), so the catalog records 10 or nothing. Adapters still
// fan out one call per image, so any N up to provider.MaxN passes.
func TestGeminiImagesPerCall(t *testing.T) {
	t.Parallel()
	for _, m := range catalog.Default().Models() {
		if m.Protocol != catalog.ProtocolGemini {
			continue
		}
		want := 0
		if m.ID == "gemini-2.5-flash-image" {
			want = 10
		}
		if m.ImagesPerCall != want || m.MaxImages() != provider.MaxN {
			t.Errorf("%s: ImagesPerCall %d (want %d), MaxImages %d (want %d)", m.ID, m.ImagesPerCall, want, m.MaxImages(), provider.MaxN)
		}
		if _, ok := m.Sources["images_per_call"]; !ok {
			t.Errorf("%s: no images_per_call source saying why", m.ID)
		}
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, tc := range []struct {
		id   string
		at   time.Time
		want string
	}{
		{"gemini-3.1-flash-image", asOf, "gemini-3.1-flash-image is deprecated since 2026-10-06; use gemini-nano-banana-2.1"},
		{"gpt-image-1.5", asOf, "gpt-image-1.5 is deprecated since 2026-06-02 and shuts down on 2026-12-01; use gpt-image-2.6-sunburst"},
		{"gpt-image-1", day("2026-10-01"), "gpt-image-1 is deprecated and shuts down on 2026-10-23; use gpt-image-2.5-sunburst"},
		{"imagen-4.0-fast-generate-001", asOf, "imagen-4.0-fast-generate-001 was shut down on 2026-08-17; use gemini-nano-banana-2.1"},
		{"gemini-nano-banana-2.1", asOf, ""},
	} {
		m, _ := c.Lookup(tc.id)
		got := strings.Join(m.Warnings(tc.at), "|")
		if got != tc.want {
			t.Errorf("%s.Warnings = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func refs(n int) []provider.Image {
	r := make([]provider.Image, n)
	for i := range r {
		r[i] = provider.Image{Data: []byte{1}}
	}
	return r
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	mask := &provider.Image{Data: []byte{1}}
	for _, tc := range []struct {
		model string
		req   provider.Request
		field string // "" means valid
	}{
		{"gemini-nano-banana-2.1", provider.Request{Size: "512"}, "Size"},
		{"gemini-nano-banana-2.1", provider.Request{Size: "4k"}, ""},
		{"gemini-nano-banana-2.1", provider.Request{AspectRatio: "1:4"}, ""},
		{"gemini-nano-banana-2.1", provider.Request{AspectRatio: "9:21"}, "AspectRatio"},
		{"gemini-nano-banana-2.1", provider.Request{N: 10}, ""},
		{"gemini-nano-banana-2.1", provider.Request{N: 11}, "N"},
		{"gemini-nano-banana-2.1", provider.Request{References: refs(14)}, ""},
		{"gemini-nano-banana-2.1", provider.Request{References: refs(15)}, "References"},
		{"gemini-nano-banana-2.1", provider.Request{References: refs(1), Mask: mask}, "Mask"},
		{"gemini-nano-banana-2.1", provider.Request{Size: "1024x1024"}, "Size"},
		{"gemini-nano-banana-2.1", provider.Request{Quality: "high"}, ""},
		{"gemini-3.1-flash-image", provider.Request{Size: "512", AspectRatio: "8:1"}, ""},
		{"gemini-3.1-flash-image", provider.Request{References: refs(15)}, "References"},
		{"gemini-3-pro-image", provider.Request{AspectRatio: "1:4"}, "AspectRatio"},
		{"gemini-3-pro-image", provider.Request{AspectRatio: "21:9", Size: "2K"}, ""},
		{"gemini-3-pro-image", provider.Request{Size: "512"}, "Size"},
		{"gemini-3.1-flash-lite-image", provider.Request{Size: "1K"}, ""},
		{"gemini-3.1-flash-lite-image", provider.Request{Size: "2K"}, "Size"},
		{"gemini-2.5-flash-image", provider.Request{Size: "2K"}, "Size"},
		{"gemini-2.5-flash-image", provider.Request{Size: "512"}, "Size"},
		{"gemini-2.5-flash-image", provider.Request{}, ""},
		{"imagen-4.0-generate-001", provider.Request{N: 4}, ""},
		{"imagen-4.0-generate-001", provider.Request{N: 5}, "N"},
		{"imagen-4.0-fast-generate-001", provider.Request{References: refs(1)}, "References"},
		{"gpt-image-2", provider.Request{Size: "1000x1000"}, "Size"},
		{"gpt-image-2", provider.Request{Size: "4000x1000"}, "Size"},
		{"gpt-image-2", provider.Request{Size: "3840x1280"}, ""},
		{"gpt-image-2.5-flare", provider.Request{Size: "3840x1280"}, ""},
		{"gpt-image-2.6-sunburst", provider.Request{Size: "1280x3840"}, ""},
		{"gpt-image-2", provider.Request{Size: "3856x1296"}, "Size"},
		{"gpt-image-2", provider.Request{Size: "1024x1024"}, ""},
		{"gpt-image-2", provider.Request{Size: "auto"}, ""},
		{"gpt-image-2", provider.Request{Size: "2K"}, "Size"},
		{"gpt-image-2", provider.Request{AspectRatio: "16:9"}, ""},
		{"gpt-image-2", provider.Request{AspectRatio: "4:1"}, "AspectRatio"},
		{"gpt-image-1.5", provider.Request{Size: "3840x1280"}, "Size"},
		{"gpt-image-1.5", provider.Request{Size: "1536x1024"}, ""},
		{"gpt-image-2", provider.Request{Quality: "xhigh"}, "Quality"},
		{"gpt-image-1.5", provider.Request{Quality: "max"}, "Quality"},
		{"gpt-image-2.5-sunburst", provider.Request{Quality: "xhigh"}, ""},
		{"gpt-image-2.6-flare", provider.Request{Quality: "max"}, ""},
		{"gpt-image-2.5-flare", provider.Request{OutputFormat: "gif"}, "OutputFormat"},
		{"gpt-image-2.6-flare", provider.Request{OutputFormat: "gif"}, ""},
		{"gpt-image-2.6-sunburst", provider.Request{OutputFormat: "image/svg+xml"}, ""},
		{"gpt-image-2", provider.Request{OutputFormat: "jpg"}, ""},
		{"gpt-image-2", provider.Request{N: 10}, ""},
		{"gpt-image-2", provider.Request{References: refs(16), Mask: mask}, ""},
		{"gpt-image-2", provider.Request{References: refs(17)}, "References"},
		{"dall-e-3", provider.Request{N: 2}, "N"},
		{"dall-e-3", provider.Request{Quality: "hd", Size: "1792x1024"}, ""},
		{"dall-e-3", provider.Request{Size: "1536x1024"}, "Size"},
		{"dall-e-3", provider.Request{References: refs(1)}, "References"},
	} {
		m, ok := c.Lookup(tc.model)
		if !ok {
			t.Fatalf("%s missing", tc.model)
		}
		req := tc.req
		req.Prompt = "p"
		err := m.Validate(&req)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s %+v: %v", tc.model, tc.req, err)
			}
			continue
		}
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.KindInvalidRequest || pe.Code != tc.field || pe.Model != m.ID ||
			!strings.Contains(pe.Error(), tc.model) {
			t.Errorf("%s %+v: got %v, want invalid %s", tc.model, tc.req, err, tc.field)
		}
	}
}

func TestCapabilitiesAgreeWithValidate(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	m, _ := c.Lookup("gemini-nano-banana-2.1")
	caps := m.Capabilities()
	if caps.MaxImages != provider.MaxN || caps.MaxReferences != 14 || caps.Mask || !caps.EditKnown {
		t.Errorf("2.1 capabilities %+v", caps)
	}
	if err := caps.Check(&provider.Request{Prompt: "p", Size: "512"}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("Check 512 on 2.1: %v", err)
	}
	d3, _ := c.Lookup("dall-e-3")
	if err := d3.Capabilities().Check(&provider.Request{Prompt: "p", Size: "1024x1024"}); err != nil {
		t.Errorf("dall-e-3 1024x1024: %v", err)
	}
	im, _ := c.Lookup("imagen-4.0-generate-001")
	if caps := im.Capabilities(); !caps.NoReferences || caps.MaxImages != 4 {
		t.Errorf("imagen capabilities %+v", caps)
	}
}

func usd(s string) provider.USD {
	v, err := provider.ParseUSD(s)
	if err != nil {
		panic(err)
	}
	return v
}

func TestPerImagePrices(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	// PROVIDERS.md §8, to the micro-dollar.
	for _, tc := range []struct {
		model, size, price string
		tokens             int
	}{
		{"gemini-nano-banana-2.1", "1K", "0.0336", 1120},
		{"gemini-nano-banana-2.1", "2K", "0.0504", 1680},
		{"gemini-nano-banana-2.1", "4K", "0.1134", 3780},
		{"gemini-3-pro-image", "1K", "0.134", 1120},
		{"gemini-3-pro-image", "2K", "0.134", 1120},
		{"gemini-3-pro-image", "4K", "0.24", 2000},
		{"gemini-3.1-flash-lite-image", "1K", "0.0336", 1120},
		{"gemini-3.1-flash-image", "512", "0.045", 747},
		{"gemini-3.1-flash-image", "1K", "0.067", 1120},
		{"gemini-3.1-flash-image", "2K", "0.101", 1680},
		{"gemini-3.1-flash-image", "4K", "0.151", 2520},
		{"gemini-2.5-flash-image", "1K", "0.039", 1290},
		{"imagen-4.0-fast-generate-001", "1K", "0.02", 0},
		{"imagen-4.0-generate-001", "1K", "0.04", 0},
		{"imagen-4.0-ultra-generate-001", "2K", "0.06", 0},
	} {
		m, _ := c.Lookup(tc.model)
		p := m.Prices[catalog.TierStandard]
		got, ok := p.ImageCost(tc.size)
		if !ok || got != usd(tc.price) {
			t.Errorf("%s %s: %v %v, want %s", tc.model, tc.size, got, ok, tc.price)
		}
		if tc.tokens == 0 {
			continue
		}
		if p.ImageTokens[tc.size] != tc.tokens {
			t.Errorf("%s %s: %d tokens, want %d", tc.model, tc.size, p.ImageTokens[tc.size], tc.tokens)
		}
		// The published figure is tokens × rate, rounded to at most $0.001.
		exact := int64(tc.tokens) * int64(p.ImageOutputPerMTok) / 1_000_000
		if d := exact - int64(got); d > 1000 || d < -1000 {
			t.Errorf("%s %s: %d tok × %v = %d µ$, published %v", tc.model, tc.size, tc.tokens, p.ImageOutputPerMTok, exact, got)
		}
	}
	m, _ := c.Lookup("gemini-nano-banana-2.1")
	p := m.Prices[catalog.TierStandard]
	if got := int64(1120) * int64(p.ImageOutputPerMTok) / 1_000_000; got != 33600 {
		t.Errorf("1120 × $30/1M = %d µ$, want 33600", got)
	}
	for _, tc := range []struct{ model, rate string }{
		{"gemini-nano-banana-2.1", "1.50/7.50/30"}, {"gemini-3-pro-image", "2/12/120"},
		{"gemini-3.1-flash-lite-image", "0.25/1.50/30"}, {"gemini-3.1-flash-image", "0.50/3/60"},
	} {
		m, _ := c.Lookup(tc.model)
		p := m.Prices[catalog.TierStandard]
		r := strings.Split(tc.rate, "/")
		if p.TextInputPerMTok != usd(r[0]) || p.TextOutputPerMTok != usd(r[1]) || p.ImageOutputPerMTok != usd(r[2]) {
			t.Errorf("%s rates %v/%v/%v, want %s", tc.model, p.TextInputPerMTok, p.TextOutputPerMTok, p.ImageOutputPerMTok, tc.rate)
		}
	}
	for _, id := range []string{"gpt-image-2", "gpt-image-2.5-flare", "gpt-image-2.5-sunburst", "gpt-image-2.6-flare", "gpt-image-2.6-sunburst"} {
		m, _ := c.Lookup(id)
		p := m.Prices[catalog.TierStandard]
		if p.TextInputPerMTok != usd("5") || p.ImageInputPerMTok != usd("8") || p.ImageOutputPerMTok != usd("30") {
			t.Errorf("%s token rates %+v", id, p)
		}
	}
	g2, _ := c.Lookup("gpt-image-2")
	if v, ok := g2.Prices[catalog.TierStandard].ImageCostQuality("1024X1024", "high"); !ok || v != usd("0.211") {
		t.Errorf("gpt-image-2 1024² high: %v %v", v, ok)
	}
}

func TestBatchIsHalf(t *testing.T) {
	t.Parallel()
	for _, m := range catalog.Default().Models() {
		b, hasBatch := m.Prices[catalog.TierBatch]
		if m.Protocol != catalog.ProtocolGemini {
			if hasBatch {
				t.Errorf("%s: batch tier on a %s model", m.ID, m.Protocol)
			}
			continue
		}
		if !hasBatch {
			t.Errorf("%s: no batch tier", m.ID)
			continue
		}
		s := m.Prices[catalog.TierStandard]
		if 2*b.TextInputPerMTok != s.TextInputPerMTok || 2*b.ImageInputPerMTok != s.ImageInputPerMTok ||
			2*b.TextOutputPerMTok != s.TextOutputPerMTok || 2*b.ImageOutputPerMTok != s.ImageOutputPerMTok {
			t.Errorf("%s: batch rates %+v not half of %+v", m.ID, b, s)
		}
		if len(b.PerImage) != len(s.PerImage) {
			t.Errorf("%s: batch sizes differ", m.ID)
		}
		for k, v := range s.PerImage {
			if 2*b.PerImage[k] != v || b.ImageTokens[k] != s.ImageTokens[k] {
				t.Errorf("%s %s: batch %v, standard %v", m.ID, k, b.PerImage[k], v)
			}
		}
	}
}

// catalogJSON returns the embedded catalog as generic JSON to edit.
func catalogJSON(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func model(v map[string]any, id string) map[string]any {
	for _, m := range v["models"].([]any) {
		if m := m.(map[string]any); m["id"] == id {
			return m
		}
	}
	panic(id)
}

func encode(t *testing.T, v any) *bytes.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		edit       func(v map[string]any)
	}{
		{"replacement cycle", "replacement cycle", func(v map[string]any) {
			lc := model(v, "gemini-nano-banana-2.1")["lifecycle"].(map[string]any)
			lc["replacement"] = "imagen-4.0-fast-generate-001"
		}},
		{"unknown replacement", `unknown replacement "gemini-9"`, func(v map[string]any) {
			model(v, "gpt-image-1")["lifecycle"].(map[string]any)["replacement"] = "gemini-9"
		}},
		{"malformed date", `malformed date "2026-13-01"`, func(v map[string]any) {
			model(v, "gpt-image-1")["lifecycle"].(map[string]any)["shutdown"] = "2026-13-01"
		}},
		{"malformed as_of", "as_of", func(v map[string]any) { v["as_of"] = "21 Nov 2026" }},
		{"missing source", `missing source for "aspect_ratios"`, func(v map[string]any) {
			delete(model(v, "gemini-3-pro-image")["sources"].(map[string]any), "aspect_ratios")
		}},
		{"source without url", `source "sizes": missing url`, func(v map[string]any) {
			model(v, "dall-e-2")["sources"].(map[string]any)["sizes"] = map[string]any{"checked": "2026-11-21"}
		}},
		{"duplicate alias", "already an id or alias", func(v map[string]any) {
			model(v, "gpt-image-2")["aliases"] = []any{"gemini-3-pro-image-preview"}
			model(v, "gpt-image-2")["sources"].(map[string]any)["aliases"] = map[string]any{"url": "x", "checked": "2026-11-21"}
		}},
		{"bad price", "malformed USD", func(v map[string]any) {
			p := model(v, "gpt-image-2")["prices"].(map[string]any)["standard"].(map[string]any)
			p["image_output_per_mtok"] = "thirty"
		}},
		{"shutdown before release", "before released", func(v map[string]any) {
			model(v, "dall-e-2")["lifecycle"].(map[string]any)["shutdown"] = "2020-01-01"
		}},
		{"batched imagen", "cannot be batched", func(v map[string]any) {
			m := model(v, "imagen-4.0-generate-001")
			p := m["prices"].(map[string]any)
			p["batch"] = p["standard"]
			m["sources"].(map[string]any)["prices.batch"] = map[string]any{"url": "x", "checked": "2026-11-21"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := catalogJSON(t)
			tc.edit(v)
			_, err := catalog.Load(encode(t, v))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNewerFileOverrides(t *testing.T) {
	t.Parallel()
	v := catalogJSON(t)
	v["as_of"] = "2027-01-15"
	v["version"] = "2027.01.15-1"
	// Google sets 3.1 Flash's shutdown and cuts 2.1's price.
	model(v, "gemini-3.1-flash-image")["lifecycle"].(map[string]any)["shutdown"] = "2027-01-06"
	p := model(v, "gemini-nano-banana-2.1")["prices"].(map[string]any)["standard"].(map[string]any)
	p["per_image"].(map[string]any)["1K"] = "0.03"
	// And a model ships that the embedded file does not know.
	v["models"] = append(v["models"].([]any), map[string]any{
		"id": "gemini-nano-banana-3", "provider": "google", "protocol": "gemini",
		"lifecycle": map[string]any{"released": "2027-01-10"},
		"sizes":     []any{"1K", "2K"}, "images_per_call": 1,
		"sources": map[string]any{
			"lifecycle":       map[string]any{"url": "https://example.com/launch", "checked": "2027-01-15"},
			"sizes":           map[string]any{"url": "https://example.com/launch", "checked": "2027-01-15"},
			"images_per_call": map[string]any{"url": "https://example.com/launch", "checked": "2027-01-15", "note": "unverified"},
		},
	})
	path := filepath.Join(t.TempDir(), "catalog.json")
	b, _ := json.Marshal(v)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	newer, err := catalog.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := day("2027-01-20")
	if newer.AsOf != "2027-01-15" {
		t.Errorf("AsOf %s", newer.AsOf)
	}
	if err := newer.CheckLive("gemini-3.1-flash-image", at); !errors.Is(err, provider.ErrModelRetired) ||
		!strings.Contains(err.Error(), "use gemini-nano-banana-2.1") {
		t.Errorf("newer CheckLive: %v", err)
	}
	if err := catalog.Default().CheckLive("gemini-3.1-flash-image", at); err != nil {
		t.Errorf("embedded CheckLive: %v", err)
	}
	m, _ := newer.Lookup("gemini-nano-banana-2.1")
	if c, _ := m.Prices[catalog.TierStandard].ImageCost("1K"); c != usd("0.03") {
		t.Errorf("newer 1K price %v", c)
	}
	if _, ok := newer.Lookup("gemini-nano-banana-3"); !ok {
		t.Error("new model missing")
	}
	if _, ok := catalog.Default().Lookup("gemini-nano-banana-3"); ok {
		t.Error("new model leaked into Default")
	}
	if _, err := catalog.LoadFile(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("LoadFile of a missing file succeeded")
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	d, err := catalog.ParseDate("2026-08-17")
	if err != nil || d.String() != "2026-08-17" || !d.Time().Equal(time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("%v %v", d, err)
	}
	for _, bad := range []string{"2026-8-17", "2026-02-30", "17/08/2026", "2026-08-17T00:00:00Z"} {
		if _, err := catalog.ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) succeeded", bad)
		}
	}
	var z catalog.Date
	if !z.IsZero() || z.String() != "" || z.Reached(asOf) {
		t.Error("zero Date")
	}
	if catalog.DateOf(time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)) != (catalog.Date{Year: 2026, Month: 11, Day: 21}) {
		t.Error("DateOf")
	}
	if catalog.StatusRetired.String() != "retired" || catalog.StatusActive.String() != "active" || catalog.StatusDeprecated.String() != "deprecated" {
		t.Error("Status.String")
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	done := make(chan bool)
	for range 8 {
		go func() {
			c := catalog.Default()
			for _, id := range allIDs {
				m, _ := c.Lookup(id)
				_ = m.Warnings(asOf)
				_, _, _ = c.Resolve(id, asOf)
				_ = c.CheckLive(id, asOf)
				m.Sizes = append(m.Sizes, "x")
			}
			done <- true
		}()
	}
	for range 8 {
		<-done
	}
	// What callers changed in their copies never reaches the shared catalog.
	for _, id := range allIDs {
		if m, _ := catalog.Default().Lookup(id); slices.Contains(m.Sizes, "x") {
			t.Fatalf("%s: a caller's change reached the shared catalog", id)
		}
	}
}

func TestExplainMissing(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		id   string
		kind provider.Kind
		use  string
	}{
		{"gemini-0-never", provider.KindModelNotFound, ""},
		{"imagen-4.0-fast-generate-001", provider.KindModelRetired, "gemini-nano-banana-2.1"},
		{"gemini-3.1-flash-image", provider.KindModelRetired, "gemini-nano-banana-2.1"}, // shutdown disputed, replacement known
		{"gemini-nano-banana-2.1", provider.KindModelNotFound, ""},                      // live, nothing replaces it
	}
	for _, tt := range tests {
		kind, use := c.ExplainMissing(tt.id, at)
		if kind != tt.kind || use != tt.use {
			t.Errorf("ExplainMissing(%s) = %v %q, want %v %q", tt.id, kind, use, tt.kind, tt.use)
		}
	}
}
