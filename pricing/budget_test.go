package pricing_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider/providertest"

	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
)

const helperEnv = "IMAGEGEN_PRICING_HELPER"

// TestHardCapUnderConcurrency sends 1,000 concurrent requests through
// meter+budget with a $1.00 daily cap, twice: first with every admitted
// call held in flight until all 1,000 have been admitted or refused, then
// freely. Spend never exceeds the cap and refused requests never reach the
// generator.
func TestHardCapUnderConcurrency(t *testing.T) {
	t.Parallel()
	const n = 1000
	const limit = provider.Dollar
	clk := providertest.NewClock(t0)
	b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Daily: limit}, Clock: clk}))
	m := testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: b, Clock: clk}))

	var (
		mu      sync.Mutex
		reached = map[string]bool{}
		gate    = make(chan struct{})
		arrived = make(chan struct{}, n)
	)
	f := &fake{provider: "gemini", model: "gemini-nano-banana-2.1"}
	f.fn = func(req *provider.Request) (*provider.Response, error) {
		mu.Lock()
		reached[req.Prompt] = true
		mu.Unlock()
		arrived <- struct{}{}
		<-gate
		i, _ := strconv.Atoi(strings.TrimPrefix(req.Prompt, "p"))
		// Thinking varies from 0 to 2047 tokens: within the estimate.
		return &provider.Response{Images: []provider.Image{{Data: []byte("x")}}, Model: "gemini-nano-banana-2.1",
			Usage: provider.Usage{InputTokens: 10, OutputTokens: 1120, OutputImageTokens: 1120, ThoughtTokens: (i * 7919) % 2048}}, nil
	}
	g := provider.Chain(f, m.Middleware())

	run := func(phase string, gated bool) (ok, refused int) {
		var wg sync.WaitGroup
		var nOK, nRefused atomic.Int64
		var bad atomic.Value
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prompt := fmt.Sprintf("p%d", i)
				if phase == "free" {
					prompt = fmt.Sprintf("p%d", n+i)
				}
				_, err := g.Generate(context.Background(), &provider.Request{Prompt: prompt, Size: "1K"})
				switch {
				case err == nil:
					nOK.Add(1)
				case errors.Is(err, provider.ErrBudgetExceeded):
					nRefused.Add(1)
					mu.Lock()
					hit := reached[prompt]
					mu.Unlock()
					if hit {
						bad.Store("refused request reached the generator: " + prompt)
					}
					arrived <- struct{}{}
				default:
					bad.Store(err.Error())
				}
			}()
		}
		if gated {
			for range n {
				<-arrived
			}
			st, _ := b.Status(context.Background())
			if st[0].Spent+st[0].Reserved > limit {
				t.Errorf("in flight: spent %v + reserved %v > %v", st[0].Spent, st[0].Reserved, limit)
			}
			close(gate)
		} else {
			go func() {
				for range arrived {
				}
			}()
		}
		wg.Wait()
		if v := bad.Load(); v != nil {
			t.Fatal(v)
		}
		return int(nOK.Load()), int(nRefused.Load())
	}

	ok1, ref1 := run("gated", true)
	ok2, ref2 := run("free", false)
	close(arrived)

	st, err := b.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	spent := st[0].Spent
	t.Logf("gated: %d admitted, %d refused; free: %d admitted, %d refused; spent %v of %v", ok1, ref1, ok2, ref2, spent, limit)
	if spent > limit || st[0].Reserved != 0 {
		t.Errorf("spent %v (reserved %v) exceeds the cap %v", spent, st[0].Reserved, limit)
	}
	if ok1+ref1 != n || ok2+ref2 != n || ok1 == 0 || ref1 == 0 {
		t.Errorf("counts: %d+%d, %d+%d", ok1, ref1, ok2, ref2)
	}
	if got := int(f.calls.Load()); got != ok1+ok2 {
		t.Errorf("%d upstream calls for %d admitted requests", got, ok1+ok2)
	}
	if tot := m.Totals().All; tot.Cost != spent || tot.Calls != ok1+ok2 {
		t.Errorf("meter %+v, ledger %v", tot, spent)
	}
}

// relay answers every request with a reported cost of $0.25 from a model
// the catalog does not know; relayGen declares that ceiling.
func relayGen() (*fake, provider.Generator) {
	f := relay()
	return f, provider.Chain(f, testutil.Must(pricing.Ceiling(25*provider.Cent)))
}

func relay() *fake {
	f := &fake{provider: "openrouter", model: "acme/unknown"}
	f.fn = func(*provider.Request) (*provider.Response, error) {
		return &provider.Response{Images: []provider.Image{{Data: []byte("x")}}, Cost: 25 * provider.Cent}, nil
	}
	return f
}

