package pricing_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider/providertest"

	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
)

// fake is a generator that describes itself and answers with fn.
type fake struct {
	provider, model string
	calls           atomic.Int64
	fn              func(req *provider.Request) (*provider.Response, error)
}

func (f *fake) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	f.calls.Add(1)
	return f.fn(req)
}

func (f *fake) Describe() provider.Description {
	return provider.Description{Provider: f.provider, Model: f.model}
}

// gemini21 answers one 1K image of gemini-nano-banana-2.1 with thinking.
func gemini21(thought int) *fake {
	f := &fake{provider: "gemini", model: "gemini-nano-banana-2.1"}
	f.fn = func(req *provider.Request) (*provider.Response, error) {
		return &provider.Response{
			Images:   []provider.Image{{Data: []byte("img"), MIMEType: "image/png"}},
			Provider: "gemini", Model: "gemini-nano-banana-2.1", Attempts: 1,
			Usage: provider.Usage{InputTokens: 100, OutputTokens: 1120, OutputImageTokens: 1120, ThoughtTokens: thought, Images: 1},
		}, nil
	}
	return f
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func TestMeterSetsCostAndTotals(t *testing.T) {
	t.Parallel()
	clk := providertest.NewClock(t0)
	var recs []pricing.Record
	m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Clock: clk, OnRecord: func(r pricing.Record) { recs = append(recs, r) }}))
	g := provider.Chain(gemini21(500), m.Middleware())
	if d := provider.Describe(g); d.Model != "gemini-nano-banana-2.1" {
		t.Fatalf("meter hides the description: %+v", d)
	}
	ctx := context.Background()
	resp, err := g.Generate(ctx, &provider.Request{Prompt: "cat", Labels: map[string]string{"team": "search"}})
	if err != nil {
		t.Fatal(err)
	}
	want := provider.USD(33_600 + 3_750 + 150)
	if resp.Cost != want {
		t.Errorf("Cost %v, want %v", resp.Cost, want)
	}
	if _, err := g.Generate(ctx, &provider.Request{Prompt: "dog", Labels: map[string]string{"team": "ads"}}); err != nil {
		t.Fatal(err)
	}
	tot := m.Totals()
	if tot.All.Calls != 2 || tot.All.Cost != 2*want || tot.All.Images != 2 || tot.All.Usage.ThoughtTokens != 1000 {
		t.Errorf("all: %+v", tot.All)
	}
	if tot.ByProvider["gemini"].Cost != 2*want || tot.ByModel["gemini-nano-banana-2.1"].Calls != 2 {
		t.Errorf("by provider/model: %+v %+v", tot.ByProvider, tot.ByModel)
	}
	if tot.ByLabel["team=search"].Cost != want || tot.ByLabel["team=ads"].Calls != 1 {
		t.Errorf("by label: %+v", tot.ByLabel)
	}
	if len(recs) != 2 || recs[0].Time != t0 || recs[0].Tier != catalog.TierStandard || recs[0].Method != catalog.MethodUsage {
		t.Errorf("records: %+v", recs)
	}
}

func TestMeterBatchTier(t *testing.T) {
	t.Parallel()
	m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{}))
	g := provider.Chain(gemini21(0), m.Middleware())
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "x", Options: provider.Options{catalog.TierBatch}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Cost != (33_600+150)/2 {
		t.Errorf("batch cost %v", resp.Cost)
	}
	if m.Totals().ByTier[catalog.TierBatch].Calls != 1 {
		t.Errorf("by tier: %+v", m.Totals().ByTier)
	}
}

