package pricing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/cfgcheck"
	"github.com/imagegen-go/imagegen/provider"
)

// Limits are spending caps for one scope. A zero field means no cap.
type Limits struct {
	Daily   provider.USD `json:"daily,omitzero"`
	Monthly provider.USD `json:"monthly,omitzero"`
}

// Periods of a budget.
const (
	PeriodDaily   = "daily"
	PeriodMonthly = "monthly"
)

// ScopeOverall names the budget scope every request falls in; other scopes
// are labels, "key=value".
const ScopeOverall = "overall"

// AlertKind says what an Alert reports.
type AlertKind string

// The kinds of alert.
const (
	// AlertThreshold: spend in a scope and period has reached a threshold
	// of its cap. Each threshold fires once per scope and period (the
	// store remembers, so a restart with a FileStore does not repeat it).
	AlertThreshold AlertKind = "threshold"
	// AlertOverrun: a call cost more than was reserved for it (Actual >
	// Reserved). It was settled in full, so its cost counts against every
	// cap, which the overall daily spend may now exceed; the next requests
	// are refused until there is room again. It fires for every such call,
	// with the overall daily scope. An overrun means the estimate was not
	// an upper bound: a model priced above the catalog, thinking beyond
	// EstimateConfig.ThinkingTokens, or an unknown model costing more than
	// its Ceiling.
	AlertOverrun AlertKind = "overrun"
)

// Alert reports a threshold reached or an overrun. Kind says which.
type Alert struct {
	Kind      AlertKind
	Scope     string // ScopeOverall or "key=value"
	Period    string // PeriodDaily or PeriodMonthly
	Window    string // the day ("2026-11-21") or month ("2026-11")
	Spent     provider.USD
	Limit     provider.USD // 0 when the scope and period have no cap
	Threshold float64      // AlertThreshold: 0.5, 0.8, 1.0, ...
	// AlertOverrun: what was reserved for the call and what it cost.
	Reserved, Actual provider.USD
}

// BudgetConfig configures a Budget. The zero value is a budget without caps
// over an in-memory store.
type BudgetConfig struct {
	// Store holds the ledger; nil means NewMemoryStore().
	Store Store
	// Limits caps all spend.
	Limits Limits
	// PerLabel caps the spend of requests carrying a label, keyed
	// "key=value" (Request.Labels["team"] == "search" is "team=search").
	PerLabel map[string]Limits
	// Thresholds are the fractions of a cap at which OnAlert is called;
	// nil means 0.5, 0.8 and 1.0.
	Thresholds []float64
	// OnAlert receives alerts synchronously, from the goroutine that
	// settled the spend; it must not block for long.
	OnAlert func(Alert)
	// Location sets where days and months begin; nil means UTC.
	Location *time.Location
	// Clock tells the time: which day and month a reservation falls in;
	// nil means provider.SystemClock().
	Clock provider.Clock
	// Catalog prices estimates; nil means catalog.Default().
	Catalog *catalog.Catalog
	// Estimate tunes the upper estimate reserved before each call.
	Estimate catalog.EstimateConfig
	// WaitForRoom is how long a request may wait when it does not fit only
	// because of reservations still open (calls in flight that may settle
	// below their estimates), rather than being refused at once: a cap is
	// then refused only when spend leaves no room, so concurrent callers
	// near the cap do not strand it. The caller's context bounds the wait
	// too. 0 refuses at once.
	WaitForRoom time.Duration
}

