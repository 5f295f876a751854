package catalog_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/emutest"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	img.Set(0, 0, color.White)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sizesToTry lists the sizes a property test asks of m: none, every
// listed size, and on the Images API the tiers at two ratios and free
// sizes from the smallest area to the largest square and the widest ratio.
func sizesToTry(m *catalog.Model) []struct{ size, aspect string } {
	out := []struct{ size, aspect string }{{"", ""}}
	for _, s := range m.Sizes {
		out = append(out, struct{ size, aspect string }{s, ""})
	}
	if m.Protocol == catalog.ProtocolOpenAI {
		for _, tier := range []string{"1K", "2K", "4K"} {
			for _, ar := range []string{"1:1", "16:9"} {
				out = append(out, struct{ size, aspect string }{tier, ar})
			}
		}
	}
	if m.FreeSize != nil {
		for _, s := range []string{"1024x640", "1920x1088", "2048x2048", "3840x2160", "2160x3840", "2880x2880", "3840x1280"} {
			out = append(out, struct{ size, aspect string }{s, ""})
		}
	}
	return out
}

type estimateCase struct {
	model, size, aspect, quality string
	n, refs                      int
	estimate, billed             provider.USD
	method                       catalog.Method
}

func (c estimateCase) String() string {
	s := c.size
	if s == "" {
		s = "(no size)"
	}
	if c.aspect != "" {
		s += "@" + c.aspect
	}
	q := c.quality
	if q == "" {
		q = "(no quality)"
	}
	return fmt.Sprintf("%s %s %s N=%d refs=%d", c.model, s, q, c.n, c.refs)
}

func (c estimateCase) request(refs []provider.Image) *provider.Request {
	return &provider.Request{Prompt: "a lighthouse at dusk, oil on canvas", Size: c.size, AspectRatio: c.aspect,
		Quality: c.quality, N: c.n, References: refs[:c.refs]}
}

func (c estimateCase) ratio() float64 { return float64(c.estimate) / float64(c.billed) }

// TestEstimateBoundsEmulatorBill checks, for every catalog model that can
// still be called, every size and quality it accepts, N ∈ {1, 4} and 0 or
// 3 reference images, that what the budget reserves before the call is at
// least what the emulator bills through the real adapter, and at most 1.5×
// that for token-billed answers. Retired models are skipped (their
// adapters refuse them before any call): dall-e-2, dall-e-3, gpt-image-1,
// gpt-image-1.5, gpt-image-1-mini, chatgpt-image-latest and the three
// Imagen 4 models.
func TestEstimateBoundsEmulatorBill(t *testing.T) {
	providertest.ClearEnv(t)
	// The pixels do not matter here, only the bill: one small noisy PNG
	// stands for every image, so that 3840x2160 answers cost no encoding.
	srv := providertest.NewServer(providertest.Options{APIKey: emutest.Key, LargeImageBytes: 2048, Clock: emutest.Clock()})
	t.Cleanup(srv.Close)
	cat := catalog.Default()
	refs := []provider.Image{
		{Data: pngOf(t, 512, 512), MIMEType: "image/png"},
		{Data: pngOf(t, 1024, 768), MIMEType: "image/png"},
		{Data: pngOf(t, 300, 200), MIMEType: "image/png"},
	}

	var cases []estimateCase
	for _, m := range cat.Models() {
		if m.Status(emutest.Now()) == catalog.StatusRetired {
			t.Logf("%s: retired, skipped", m.ID)
			continue
		}
		if m.Protocol == catalog.ProtocolTask {
			continue // billed per image or as the service reports, not by tokens: taskapi's TestMeterPricesTasks
		}
		gen := emutest.Generator(t, srv, m)
		recs := map[string]pricing.Record{}
		var recMu sync.Mutex
		budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Clock: emutest.Clock()}))
		meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget, OnRecord: func(r pricing.Record) {
			recMu.Lock()
			defer recMu.Unlock()
			recs[r.Labels["case"]] = r
		}}))
		g := provider.Chain(gen, meter.Middleware())
		qualities := append([]string{""}, m.Qualities...)
		var todo []estimateCase
		for _, sz := range sizesToTry(m) {
			for _, q := range qualities {
				for _, n := range []int{1, 4} {
					for _, nref := range []int{0, 3} {
						c := estimateCase{model: m.ID, size: sz.size, aspect: sz.aspect, quality: q, n: n, refs: nref}
						req := c.request(refs)
						if provider.CheckRequest(gen, req) != nil {
							continue // a combination the model does not take
						}
						todo = append(todo, c)
					}
				}
			}
		}
		if len(todo) < len(sizesToTry(m)) {
			t.Errorf("%s: only %d combinations accepted", m.ID, len(todo))
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i, c := range todo {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				req := c.request(refs)
				req.Labels = map[string]string{"case": strconv.Itoa(i)}
				resp, err := g.Generate(context.Background(), req)
				if err != nil {
					t.Errorf("%v: %v", c, err)
					return
				}
				if est := budget.Estimate(m.ID, catalog.TierStandard, req); est <= 0 {
					t.Errorf("%v: estimate %v", c, est)
				}
				_ = resp
			}()
		}
		wg.Wait()
		for i, c := range todo {
			r, ok := recs[strconv.Itoa(i)]
			if !ok {
				continue // failed above
			}
			c.estimate, c.billed, c.method = r.Estimate, r.Cost, r.Method
			if c.method != catalog.MethodUsage {
				t.Errorf("%v: priced by %s, want usage", c, c.method)
			}
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		t.Fatal("no case ran")
	}
	for _, c := range cases {
		switch {
		case c.billed <= 0:
			t.Errorf("%v: billed %v", c, c.billed)
		case c.estimate < c.billed:
			t.Errorf("%v: estimate %v < billed %v", c, c.estimate, c.billed)
		case c.estimate*2 > c.billed*3:
			t.Errorf("%v: estimate %v > 1.5 × billed %v (%.3f)", c, c.estimate, c.billed, c.ratio())
		}
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].ratio() < cases[j].ratio() })
	lo, mid, hi := cases[0], cases[len(cases)/2], cases[len(cases)-1]
	t.Logf("estimate/billed over %d calls of %d models: min %.4f (%v: %v/%v), median %.4f (%v), max %.4f (%v: %v/%v)",
		len(cases), countModels(cases), lo.ratio(), lo, lo.estimate, lo.billed, mid.ratio(), mid, hi.ratio(), hi, hi.estimate, hi.billed)
}

func countModels(cs []estimateCase) int {
	var ms []string
	for _, c := range cs {
		if !slices.Contains(ms, c.model) {
			ms = append(ms, c.model)
		}
	}
	return len(ms)
}