func TestMeterBilledFailure(t *testing.T) {
	t.Parallel()
	// Gemini bills thinking tokens on a blocked prompt.
	f := &fake{provider: "gemini", model: "gemini-3-pro-image"}
	f.fn = func(req *provider.Request) (*provider.Response, error) {
		return nil, &provider.Error{Kind: provider.KindContentBlocked, Provider: "gemini", Model: "gemini-3-pro-image", StatusCode: 200,
			Code: "IMAGE_SAFETY", Usage: &provider.Usage{InputTokens: 12, ThoughtTokens: 300}}
	}
	b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: provider.Dollar}, Clock: providertest.NewClock(t0)}))
	m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: b}))
	g := provider.Chain(f, m.Middleware())
	_, err := g.Generate(context.Background(), &provider.Request{Prompt: "x"})
	if !errors.Is(err, provider.ErrContentBlocked) {
		t.Fatalf("err %v", err)
	}
	want := provider.USD(300*12 + 12*2) // thinking at $12, input at $2
	tot := m.Totals().All
	if tot.Calls != 1 || tot.Failed != 1 || tot.Cost != want {
		t.Errorf("billed failure: %+v, want cost %v", tot, want)
	}
	st, _ := b.Status(context.Background())
	if st[0].Spent != want || st[0].Reserved != 0 {
		t.Errorf("budget after billed failure: %+v", st[0])
	}

	// A relay's HTTP 200 without an image, billed per call.
	r := &fake{provider: "openrouter", model: "gemini-nano-banana-2.1"}
	r.fn = func(req *provider.Request) (*provider.Response, error) {
		return nil, &provider.Error{Kind: provider.KindNoImage, Provider: "openrouter", StatusCode: 200,
			Usage: &provider.Usage{InputTokens: 10, OutputTokens: 1120, OutputImageTokens: 1120}}
	}
	m2 := testutil.Must(pricing.NewMeter(pricing.MeterConfig{}))
	if _, err := provider.Chain(r, m2.Middleware()).Generate(context.Background(), &provider.Request{Prompt: "x"}); !errors.Is(err, provider.ErrNoImage) {
		t.Fatal(err)
	}
	if got := m2.Totals().ByProvider["openrouter"]; got.Failed != 1 || got.Cost != 33_600+15 {
		t.Errorf("relay billed no-image: %+v", got)
	}

	// A failure without billed usage is not recorded.
	u := &fake{provider: "gemini", model: "gemini-3-pro-image"}
	u.fn = func(*provider.Request) (*provider.Response, error) {
		return nil, provider.Errorf(provider.KindUnavailable, "overloaded")
	}
	m3 := testutil.Must(pricing.NewMeter(pricing.MeterConfig{}))
	provider.Chain(u, m3.Middleware()).Generate(context.Background(), &provider.Request{Prompt: "x"})
	if m3.Totals().All.Calls != 0 {
		t.Errorf("unbilled failure recorded")
	}
}

func TestMeterReportedAndUnknown(t *testing.T) {
	t.Parallel()
	f := &fake{provider: "openrouter", model: "acme/new-image-model"}
	f.fn = func(req *provider.Request) (*provider.Response, error) {
		if req.Prompt == "reported" {
			return &provider.Response{Images: []provider.Image{{Data: []byte("x")}}, Cost: 38_123}, nil
		}
		return &provider.Response{Images: []provider.Image{{Data: []byte("x")}}, Usage: imageUsage(1000), Warnings: []string{"w0"}}, nil
	}
	m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{}))
	g := provider.Chain(f, m.Middleware())
	resp, _ := g.Generate(context.Background(), &provider.Request{Prompt: "reported"})
	if resp.Cost != 38_123 {
		t.Errorf("reported cost replaced: %v", resp.Cost)
	}
	resp, _ = g.Generate(context.Background(), &provider.Request{Prompt: "unknown"})
	if resp.Cost != 0 || len(resp.Warnings) != 2 || resp.Warnings[1] != "no price for model acme/new-image-model" {
		t.Errorf("unknown model: %v %q", resp.Cost, resp.Warnings)
	}
	tot := m.Totals().All
	if tot.Reported != 1 || tot.Unpriced != 1 || tot.Cost != 38_123 {
		t.Errorf("totals %+v", tot)
	}
}