// Budget enforces spending caps with reservations: before a call, an upper
// estimate of its cost is reserved against every cap the request falls
// under, atomically in the Store, and the call is refused with
// provider.ErrBudgetExceeded before any network traffic when a cap would be
// exceeded; after the call the reservation is settled to the actual cost.
// As long as each call's actual cost does not exceed its estimate, spend
// never exceeds a cap, however many calls run at once. Spend is attributed
// to the day and month in which it was reserved.
//
// A Budget is used through Meter (MeterConfig.Budget), or directly with
// Reserve and Settle. It is safe for concurrent use.
//
// Reserve and Settle report to the handlers of their context
// (provider.WithEventHandler): provider.EventBudgetReserved,
// EventBudgetSettled, EventBudgetRefused and, for each Alert,
// EventBudgetAlert.
type Budget struct {
	store      Store
	limits     Limits
	perLabel   map[string]Limits
	thresholds []float64
	onAlert    func(Alert)
	loc        *time.Location
	clock      func() time.Time
	cat        *catalog.Catalog
	est        catalog.EstimateConfig

	waitForRoom time.Duration
	mu          sync.Mutex
	settled     chan struct{} // closed and replaced at every Settle

	today atomic.Pointer[dayPlan] // the overall scope's plan for the current day
}

// dayPlan is the overall scope's keys, caps and scopes for one day in the
// budget's location, kept so that a reservation builds no key, formats
// no date and allocates nothing to plan; it is shared by the reservations
// of the day, which only read it.
type dayPlan struct {
	year   int
	month  time.Month
	day    int
	keys   []string
	limits []provider.USD
	scopes []scopeKey
}

// NewBudget returns a Budget for cfg, or a *provider.ConfigError naming
// every field that makes no sense: a negative cap (which would switch the
// cap off), a PerLabel key that is not "key=value", a threshold outside
// (0, 1], a negative estimate allowance or WaitForRoom.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	b := &Budget{
		store:      cfg.Store,
		limits:     cfg.Limits,
		perLabel:   maps.Clone(cfg.PerLabel),
		thresholds: slices.Clone(cfg.Thresholds),
		onAlert:    cfg.OnAlert,
		loc:        cfg.Location,
		clock:      provider.ClockOr(cfg.Clock).Now,
		cat:        cfg.Catalog,
		est:        cfg.Estimate,

		waitForRoom: cfg.WaitForRoom,
		settled:     make(chan struct{}),
	}
	if b.store == nil {
		b.store = NewMemoryStore()
	}
	if b.thresholds == nil {
		b.thresholds = []float64{0.5, 0.8, 1.0}
	}
	sort.Float64s(b.thresholds)
	if b.loc == nil {
		b.loc = time.UTC
	}
	if b.cat == nil {
		b.cat = catalog.Default()
	}
	return b, nil
}

func (cfg BudgetConfig) check() error {
	var e cfgcheck.Errors
	limits := func(field string, l Limits) {
		cfgcheck.NonNegative(&e, field+".Daily", l.Daily, "0 (no cap) or more")
		cfgcheck.NonNegative(&e, field+".Monthly", l.Monthly, "0 (no cap) or more")
	}
	limits("pricing.BudgetConfig.Limits", cfg.Limits)
	for _, k := range slices.Sorted(maps.Keys(cfg.PerLabel)) {
		field := fmt.Sprintf("pricing.BudgetConfig.PerLabel[%q]", k)
		if name, _, ok := strings.Cut(k, "="); !ok || name == "" {
			e.Add(field, k, `a "key=value" label scope`)
		}
		limits(field, cfg.PerLabel[k])
	}
	for i, th := range cfg.Thresholds {
		if !(th > 0 && th <= 1) {
			e.Add(fmt.Sprintf("pricing.BudgetConfig.Thresholds[%d]", i), th, "a fraction of the cap above 0 and at most 1")
		}
	}
	cfgcheck.NonNegative(&e, "pricing.BudgetConfig.Estimate.ThinkingTokens", cfg.Estimate.ThinkingTokens, "0 (default) or more")
	cfgcheck.NonNegative(&e, "pricing.BudgetConfig.Estimate.ReferenceTokens", cfg.Estimate.ReferenceTokens, "0 (default) or more")
	cfgcheck.NonNegative(&e, "pricing.BudgetConfig.Estimate.UnknownPerImage", cfg.Estimate.UnknownPerImage, "0 (default) or more")
	cfgcheck.NonNegative(&e, "pricing.BudgetConfig.WaitForRoom", cfg.WaitForRoom, "0 (refuse at once) or more")
	return e.Err()
}