func TestAlertsAndPeriods(t *testing.T) {
	t.Parallel()
	pst := time.FixedZone("PST", -8*3600)
	clk := providertest.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, pst))
	var alerts []pricing.Alert
	b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{
		Limits:   pricing.Limits{Daily: provider.Dollar, Monthly: 10 * provider.Dollar},
		PerLabel: map[string]pricing.Limits{"team=a": {Daily: 50 * provider.Cent}},
		OnAlert:  func(a pricing.Alert) { alerts = append(alerts, a) },
		Location: pst, Clock: clk,
	}))
	f, rg := relayGen()
	g := provider.Chain(rg, testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: b})).Middleware())
	call := func(team string) error {
		var labels map[string]string
		if team != "" {
			labels = map[string]string{"team": team}
		}
		_, err := g.Generate(context.Background(), &provider.Request{Prompt: "x", Labels: labels})
		return err
	}
	str := func() []string {
		var s []string
		for _, a := range alerts {
			s = append(s, fmt.Sprintf("%s %s %s %v/%v %.0f%%", a.Scope, a.Period, a.Window, a.Spent, a.Limit, a.Threshold*100))
		}
		alerts = nil
		return s
	}

	// team=a: $0.25 → 50% of its $0.50; $0.50 → 80% and 100%; the third is refused.
	for i := range 2 {
		if err := call("a"); err != nil {
			t.Fatalf("team a call %d: %v", i, err)
		}
	}
	err := call("a")
	var pe *provider.Error
	var le *pricing.LimitError
	if !errors.Is(err, provider.ErrBudgetExceeded) || !errors.As(err, &pe) || pe.Code != "daily" || !strings.Contains(pe.Message, "team=a") ||
		!errors.As(err, &le) || le.Key != "team=a/day/2026-11-21" || pe.Provider != "openrouter" {
		t.Fatalf("team a over cap: %v", err)
	}
	want := []string{
		"team=a daily 2026-11-21 $0.2500/$0.5000 50%",
		"overall daily 2026-11-21 $0.5000/$1.0000 50%",
		"team=a daily 2026-11-21 $0.5000/$0.5000 80%",
		"team=a daily 2026-11-21 $0.5000/$0.5000 100%",
	}
	if got := str(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// team b (uncapped label) fills the overall cap; the next is refused.
	for range 2 {
		if err := call("b"); err != nil {
			t.Fatal(err)
		}
	}
	if err := call(""); !errors.Is(err, provider.ErrBudgetExceeded) {
		t.Fatalf("overall cap: %v", err)
	}
	want = []string{"overall daily 2026-11-21 $1.0000/$1.0000 80%", "overall daily 2026-11-21 $1.0000/$1.0000 100%"}
	if got := str(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts: %q", got)
	}
	if f.calls.Load() != 4 {
		t.Errorf("%d upstream calls, want 4", f.calls.Load())
	}
	// 23:59 Pacific is still the same day; midnight Pacific starts a new one.
	clk.Set(time.Date(2026, 11, 22, 7, 59, 0, 0, time.UTC))
	if err := call(""); !errors.Is(err, provider.ErrBudgetExceeded) {
		t.Fatalf("before midnight PST: %v", err)
	}
	clk.Set(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC))
	if err := call("a"); err != nil {
		t.Fatalf("new day: %v", err)
	}
	want = []string{"team=a daily 2026-11-22 $0.2500/$0.5000 50%"}
	if got := str(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("new day alerts: %q", got)
	}
	st, _ := b.Status(context.Background())
	if st[1].Period != pricing.PeriodMonthly || st[1].Spent != 125*provider.Cent || st[1].Remaining() != 875*provider.Cent {
		t.Errorf("month: %+v", st[1])
	}
}

func TestMonthlyCap(t *testing.T) {
	t.Parallel()
	clk := providertest.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	b := testutil.Must(pricing.NewBudget(pricing.BudgetConfig{Limits: pricing.Limits{Monthly: 50 * provider.Cent}, Clock: clk}))
	_, rg := relayGen()
	g := provider.Chain(rg, testutil.Must(pricing.NewMeter(pricing.MeterConfig{Budget: b})).Middleware())
	for day := range 3 {
		clk.Set(clk.Now().Add(time.Duration(day) * time.Hour))
		err := func() error { _, err := g.Generate(context.Background(), &provider.Request{Prompt: "x"}); return err }()
		if (day < 2) != (err == nil) {
			t.Fatalf("call %d: %v", day, err)
		}
	}
	clk.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "x"}); err != nil {
		t.Fatalf("new month: %v", err)
	}
}

func TestFileStoreSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "budget", "ledger.json")
	s, err := pricing.OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Reserve(ctx, []string{"a", "b"}, []provider.USD{100, 0}, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, []string{"a"}, []provider.USD{100}, 50); err == nil {
		t.Fatal("reservation over the cap accepted")
	}
	if err := s.Settle(ctx, id, 40); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, id, 40); !errors.Is(err, pricing.ErrUnknownReservation) {
		t.Fatalf("double settle: %v", err)
	}
	open, err := s.Reserve(ctx, []string{"a"}, []provider.USD{100}, 30) // never settled
	if err != nil || open == "" {
		t.Fatal(err)
	}
	if first, _ := s.MarkAlert(ctx, "a", 0.5); !first {
		t.Fatal("first alert not first")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ledger mode %v %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", di.Mode())
	}

	// "Restart": the open reservation counts as spent.
	s2, err := pricing.OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if sp, res, _ := s2.Spent(ctx, "a"); sp != 70 || res != 0 {
		t.Errorf("a after restart: spent %v reserved %v, want 70 0", sp, res)
	}
	if sp, _, _ := s2.Spent(ctx, "b"); sp != 40 {
		t.Errorf("b after restart: %v", sp)
	}
	if first, _ := s2.MarkAlert(ctx, "a", 0.5); first {
		t.Error("alert repeated after restart")
	}
	// Ids keep increasing across restarts.
	id2, _ := s2.Reserve(ctx, []string{"c"}, []provider.USD{0}, 1)
	if n, _ := strconv.Atoi(id2); n <= 2 {
		t.Errorf("id %q reused", id2)
	}
	if err := s2.Prune(func(k string) bool { return k == "b" }); err != nil {
		t.Fatal(err)
	}
	if sp, _, _ := s2.Spent(ctx, "b"); sp != 0 {
		t.Errorf("pruned b: %v", sp)
	}

	// A damaged ledger is an error, never an empty budget.
	if err := os.WriteFile(path, []byte(`{"version":1,"spent":{"a":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pricing.OpenFileStore(path); err == nil {
		t.Fatal("corrupt ledger opened")
	}
}

func TestFileStoreConcurrentCap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := pricing.OpenFileStore(filepath.Join(t.TempDir(), "l.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if id, err := s.Reserve(ctx, []string{"k"}, []provider.USD{1000}, 100); err == nil {
				ok.Add(1)
				s.Settle(ctx, id, 100)
			}
		}()
	}
	wg.Wait()
	if sp, _, _ := s.Spent(ctx, "k"); sp > 1000 || sp != provider.USD(ok.Load())*100 {
		t.Errorf("spent %v over %d settles", sp, ok.Load())
	}
}

// TestFileLedgerSurvivesKill runs a child process that reserves and
// settles in a loop, printing each acknowledged step, kills it with SIGKILL
// and checks the ledger holds every acknowledged write.
func TestFileLedgerSurvivesKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("subprocess")
	}
	path := filepath.Join(t.TempDir(), "ledger.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=ledger", helperEnv+"_PATH="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	settled, lines := 0, 0
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		lines++
		if f[0] == "S" {
			settled++
		}
		if lines == 300 && !killed {
			killed = true
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child stopped after %d lines", lines)
	}
	s, err := pricing.OpenFileStore(path)
	if err != nil {
		t.Fatalf("ledger unreadable after kill: %v", err)
	}
	sp, res, _ := s.Spent(context.Background(), "k")
	base := provider.USD(7 * settled)
	if res != 0 || (sp != base && sp != base+10 && sp != base+7) {
		t.Errorf("after kill at %d acknowledged settles: spent %v reserved %v, want %v, %v or %v", settled, sp, res, base, base+10, base+7)
	}
	if tmps, _ := filepath.Glob(path + ".tmp-*"); len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	t.Logf("killed after %d acknowledged settles; spent %v", settled, sp)
}

// TestHelperProcess is the child of the crash tests; it does nothing in a
// normal run.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "ledger":
		ctx := context.Background()
		s, err := pricing.OpenFileStore(os.Getenv(helperEnv + "_PATH"))
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		for i := 0; ; i++ {
			id, err := s.Reserve(ctx, []string{"k"}, []provider.USD{0}, 10)
			if err != nil {
				os.Exit(3)
			}
			fmt.Println("R", i)
			if err := s.Settle(ctx, id, 7); err != nil {
				os.Exit(4)
			}
			fmt.Println("S", i)
		}
	}
}
