package redisledger

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/redistest"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

const (
	fourKReplicas   = 4
	fourKPerReplica = 50
	fourKCap        = 10 * provider.Dollar
)

// fourKDay is the day every process of TestReplicas4KHighBudget books
// spend on, whatever the wall clock says.
var fourKDay = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// TestReplicas4KHighBudget: four processes sharing one Redis ledger send
// 50 concurrent gpt-image-2 3840x2160 high requests each, all at the same
// moment, through the openaicompat adapter against the emulator and a $10
// daily cap: together they spend between $8 and $10. A reservation is the
// call's own price ($0.4004 against $0.4003 billed), so 24 calls fit and
// the 25th never does, however the processes interleave.
func TestReplicas4KHighBudget(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t)
	prefix := redistest.Prefix(t, c)
	results := make([]budgetOutcomes, fourKReplicas)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	redistest.RunChildrenTogether(ctx, t, fourKReplicas, "TestHelperProcess4K", "budget4k", []string{"IMAGEGEN_PREFIX=" + prefix},
		func(i int) any { return &results[i] }, func() []byte { return nil })
	s := testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: prefix}}))
	spent, reserved, err := s.Spent(ctx, pricing.StoreKey(pricing.ScopeOverall, pricing.PeriodDaily, fourKDay.Format(time.DateOnly)))
	if err != nil {
		t.Fatal(err)
	}
	ok, refused := 0, 0
	for i, r := range results {
		ok += r.OK
		refused += r.Refused
		for _, e := range r.Errors {
			t.Errorf("replica %d: %s", i, e)
		}
	}
	t.Logf("%d processes × %d concurrent 3840x2160 high requests under a $10.00 cap on one Redis ledger: %d served, %d refused; spent %v",
		fourKReplicas, fourKPerReplica, ok, refused, spent)
	if spent > fourKCap || spent < 8*provider.Dollar || reserved != 0 {
		t.Errorf("spent %v (reserved %v), want $8.00..$10.00", spent, reserved)
	}
	if ok+refused != fourKReplicas*fourKPerReplica || ok != 24 {
		t.Errorf("%d served, %d refused; want 24 served", ok, refused)
	}
}

// TestHelperProcess4K is one replica of TestReplicas4KHighBudget when run
// as its child: its own emulator, adapter and meter, the shared ledger.
func TestHelperProcess4K(t *testing.T) {
	if !redistest.IsChild("budget4k") {
		t.Skip("helper process for TestReplicas4KHighBudget")
	}
	providertest.ClearEnv(t)
	now := func() time.Time { return fourKDay }
	// Only the bill matters: a small PNG stands for the 3840x2160 image.
	srv := providertest.NewServer(providertest.Options{APIKey: "k", LargeImageBytes: 2048, Clock: provider.ClockFunc(now)})
	defer srv.Close()
	gen := testutil.Must(openaicompat.New(openaicompat.Config{APIKey: "k", BaseURL: srv.URL() + "/v1", HTTPClient: srv.Client(),
		Model: "gpt-image-2", Clock: provider.ClockFunc(now)}))
	c := redistest.NewClient(t, os.Getenv("REDIS_ADDR"))
	s := testutil.Must(New(c, Options{Common: redisopt.Common{Prefix: os.Getenv("IMAGEGEN_PREFIX"), Timeout: 5 * time.Second}}))
	budget := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Store: s, Limits: pricing.Limits{Daily: fourKCap}, Clock: provider.ClockFunc(now)}))
	meter := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: budget}))
	g := provider.Chain(gen, meter.Middleware())
	if _, err := redistest.WaitBarrier(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var res budgetOutcomes
	callTogether(fourKPerReplica, func() {
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "a harbour city at night, rain", Size: "3840x2160", Quality: "high"})
		mu.Lock()
		defer mu.Unlock()
		res.add(err)
	})
	redistest.Report(res)
}