// Store returns the budget's ledger.
func (b *Budget) Store() Store { return b.store }

// Estimate returns the amount reserved for req on model at tier: see
// Catalog.Estimate and BudgetConfig.Estimate.
func (b *Budget) Estimate(model string, tier catalog.Tier, req *provider.Request) provider.USD {
	return b.estimate(model, tier, req, 0)
}

// estimate is Estimate with a route's declared ceiling for unknown models
// (0: the configured default).
func (b *Budget) estimate(model string, tier catalog.Tier, req *provider.Request, ceiling provider.USD) provider.USD {
	cfg := b.est
	if ceiling > 0 {
		cfg.UnknownPerImage = ceiling
	}
	v, _ := b.cat.Estimate(model, tier, req, cfg)
	return v
}

// Reservation is an amount held against a budget's caps until it is
// settled.
type Reservation struct {
	ID     string
	Amount provider.USD
	At     time.Time
	keys   []string
	limits []provider.USD
	scopes []scopeKey
}

type scopeKey struct {
	scope, period, window string
}

// windows returns the day and month windows of t.
func (b *Budget) windows(t time.Time) (day, month string) {
	t = t.In(b.loc)
	return t.Format(time.DateOnly), t.Format("2006-01")
}

// StoreKey returns the ledger key of a scope, period and window:
// "overall/day/2026-11-21", "team=a/month/2026-11".
func StoreKey(scope, period, window string) string {
	p := "day"
	if period == PeriodMonthly {
		p = "month"
	}
	return scope + "/" + p + "/" + window
}

// plan lists the keys and caps a request with labels falls under at t:
// the overall scope first, always tracked, then the label scopes that
// have a cap, in the order of their labels' names. The slices are shared
// (see dayPlan) and must not be modified.
func (b *Budget) plan(labels map[string]string, t time.Time) (keys []string, limits []provider.USD, scopes []scopeKey) {
	y, m, d := t.In(b.loc).Date()
	p := b.today.Load()
	if p == nil || p.day != d || p.month != m || p.year != y {
		p = &dayPlan{year: y, month: m, day: d}
		day, month := b.windows(t)
		p.keys = []string{StoreKey(ScopeOverall, PeriodDaily, day), StoreKey(ScopeOverall, PeriodMonthly, month)}
		p.limits = []provider.USD{b.limits.Daily, b.limits.Monthly}
		p.scopes = []scopeKey{{ScopeOverall, PeriodDaily, day}, {ScopeOverall, PeriodMonthly, month}}
		b.today.Store(p)
	}
	keys, limits, scopes = p.keys, p.limits, p.scopes
	if len(b.perLabel) == 0 || len(labels) == 0 {
		return keys, limits, scopes
	}
	var capped []string
	var buf [128]byte
	for k, v := range labels {
		s := append(append(append(buf[:0], k...), '='), v...)
		if l, ok := b.perLabel[string(s)]; ok && l != (Limits{}) {
			capped = append(capped, k)
		}
	}
	if len(capped) == 0 {
		return keys, limits, scopes
	}
	slices.Sort(capped)
	day, month := p.scopes[0].window, p.scopes[1].window
	keys, limits, scopes = slices.Clone(keys), slices.Clone(limits), slices.Clone(scopes)
	for _, k := range capped {
		s := k + "=" + labels[k]
		l := b.perLabel[s]
		keys = append(keys, StoreKey(s, PeriodDaily, day), StoreKey(s, PeriodMonthly, month))
		limits = append(limits, l.Daily, l.Monthly)
		scopes = append(scopes, scopeKey{s, PeriodDaily, day}, scopeKey{s, PeriodMonthly, month})
	}
	return keys, limits, scopes
}