func TestReportJSONAndCSV(t *testing.T) {
	t.Parallel()
	clk := providertest.NewClock(t0)
	m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Clock: clk}))
	g := provider.Chain(gemini21(0), m.Middleware())
	for _, team := range []string{"a", "a", "b"} {
		if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "x", Labels: map[string]string{"team": team}}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(t0.Add(time.Hour))
	rep := m.Report()
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		From, To time.Time
		Total    struct {
			Calls int
			Cost  string
		}
		Rows []struct{ Dimension, Key string }
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Total.Calls != 3 || back.Total.Cost != "0.10125" || !back.From.Equal(t0) || !back.To.Equal(t0.Add(time.Hour)) || len(back.Rows) != 5 {
		t.Errorf("json: %s", js.String())
	}
	var cs bytes.Buffer
	if err := rep.WriteCSV(&cs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dimension,key,calls,failed,reported,unpriced,images,input_tokens,input_image_tokens,output_tokens,output_image_tokens,thought_tokens,cost_usd",
		"total,,3,0,0,0,3,300,0,3360,3360,0,0.10125",
		"provider,gemini,3,0,0,0,3,300,0,3360,3360,0,0.10125",
		"model,gemini-nano-banana-2.1,3,0,0,0,3,300,0,3360,3360,0,0.10125",
		"tier,standard,3,0,0,0,3,300,0,3360,3360,0,0.10125",
		"label,team=a,2,0,0,0,2,200,0,2240,2240,0,0.0675",
		"label,team=b,1,0,0,0,1,100,0,1120,1120,0,0.03375",
	}
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(r, ","))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("csv:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMeterDoesNotMutateUpstreamResponse(t *testing.T) {
	t.Parallel()
	shared := &provider.Response{Images: []provider.Image{{Data: []byte("x")}}, Model: "gemini-nano-banana-2.1", Usage: imageUsage(1120), Warnings: make([]string, 0, 4)}
	f := &fake{model: "gemini-nano-banana-2.1", fn: func(*provider.Request) (*provider.Response, error) { return shared, nil }}
	m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{}))
	resp, _ := provider.Chain(f, m.Middleware()).Generate(context.Background(), &provider.Request{Prompt: "x", Size: "1K"})
	if resp.Cost != 33_600 || shared.Cost != 0 || resp == shared {
		t.Errorf("resp %v shared %v", resp.Cost, shared.Cost)
	}
}

func TestObserveBatchResultAtHalfPrice(t *testing.T) {
	t.Parallel()
	m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{}))
	resp := &provider.Response{Provider: "gemini", Model: "gemini-nano-banana-2.1", Images: []provider.Image{{Data: []byte{1}}},
		Usage: provider.Usage{OutputTokens: 1120, OutputImageTokens: 1120, Images: 1}}
	out, err := m.Observe("gemini", "gemini-nano-banana-2.1", catalog.TierBatch, &provider.Request{Prompt: "p"}, resp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Cost != 16800 { // 1120 tokens × $30/M = $0.0336, halved
		t.Errorf("batch cost = %v, want $0.0168", out.Cost)
	}
	if l := m.Totals().ByTier[catalog.TierBatch]; l.Calls != 1 || l.Cost != 16800 {
		t.Errorf("batch totals %+v", l)
	}
	blocked := &provider.Error{Kind: provider.KindContentBlocked, Usage: &provider.Usage{ThoughtTokens: 100}}
	if _, err := m.Observe("gemini", "gemini-nano-banana-2.1", catalog.TierBatch, nil, nil, blocked); err != blocked {
		t.Errorf("Observe changed the error: %v", err)
	}
	if l := m.Totals().All; l.Calls != 2 || l.Failed != 1 {
		t.Errorf("billed failure not recorded: %+v", l)
	}
}

// imageUsage is what a provider reports for one image of t tokens.
func imageUsage(t int) provider.Usage {
	return provider.Usage{OutputTokens: t, OutputImageTokens: t, Images: 1}
}