// Reserve holds amount against every cap that a request with labels falls
// under. When any cap would be exceeded it reserves nothing and returns a
// *provider.Error of kind provider.KindBudgetExceeded (matching
// provider.ErrBudgetExceeded) whose Code is "daily" or "monthly" and whose
// Err is the store's *LimitError.
//
// With BudgetConfig.WaitForRoom, a request that does not fit only because
// of reservations still open (spent + amount is within the cap) waits for
// them to settle, up to WaitForRoom and while ctx lasts, and is refused
// once spend alone leaves no room or the wait ends (the error then also
// wraps ctx's error when ctx ended it).
func (b *Budget) Reserve(ctx context.Context, labels map[string]string, amount provider.USD) (*Reservation, error) {
	var (
		giveUp *time.Timer
		poll   = 5 * time.Millisecond
	)
	for {
		wake := b.settledSignal()
		now := b.clock()
		keys, limits, scopes := b.plan(labels, now)
		id, err := b.store.Reserve(ctx, keys, limits, amount)
		if err == nil {
			r := &Reservation{ID: id, Amount: amount, At: now, keys: keys, limits: limits, scopes: scopes}
			if provider.Listening(ctx) {
				provider.Emit(ctx, provider.Event{Kind: provider.EventBudgetReserved, Amount: amount, Scope: r.scopeList()})
			}
			return r, nil
		}
		var le *LimitError
		if !errors.As(err, &le) {
			return nil, err
		}
		refuse := func(cause error) error {
			i := slices.Index(keys, le.Key)
			sc := scopes[max(i, 0)]
			var inner error = le
			if cause != nil {
				inner = errors.Join(le, cause)
			}
			err := &provider.Error{Kind: provider.KindBudgetExceeded, Code: sc.period,
				Message: fmt.Sprintf("%s budget %s: %s", sc.period, sc.scope, le.Error()),
				Err:     inner}
			provider.Emit(ctx, provider.Event{Kind: provider.EventBudgetRefused, Amount: amount, Scope: sc.scope, Reason: sc.period, Err: err})
			return err
		}
		// Only open reservations stand in the way: they may settle lower.
		if b.waitForRoom <= 0 || le.Reserved <= 0 || le.Spent+amount > le.Limit {
			return nil, refuse(nil)
		}
		if giveUp == nil {
			giveUp = time.NewTimer(b.waitForRoom)
			defer giveUp.Stop()
		}
		// Settles in this process wake the waiters at once; the poll
		// catches settles by other processes sharing the store.
		tick := time.NewTimer(poll)
		select {
		case <-wake:
		case <-tick.C:
			poll = min(2*poll, 100*time.Millisecond)
		case <-giveUp.C:
			tick.Stop()
			return nil, refuse(nil)
		case <-ctx.Done():
			tick.Stop()
			return nil, refuse(ctx.Err())
		}
		tick.Stop()
	}
}

// settledSignal returns a channel closed at the next Settle.
func (b *Budget) settledSignal() <-chan struct{} {
	if b.waitForRoom <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.settled
}

// signalSettled wakes the requests waiting for room.
func (b *Budget) signalSettled() {
	if b.waitForRoom <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.settled)
	b.settled = make(chan struct{})
}

// Settle closes r with the actual cost and fires any alert thresholds the
// new spend has reached. An actual above r.Amount is settled in full (it
// counts against every cap) and fires an AlertOverrun; a negative actual
// counts as 0. Use a context that is not cancelled with the call's
// (context.WithoutCancel): the money is spent either way.
func (b *Budget) Settle(ctx context.Context, r *Reservation, actual provider.USD) error {
	return b.settle(ctx, r, actual, provider.Listening(ctx))
}

// settle is Settle, told whether ctx has event handlers: a caller that
// detached ctx from its cancellation (context.WithoutCancel) knows it
// from the original, whose lookup costs no allocation.
func (b *Budget) settle(ctx context.Context, r *Reservation, actual provider.USD, listening bool) error {
	if r == nil {
		return nil
	}
	actual = max(actual, 0)
	if err := b.store.Settle(ctx, r.ID, actual); err != nil {
		return err
	}
	b.signalSettled()
	if listening {
		provider.Emit(ctx, provider.Event{Kind: provider.EventBudgetSettled, Amount: actual, Scope: r.scopeList()})
	}
	if (b.onAlert == nil && !listening) || actual <= 0 {
		return nil
	}
	var errs []error
	if actual > r.Amount && len(r.keys) > 0 {
		// keys[0] is the overall daily scope (see plan).
		spent, _, err := b.store.Spent(ctx, r.keys[0])
		if err != nil {
			errs = append(errs, err)
		}
		sc := r.scopes[0]
		b.alert(ctx, Alert{Kind: AlertOverrun, Scope: sc.scope, Period: sc.period, Window: sc.window,
			Spent: spent, Limit: r.limits[0], Reserved: r.Amount, Actual: actual})
	}
	for i, k := range r.keys {
		lim := r.limits[i]
		if lim <= 0 {
			continue
		}
		spent, _, err := b.store.Spent(ctx, k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, th := range b.thresholds {
			if float64(spent) < th*float64(lim) {
				break
			}
			first, err := b.store.MarkAlert(ctx, k, th)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if first {
				sc := r.scopes[i]
				b.alert(ctx, Alert{Kind: AlertThreshold, Scope: sc.scope, Period: sc.period, Window: sc.window, Spent: spent, Limit: lim, Threshold: th})
			}
		}
	}
	return errors.Join(errs...)
}

// alert tells BudgetConfig.OnAlert and the handlers of ctx of a.
func (b *Budget) alert(ctx context.Context, a Alert) {
	if b.onAlert != nil {
		b.onAlert(a)
	}
	if provider.Listening(ctx) {
		reason := string(a.Kind) + " " + a.Period
		if a.Kind == AlertThreshold {
			reason = fmt.Sprintf("threshold %g%% %s", a.Threshold*100, a.Period)
		}
		provider.Emit(ctx, provider.Event{Kind: provider.EventBudgetAlert, Amount: a.Spent, Scope: a.Scope, Reason: reason})
	}
}

// scopeList names the scopes r is charged to: "overall", or
// "overall,team=search".
func (r *Reservation) scopeList() string {
	var names []string
	for _, sc := range r.scopes {
		if !slices.Contains(names, sc.scope) {
			names = append(names, sc.scope)
		}
	}
	return strings.Join(names, ",")
}

// ScopeStatus is the state of one capped (or overall) scope and period.
type ScopeStatus struct {
	Scope    string       `json:"scope"`
	Period   string       `json:"period"`
	Window   string       `json:"window"`
	Spent    provider.USD `json:"spent"`
	Reserved provider.USD `json:"reserved"`
	Limit    provider.USD `json:"limit,omitzero"` // 0: no cap
}

// Remaining returns what may still be reserved, or -1 without a cap.
func (s ScopeStatus) Remaining() provider.USD {
	if s.Limit <= 0 {
		return -1
	}
	return max(s.Limit-s.Spent-s.Reserved, 0)
}

// Status returns the current day's and month's state of the overall scope
// and of every label scope with a cap.
func (b *Budget) Status(ctx context.Context) ([]ScopeStatus, error) {
	now := b.clock()
	day, month := b.windows(now)
	var out []ScopeStatus
	add := func(scope string, l Limits) error {
		for _, p := range []struct {
			period, window string
			limit          provider.USD
		}{{PeriodDaily, day, l.Daily}, {PeriodMonthly, month, l.Monthly}} {
			s, r, err := b.store.Spent(ctx, StoreKey(scope, p.period, p.window))
			if err != nil {
				return err
			}
			out = append(out, ScopeStatus{Scope: scope, Period: p.period, Window: p.window, Spent: s, Reserved: r, Limit: p.limit})
		}
		return nil
	}
	if err := add(ScopeOverall, b.limits); err != nil {
		return nil, err
	}
	for _, s := range slices.Sorted(maps.Keys(b.perLabel)) {
		if !strings.Contains(s, "=") {
			continue
		}
		if err := add(s, b.perLabel[s]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
